/* f32_gemm_cpu_avx512.c - the AVX-512 tile of the cpu backend's f32_gemm
 * (the "avx512" variant of f32_gemm_cpu.c).  Register blocks of up to 4
 * tokens x 6 outputs keep 24 zmm accumulators along the K block: per 16
 * channels, 6 weight and 4 activation loads feed 24 vfmadd231ps; the tail
 * of K is loaded masked; each accumulator is reduced once per K block. */
#include "f32_gemm_cpu.h"

#include "avx512_math.h"

#if QKV_CPU_X86

enum { MAX_R = 4, MAX_C = 6 };

/* y[m + i, n + j] (= 0 when k0 == 0) += sum over the K block [k0, k0 + kb)
 * of x[m + i, k] * w[n + j, k], for i < R, j < C. */
QKV_AVX512_INLINE void block(const f32_gemm *c, size_t m, size_t n, size_t k0, size_t kb,
                             int R, int C)
{
    const size_t K = c->K;
    const float *x = c->x + m * K + k0, *w = c->w + n * K + k0;
    __m512 s[MAX_R][MAX_C];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 6
        for (int j = 0; j < C; j++)
            s[i][j] = _mm512_setzero_ps();
    size_t k = 0;
    for (; k + 16 <= kb; k += 16) {
        __m512 wv[MAX_C];
#pragma GCC unroll 6
        for (int j = 0; j < C; j++)
            wv[j] = _mm512_loadu_ps(w + j * K + k);
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            const __m512 xv = _mm512_loadu_ps(x + i * K + k);
#pragma GCC unroll 6
            for (int j = 0; j < C; j++)
                s[i][j] = _mm512_fmadd_ps(xv, wv[j], s[i][j]);
        }
    }
    if (k < kb) {
        const __mmask16 mask = (__mmask16)((1u << (kb - k)) - 1u);
        __m512 wv[MAX_C];
#pragma GCC unroll 6
        for (int j = 0; j < C; j++)
            wv[j] = _mm512_maskz_loadu_ps(mask, w + j * K + k);
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            const __m512 xv = _mm512_maskz_loadu_ps(mask, x + i * K + k);
#pragma GCC unroll 6
            for (int j = 0; j < C; j++)
                s[i][j] = _mm512_fmadd_ps(xv, wv[j], s[i][j]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 6
        for (int j = 0; j < C; j++) {
            float *y = c->y + (m + i) * c->N + n + j;
            const float v = qkv_avx512_hsum(s[i][j]);
            *y = k0 ? *y + v : v;
        }
}

typedef void (*block_fn)(const f32_gemm *c, size_t m, size_t n, size_t k0, size_t kb);

/* block() for R tokens x C outputs as a function. */
#define F32_BLOCK(R, C)                                                                        \
    static QKV_AVX512_FN void block_##R##x##C(const f32_gemm *c, size_t m, size_t n,           \
                                              size_t k0, size_t kb)                            \
    {                                                                                          \
        block(c, m, n, k0, kb, R, C);                                                          \
    }
#define F32_BLOCK_ROW(R)                                                                       \
    F32_BLOCK(R, 1) F32_BLOCK(R, 2) F32_BLOCK(R, 3) F32_BLOCK(R, 4) F32_BLOCK(R, 5)            \
        F32_BLOCK(R, 6)
F32_BLOCK_ROW(1)
F32_BLOCK_ROW(2)
F32_BLOCK_ROW(3)
F32_BLOCK_ROW(4)

/* blocks[R - 1][C - 1]. */
static const block_fn blocks[MAX_R][MAX_C] = {
    {block_1x1, block_1x2, block_1x3, block_1x4, block_1x5, block_1x6},
    {block_2x1, block_2x2, block_2x3, block_2x4, block_2x5, block_2x6},
    {block_3x1, block_3x2, block_3x3, block_3x4, block_3x5, block_3x6},
    {block_4x1, block_4x2, block_4x3, block_4x4, block_4x5, block_4x6},
};

/* Token blocks outside, so each block's activation rows stay in L1 while
 * its outputs pass over them. */
void f32_gemm_avx512_tile(const f32_gemm *c, size_t m0, size_t rows, size_t n0, size_t cols,
                          size_t k0, size_t kb)
{
    for (size_t i = 0; i < rows; i += MAX_R) {
        const size_t nr = rows - i < MAX_R ? rows - i : MAX_R;
        for (size_t j = 0; j < cols; j += MAX_C) {
            const size_t nc = cols - j < MAX_C ? cols - j : MAX_C;
            blocks[nr - 1][nc - 1](c, m0 + i, n0 + j, k0, kb);
        }
    }
}

#endif
