/* avx512_math.h - AVX-512 helpers of the cpu kernels: the target
 * attributes (the library is built for baseline x86-64; the avx512 variants
 * that call these run only where the context's ISA level is avx512, i.e.
 * AVX-512 F/BW/DQ/VL with zmm state saved by the OS), f16 loads,
 * horizontal reductions, the code-to-float lookup of packed codes and a
 * vector exp. */
#ifndef QKV_AVX512_MATH_H
#define QKV_AVX512_MATH_H

#include "avx2_math.h"

#if QKV_CPU_X86
#include <stdint.h>

#define QKV_AVX512_TARGET "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c"
#define QKV_AVX512_FN __attribute__((target(QKV_AVX512_TARGET)))
#define QKV_AVX512_INLINE static inline __attribute__((always_inline, target(QKV_AVX512_TARGET)))

/* Sixteen f16 at h[0..15] as f32 lanes. */
QKV_AVX512_INLINE __m512 qkv_avx512_load_h16(const uint16_t *h)
{
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)h));
}

/* Sum of the 16 lanes. */
QKV_AVX512_INLINE float qkv_avx512_hsum(__m512 v)
{
    const __m256 s = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    return qkv_avx2_hsum(s);
}

/* Codes 16 at a time as f32 by a table lookup: vpermps reads the low 4
 * bits of each lane of `shifted` (the packed word shifted so the lane's
 * code sits at bit 0) as an index into 16 floats.  For 2-bit codes the
 * table repeats 0..3, so the next code in bits 2-3 does not matter (no
 * mask); for 4-bit codes it is 0..15. */
QKV_AVX512_INLINE __m512 qkv_avx512_code_table(int bits)
{
    return bits == 2 ? _mm512_setr_ps(0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3)
                     : _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
}

/* Codes i..i+15 (i % 16 == 0) of a packed LSB-first row of 2- or 4-bit
 * codes looked up in `table` (16 floats indexed by the code, as
 * qkv_avx512_code_table or a dequantizing one): one broadcast, one shift
 * and one vpermps per 16 codes (2-bit); 4-bit takes two words. */
QKV_AVX512_INLINE __m512 qkv_avx512_codes16(const uint32_t *row, size_t i, int bits,
                                            __m512 table)
{
    if (bits == 2) {
        const __m512i sh =
            _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        const __m512i w = _mm512_srlv_epi32(_mm512_set1_epi32((int)row[i / 16]), sh);
        return _mm512_permutexvar_ps(w, table);
    }
    const __m512i sh = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28);
    const __m512i w = _mm512_inserti64x4(_mm512_set1_epi32((int)row[i / 8]),
                                         _mm256_set1_epi32((int)row[i / 8 + 1]), 1);
    return _mm512_permutexvar_ps(_mm512_srlv_epi32(w, sh), table);
}

/* e^x for 16 lanes (the polynomial of qkv_avx2_exp8, ~2 ulp), x clamped
 * to [-87, 88]; NaN stays NaN. */
QKV_AVX512_INLINE __m512 qkv_avx512_exp16(__m512 x)
{
    x = _mm512_max_ps(_mm512_set1_ps(-87.0f), x); /* NaN in x is returned */
    x = _mm512_min_ps(_mm512_set1_ps(88.0f), x);
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 y = _mm512_set1_ps(1.9875691500e-4f);
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.3981999507e-3f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(8.3334519073e-3f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(4.1665795894e-2f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.6666665459e-1f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(5.0000001201e-1f));
    y = _mm512_fmadd_ps(y, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    const __m512i e =
        _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(y, _mm512_castsi512_ps(e));
}

/* In place x[i] = exp(x[i] - max) for i < n (n >= 1); *mx = max, *sum =
 * sum.  The tail runs masked, so NaN scores propagate as in the scalar
 * code. */
QKV_AVX512_INLINE void qkv_avx512_softmax_partial(float *x, size_t n, float *mx, float *sum)
{
    __m512 vm = _mm512_set1_ps(-INFINITY);
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        vm = _mm512_max_ps(_mm512_loadu_ps(x + i), vm);
    const __mmask16 tail = (__mmask16)((1u << (n - i)) - 1u);
    vm = _mm512_mask_max_ps(vm, tail, _mm512_maskz_loadu_ps(tail, x + i), vm);
    const float m = _mm512_reduce_max_ps(vm);
    const __m512 mv = _mm512_set1_ps(m);
    __m512 vs = _mm512_setzero_ps();
    for (i = 0; i + 16 <= n; i += 16) {
        const __m512 e = qkv_avx512_exp16(_mm512_sub_ps(_mm512_loadu_ps(x + i), mv));
        _mm512_storeu_ps(x + i, e);
        vs = _mm512_add_ps(vs, e);
    }
    const __m512 e = qkv_avx512_exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, x + i), mv));
    _mm512_mask_storeu_ps(x + i, tail, e);
    vs = _mm512_mask_add_ps(vs, tail, vs, e);
    *mx = m;
    *sum = qkv_avx512_hsum(vs);
}
#endif

#endif
