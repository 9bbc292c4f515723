/* kivi_cpu_avx2.h - what the AVX2/FMA/F16C work items of the cpu
 * backend's KIVI ops share (kivi_cpu_avx2_quant.c, kivi_cpu_avx2_dequant.c,
 * kivi_cpu_avx2_decode.c): the target attributes and the loads of f16/f32
 * elements and of packed codes.  Every function carries
 * target("avx2,fma,f16c") so the library itself is built for baseline
 * x86-64; kivi_cpu.c calls the work items only in the avx2 variants, which
 * run where qkv_cpu_has_avx2(). */
#ifndef QKV_KIVI_CPU_AVX2_H
#define QKV_KIVI_CPU_AVX2_H

#include "kivi_cpu.h"

#if KIVI_CPU_X86

#include "avx2_math.h"
#include <immintrin.h>

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

#endif /* KIVI_CPU_X86 */

#endif
