/* fireq_act_cpu_avx512.c - AVX-512 row of the FireQ activation quantizer:
 * 16 elements a step, the tail under a mask.  The magnitude maximum is an
 * unsigned integer maximum (of f32 bits, or of f16/bf16 bits widened once
 * at the end), the quotient a true f32 division, the encoder that of
 * fireq_act_cpu.h lane for lane (variable shifts), and vpmovdb packs the
 * codes to bytes, so codes and scale match the reference exactly. */
#include "fireq_act_cpu.h"

#if QKV_CPU_X86

#include "avx512_math.h"

#include <string.h>

/* Mask of the first n (< 16) lanes, or all 16. */
QKV_AVX512_INLINE __mmask16 lanes16(size_t n)
{
    return n >= 16 ? 0xffff : (__mmask16)((1u << n) - 1u);
}

/* Largest magnitude of x[0..k-1] as f32 bits (f16 and bf16 widened). */
QKV_AVX512_INLINE uint32_t amax_bits16(const void *x, qkv_dtype dtype, size_t k)
{
    if (dtype == QKV_F32) {
        const __m512i abs = _mm512_set1_epi32((int)FIREQ_F32_ABS);
        __m512i m = _mm512_setzero_si512();
        for (size_t i = 0; i < k; i += 16) {
            const __m512i v = _mm512_maskz_loadu_epi32(lanes16(k - i), (const float *)x + i);
            m = _mm512_max_epu32(m, _mm512_and_si512(v, abs));
        }
        return (uint32_t)_mm512_reduce_max_epu32(m);
    }
    const __m256i abs = _mm256_set1_epi16(0x7fff);
    __m256i m = _mm256_setzero_si256();
    for (size_t i = 0; i < k; i += 16) {
        const __m256i v = _mm256_maskz_loadu_epi16(lanes16(k - i), (const uint16_t *)x + i);
        m = _mm256_max_epu16(m, _mm256_and_si256(v, abs));
    }
    __m128i h = _mm_max_epu16(_mm256_castsi256_si128(m), _mm256_extracti128_si256(m, 1));
    h = _mm_max_epu16(h, _mm_srli_si128(h, 8));
    h = _mm_max_epu16(h, _mm_srli_si128(h, 4));
    h = _mm_max_epu16(h, _mm_srli_si128(h, 2));
    const uint16_t b = (uint16_t)_mm_extract_epi16(h, 0);
    const float f = dtype == QKV_F16 ? qkv_f16_to_f32(b) : qkv_bf16_to_f32(b);
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* Lanes `mask` of x[i..i+15] as f32. */
QKV_AVX512_INLINE __m512 load16(const void *x, qkv_dtype dtype, size_t i, __mmask16 mask)
{
    if (dtype == QKV_F32)
        return _mm512_maskz_loadu_ps(mask, (const float *)x + i);
    const __m256i h = _mm256_maskz_loadu_epi16(mask, (const uint16_t *)x + i);
    if (dtype == QKV_F16)
        return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* fireq_e4m3_encode of 16 lanes of f32 bits. */
QKV_AVX512_INLINE __m512i e4m3_encode16(__m512i u)
{
    const __m512i one = _mm512_set1_epi32(1);
    const __m512i a = _mm512_and_si512(u, _mm512_set1_epi32((int)FIREQ_F32_ABS));
    const __m512i e = _mm512_srli_epi32(a, 23);
    const __m512i shift = _mm512_min_epi32(
        _mm512_max_epi32(_mm512_sub_epi32(_mm512_set1_epi32(141), e), _mm512_set1_epi32(20)),
        _mm512_set1_epi32(25));
    const __m512i base = _mm512_sub_epi32(_mm512_min_epu32(e, _mm512_set1_epi32(121)), one);
    const __m512i v = _mm512_sub_epi32(a, _mm512_slli_epi32(base, 23));
    const __m512i half_less =
        _mm512_sub_epi32(_mm512_sllv_epi32(one, _mm512_sub_epi32(shift, one)), one);
    const __m512i odd = _mm512_and_si512(_mm512_srlv_epi32(v, shift), one);
    __m512i code = _mm512_srlv_epi32(_mm512_add_epi32(_mm512_add_epi32(v, half_less), odd), shift);
    code = _mm512_min_epu32(code, _mm512_set1_epi32((int)FIREQ_E4M3_MAX));
    const __m512i sign = _mm512_and_si512(_mm512_srli_epi32(u, 24), _mm512_set1_epi32(0x80));
    return _mm512_or_si512(code, sign);
}

QKV_AVX512_FN bool fireq_act_row_avx512(const void *x, qkv_dtype dtype, size_t k, bool check,
                                        uint8_t *xq, uint16_t *sx)
{
    const uint32_t amax_bits = amax_bits16(x, dtype, k);
    if (check && amax_bits >= FIREQ_F32_INF)
        return true;
    float amax;
    memcpy(&amax, &amax_bits, sizeof amax);
    const float s = fireq_act_scale(amax);
    const __m512 vs = _mm512_set1_ps(s), lo = _mm512_set1_ps(-448.0f),
                 hi = _mm512_set1_ps(448.0f);
    for (size_t i = 0; i < k; i += 16) {
        const __mmask16 mask = lanes16(k - i);
        const __m512 q = _mm512_div_ps(load16(x, dtype, i, mask), vs);
        /* max first: a NaN quotient gives -448, as fmaxf in the reference */
        const __m512 c = _mm512_min_ps(_mm512_max_ps(q, lo), hi);
        _mm512_mask_cvtepi32_storeu_epi8(xq + i, mask, e4m3_encode16(_mm512_castps_si512(c)));
    }
    *sx = qkv_f32_to_bf16(s);
    return false;
}

#endif
