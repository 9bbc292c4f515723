/* fireq_act_cpu_avx2.c - AVX2 row of the FireQ activation quantizer: 8
 * elements a step, the tail by the scalar encoder.  The arithmetic is that
 * of the AVX-512 row (integer magnitude maximum, true f32 division, the
 * encoder of fireq_act_cpu.h lane for lane), so codes and scale match the
 * reference exactly. */
#include "fireq_act_cpu.h"

#if QKV_CPU_X86

#include <math.h>
#include <string.h>

/* Largest magnitude bits of element i (f16, bf16: their own 15 bits). */
static uint32_t abs_bits_at(const void *x, qkv_dtype dtype, size_t i)
{
    if (dtype != QKV_F32)
        return ((const uint16_t *)x)[i] & 0x7fffu;
    uint32_t u;
    memcpy(&u, (const float *)x + i, sizeof u);
    return u & FIREQ_F32_ABS;
}

/* Maximum of the 8 unsigned lanes. */
QKV_AVX2_INLINE uint32_t hmax_epu32(__m256i m)
{
    __m128i h = _mm_max_epu32(_mm256_castsi256_si128(m), _mm256_extracti128_si256(m, 1));
    h = _mm_max_epu32(h, _mm_srli_si128(h, 8));
    h = _mm_max_epu32(h, _mm_srli_si128(h, 4));
    return (uint32_t)_mm_cvtsi128_si32(h);
}

/* Largest magnitude of x[0..k-1] as f32 bits (f16 and bf16 widened once,
 * at the end: widening keeps the order). */
QKV_AVX2_INLINE uint32_t amax_bits8(const void *x, qkv_dtype dtype, size_t k)
{
    const bool f32 = dtype == QKV_F32;
    const __m256i abs = _mm256_set1_epi32(f32 ? (int)FIREQ_F32_ABS : 0x7fff);
    __m256i m = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 8 <= k; i += 8) {
        const __m256i v = f32 ? _mm256_loadu_si256((const __m256i *)((const float *)x + i))
                              : _mm256_cvtepu16_epi32(
                                    _mm_loadu_si128((const __m128i *)((const uint16_t *)x + i)));
        m = _mm256_max_epu32(m, _mm256_and_si256(v, abs));
    }
    uint32_t best = hmax_epu32(m);
    for (; i < k; i++) {
        const uint32_t a = abs_bits_at(x, dtype, i);
        best = a > best ? a : best;
    }
    if (f32)
        return best;
    const float f =
        dtype == QKV_F16 ? qkv_f16_to_f32((uint16_t)best) : qkv_bf16_to_f32((uint16_t)best);
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* x[i..i+7] as f32. */
QKV_AVX2_INLINE __m256 load8(const void *x, qkv_dtype dtype, size_t i)
{
    if (dtype == QKV_F32)
        return _mm256_loadu_ps((const float *)x + i);
    const __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)x + i));
    if (dtype == QKV_F16)
        return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/* fireq_e4m3_encode of 8 lanes of f32 bits. */
QKV_AVX2_INLINE __m256i e4m3_encode8(__m256i u)
{
    const __m256i one = _mm256_set1_epi32(1);
    const __m256i a = _mm256_and_si256(u, _mm256_set1_epi32((int)FIREQ_F32_ABS));
    const __m256i e = _mm256_srli_epi32(a, 23);
    const __m256i shift = _mm256_min_epi32(
        _mm256_max_epi32(_mm256_sub_epi32(_mm256_set1_epi32(141), e), _mm256_set1_epi32(20)),
        _mm256_set1_epi32(25));
    const __m256i base = _mm256_sub_epi32(_mm256_min_epu32(e, _mm256_set1_epi32(121)), one);
    const __m256i v = _mm256_sub_epi32(a, _mm256_slli_epi32(base, 23));
    const __m256i half_less =
        _mm256_sub_epi32(_mm256_sllv_epi32(one, _mm256_sub_epi32(shift, one)), one);
    const __m256i odd = _mm256_and_si256(_mm256_srlv_epi32(v, shift), one);
    __m256i code = _mm256_srlv_epi32(_mm256_add_epi32(_mm256_add_epi32(v, half_less), odd), shift);
    code = _mm256_min_epu32(code, _mm256_set1_epi32((int)FIREQ_E4M3_MAX));
    const __m256i sign = _mm256_and_si256(_mm256_srli_epi32(u, 24), _mm256_set1_epi32(0x80));
    return _mm256_or_si256(code, sign);
}

/* The 8 low bytes of the lanes of c (each < 256) stored at out[0..7]. */
QKV_AVX2_INLINE void store_bytes8(uint8_t *out, __m256i c)
{
    const __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(c), _mm256_extracti128_si256(c, 1));
    _mm_storel_epi64((__m128i *)out, _mm_packus_epi16(w, w));
}

QKV_AVX2_FN bool fireq_act_row_avx2(const void *x, qkv_dtype dtype, size_t k, bool check,
                                    uint8_t *xq, uint16_t *sx)
{
    const uint32_t amax_bits = amax_bits8(x, dtype, k);
    if (check && amax_bits >= FIREQ_F32_INF)
        return true;
    float amax;
    memcpy(&amax, &amax_bits, sizeof amax);
    const float s = fireq_act_scale(amax);
    const __m256 vs = _mm256_set1_ps(s), lo = _mm256_set1_ps(-448.0f),
                 hi = _mm256_set1_ps(448.0f);
    size_t i = 0;
    for (; i + 8 <= k; i += 8) {
        const __m256 q = _mm256_div_ps(load8(x, dtype, i), vs);
        /* max first: a NaN quotient gives -448, as fmaxf in the reference */
        const __m256 c = _mm256_min_ps(_mm256_max_ps(q, lo), hi);
        store_bytes8(xq + i, e4m3_encode8(_mm256_castps_si256(c)));
    }
    for (; i < k; i++) {
        const float v = dtype == QKV_F32 ? ((const float *)x)[i]
                        : dtype == QKV_F16 ? qkv_f16_to_f32(((const uint16_t *)x)[i])
                                           : qkv_bf16_to_f32(((const uint16_t *)x)[i]);
        const float q = fminf(fmaxf(v / s, -448.0f), 448.0f);
        uint32_t u;
        memcpy(&u, &q, sizeof u);
        xq[i] = fireq_e4m3_encode(u);
    }
    *sx = qkv_f32_to_bf16(s);
    return false;
}

#endif
