/* peer_cublaslt.h - cuBLASLt's FP8 GEMM, the peer the benchmarks compare
 * w4a8_gemm with on CUDA devices: Y [M, N] bf16 = X [M, K] e4m3 x
 * W [N, K]^T e4m3, f32 compute and scale type (no operand scales: alpha 1,
 * beta 0).  libcublasLt is loaded with dlopen at run time (nothing is linked
 * at build time), and each call runs on the qkv context's stream. */
#ifndef QKV_BENCH_PEER_CUBLASLT_H
#define QKV_BENCH_PEER_CUBLASLT_H

#include "qkv_internal.h"

/* Device workspace the plans may use, bytes (32 MiB, NVIDIA's advice for
 * Hopper). */
#define PEER_CUBLASLT_WORKSPACE ((size_t)32 << 20)

/* One planned product: descriptors and the heuristic's first algorithm. */
typedef struct peer_cublaslt_gemm peer_cublaslt_gemm;

/* Load libcublasLt (once per process) and create its handle: NULL when
 * usable, else why not (a static text).  *version: cublasLtGetVersion(),
 * e.g. 130000 for 13.0.0 (0 when the library lacks it). */
const char *peer_cublaslt_load(size_t *version);

/* Plan the product for M tokens, N outputs, K inputs on ctx's CUDA device
 * (K a multiple of 16, as cuBLASLt's FP8 kernels need): the "TN" layout
 * those kernels take, W as the transposed A (column-major K x N), X as B
 * (column-major K x M), Y as D (column-major N x M, bf16).  Fails if
 * cuBLASLt offers no algorithm within PEER_CUBLASLT_WORKSPACE. */
qkv_status peer_cublaslt_plan(qkv_context *ctx, size_t m, size_t n, size_t k,
                              peer_cublaslt_gemm **out);

/* Queue one product on ctx's stream (not waited for): y [M, N] bf16 from
 * x [M, K] and w [N, K] e4m3 bytes, with `workspace` of at least
 * PEER_CUBLASLT_WORKSPACE bytes; all buffers of ctx. */
qkv_status peer_cublaslt_run(qkv_context *ctx, const peer_cublaslt_gemm *g,
                             const qkv_buffer *w, const qkv_buffer *x, qkv_buffer *y,
                             qkv_buffer *workspace);

/* Destroy a plan (NULL is ignored). */
void peer_cublaslt_free(peer_cublaslt_gemm *g);

#endif
