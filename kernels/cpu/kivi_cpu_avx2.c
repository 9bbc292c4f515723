/* kivi_cpu_avx2.c - AVX2/FMA/F16C work items of the cpu backend's KIVI ops.
 * Every function carries target("avx2,fma,f16c") so the library itself is
 * built for baseline x86-64; kivi_cpu.c calls these only when
 * qkv_cpu_has_avx2().  Quantizer arithmetic follows kivi.md exactly (f32,
 * true division, clamp before round-half-even) so codes and f16 bits match
 * the reference. */
#include "kivi_cpu.h"

#if KIVI_CPU_X86

#include "avx2_math.h"
#include <immintrin.h>
#include <math.h>
#include <string.h>

#define AVX2_FN __attribute__((target("avx2,fma,f16c")))
#define AVX2_INLINE static inline __attribute__((always_inline, target("avx2,fma,f16c")))

#define ROUND_NEAREST (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

/* ---- small helpers --------------------------------------------------------- */

/* f16 bits -> f32. */
AVX2_INLINE float h2f(uint16_t h) { return _cvtsh_ss(h); }

/* Elements i..i+7 of an f16 or f32 array as f32 lanes. */
AVX2_INLINE __m256 load8(const void *x, size_t i, qkv_dtype dt)
{
    if (dt == QKV_F16)
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)x + i)));
    return _mm256_loadu_ps((const float *)x + i);
}

