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

/* Shapes per op (its "llm" and "bench" sets together); bench_add_shapes
 * stops the program, naming the op, if an op has more. */
#define BENCH_MAX_SHAPES 64
/* Uploaded copies a cold-cache case rotates over, at most. */
#define BENCH_MAX_COPIES 64

/* Append op's shape set `set` ("llm", "bench") to out[*n ...]; exits with
 * a message naming the op if out would hold more than BENCH_MAX_SHAPES. */
void bench_add_shapes(const qkv_op_desc *op, const char *set, qkv_op_shape *out, int *n);

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
/* Copies of a case of `bytes` (inputs and outputs) that each iteration
 * moves on over: with a cold cache enough that together they exceed four
 * last-level caches and 128 MiB (at most BENCH_MAX_COPIES), else 1. */
int bench_cold_copies(double bytes);
/* Bytes of the host's last-level cache. */
double bench_llc_bytes(void);
/* Free the host and device data of the last prepared case. */
void bench_case_release(void);

/* The peer of w4a8_gemm on CUDA devices (bench_peer.c): cuBLASLt's FP8 GEMM
 * (e4m3 x e4m3 -> bf16, f32 compute) registered as
 * "cublaslt_fp8/<shape>/<spec>" for each distinct M, N, K of w4a8_gemm's
 * bench set on each CUDA backend, timed like the ops (qkv_time_launch on
 * the context's stream, cold cache as set); when it cannot run (no CUDA
 * backend, no libcublasLt, no FP8 tensor cores) one line on stderr says so
 * and nothing is registered. */
void bench_peer_register(bench_backend *backends, int nb);
/* Free the peer's device data and its benchmarks' arguments. */
void bench_peer_release(void);

#endif
