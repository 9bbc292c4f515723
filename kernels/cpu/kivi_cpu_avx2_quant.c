/* kivi_cpu_avx2_quant.c - AVX2 work items of the cpu backend's KIVI
 * quantizers (keys per channel, values per token).  Arithmetic follows
 * kivi.md exactly (f32, true division, clamp before round-half-even, zero
 * extremes made +0) so codes and f16 bits match the reference. */
#include "kivi_cpu_avx2.h"

#if KIVI_CPU_X86

#include <math.h>
#include <string.h>

/* ---- quantizer helpers ---------------------------------------------------- */

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
    pack32_bytes(_mm256_permutevar8x32_epi32(
                     _mm256_packus_epi16(_mm256_packus_epi32(q[0], q[1]),
                                         _mm256_packus_epi32(q[2], q[3])),
                     _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)), /* codes 0..31 as bytes */
                 bits, out);
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

#endif /* KIVI_CPU_X86 */