/* Eight f16 at h[0], h[stride], ... h[7*stride] as f32 lanes. */
AVX2_INLINE __m256 load8_h16_strided(const uint16_t *h, size_t stride)
{
    return _mm256_cvtph_ps(_mm_setr_epi16((short)h[0], (short)h[stride], (short)h[2 * stride],
                                          (short)h[3 * stride], (short)h[4 * stride],
                                          (short)h[5 * stride], (short)h[6 * stride],
                                          (short)h[7 * stride]));
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

/* Accumulates into `bad` the lanes of v that are NaN (the min/max passes
 * drop NaN; Inf and |x| > 65504 show in the extremes, see out_of_range). */
AVX2_INLINE __m256 flag_nan(__m256 bad, __m256 v)
{
    return _mm256_or_ps(bad, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
}

/* Whether any lane of `bad` is set or an extreme lo/hi lies outside
 * [-65504, 65504] (Inf or beyond f16): the input the quantizers reject. */
AVX2_INLINE bool out_of_range(__m256 bad, __m256 lo, __m256 hi)
{
    const __m256 lim = _mm256_set1_ps(65504.0f);
    bad = _mm256_or_ps(bad, _mm256_cmp_ps(hi, lim, _CMP_GT_OQ));
    bad = _mm256_or_ps(bad, _mm256_cmp_ps(lo, _mm256_sub_ps(_mm256_setzero_ps(), lim), _CMP_LT_OQ));
    return _mm256_movemask_ps(bad) != 0;
}

/* The divisor of quant8 for stored scales s: s, with NaN where s == 0 so
 * that those codes come out 0 (NaN quotient -> INT_MIN -> clamped to 0). */
AVX2_INLINE __m256 quant_divisor(__m256 s)
{
    const __m256 zero = _mm256_cmp_ps(s, _mm256_setzero_ps(), _CMP_EQ_OQ);
    return _mm256_or_ps(s, _mm256_and_ps(zero, _mm256_set1_ps(NAN)));
}

/* Codes of 8 values v against stored minimum m and divisor s (see
 * quant_divisor): t = (v - m) / s (true division), clamped above to qmax
 * (NaN kept), rounded in the current rounding mode (as rintf: half to even
 * by default).  Negative results and INT_MIN (from NaN) are left for the
 * caller's clamp at 0 (integer max or unsigned saturation), which commutes
 * with the rounding. */
AVX2_INLINE __m256i quant8(__m256 v, __m256 m, __m256 s, __m256 qmax)
{
    return _mm256_cvtps_epi32(_mm256_min_ps(qmax, _mm256_div_ps(_mm256_sub_ps(v, m), s)));
}

/* Group extremes with a zero of either sign made +0 (docs/kivi.md): min_ps
 * and max_ps return whichever zero comes second, so the sign of a zero
 * extreme would depend on the order of the reduction. */
AVX2_INLINE __m256 canonical_zero(__m256 v) { return _mm256_add_ps(v, _mm256_setzero_ps()); }

/* ---- quantize keys ------------------------------------------------------------ */

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

/* Keys, token group g of head bh, channels d..d+31: lanes = channels; a
 * pass over the G token rows for min/max, f16 scale/min, then a pass for
 * the codes, f per word shifted in (last token first), into slot `k` of
 * the stage (scale/min entry k, code words k*G/f ..).  With `check`, a
 * block holding input the quantizer rejects (NaN, Inf, |x| > 65504) is
 * not staged and true is returned. */
AVX2_INLINE bool quant_keys32(const qkv_kivi_quant_params *p, size_t bh, size_t g, size_t d,
                              qkv_dtype dt, int bits, size_t G, bool check, key_stage *st,
                              size_t k)
{
    const size_t D = p->head_dim, f = (size_t)(32 / bits);
    const size_t base = (bh * p->in_capacity + g * G) * D + d;
    const void *x = p->input->host;
    __m256 lo[4], hi[4], s[4], m[4], bad = _mm256_setzero_ps();
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        lo[c] = hi[c] = load8(x, base + 8 * (size_t)c, dt);
        bad = flag_nan(bad, lo[c]);
    }
#pragma GCC unroll 4
    for (size_t i = 1; i < G; i++)
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            const __m256 v = load8(x, base + i * D + 8 * (size_t)c, dt);
            bad = flag_nan(bad, v);
            lo[c] = _mm256_min_ps(v, lo[c]);
            hi[c] = _mm256_max_ps(v, hi[c]);
        }
    if (check && out_of_range(bad, _mm256_min_ps(_mm256_min_ps(lo[0], lo[1]),
                                                 _mm256_min_ps(lo[2], lo[3])),
                              _mm256_max_ps(_mm256_max_ps(hi[0], hi[1]),
                                            _mm256_max_ps(hi[2], hi[3]))))
        return true;
    const __m256 qmax = _mm256_set1_ps((float)((1 << bits) - 1));
    uint16_t sb[KIVI_CPU_KEY_BLOCK], mb[KIVI_CPU_KEY_BLOCK];
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        lo[c] = canonical_zero(lo[c]);
        hi[c] = canonical_zero(hi[c]);
        const __m128i s16 = _mm256_cvtps_ph(_mm256_div_ps(_mm256_sub_ps(hi[c], lo[c]), qmax), 0);
        const __m128i m16 = _mm256_cvtps_ph(lo[c], 0);
        _mm_storeu_si128((__m128i *)(sb + 8 * c), s16);
        _mm_storeu_si128((__m128i *)(mb + 8 * c), m16);
        s[c] = quant_divisor(_mm256_cvtph_ps(s16));
        m[c] = _mm256_cvtph_ps(m16);
    }
    for (size_t j = 0; j < KIVI_CPU_KEY_BLOCK; j++) {
        st->scale[j][k] = sb[j];
        st->min[j][k] = mb[j];
    }
    for (size_t w = 0; w < G / f; w++) {
        __m256i word[4];
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++)
            word[c] = _mm256_setzero_si256();
#pragma GCC unroll 16
        for (size_t k = f; k-- > 0;) {
            const size_t row = base + (w * f + k) * D;
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) {
                __m256i q = quant8(load8(x, row + 8 * (size_t)c, dt), m[c], s[c], qmax);
                q = _mm256_max_epi32(q, _mm256_setzero_si256());
                word[c] = _mm256_or_si256(_mm256_slli_epi32(word[c], bits), q);
            }
        }
        uint32_t wb[KIVI_CPU_KEY_BLOCK];
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++)
            _mm256_storeu_si256((__m256i *)(wb + 8 * c), word[c]);
        for (size_t j = 0; j < KIVI_CPU_KEY_BLOCK; j++)
            st->codes[j][k * (G / f) + w] = wb[j];
    }
    return false;
}

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

