/* kivi_cpu_avx2_dequant.c - AVX2 work items of the cpu backend's KIVI
 * dequantizers: packed codes x f16 scale + f16 min to f32, optionally with
 * non-temporal stores. */
#include "kivi_cpu_avx2.h"

#if KIVI_CPU_X86

/* Eight f16 at h[0], h[stride], ... h[7*stride] as f32 lanes. */
AVX2_INLINE __m256 load8_h16_strided(const uint16_t *h, size_t stride)
{
    return _mm256_cvtph_ps(_mm_setr_epi16((short)h[0], (short)h[stride], (short)h[2 * stride],
                                          (short)h[3 * stride], (short)h[4 * stride],
                                          (short)h[5 * stride], (short)h[6 * stride],
                                          (short)h[7 * stride]));
}

/* ---- dequantize --------------------------------------------------------------- */

/* Store 8 f32 at out: non-temporal when `stream` (out 32-byte aligned). */
AVX2_INLINE void store8(float *out, __m256 v, bool stream)
{
    if (stream)
        _mm256_stream_ps(out, v);
    else
        _mm256_storeu_ps(out, v);
}

/* Keys, token group g of head bh, in blocks of 32 channels (whole cache
 * lines of each output row, so streaming stores fill them): lanes = 8
 * channels, one word per channel gathered, then f tokens per word,
 * q*s + m (exact in one f32 rounding). */
AVX2_INLINE void dequant_keys_group_t(const qkv_kivi_dequant_params *p, size_t bh, size_t g,
                                      int bits, bool stream)
{
    const size_t T = p->tokens, D = p->head_dim, G = (size_t)p->group, f = (size_t)(32 / bits);
    const size_t wcap = T / f, gcap = T / G;
    const __m256i mask = _mm256_set1_epi32((1 << bits) - 1);
    for (size_t d0 = 0; d0 < D; d0 += KIVI_CPU_KEY_BLOCK) {
        __m256 s[4], m[4];
        const uint32_t *c[4];
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++) {
            const size_t row = bh * D + d0 + 8 * (size_t)v;
            s[v] = load8_h16_strided((const uint16_t *)p->scale->host + row * gcap + g, gcap);
            m[v] = load8_h16_strided((const uint16_t *)p->min->host + row * gcap + g, gcap);
            c[v] = (const uint32_t *)p->codes->host + row * wcap + g * (G / f);
        }
        for (size_t w = 0; w < G / f; w++) {
            __m256i wv[4];
#pragma GCC unroll 4
            for (int v = 0; v < 4; v++)
                wv[v] = _mm256_setr_epi32((int)c[v][w], (int)c[v][wcap + w],
                                          (int)c[v][2 * wcap + w], (int)c[v][3 * wcap + w],
                                          (int)c[v][4 * wcap + w], (int)c[v][5 * wcap + w],
                                          (int)c[v][6 * wcap + w], (int)c[v][7 * wcap + w]);
            float *out = (float *)p->output->host + (bh * T + g * G + w * f) * D + d0;
            for (size_t k = 0; k < f; k++, out += D) {
                const __m128i sh = _mm_cvtsi32_si128(bits * (int)k);
#pragma GCC unroll 4
                for (int v = 0; v < 4; v++) {
                    const __m256i q = _mm256_and_si256(_mm256_srl_epi32(wv[v], sh), mask);
                    store8(out + 8 * v, _mm256_fmadd_ps(_mm256_cvtepi32_ps(q), s[v], m[v]),
                           stream);
                }
            }
        }
    }
}

AVX2_FN void kivi_avx2_dequant_keys_group(const qkv_kivi_dequant_params *p, size_t bh, size_t g,
                                          bool stream)
{
    switch (p->bits) {
    case 2: dequant_keys_group_t(p, bh, g, 2, stream); break;
    case 4: dequant_keys_group_t(p, bh, g, 4, stream); break;
    default: dequant_keys_group_t(p, bh, g, 8, stream); break;
    }
}

/* Value row `row`: lanes = channels, 16 per step (one group each). */
AVX2_INLINE void dequant_values_row_t(const qkv_kivi_dequant_params *p, size_t row, int bits,
                                      bool stream)
{
    const size_t D = p->head_dim, G = (size_t)p->group;
    const uint32_t *c = (const uint32_t *)p->codes->host + row * (D * (size_t)bits / 32);
    const uint16_t *sc = (const uint16_t *)p->scale->host + row * (D / G);
    const uint16_t *mn = (const uint16_t *)p->min->host + row * (D / G);
    float *out = (float *)p->output->host + row * D;
    for (size_t i = 0; i < D; i += 16) {
        const __m256 s = _mm256_set1_ps(h2f(sc[i / G])), m = _mm256_set1_ps(h2f(mn[i / G]));
        __m256 lo, hi;
        codes16f(c, i, bits, &lo, &hi);
        store8(out + i, _mm256_fmadd_ps(lo, s, m), stream);
        store8(out + i + 8, _mm256_fmadd_ps(hi, s, m), stream);
    }
}

AVX2_FN void kivi_avx2_dequant_values_row(const qkv_kivi_dequant_params *p, size_t row,
                                          bool stream)
{
    switch (p->bits) {
    case 2: dequant_values_row_t(p, row, 2, stream); break;
    case 4: dequant_values_row_t(p, row, 4, stream); break;
    default: dequant_values_row_t(p, row, 8, stream); break;
    }
}

AVX2_FN void kivi_avx2_store_fence(void) { _mm_sfence(); }

#endif /* KIVI_CPU_X86 */
