/* fireq_gemm_cpu_avx512.c - the AVX-512 tile of the cpu backend's w4a8_gemm
 * (the "avx512" variant of fireq_gemm_cpu.c).  Blocks of up to 4 tokens x 4
 * outputs keep 16 zmm accumulators over all of K; per group each output's
 * 16-entry table sits in a zmm, and 16 weights at a time are expanded by
 * one vpermps over their nibbles (spec w4a8-gemm.md, "Kernel notes"). */
#include "fireq_gemm_cpu.h"

#include "avx512_math.h"

#if QKV_CPU_X86

#include <string.h>

/* Weights of the 16 codes in the 8 packed bytes at b (low nibble first)
 * through table t: the nibbles shifted to the bottom of each lane, where
 * vpermps reads its index (its low 4 bits). */
QKV_AVX512_INLINE __m512 weights16(const uint8_t *b, __m512 t)
{
    uint64_t w;
    memcpy(&w, b, sizeof w);
    const __m512i sh = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28);
    const __m512i v = _mm512_inserti64x4(_mm512_set1_epi32((int)(uint32_t)w),
                                         _mm256_set1_epi32((int)(uint32_t)(w >> 32)), 1);
    return _mm512_permutexvar_ps(_mm512_srlv_epi32(v, sh), t);
}

/* acc[i * ld + j] = sum_k x[i * K + k] * W[n + j, k] for i < R, j < C
 * (R, C <= 4): R x C lane-wise accumulators, each reduced once. */
QKV_AVX512_INLINE void block(const fireq_gemm *c, const float *x, size_t n, float *acc,
                             size_t ld, int R, int C)
{
    const size_t K = c->K, G = c->G, KG = K / G;
    __m512 s[4][4];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int j = 0; j < C; j++)
            s[i][j] = _mm512_setzero_ps();
    for (size_t g = 0; g < KG; g++) {
        __m512 t[4];
        const uint8_t *b[4];
#pragma GCC unroll 4
        for (int j = 0; j < C; j++) {
            t[j] = _mm512_loadu_ps(c->table[c->ws[(n + j) * KG + g]]);
            b[j] = c->wq + (n + j) * (K / 2) + g * (G / 2);
        }
        const float *xg = x + g * G;
        for (size_t k = 0; k < G; k += 16) {
            __m512 w[4];
#pragma GCC unroll 4
            for (int j = 0; j < C; j++)
                w[j] = weights16(b[j] + k / 2, t[j]);
#pragma GCC unroll 4
            for (int i = 0; i < R; i++) {
                const __m512 xv = _mm512_loadu_ps(xg + i * K + k);
#pragma GCC unroll 4
                for (int j = 0; j < C; j++)
                    s[i][j] = _mm512_fmadd_ps(xv, w[j], s[i][j]);
            }
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int j = 0; j < C; j++)
            acc[i * ld + j] = qkv_avx512_hsum(s[i][j]);
}

typedef void (*block_fn)(const fireq_gemm *c, const float *x, size_t n, float *acc, size_t ld);

/* block() for R tokens x C outputs as a function. */
#define FIREQ_BLOCK(R, C)                                                                      \
    static QKV_AVX512_FN void block_##R##x##C(const fireq_gemm *c, const float *x, size_t n,   \
                                              float *acc, size_t ld)                           \
    {                                                                                          \
        block(c, x, n, acc, ld, R, C);                                                         \
    }
#define FIREQ_BLOCK_ROW(R) FIREQ_BLOCK(R, 1) FIREQ_BLOCK(R, 2) FIREQ_BLOCK(R, 3) FIREQ_BLOCK(R, 4)
FIREQ_BLOCK_ROW(1)
FIREQ_BLOCK_ROW(2)
FIREQ_BLOCK_ROW(3)
FIREQ_BLOCK_ROW(4)

/* blocks[R - 1][C - 1]. */
static const block_fn blocks[4][4] = {
    {block_1x1, block_1x2, block_1x3, block_1x4},
    {block_2x1, block_2x2, block_2x3, block_2x4},
    {block_3x1, block_3x2, block_3x3, block_3x4},
    {block_4x1, block_4x2, block_4x3, block_4x4},
};

void fireq_gemm_avx512_tile(const fireq_gemm *c, size_t m0, size_t rows, size_t n0,
                            size_t cols, float *acc, void *scratch)
{
    (void)scratch;
    for (size_t j = 0; j < cols; j += 4) {
        const size_t nc = cols - j < 4 ? cols - j : 4;
        for (size_t i = 0; i < rows; i += 4) {
            const size_t nr = rows - i < 4 ? rows - i : 4;
            blocks[nr - 1][nc - 1](c, c->x + (m0 + i) * c->K, n0 + j, acc + i * cols + j, cols);
        }
    }
}

#endif