/* Token groups g0 .. g1-1 of key head bh, all channels: per run of groups
 * that fills a key_stage (at most 64 KiB of f16 input, kept in L2), one
 * channel block at a time, staged and copied out; the first block's pass
 * prefetches each next group's rows (contiguous) into L2 for the others.
 * With `check`, stops at the first block with rejected input: true. */
AVX2_INLINE bool quant_keys_groups_t(const qkv_kivi_quant_params *p, size_t bh, size_t g0,
                                     size_t g1, qkv_dtype dt, int bits, size_t G, bool check)
{
    const size_t D = p->head_dim, esz = dt == QKV_F16 ? 2 : 4, rows = G * D * esz;
    const size_t run = KEY_STAGE_WORDS / (G * (size_t)bits / 32); /* groups per stage */
    const char *in = (const char *)p->input->host + bh * p->in_capacity * D * esz;
    key_stage st;
    for (size_t gs = g0; gs < g1; gs += run)
        for (size_t d = 0; d < D; d += KIVI_CPU_KEY_BLOCK) {
            const size_t n = g1 - gs < run ? g1 - gs : run;
            for (size_t g = gs; g < gs + n; g++) {
                if (d == 0 && g + 1 < g1)
                    for (size_t b = 0; b < rows; b += 64)
                        _mm_prefetch(in + (g + 1) * rows + b, _MM_HINT_T1);
                if (quant_keys32(p, bh, g, d, dt, bits, G, check, &st, g - gs))
                    return true;
            }
            copy_out_keys(p, bh, d, gs, n, G, bits, &st);
        }
    return false;
}

AVX2_FN bool kivi_avx2_quant_keys_groups(const qkv_kivi_quant_params *p, size_t bh, size_t g0,
                                         size_t g1, bool check)
{
    bool bad = false;
#define QK(DT, B, GG) bad = quant_keys_groups_t(p, bh, g0, g1, DT, B, GG, check)
    QUANT_DISPATCH(p, QK)
#undef QK
    return bad;
}

/* ---- quantize values ---------------------------------------------------------- */

/* Lane j = min (is_max: max) over the 8 lanes of v[j]. */
AVX2_INLINE __m256 reduce8(const __m256 v[8], int is_max)
{
#define RED(a, b) (is_max ? _mm256_max_ps(a, b) : _mm256_min_ps(a, b))
    __m256 u[4], w[2];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++)
        u[i] = RED(_mm256_unpacklo_ps(v[2 * i], v[2 * i + 1]),
                   _mm256_unpackhi_ps(v[2 * i], v[2 * i + 1]));
#pragma GCC unroll 2
    for (int i = 0; i < 2; i++)
        w[i] = RED(_mm256_shuffle_ps(u[2 * i], u[2 * i + 1], 0x44),
                   _mm256_shuffle_ps(u[2 * i], u[2 * i + 1], 0xEE));
    return RED(_mm256_permute2f128_ps(w[0], w[1], 0x20), _mm256_permute2f128_ps(w[0], w[1], 0x31));
#undef RED
}

/* Pack 32 codes q[0..3] (lanes in order; values <= qmax, negative ones
 * saturate to 0) LSB-first into 32*bits/32 words at out. */
AVX2_INLINE void pack32(const __m256i q[4], int bits, uint32_t *out)
{
    const __m256i b = _mm256_permutevar8x32_epi32(
        _mm256_packus_epi16(_mm256_packus_epi32(q[0], q[1]), _mm256_packus_epi32(q[2], q[3])),
        _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)); /* codes 0..31 as bytes, in order */
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

/* Codes of one value group x[base .. base+G) against lane-broadcast
 * divisor s and minimum m, packed into words[0 .. G*bits/32). */
AVX2_INLINE void quant_values_codes(const void *x, size_t base, qkv_dtype dt, int bits, size_t G,
                                    __m256 s, __m256 m, __m256 qmax, uint32_t *words)
{
#pragma GCC unroll 4
    for (size_t i = 0; i < G; i += 32) {
        __m256i q[4];
#pragma GCC unroll 4
        for (size_t k = 0; k < 4; k++)
            q[k] = quant8(load8(x, base + i + 8 * k, dt), m, s, qmax);
        pack32(q, bits, words + i / 32 * (size_t)bits);
    }
}

