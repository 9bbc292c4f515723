/* fireq_gemm_cpu_avx2.c - the AVX2 tile of the cpu backend's w4a8_gemm
 * (the "avx2" variant of fireq_gemm_cpu.c): the AVX-512 tile's scheme on 8
 * lanes.  Blocks of up to 4 tokens x 3 outputs keep 12 ymm accumulators
 * over all of K; 8 weights at a time are expanded from their 4 packed
 * bytes through the group's 16-entry table as two 8-entry halves: vpermps
 * reads the low 3 bits of each nibble in each half (the halves read from
 * memory), and vblendvps picks the upper half where the nibble's bit 3,
 * shifted to the lane's sign, is set. */
#include "fireq_gemm_cpu.h"

#include "avx2_math.h"

#if QKV_CPU_X86

#include <string.h>

enum { MAX_R = 4, MAX_C = 3 };

/* Weights of the 8 codes in the 4 packed bytes at b (low nibble first)
 * through the 16-entry table t. */
QKV_AVX2_INLINE __m256 weights8(const uint8_t *b, const float *t)
{
    uint32_t w;
    memcpy(&w, b, sizeof w);
    const __m256i v = _mm256_set1_epi32((int)w);
    const __m256i idx = _mm256_srlv_epi32(v, _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28));
    const __m256 lo = _mm256_permutevar8x32_ps(_mm256_loadu_ps(t), idx);
    const __m256 hi = _mm256_permutevar8x32_ps(_mm256_loadu_ps(t + 8), idx);
    return _mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)));
}

/* acc[i * ld + j] = sum_k x[i * K + k] * W[n + j, k] for i < R, j < C:
 * R x C lane-wise accumulators, each reduced once. */
QKV_AVX2_INLINE void block(const fireq_gemm *c, const float *x, size_t n, float *acc, size_t ld,
                           int R, int C)
{
    const size_t K = c->K, G = c->G, KG = K / G;
    __m256 s[MAX_R][MAX_C];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 3
        for (int j = 0; j < C; j++)
            s[i][j] = _mm256_setzero_ps();
    for (size_t g = 0; g < KG; g++) {
        const float *t[MAX_C];
        const uint8_t *b[MAX_C];
#pragma GCC unroll 3
        for (int j = 0; j < C; j++) {
            t[j] = c->table[c->ws[(n + j) * KG + g]];
            b[j] = c->wq + (n + j) * (K / 2) + g * (G / 2);
        }
        const float *xg = x + g * G;
        for (size_t k = 0; k < G; k += 8) {
#pragma GCC unroll 3
            for (int j = 0; j < C; j++) {
                const __m256 w = weights8(b[j] + k / 2, t[j]);
#pragma GCC unroll 4
                for (int i = 0; i < R; i++)
                    s[i][j] = _mm256_fmadd_ps(_mm256_loadu_ps(xg + i * K + k), w, s[i][j]);
            }
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 3
        for (int j = 0; j < C; j++)
            acc[i * ld + j] = qkv_avx2_hsum(s[i][j]);
}

typedef void (*block_fn)(const fireq_gemm *c, const float *x, size_t n, float *acc, size_t ld);

/* block() for R tokens x C outputs as a function. */
#define FIREQ_BLOCK(R, C)                                                                      \
    static QKV_AVX2_FN void block_##R##x##C(const fireq_gemm *c, const float *x, size_t n,     \
                                            float *acc, size_t ld)                             \
    {                                                                                          \
        block(c, x, n, acc, ld, R, C);                                                         \
    }
#define FIREQ_BLOCK_ROW(R) FIREQ_BLOCK(R, 1) FIREQ_BLOCK(R, 2) FIREQ_BLOCK(R, 3)
FIREQ_BLOCK_ROW(1)
FIREQ_BLOCK_ROW(2)
FIREQ_BLOCK_ROW(3)
FIREQ_BLOCK_ROW(4)

/* blocks[R - 1][C - 1]. */
static const block_fn blocks[MAX_R][MAX_C] = {
    {block_1x1, block_1x2, block_1x3},
    {block_2x1, block_2x2, block_2x3},
    {block_3x1, block_3x2, block_3x3},
    {block_4x1, block_4x2, block_4x3},
};

void fireq_gemm_avx2_tile(const fireq_gemm *c, size_t m0, size_t rows, size_t n0, size_t cols,
                          float *acc, void *scratch)
{
    (void)scratch;
    for (size_t j = 0; j < cols; j += MAX_C) {
        const size_t nc = cols - j < MAX_C ? cols - j : MAX_C;
        for (size_t i = 0; i < rows; i += MAX_R) {
            const size_t nr = rows - i < MAX_R ? rows - i : MAX_R;
            blocks[nr - 1][nc - 1](c, c->x + (m0 + i) * c->K, n0 + j, acc + i * cols + j, cols);
        }
    }
}

#endif
