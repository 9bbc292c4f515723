/* f32_gemm_cpu.h - what the cpu backend's f32_gemm tiles share
 * (f32_gemm_cpu.c: the driver, the scalar tile and the variants;
 * f32_gemm_cpu_avx512.c, f32_gemm_cpu_avx2.c: the vector tiles). */
#ifndef QKV_F32_GEMM_CPU_H
#define QKV_F32_GEMM_CPU_H

#include "qkv_internal.h"

/* A validated call: y [M, N] = x [M, K] x w [N, K]^T, f32. */
typedef struct f32_gemm {
    const float *x, *w;
    float *y;
    size_t M, N, K;
} f32_gemm;

/* One K block of a work item: for i < rows, j < cols,
 * y[m0 + i, n0 + j] (= 0 when k0 == 0) += sum over k0 <= k < k0 + kb of
 * x[m0 + i, k] * w[n0 + j, k], each K block's sum in f32 registers. */
typedef void (*f32_gemm_tile_fn)(const f32_gemm *c, size_t m0, size_t rows, size_t n0,
                                 size_t cols, size_t k0, size_t kb);

#if defined(__x86_64__) || defined(__i386__)
void f32_gemm_avx512_tile(const f32_gemm *c, size_t m0, size_t rows, size_t n0, size_t cols,
                          size_t k0, size_t kb);
void f32_gemm_avx2_tile(const f32_gemm *c, size_t m0, size_t rows, size_t n0, size_t cols,
                        size_t k0, size_t kb);
#endif

#endif