/* Min (lo) and max (hi) lanes of each of 8 groups x[base + j*G ..] (j < ng;
 * lanes j >= ng repeat group 0), before the horizontal reduction; NaN
 * lanes accumulated into *bad (see flag_nan). */
AVX2_INLINE void group_extremes8(const void *x, size_t base, size_t ng, qkv_dtype dt, size_t G,
                                 __m256 vlo[8], __m256 vhi[8], __m256 *bad)
{
#pragma GCC unroll 8
    for (size_t j = 0; j < 8; j++) {
        const size_t off = base + (j < ng ? j : 0) * G;
        vlo[j] = vhi[j] = load8(x, off, dt);
        *bad = flag_nan(*bad, vlo[j]);
#pragma GCC unroll 16
        for (size_t i = 8; i < G; i += 8) {
            const __m256 v = load8(x, off + i, dt);
            *bad = flag_nan(*bad, v);
            vlo[j] = _mm256_min_ps(v, vlo[j]);
            vhi[j] = _mm256_max_ps(v, vhi[j]);
        }
    }
}

/* Scale and min of groups 0..ng-1 (ng <= 8) of a contiguous stream of
 * G-element value groups at element x[base]: lanes = groups for min/max
 * (transposed reductions); f16 bits stored to scale[j], mn[j]; lanes of
 * *s8 get the quant_divisor of the scales, of *m8 the minima.  With
 * `check`, groups holding rejected input write nothing: true. */
AVX2_INLINE bool values_scale8(const void *x, size_t base, size_t ng, qkv_dtype dt, int bits,
                               size_t G, uint16_t *scale, uint16_t *mn, __m256 *s8, __m256 *m8,
                               bool check)
{
    __m256 vlo[8], vhi[8], bad = _mm256_setzero_ps();
    group_extremes8(x, base, ng, dt, G, vlo, vhi, &bad);
    const __m256 lo = canonical_zero(reduce8(vlo, 0)), hi = canonical_zero(reduce8(vhi, 1));
    if (check && out_of_range(bad, lo, hi))
        return true;
    const __m256 qmax = _mm256_set1_ps((float)((1 << bits) - 1));
    const __m128i s16 = _mm256_cvtps_ph(_mm256_div_ps(_mm256_sub_ps(hi, lo), qmax), 0);
    const __m128i m16 = _mm256_cvtps_ph(lo, 0);
    if (ng == 8) {
        _mm_storeu_si128((__m128i *)scale, s16);
        _mm_storeu_si128((__m128i *)mn, m16);
    } else {
        uint16_t sb[8], mb[8];
        _mm_storeu_si128((__m128i *)sb, s16);
        _mm_storeu_si128((__m128i *)mb, m16);
        memcpy(scale, sb, ng * sizeof *sb);
        memcpy(mn, mb, ng * sizeof *mb);
    }
    *s8 = quant_divisor(_mm256_cvtph_ps(s16));
    *m8 = _mm256_cvtph_ps(m16);
    return false;
}

/* Value groups k0 .. k0+ng-1 (ng <= KIVI_CPU_VALUE_BATCH) of head bh,
 * counting the head's T * D/G groups in memory order (contiguous in input
 * and output).  All scales first (independent chains overlap), then the
 * codes group by group.  With `check`, stops before the codes if any
 * group holds rejected input: true. */
