/* avx2_math.h - AVX2/FMA/F16C helpers of the cpu kernels: the target
 * attributes (the library is built for baseline x86-64; the avx2 variants
 * that call these run only where qkv_cpu_has_avx2()), horizontal reductions
 * and a vector exp. */
#ifndef QKV_AVX2_MATH_H
#define QKV_AVX2_MATH_H

#if defined(__x86_64__) || defined(__i386__)
#define QKV_CPU_X86 1
#else
#define QKV_CPU_X86 0
#endif

#if QKV_CPU_X86
#include <immintrin.h>
#include <math.h>
#include <stddef.h>

#define QKV_AVX2_FN __attribute__((target("avx2,fma,f16c")))
#define QKV_AVX2_INLINE static inline __attribute__((always_inline, target("avx2,fma,f16c")))

/* Eight f16 at h[0..7] as f32 lanes. */
QKV_AVX2_INLINE __m256 qkv_avx2_load_h8(const uint16_t *h)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h));
}

/* Sum of the 8 lanes. */
QKV_AVX2_INLINE float qkv_avx2_hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Maximum of the 8 lanes. */
QKV_AVX2_INLINE float qkv_avx2_hmax(__m256 v)
{
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Lane i = sum of the lanes of a[i], for 8 vectors at once. */
QKV_AVX2_INLINE __m256 qkv_avx2_hsum8(const __m256 a[8])
{
    const __m256 t0 = _mm256_hadd_ps(a[0], a[1]), t1 = _mm256_hadd_ps(a[2], a[3]);
    const __m256 t2 = _mm256_hadd_ps(a[4], a[5]), t3 = _mm256_hadd_ps(a[6], a[7]);
    const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
    return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20),
                         _mm256_permute2f128_ps(u0, u1, 0x31));
}

/* e^x for 8 lanes (Cephes expf polynomial, ~2 ulp), x clamped to
 * [-87, 88]; NaN stays NaN. */
QKV_AVX2_INLINE __m256 qkv_avx2_exp8(__m256 x)
{
    x = _mm256_max_ps(_mm256_set1_ps(-87.0f), x); /* NaN in x is returned */
    x = _mm256_min_ps(_mm256_set1_ps(88.0f), x);
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 y = _mm256_set1_ps(1.9875691500e-4f);
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i e =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

/* In place x[i] = exp(x[i] - max) for i < n; *mx = max, *sum = sum. */
QKV_AVX2_INLINE void qkv_avx2_softmax_partial(float *x, size_t n, float *mx, float *sum)
{
    __m256 vm = _mm256_set1_ps(-INFINITY);
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        vm = _mm256_max_ps(_mm256_loadu_ps(x + i), vm);
    float m = qkv_avx2_hmax(vm);
    for (; i < n; i++)
        m = fmaxf(m, x[i]);
    const __m256 mv = _mm256_set1_ps(m);
    __m256 vs = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8) {
        const __m256 e = qkv_avx2_exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), mv));
        _mm256_storeu_ps(x + i, e);
        vs = _mm256_add_ps(vs, e);
    }
    float l = qkv_avx2_hsum(vs);
    for (; i < n; i++) {
        x[i] = expf(x[i] - m);
        l += x[i];
    }
    *mx = m;
    *sum = l;
}
#endif

#endif
