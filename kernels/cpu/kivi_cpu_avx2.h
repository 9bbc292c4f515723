/* kivi_cpu_avx2.h - what the AVX2/FMA/F16C work items of the cpu
 * backend's KIVI ops share (kivi_cpu_avx2_quant.c, kivi_cpu_avx2_dequant.c,
 * kivi_cpu_avx2_decode.c): the target attributes and the loads of f16/f32
 * elements and of packed codes; and the quantizer and decode pieces the
 * AVX-512 items (kivi_cpu_avx512_*.c, whose target includes these) use
 * too.  Every function carries
 * target("avx2,fma,f16c") so the library itself is built for baseline
 * x86-64; kivi_cpu.c calls the work items only in the avx2 variants, which
 * run where qkv_cpu_has_avx2(). */
#ifndef QKV_KIVI_CPU_AVX2_H
#define QKV_KIVI_CPU_AVX2_H

#include "kivi_cpu.h"

#if KIVI_CPU_X86

#include "avx2_math.h"
#include <immintrin.h>
#include <string.h>

#define AVX2_FN QKV_AVX2_FN
#define AVX2_INLINE QKV_AVX2_INLINE

/* f16 bits -> f32. */
AVX2_INLINE float h2f(uint16_t h) { return _cvtsh_ss(h); }

/* Elements i..i+7 of an f16 or f32 array as f32 lanes. */
AVX2_INLINE __m256 load8(const void *x, size_t i, qkv_dtype dt)
{
    if (dt == QKV_F16)
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)x + i)));
    return _mm256_loadu_ps((const float *)x + i);
}

/* Codes i..i+7 (i % 8 == 0) of a packed LSB-first row of `bits`-bit codes,
 * as u32 lanes. */
AVX2_INLINE __m256i codes8(const uint32_t *row, size_t i, int bits)
{
    if (bits == 2) {
        const __m256i sh = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
        const __m256i w = _mm256_set1_epi32((int)row[i / 16]);
        const __m256i base = _mm256_set1_epi32((int)(i % 16) * 2);
        return _mm256_and_si256(_mm256_srlv_epi32(w, _mm256_add_epi32(sh, base)),
                                _mm256_set1_epi32(3));
    }
    if (bits == 4) {
        const __m256i sh = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
        return _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)row[i / 8]), sh),
                                _mm256_set1_epi32(15));
    }
    const __m256i sh = _mm256_setr_epi32(0, 8, 16, 24, 0, 8, 16, 24);
    const __m256i w = _mm256_setr_m128i(_mm_set1_epi32((int)row[i / 4]),
                                        _mm_set1_epi32((int)row[i / 4 + 1]));
    return _mm256_and_si256(_mm256_srlv_epi32(w, sh), _mm256_set1_epi32(255));
}

/* Codes i..i+15 (i % 16 == 0) of a packed row as two f32 vectors. */
AVX2_INLINE void codes16f(const uint32_t *row, size_t i, int bits, __m256 *lo, __m256 *hi)
{
    if (bits == 2) {
        const __m256i w = _mm256_set1_epi32((int)row[i / 16]), m = _mm256_set1_epi32(3);
        const __m256i sl = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
        const __m256i sh = _mm256_setr_epi32(16, 18, 20, 22, 24, 26, 28, 30);
        *lo = _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srlv_epi32(w, sl), m));
        *hi = _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srlv_epi32(w, sh), m));
        return;
    }
    *lo = _mm256_cvtepi32_ps(codes8(row, i, bits));
    *hi = _mm256_cvtepi32_ps(codes8(row, i + 8, bits));
}

/* ---- quantizer pieces shared by the avx2 and avx512 items ------------------ */

/* Calls CALL(dtype, bits, G) with the constants matching the quantize
 * params p, so every loop over a group has a fixed trip count. */