AVX2_INLINE bool quant_values_t(const qkv_kivi_quant_params *p, size_t bh, size_t k0, size_t ng,
                                qkv_dtype dt, int bits, size_t G, bool check)
{
    const size_t D = p->head_dim, f = (size_t)(32 / bits), wpg = G / f;
    const size_t orow = bh * p->out_capacity + p->out_offset;
    const void *x = p->input->host;
    const size_t base = bh * p->in_capacity * D + k0 * G;
    uint16_t *scale = (uint16_t *)p->scale->host + orow * (D / G) + k0;
    uint16_t *mn = (uint16_t *)p->min->host + orow * (D / G) + k0;
    uint32_t *words = (uint32_t *)p->codes->host + orow * (D / f) + k0 * wpg;
    __m256 s8[KIVI_CPU_VALUE_BATCH / 8], m8[KIVI_CPU_VALUE_BATCH / 8];
    for (size_t b = 0; b * 8 < ng; b++)
        if (values_scale8(x, base + b * 8 * G, ng - b * 8 < 8 ? ng - b * 8 : 8, dt, bits, G,
                          scale + b * 8, mn + b * 8, &s8[b], &m8[b], check))
            return true;
    const __m256 qmax = _mm256_set1_ps((float)((1 << bits) - 1));
    for (size_t j = 0; j < ng; j++) {
        const __m256i lane = _mm256_set1_epi32((int)(j % 8));
        const __m256 s = _mm256_permutevar8x32_ps(s8[j / 8], lane);
        quant_values_codes(x, base + j * G, dt, bits, G, s,
                           _mm256_permutevar8x32_ps(m8[j / 8], lane), qmax, words + j * wpg);
    }
    return false;
}

/* Value groups k0 .. k1-1 of head bh, KIVI_CPU_VALUE_BATCH at a time; with
 * `check`, stops at the first batch with rejected input: true. */
AVX2_INLINE bool quant_values_groups_t(const qkv_kivi_quant_params *p, size_t bh, size_t k0,
                                       size_t k1, qkv_dtype dt, int bits, size_t G, bool check)
{
    for (size_t k = k0; k < k1; k += KIVI_CPU_VALUE_BATCH)
        if (quant_values_t(p, bh, k,
                           k1 - k < KIVI_CPU_VALUE_BATCH ? k1 - k : KIVI_CPU_VALUE_BATCH, dt,
                           bits, G, check))
            return true;
    return false;
}

