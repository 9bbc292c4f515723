/* kivi_cpu_avx512_dequant.c - AVX-512 work items of the cpu backend's KIVI
 * dequantizers: packed codes x f16 scale + f16 min to f32 (c s + m in one
 * f32 rounding, as the AVX2 items), optionally with non-temporal stores.
 * 2- and 4-bit codes become floats by a vpermps lookup of the shifted word
 * (no mask, no int->float conversion); for values the table holds c s + m
 * itself. */
#include "kivi_cpu_avx2.h"

#if KIVI_CPU_X86

#include "avx512_math.h"

#define AVX512_FN QKV_AVX512_FN
#define AVX512_INLINE QKV_AVX512_INLINE

/* Store 16 f32 at out: non-temporal when `stream` (out 64-byte aligned). */
AVX512_INLINE void store16(float *out, __m512 v, bool stream)
{
    if (stream)
        _mm512_stream_ps(out, v);
    else
        _mm512_storeu_ps(out, v);
}

/* Sixteen f16 at h[0], h[stride], ... h[15*stride] as f32 lanes. */
AVX512_INLINE __m512 load16_h16_strided(const uint16_t *h, size_t stride)
{
    uint16_t b[16];
    for (size_t i = 0; i < 16; i++)
        b[i] = h[i * stride];
    return qkv_avx512_load_h16(b);
}

/* Prefetch the code words, scales and minima of token group g of the 32
 * channel rows from `row` (the items run groups in order: this hides the
 * latency of the next group's 96 scattered lines). */
AVX512_INLINE void prefetch_key_group(const qkv_kivi_dequant_params *p, size_t row, size_t g,
                                      size_t wcap, size_t gcap, size_t wpg)
{
    for (size_t j = row; j < row + KIVI_CPU_KEY_BLOCK; j++) {
        _mm_prefetch((const char *)((const uint32_t *)p->codes->host + j * wcap + g * wpg),
                     _MM_HINT_T0);
        _mm_prefetch((const char *)((const uint16_t *)p->scale->host + j * gcap + g),
                     _MM_HINT_T0);
        _mm_prefetch((const char *)((const uint16_t *)p->min->host + j * gcap + g),
                     _MM_HINT_T0);
    }
}

/* Codes of 16 lanes of packed words w, shifted right by `shift`, as f32. */
AVX512_INLINE __m512 lane_codes(__m512i w, int shift, int bits, __m512 table)
{
    const __m512i q = _mm512_srli_epi32(w, (unsigned)shift);
    if (bits == 8)
        return _mm512_cvtepi32_ps(_mm512_and_si512(q, _mm512_set1_epi32(255)));
    return _mm512_permutexvar_ps(q, table);
}

/* Keys, token group g of head bh, in blocks of 32 channels (whole cache
 * lines of each output row): lanes = 16 channels, one word per channel
 * gathered (stride: the row of codes), then f tokens per word; the next
 * group's lines are prefetched. */
AVX512_INLINE void dequant_keys_group_avx512(const qkv_kivi_dequant_params *p, size_t bh,
                                             size_t g, int bits, bool stream)
{
    const size_t T = p->tokens, D = p->head_dim, G = (size_t)p->group, f = (size_t)(32 / bits);
    const size_t wcap = T / f, gcap = T / G;
    const __m512 table = qkv_avx512_code_table(bits);
    const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i wstride = _mm512_mullo_epi32(lanes, _mm512_set1_epi32((int)wcap));
    for (size_t d0 = 0; d0 < D; d0 += KIVI_CPU_KEY_BLOCK) {
        if (g + 1 < gcap)
            prefetch_key_group(p, bh * D + d0, g + 1, wcap, gcap, G / f);
        __m512 s[2], m[2];
        const uint32_t *c[2];
#pragma GCC unroll 2
        for (int v = 0; v < 2; v++) {
            const size_t row = bh * D + d0 + 16 * (size_t)v;
            const uint16_t *sp = (const uint16_t *)p->scale->host + row * gcap + g;
            const uint16_t *mp = (const uint16_t *)p->min->host + row * gcap + g;
            s[v] = load16_h16_strided(sp, gcap);
            m[v] = load16_h16_strided(mp, gcap);
            c[v] = (const uint32_t *)p->codes->host + row * wcap + g * (G / f);
        }
        for (size_t w = 0; w < G / f; w++) {
            const __m512i w0 = _mm512_i32gather_epi32(wstride, c[0] + w, 4);
            const __m512i w1 = _mm512_i32gather_epi32(wstride, c[1] + w, 4);
            float *out = (float *)p->output->host + (bh * T + g * G + w * f) * D + d0;
            for (size_t k = 0; k < f; k++, out += D) {
                const int sh = bits * (int)k;
                store16(out, _mm512_fmadd_ps(lane_codes(w0, sh, bits, table), s[0], m[0]),
                        stream);
                store16(out + 16, _mm512_fmadd_ps(lane_codes(w1, sh, bits, table), s[1], m[1]),
                        stream);
            }
        }
    }
}

AVX512_FN void kivi_avx512_dequant_keys_group(const qkv_kivi_dequant_params *p, size_t bh,
                                              size_t g, bool stream)
{
    switch (p->bits) {
    case 2: dequant_keys_group_avx512(p, bh, g, 2, stream); break;
    case 4: dequant_keys_group_avx512(p, bh, g, 4, stream); break;
    default: dequant_keys_group_avx512(p, bh, g, 8, stream); break;
    }
}

/* Value row `row`: lanes = channels, 32 per step (one group each); 2- and
 * 4-bit codes looked up in the group's table {c s + m}. */
AVX512_INLINE void dequant_values_row_avx512(const qkv_kivi_dequant_params *p, size_t row,
                                             int bits, bool stream)
{
    const size_t D = p->head_dim, G = (size_t)p->group;
    const uint32_t *c = (const uint32_t *)p->codes->host + row * (D * (size_t)bits / 32);
    const uint16_t *sc = (const uint16_t *)p->scale->host + row * (D / G);
    const uint16_t *mn = (const uint16_t *)p->min->host + row * (D / G);
    float *out = (float *)p->output->host + row * D;
    const __m512 iota = qkv_avx512_code_table(bits);
    for (size_t i = 0; i < D; i += 32) {
        const __m512 s = _mm512_set1_ps(h2f(sc[i / G])), m = _mm512_set1_ps(h2f(mn[i / G]));
        if (bits == 8) {
            const __m512i q = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(c + i / 4)));
            const __m512i q1 =
                _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(c + i / 4 + 4)));
            store16(out + i, _mm512_fmadd_ps(_mm512_cvtepi32_ps(q), s, m), stream);
            store16(out + i + 16, _mm512_fmadd_ps(_mm512_cvtepi32_ps(q1), s, m), stream);
        } else {
            const __m512 table = _mm512_fmadd_ps(iota, s, m);
            store16(out + i, qkv_avx512_codes16(c, i, bits, table), stream);
            store16(out + i + 16, qkv_avx512_codes16(c, i + 16, bits, table), stream);
        }
    }
}

AVX512_FN void kivi_avx512_dequant_values_row(const qkv_kivi_dequant_params *p, size_t row,
                                              bool stream)
{
    switch (p->bits) {
    case 2: dequant_values_row_avx512(p, row, 2, stream); break;
    case 4: dequant_values_row_avx512(p, row, 4, stream); break;
    default: dequant_values_row_avx512(p, row, 8, stream); break;
    }
}

#endif /* KIVI_CPU_X86 */