#define QUANT_DISPATCH(p, CALL)                                                                \
    switch ((p)->bits * 1000 + (p)->group * 2 + ((p)->dtype == QKV_F16)) {                      \
    case 2064: CALL(QKV_F32, 2, 32); break;                                                     \
    case 2065: CALL(QKV_F16, 2, 32); break;                                                     \
    case 2128: CALL(QKV_F32, 2, 64); break;                                                     \
    case 2129: CALL(QKV_F16, 2, 64); break;                                                     \
    case 2256: CALL(QKV_F32, 2, 128); break;                                                    \
    case 2257: CALL(QKV_F16, 2, 128); break;                                                    \
    case 4064: CALL(QKV_F32, 4, 32); break;                                                     \
    case 4065: CALL(QKV_F16, 4, 32); break;                                                     \
    case 4128: CALL(QKV_F32, 4, 64); break;                                                     \
    case 4129: CALL(QKV_F16, 4, 64); break;                                                     \
    case 4256: CALL(QKV_F32, 4, 128); break;                                                    \
    case 4257: CALL(QKV_F16, 4, 128); break;                                                    \
    case 8064: CALL(QKV_F32, 8, 32); break;                                                     \
    case 8065: CALL(QKV_F16, 8, 32); break;                                                     \
    case 8128: CALL(QKV_F32, 8, 64); break;                                                     \
    case 8129: CALL(QKV_F16, 8, 64); break;                                                     \
    case 8256: CALL(QKV_F32, 8, 128); break;                                                    \
    default: CALL(QKV_F16, 8, 128); break;                                                      \
    }

/* Output of the key quantizer staged for a run of token groups of one
 * block of KIVI_CPU_KEY_BLOCK channels: the channels' output rows lie a
 * (power-of-two) capacity apart and would share a few L1 sets, so each
 * group's codes and f16 scale/min go here first and every channel's run is
 * copied out contiguously (copy_out_keys). */
#define KEY_STAGE_WORDS 64 /* code words per channel */
typedef struct key_stage {
    uint32_t codes[KIVI_CPU_KEY_BLOCK][KEY_STAGE_WORDS];
    uint16_t scale[KIVI_CPU_KEY_BLOCK][KEY_STAGE_WORDS];
    uint16_t min[KIVI_CPU_KEY_BLOCK][KEY_STAGE_WORDS];
} key_stage;

/* Copy staged groups g .. g+n-1 of channels d .. d+31 of head bh to the
 * output rows. */
AVX2_INLINE void copy_out_keys(const qkv_kivi_quant_params *p, size_t bh, size_t d, size_t g,
                               size_t n, size_t G, int bits, const key_stage *st)
{
    const size_t D = p->head_dim, f = (size_t)(32 / bits);
    const size_t wcap = p->out_capacity / f, gcap = p->out_capacity / G;
    const size_t gout = p->out_offset / G + g;
    for (size_t j = 0; j < KIVI_CPU_KEY_BLOCK; j++) {
        const size_t row = bh * D + d + j;
        memcpy((uint16_t *)p->scale->host + row * gcap + gout, st->scale[j], n * 2);
        memcpy((uint16_t *)p->min->host + row * gcap + gout, st->min[j], n * 2);
        memcpy((uint32_t *)p->codes->host + row * wcap + gout * (G / f), st->codes[j],
               n * (G / f) * 4);
    }
}

/* Pack 32 codes given as bytes b[0..31] (in order, each <= qmax)
 * LSB-first into 32*bits/32 words at out. */
AVX2_INLINE void pack32_bytes(__m256i b, int bits, uint32_t *out)
{
    if (bits == 8) {
        _mm256_storeu_si256((__m256i *)out, b);
    } else if (bits == 4) {
        const __m256i h = _mm256_maddubs_epi16(b, _mm256_set1_epi16(0x1001)); /* c0 + 16 c1 */
        const __m256i w = _mm256_permute4x64_epi64(_mm256_packus_epi16(h, h), 0x08);
        _mm_storeu_si128((__m128i *)out, _mm256_castsi256_si128(w));
    } else {
        const __m256i h = _mm256_maddubs_epi16(b, _mm256_set1_epi16(0x0401));   /* c0 + 4 c1 */
        const __m256i d = _mm256_madd_epi16(h, _mm256_set1_epi32(0x00100001)); /* + 16 (..) */
        const __m256i w = _mm256_shuffle_epi8(
            d, _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 4,
                                8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1));
        _mm_storel_epi64((__m128i *)out,
                         _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(
                             w, _mm256_setr_epi32(0, 4, 0, 0, 0, 0, 0, 0))));
    }
}

