/* bench.h - what qkv-bench's main and its benchmark cases share. */
#ifndef QKV_BENCH_H
#define QKV_BENCH_H

#include "op_case.h"
#include "roof.h"

/* One backend device under benchmark, with its measured roofs. */
typedef struct bench_backend {
    char spec[32]; /* "cpu", "opencl:0", "cuda:0", "ref" */
    qkv_context *ctx;
    qkv_device_info info;
    bench_roof roof;
} bench_backend;

/* One benchmark: op x variant x shape x backend. */
typedef struct bench_item {
    const qkv_op_desc *op;
    const qkv_variant *variant;
    bool first_variant; /* the one the device runs by default */
    qkv_op_shape shape;
    bench_backend *backend;
} bench_item;

#define BENCH_MAX_SHAPES 32

/* Register `item` (kept by pointer) as "<op>[@<variant>]/<shape>/<spec>"
 * (the variant named unless it is the device's first):
 * each iteration is one launch until its work is done, timed by
 * qkv_time_launch (device events on GPUs, else the host clock around launch
 * + qkv_finish) as Google Benchmark's manual time; counters per call "bytes" and
 * "flops" (the op's minimum), rates "bytes_per_second", "flops_per_second",
 * and the fractions of the device's roofs "copy_roof", "fma_roof"; the
 * label names the tile parameters a call of the shape's tokens uses.  Inputs
 * are prepared and uploaded once, untimed, when the benchmark first runs;
 * consecutive items of the same op and shape share the host data. */
void bench_case_register(bench_item *item);
/* Cold cache (the default): each case rotates over uploaded copies that
 * together exceed 4 last-level caches (and 128 MiB); false: one copy,
 * repeated calls find it cached as far as it fits. */
void bench_case_set_cold(bool cold);
/* Bytes of the host's last-level cache. */
double bench_llc_bytes(void);
/* Free the host and device data of the last prepared case. */
void bench_case_release(void);

#endif
