/* roof.h - the measured roofs of a device that benchmarks are compared
 * with: copy bandwidth and multiply-add throughput. */
#ifndef QKV_BENCH_ROOF_H
#define QKV_BENCH_ROOF_H

#include "qkv_internal.h"

typedef struct bench_roof {
    double copy_bytes_per_s; /* large copy, bytes read + written per second */
    double read_bytes_per_s; /* large read-only sweep, bytes per second (host only; 0 if
                              * not measured) */
    double fma_flops_per_s;  /* independent multiply-add chains, 2 flops each */
} bench_roof;

/* Work of one timed run of n units (bytes or flops), or < 0 on failure. */
typedef double (*bench_work_fn)(void *arg, long n);

/* Monotonic wall clock in seconds. */
double bench_seconds(void);
/* Best rate (work per second) of `trials` runs of fn(arg, n), with n doubled
 * from 1 until a run takes at least 50 ms; < 0 if a run failed. */
double bench_best_rate(bench_work_fn fn, void *arg, int trials);

/* Roofs of ctx's device, best of `trials` runs each: host loops (OpenMP,
 * AVX2 FMA when the CPU has it) for ref/cpu, roof.cl kernels for GPUs. */
qkv_status bench_roof_measure(qkv_context *ctx, int trials, bench_roof *roof);
/* The GPU part (roof_gpu.c): kernels of roof.cl through qkv_gpu_ops. */
qkv_status bench_roof_gpu(qkv_context *ctx, int trials, bench_roof *roof);

#endif