/* ---- decode pieces shared by the avx2 and avx512 items -------------------- */

/* 8 x 8 transpose: r[i] lane j -> r[j] lane i. */
AVX2_INLINE void transpose8(__m256 r[8])
{
    __m256 t[8], u[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 2; i++) {
        u[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
        r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
    }
}

/* Key scales or minima of groups gc..gc+ng-1 (ng <= 8) of kv head bkv,
 * src [D, gcap] f16, into dst[j * D + d] f32 (group-major). */
AVX2_INLINE void key_params_transpose(const uint16_t *src, size_t gcap, size_t D, size_t gc,
                                      size_t ng, float *dst)
{
    for (size_t d = 0; d < D; d += 8) {
        if (ng == 8) {
            __m256 r[8];
            for (size_t i = 0; i < 8; i++)
                r[i] = load8(src + (d + i) * gcap + gc, 0, QKV_F16);
            transpose8(r);
            for (size_t j = 0; j < 8; j++)
                _mm256_storeu_ps(dst + j * D + d, r[j]);
        } else {
            for (size_t j = 0; j < ng; j++)
                for (size_t i = 0; i < 8; i++)
                    dst[j * D + d + i] = h2f(src[(d + i) * gcap + gc + j]);
        }
    }
}

/* Prefetch the key code and scale/min lines of tokens [ta, tb) of kv head
 * bkv (codes [D, wcap] u32, params [D, gcap] f16). */
AVX2_INLINE void key_prefetch(const kivi_cpu_decode *c, size_t bkv, size_t ta, size_t tb)
{
    const qkv_kivi_decode_params *p = c->p;
    const size_t bits = (size_t)c->bits, gcap = p->k_quant_capacity / c->G;
    const size_t wcap = p->k_quant_capacity * bits / 32, w0 = ta * bits / 32, w1 = tb * bits / 32;
    for (size_t d = 0; d < c->D; d++) {
        const size_t row = bkv * c->D + d;
        for (size_t w = w0; w < w1; w += 16)
            _mm_prefetch((const char *)(c->k_codes + row * wcap + w), _MM_HINT_T0);
        _mm_prefetch((const char *)(c->k_scale + row * gcap + ta / c->G), _MM_HINT_T0);
        _mm_prefetch((const char *)(c->k_min + row * gcap + ta / c->G), _MM_HINT_T0);
    }
}

/* Copy n code words (n * 4 a multiple of 8 bytes) of each of D rows,
 * src rows `stride` words apart, into dst rows n words apart. */
AVX2_INLINE void stage_rows(const uint32_t *src, size_t stride, size_t n, size_t D, uint32_t *dst)
{
    for (size_t d = 0; d < D; d++, src += stride, dst += n) {
        size_t w = 0;
        for (; w + 8 <= n; w += 8)
            _mm256_storeu_si256((__m256i *)(dst + w),
                                _mm256_loadu_si256((const __m256i *)(src + w)));
        for (; w < n; w += 2)
            _mm_storel_epi64((__m128i *)(dst + w), _mm_loadl_epi64((const __m128i *)(src + w)));
    }
}

/* n f16 at src into f32 dst. */
AVX2_INLINE void h2f_array(const uint16_t *src, size_t n, float *dst)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, load8(src, i, QKV_F16));
    for (; i < n; i++)
        dst[i] = h2f(src[i]);
}

#endif /* KIVI_CPU_X86 */

#endif