AVX2_FN bool kivi_avx2_quant_values_groups(const qkv_kivi_quant_params *p, size_t bh, size_t k0,
                                           size_t k1, bool check)
{
    bool bad = false;
#define QV(DT, B, GG) bad = quant_values_groups_t(p, bh, k0, k1, DT, B, GG, check)
    QUANT_DISPATCH(p, QV)
#undef QV
    return bad;
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

/* ---- decode attention: keys --------------------------------------------------- */

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

/* Scores of the G tokens of one key group for nh query heads:
 * sc[h * n + i] = sum_d a[h*D + d] * code[d][tok0 + i] + bias[h], with
 * a = query * softmax scale * group scale.  rows: code row of channel 0,
 * wcap words apart.  Lanes = 16 tokens, codes decoded once for all heads. */
AVX2_INLINE void key_group_scores(const uint32_t *rows, size_t wcap, size_t tok0, size_t G,
                                  size_t D, const float *a, const float *bias, float *sc,
                                  size_t n, int nh, int bits)
{
    for (size_t k = 0; k < G; k += 16) {
        __m256 acc[4][2];
#pragma GCC unroll 4
        for (int h = 0; h < nh; h++)
            acc[h][0] = acc[h][1] = _mm256_setzero_ps();
        const uint32_t *row = rows;
        for (size_t d = 0; d < D; d++, row += wcap) {
            __m256 lo, hi;
            codes16f(row, tok0 + k, bits, &lo, &hi);
#pragma GCC unroll 4
            for (int h = 0; h < nh; h++) {
                const __m256 ad = _mm256_broadcast_ss(a + (size_t)h * D + d);
                acc[h][0] = _mm256_fmadd_ps(ad, lo, acc[h][0]);
                acc[h][1] = _mm256_fmadd_ps(ad, hi, acc[h][1]);
            }
        }
#pragma GCC unroll 4
        for (int h = 0; h < nh; h++) {
            const __m256 b = _mm256_set1_ps(bias[h]);
            _mm256_storeu_ps(sc + (size_t)h * n + k, _mm256_add_ps(acc[h][0], b));
            _mm256_storeu_ps(sc + (size_t)h * n + k + 8, _mm256_add_ps(acc[h][1], b));
        }
    }
}

/* key_group_scores with nh (1..4) and bits (2, 4) made constants. */
static AVX2_FN void key_group_scores_dispatch(const uint32_t *rows, size_t wcap, size_t tok0,
                                              size_t G, size_t D, const float *a,
                                              const float *bias, float *sc, size_t n, int nh,
                                              int bits)
{
#define KGS(NH, B) key_group_scores(rows, wcap, tok0, G, D, a, bias, sc, n, NH, B)
    switch (nh * 8 + bits) {
    case 1 * 8 + 2: KGS(1, 2); break;
    case 2 * 8 + 2: KGS(2, 2); break;
    case 3 * 8 + 2: KGS(3, 2); break;
    case 4 * 8 + 2: KGS(4, 2); break;
    case 1 * 8 + 4: KGS(1, 4); break;
    case 2 * 8 + 4: KGS(2, 4); break;
    case 3 * 8 + 4: KGS(3, 4); break;
    default: KGS(4, 4); break;
    }
#undef KGS
}

/* Per group and head block: a[h][d] = qs[h][d] * scale[d], and
 * bias[h] = sum_d qs[h][d] * min[d]. */
AVX2_INLINE void key_group_table(const float *qs, size_t D, int nh, const float *st,
                                 const float *mt, float *a, float *bias)
{
    for (int h = 0; h < nh; h++) {
        const float *q = qs + (size_t)h * D;
        __m256 b = _mm256_setzero_ps();
        for (size_t d = 0; d < D; d += 8) {
            const __m256 qv = _mm256_loadu_ps(q + d);
            _mm256_storeu_ps(a + (size_t)h * D + d, _mm256_mul_ps(qv, _mm256_loadu_ps(st + d)));
            b = _mm256_fmadd_ps(qv, _mm256_loadu_ps(mt + d), b);
        }
        bias[h] = qkv_avx2_hsum(b);
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

/* Scores of quantized key tokens [t0, te) (whole groups) for all nq heads
 * into s->score[h * n + t - t0], in chunks of KIVI_CPU_KEY_CHUNK tokens:
 * the chunk's code words are staged, its groups' scales and minima
 * transposed, then per head block of <= 4 and per group a query x scale
 * table and the min bias are folded into the code dot products. */
AVX2_INLINE void key_quant_scores(const kivi_cpu_decode *c, size_t bkv, size_t t0, size_t te,
                                  size_t n, const cpu_attn_scratch *s)
{
    const qkv_kivi_decode_params *p = c->p;
    const size_t D = c->D, G = c->G, bits = (size_t)c->bits;
    const size_t wcap = p->k_quant_capacity * bits / 32, gcap = p->k_quant_capacity / G;
    float *a = s->table, *st = a + 4 * D, *mt = st + 8 * D;
    uint32_t *codes = (uint32_t *)(mt + 8 * D);
    float bias[4];
    for (size_t c0 = t0; c0 < te; c0 += KIVI_CPU_KEY_CHUNK) {
        const size_t nc = te - c0 < KIVI_CPU_KEY_CHUNK ? te - c0 : KIVI_CPU_KEY_CHUNK;
        const size_t wpr = nc * bits / 32, ng = nc / G;
        const size_t pa = c0 + KIVI_CPU_KEY_CHUNK + c->prefetch;
        if (pa < p->k_quant)
            key_prefetch(c, bkv, pa, pa + nc < p->k_quant ? pa + nc : p->k_quant);
        stage_rows(c->k_codes + bkv * D * wcap + c0 * bits / 32, wcap, wpr, D, codes);
        key_params_transpose(c->k_scale + bkv * D * gcap, gcap, D, c0 / G, ng, st);
        key_params_transpose(c->k_min + bkv * D * gcap, gcap, D, c0 / G, ng, mt);
        for (size_t h0 = 0; h0 < c->nq; h0 += 4) {
            const int nh = c->nq - h0 < 4 ? (int)(c->nq - h0) : 4;
            for (size_t j = 0; j < ng; j++) {
                key_group_table(s->qs + h0 * D, D, nh, st + j * D, mt + j * D, a, bias);
                key_group_scores_dispatch(codes, wpr, j * G, G, D, a, bias,
                                          s->score + h0 * n + c0 + j * G - t0, n, nh, c->bits);
            }
        }
    }
}

/* Scores of residual key tokens [ta, t1) (f16 rows) for all heads. */
AVX2_INLINE void key_resid_scores(const kivi_cpu_decode *c, size_t bkv, size_t t0, size_t ta,
                                  size_t t1, size_t n, const cpu_attn_scratch *s)
{
    const qkv_kivi_decode_params *p = c->p;
    const size_t D = c->D;
    for (size_t t = ta; t < t1; t++) {
        const uint16_t *k = c->k_resid + (bkv * p->k_resid_capacity + t - p->k_quant) * D;
        for (size_t h0 = 0; h0 < c->nq; h0 += 4) {
            const size_t nh = c->nq - h0 < 4 ? c->nq - h0 : 4;
            __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                             _mm256_setzero_ps()};
            for (size_t d = 0; d < D; d += 8) {
                const __m256 kv = load8(k, d, QKV_F16);
                for (size_t h = 0; h < nh; h++)
                    acc[h] = _mm256_fmadd_ps(_mm256_loadu_ps(s->qs + (h0 + h) * D + d), kv, acc[h]);
            }
            for (size_t h = 0; h < nh; h++)
                s->score[(h0 + h) * n + t - t0] = qkv_avx2_hsum(acc[h]);
        }
    }
}

/* ---- decode attention: softmax and values ------------------------------------- */


/* acc[h][D] += sum_t p[h * n + t] * (code[t][d] * sf[t][g] + mf[t][g]) over
 * nb quantized value tokens; codes: row of the first token, wrow words per
 * row.  Lanes = 16 channels, each value dequantized once for all heads. */
AVX2_INLINE void value_block(const uint32_t *codes, size_t wrow, size_t nb, size_t D, size_t G,
                             const float *sf, const float *mf, const float *pr, size_t n,
                             float *acc, int nh, int bits)
{
    const size_t ng = D / G;
    for (size_t ch = 0; ch < D; ch += 16) {
        const size_t g = ch / G;
        __m256 o[4][2];
#pragma GCC unroll 4
        for (int h = 0; h < nh; h++) {
            o[h][0] = _mm256_loadu_ps(acc + (size_t)h * D + ch);
            o[h][1] = _mm256_loadu_ps(acc + (size_t)h * D + ch + 8);
        }
        const uint32_t *row = codes;
        for (size_t t = 0; t < nb; t++, row += wrow) {
            __m256 lo, hi;
            codes16f(row, ch, bits, &lo, &hi);
            const __m256 sv = _mm256_broadcast_ss(sf + t * ng + g);
            const __m256 mv = _mm256_broadcast_ss(mf + t * ng + g);
            lo = _mm256_fmadd_ps(lo, sv, mv);
            hi = _mm256_fmadd_ps(hi, sv, mv);
#pragma GCC unroll 4
            for (int h = 0; h < nh; h++) {
                const __m256 pv = _mm256_broadcast_ss(pr + (size_t)h * n + t);
                o[h][0] = _mm256_fmadd_ps(pv, lo, o[h][0]);
                o[h][1] = _mm256_fmadd_ps(pv, hi, o[h][1]);
            }
        }
#pragma GCC unroll 4
        for (int h = 0; h < nh; h++) {
            _mm256_storeu_ps(acc + (size_t)h * D + ch, o[h][0]);
            _mm256_storeu_ps(acc + (size_t)h * D + ch + 8, o[h][1]);
        }
    }
}

/* value_block with nh (1..4) and bits (2, 4) made constants. */
static AVX2_FN void value_block_dispatch(const uint32_t *codes, size_t wrow, size_t nb, size_t D,
                                         size_t G, const float *sf, const float *mf,
                                         const float *pr, size_t n, float *acc, int nh, int bits)
{
#define VB(NH, B) value_block(codes, wrow, nb, D, G, sf, mf, pr, n, acc, NH, B)
    switch (nh * 8 + bits) {
    case 1 * 8 + 2: VB(1, 2); break;
    case 2 * 8 + 2: VB(2, 2); break;
    case 3 * 8 + 2: VB(3, 2); break;
    case 4 * 8 + 2: VB(4, 2); break;
    case 1 * 8 + 4: VB(1, 4); break;
    case 2 * 8 + 4: VB(2, 4); break;
    case 3 * 8 + 4: VB(3, 4); break;
    default: VB(4, 4); break;
    }
#undef VB
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

/* Quantized value tokens [ta, te) of kv head bkv into s->acc, in blocks of
 * vblock tokens whose scales and minima are converted to f32 first. */
AVX2_INLINE void value_quant_accum(const kivi_cpu_decode *c, size_t bkv, size_t t0, size_t ta,
                                   size_t te, size_t n, const cpu_attn_scratch *s)
{
    const qkv_kivi_decode_params *p = c->p;
    const size_t D = c->D, ng = D / c->G, wrow = D * (size_t)c->bits / 32;
    float *sf = s->table + 20 * D, *mf = sf + c->vblock * ng;
    for (size_t tb = ta; tb < te; tb += c->vblock) {
        const size_t nb = te - tb < c->vblock ? te - tb : c->vblock;
        const size_t row = bkv * p->v_quant_capacity + tb;
        h2f_array(c->v_scale + row * ng, nb * ng, sf);
        h2f_array(c->v_min + row * ng, nb * ng, mf);
        for (size_t h0 = 0; h0 < c->nq; h0 += 4) {
            const int nh = c->nq - h0 < 4 ? (int)(c->nq - h0) : 4;
            value_block_dispatch(c->v_codes + row * wrow, wrow, nb, D, c->G, sf, mf,
                                 s->score + h0 * n + tb - t0, n, s->acc + h0 * D, nh, c->bits);
        }
    }
}

/* Residual value tokens [ta, t1) (f16 rows) into s->acc. */
AVX2_INLINE void value_resid_accum(const kivi_cpu_decode *c, size_t bkv, size_t t0, size_t ta,
                                   size_t t1, size_t n, const cpu_attn_scratch *s)
{
    const qkv_kivi_decode_params *p = c->p;
    const size_t D = c->D;
    for (size_t t = ta; t < t1; t++) {
        const uint16_t *v = c->v_resid + (bkv * p->v_resid_capacity + t - p->v_quant) * D;
        for (size_t d = 0; d < D; d += 8) {
            const __m256 vv = load8(v, d, QKV_F16);
            for (size_t h = 0; h < c->nq; h++) {
                float *o = s->acc + h * D + d;
                _mm256_storeu_ps(o, _mm256_fmadd_ps(_mm256_set1_ps(s->score[h * n + t - t0]), vv,
                                                    _mm256_loadu_ps(o)));
            }
        }
    }
}

AVX2_FN void kivi_avx2_decode_item(const kivi_cpu_decode *c, size_t bkv, size_t t0, size_t t1,
                                   const cpu_attn_scratch *s, float *part)
{
    const qkv_kivi_decode_params *p = c->p;
    const size_t n = t1 - t0, D = c->D;
    const size_t kq = p->k_quant < t1 ? p->k_quant : t1, vq = p->v_quant < t1 ? p->v_quant : t1;
    if (t0 < kq)
        key_quant_scores(c, bkv, t0, kq, n, s);
    key_resid_scores(c, bkv, t0, kq > t0 ? kq : t0, t1, n, s);
    for (size_t h = 0; h < c->nq; h++)
        qkv_avx2_softmax_partial(s->score + h * n, n, &part[h * (D + 2)], &part[h * (D + 2) + 1]);
    memset(s->acc, 0, c->nq * D * sizeof *s->acc);
    if (t0 < vq)
        value_quant_accum(c, bkv, t0, t0, vq, n, s);
    value_resid_accum(c, bkv, t0, vq > t0 ? vq : t0, t1, n, s);
    for (size_t h = 0; h < c->nq; h++)
        memcpy(&part[h * (D + 2) + 2], s->acc + h * D, D * sizeof *part);
}

#endif /* KIVI_CPU_X86 */
