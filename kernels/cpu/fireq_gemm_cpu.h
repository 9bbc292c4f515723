/* fireq_gemm_cpu.h - what the cpu backend's w4a8_gemm tiles share
 * (fireq_gemm_cpu.c: the driver, the scalar tile and the variants;
 * fireq_gemm_cpu_avx512.c, fireq_gemm_cpu_avx2.c: the vector tiles): the
 * resolved call. */
#ifndef QKV_FIREQ_GEMM_CPU_H
#define QKV_FIREQ_GEMM_CPU_H

#include "qkv_internal.h"

/* A validated call, resolved for the tiles.  Both modes are one sum of
 * products x * T[q], each exact in f32: the lut mode's table holds
 * e4m3_satfinite(q * s) (-0.0 for q = 0), the exact mode's q * s (exact in
 * f32: at most 8 significant bits), so the exact mode's per-group scale is
 * applied to each product instead of to each group's sum. */
typedef struct fireq_gemm {
    const float *x;               /* decoded activations f32 [M, K] (f32 tiles) */
    const uint16_t *xb;           /* the same as bf16 in the bf16 tile's layout */
    const uint8_t *wq, *ws;       /* int4 [N, K/2], e4m3 scale codes [N, K/G] */
    const float (*table)[16];     /* [256 scale codes][16 nibbles]: weight values */
    const uint16_t (*table_bf16)[16]; /* the same as bf16 (bf16 tile) */
    size_t M, N, K, G;
    unsigned g_shift;             /* log2 G (bf16 tile) */
    size_t k_step;                /* K per pass over a tile (bf16 tile), a multiple of 128 */
    int block_rows;               /* tokens per register block (bf16 tile) */
} fireq_gemm;

/* acc[i * cols + j] = sum_k x[m0 + i, k] * W[n0 + j, k] for i < rows,
 * j < cols (W: each weight through its group's table); scratch: the
 * tile's own bytes (64-byte aligned, as many as fireq_gemm_run_tiles was
 * asked for). */
typedef void (*fireq_gemm_tile_fn)(const fireq_gemm *c, size_t m0, size_t rows, size_t n0,
                                   size_t cols, float *acc, void *scratch);

/* The weight table of `mode` ([scale code][nibble], built once per
 * process): entry v holds code q = v - 16 * (v >= 8) times the scale (lut:
 * E4M3-rounded, -0.0 for q = 0); as f32 and as bf16 bits. */
const float (*fireq_gemm_table(qkv_w4a8_mode mode))[16];
const uint16_t (*fireq_gemm_table_bf16(qkv_w4a8_mode mode))[16];

/* Runs the tiles of one call (rows x cols each, scratch_bytes of scratch
 * per thread) in parallel and writes y (and acc when the call asks for it)
 * through the mode's epilogue. */
qkv_status fireq_gemm_run_tiles(const qkv_w4a8_gemm_params *p, const fireq_gemm *c,
                                fireq_gemm_tile_fn tile_fn, size_t rows, size_t cols,
                                size_t scratch_bytes);

#if defined(__x86_64__) || defined(__i386__)
/* The AVX-512 tile (a fireq_gemm_tile_fn; scratch unused). */
void fireq_gemm_avx512_tile(const fireq_gemm *c, size_t m0, size_t rows, size_t n0,
                            size_t cols, float *acc, void *scratch);
/* The AVX2 tile (a fireq_gemm_tile_fn; scratch unused). */
void fireq_gemm_avx2_tile(const fireq_gemm *c, size_t m0, size_t rows, size_t n0, size_t cols,
                          float *acc, void *scratch);
#endif

#endif
