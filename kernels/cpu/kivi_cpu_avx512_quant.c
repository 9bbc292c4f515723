/* kivi_cpu_avx512_quant.c - AVX-512 work items of the cpu backend's KIVI
 * quantizers (keys per channel, values per token).  The arithmetic is
 * that of the AVX2 items, lane for lane (f32, true division, clamp before
 * round-half-even in the default rounding mode, zero extremes made +0,
 * f16 by round-to-nearest-even), so codes and f16 bits match the reference
 * and the AVX2 items exactly; NaN, Inf and |x| > 65504 are found on the way
 * with mask compares.  Zmm lanes hold 16 channels (keys) or, for the
 * extremes of values, 16 groups. */
#include "kivi_cpu_avx2.h"

#if KIVI_CPU_X86

#include "avx512_math.h"

#include <string.h>

#define AVX512_FN QKV_AVX512_FN
#define AVX512_INLINE QKV_AVX512_INLINE

/* ---- quantizer helpers ---------------------------------------------------------- */

/* Lanes of v that are NaN (the min/max passes drop NaN; Inf and
 * |x| > 65504 show in the extremes, see out_of_range16). */
AVX512_INLINE __mmask16 nan_lanes(__m512 v) { return _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q); }

/* Whether `bad` has a lane set or an extreme lo/hi lies outside
 * [-65504, 65504]: the input the quantizers reject. */
AVX512_INLINE bool out_of_range16(__mmask16 bad, __m512 lo, __m512 hi)
{
    bad |= _mm512_cmp_ps_mask(hi, _mm512_set1_ps(65504.0f), _CMP_GT_OQ);
    bad |= _mm512_cmp_ps_mask(lo, _mm512_set1_ps(-65504.0f), _CMP_LT_OQ);
    return bad != 0;
}

/* Stored scales s as divisors: NaN where s == 0, so those codes come out 0
 * (NaN quotient -> INT_MIN -> clamped to 0). */
AVX512_INLINE __m512 quant_divisor16(__m512 s)
{
    return _mm512_mask_mov_ps(s, _mm512_cmp_ps_mask(s, _mm512_setzero_ps(), _CMP_EQ_OQ),
                              _mm512_set1_ps(NAN));
}

/* Codes of 16 values: rint(min(qmax, (v - m) / s)); negative results and
 * INT_MIN (from a NaN quotient) are left for the caller's clamp at 0
 * (integer max or unsigned saturation), which commutes with the rounding. */
AVX512_INLINE __m512i quant16(__m512 v, __m512 m, __m512 s, __m512 qmax)
{
    return _mm512_cvtps_epi32(_mm512_min_ps(qmax, _mm512_div_ps(_mm512_sub_ps(v, m), s)));
}

/* Zero extremes of either sign made +0 (see canonical_zero). */
AVX512_INLINE __m512 canonical_zero16(__m512 v) { return _mm512_add_ps(v, _mm512_setzero_ps()); }

/* Elements i..i+15 of an f16 or f32 array as f32 lanes. */
AVX512_INLINE __m512 load16(const void *x, size_t i, qkv_dtype dt)
{
    if (dt == QKV_F16)
        return qkv_avx512_load_h16((const uint16_t *)x + i);
    return _mm512_loadu_ps((const float *)x + i);
}

/* ---- quantize keys ------------------------------------------------------------ */

/* The key quantizer visits a token group row by row (G rows of D
 * channels, contiguous in the input, so the reads stream), up to
 * KEY_PASS channels per pass: 8 zmm of minima and 8 of maxima.  A run of
 * groups is staged per channel (the output rows lie a power-of-two
 * capacity apart and would share a few L1 sets) and written out with one
 * masked store per channel and array. */
#define KEY_PASS 128
#define KEY_RUN_WORDS 32  /* staged code words per channel: one 8-bit group of 128 */
#define KEY_RUN_GROUPS 16 /* staged groups per channel: 16 words of 2-bit, G 32 */
typedef struct key_pass_stage {
    uint32_t codes[KEY_PASS][KEY_RUN_WORDS];
    uint16_t scale[KEY_PASS][KEY_RUN_GROUPS];
    uint16_t min[KEY_PASS][KEY_RUN_GROUPS];
} key_pass_stage;

/* Groups per staged run: 16 words per channel (one line), at least one
 * group. */
static inline size_t key_run_groups(size_t G, int bits)
{
    const size_t wpg = G * (size_t)bits / 32;
    return wpg >= 16 ? 1 : 16 / wpg;
}

/* f16 bits as signed 16-bit keys in the order of the values they encode
 * (NaN aside; -0 just below +0): the magnitude bits of negative values
 * flipped.  The map is its own inverse. */
AVX512_INLINE __m512i f16_order_key(__m512i h)
{
    return _mm512_xor_si512(h, _mm512_srli_epi16(_mm512_srai_epi16(h, 15), 1));
}

/* Extremes of G f16 rows at x (D elements apart), channels 16 NB from x:
 * lo[c], hi[c] = min and max of channels 16c..16c+15 as f32, found on the
 * f16 bits as order keys, 32 channels per instruction.  True when a value
 * is NaN or Inf (|bits| >= 0x7C00; no finite f16 exceeds 65504). */
AVX512_INLINE bool key_extremes_f16(const uint16_t *x, size_t D, size_t G, int NB, __m512 *lo,
                                    __m512 *hi)
{
    const __m512i abs_mask = _mm512_set1_epi16(0x7FFF);
    __m512i klo[4], khi[4], amax = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int v = 0; v < NB / 2; v++) {
        const __m512i h = _mm512_loadu_si512(x + 32 * (size_t)v);
        klo[v] = khi[v] = f16_order_key(h);
        amax = _mm512_max_epu16(amax, _mm512_and_si512(h, abs_mask));
    }
#pragma GCC unroll 2
    for (size_t i = 1; i < G; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NB / 2; v++) {
            const __m512i h = _mm512_loadu_si512(x + i * D + 32 * (size_t)v);
            const __m512i k = f16_order_key(h);
            klo[v] = _mm512_min_epi16(klo[v], k);
            khi[v] = _mm512_max_epi16(khi[v], k);
            amax = _mm512_max_epu16(amax, _mm512_and_si512(h, abs_mask));
        }
#pragma GCC unroll 4
    for (int v = 0; v < NB / 2; v++) {
        const __m512i l = f16_order_key(klo[v]), h = f16_order_key(khi[v]);
        lo[2 * v] = _mm512_cvtph_ps(_mm512_castsi512_si256(l));
        lo[2 * v + 1] = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(l, 1));
        hi[2 * v] = _mm512_cvtph_ps(_mm512_castsi512_si256(h));
        hi[2 * v + 1] = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(h, 1));
    }
    return _mm512_cmpge_epu16_mask(amax, _mm512_set1_epi16(0x7C00)) != 0;
}

/* Extremes of G f32 rows at x (D elements apart), channels 16 NB from x,
 * as key_extremes_f16; true when a value is NaN or an extreme lies outside
 * [-65504, 65504]. */
AVX512_INLINE bool key_extremes_f32(const float *x, size_t D, size_t G, int NB, __m512 *lo,
                                    __m512 *hi)
{
    __mmask16 bad = 0;
#pragma GCC unroll 8
    for (int c = 0; c < NB; c++) {
        lo[c] = hi[c] = _mm512_loadu_ps(x + 16 * (size_t)c);
        bad |= nan_lanes(lo[c]);
    }
#pragma GCC unroll 2
    for (size_t i = 1; i < G; i++)
#pragma GCC unroll 8
        for (int c = 0; c < NB; c++) {
            const __m512 v = _mm512_loadu_ps(x + i * D + 16 * (size_t)c);
            bad |= nan_lanes(v);
            lo[c] = _mm512_min_ps(v, lo[c]);
            hi[c] = _mm512_max_ps(v, hi[c]);
        }
    __m512 l = lo[0], h = hi[0];
#pragma GCC unroll 8
    for (int c = 1; c < NB; c++) {
        l = _mm512_min_ps(l, lo[c]);
        h = _mm512_max_ps(h, hi[c]);
    }
    return out_of_range16(bad, l, h);
}

/* The extremes of key_extremes_f16 / _f32 for nb (2, 4, 6, 8: D % 32 ==
 * 0) zmm per side, one instance per dtype and nb. */
static AVX512_FN bool key_extremes(const void *x, size_t base, size_t D, qkv_dtype dt, size_t G,
                                   size_t nb, __m512 *lo, __m512 *hi)
{
#define KE(NB)                                                                                 \
    case NB:                                                                                   \
        return dt == QKV_F16 ? key_extremes_f16((const uint16_t *)x + base, D, G, NB, lo, hi)  \
                             : key_extremes_f32((const float *)x + base, D, G, NB, lo, hi);
    switch (nb) {
        KE(2) KE(4) KE(6)
    default:
        KE(8)
    }
#undef KE
}

/* The code words of one 16-channel block of a token group into slot k of
 * the stage (rows 0..15 of `codes`): rows from x[row0], D elements apart;
 * m, s the block's minima and divisors. */
AVX512_INLINE void key_codes16(const void *x, size_t row0, size_t D, qkv_dtype dt, int bits,
                               size_t G, __m512 m, __m512 s, uint32_t (*codes)[KEY_RUN_WORDS],
                               size_t k)
{
    const size_t f = (size_t)(32 / bits), wpg = G / f;
    const __m512 qmax = _mm512_set1_ps((float)((1 << bits) - 1));
    for (size_t w = 0; w < wpg; w++) {
        __m512i word = _mm512_setzero_si512();
#pragma GCC unroll 16
        for (size_t t = 0; t < f; t++) {
            const __m512i q = _mm512_max_epi32(
                quant16(load16(x, row0 + (w * f + t) * D, dt), m, s, qmax),
                _mm512_setzero_si512());
            word = _mm512_or_si512(word, _mm512_slli_epi32(q, (unsigned)(bits * (int)t)));
        }
        uint32_t wb[16];
        _mm512_storeu_si512(wb, word);
        for (size_t j = 0; j < 16; j++)
            codes[j][k * wpg + w] = wb[j];
    }
}

/* key_codes16 with the dtype and bits (2, 4, 8) made constants. */
static AVX512_FN void key_codes16_dispatch(const void *x, size_t row0, size_t D, qkv_dtype dt,
                                           int bits, size_t G, __m512 m, __m512 s,
                                           uint32_t (*codes)[KEY_RUN_WORDS], size_t k)
{
#define KC(B)                                                                                  \
    case B:                                                                                    \
        if (dt == QKV_F16)                                                                     \
            key_codes16(x, row0, D, QKV_F16, B, G, m, s, codes, k);                            \
        else                                                                                   \
            key_codes16(x, row0, D, QKV_F32, B, G, m, s, codes, k);                            \
        break;
    switch (bits) {
        KC(2) KC(4)
    default:
        KC(8)
    }
#undef KC
}

/* Token group at x[base] (G rows, D elements apart), channels 16 nb from
 * the row start, into slot k of the stage: the extremes, scale and min as
 * quant_keys32 of the AVX2 items lane for lane, then the codes, one word
 * of 16 channels at a time in a register; pf_bytes from pf prefetched into
 * L2 on the way.  With `check`, a group holding rejected input writes
 * nothing: true (without it, such input gives unspecified codes). */
static AVX512_FN bool quant_keys_pass(const void *x, size_t base, size_t D, qkv_dtype dt,
                                      int bits, size_t G, bool check, size_t nb,
                                      key_pass_stage *st, size_t k, const char *pf,
                                      size_t pf_bytes)
{
    __m512 lo[8], hi[8];
    if (key_extremes(x, base, D, dt, G, nb, lo, hi) && check)
        return true;
    const __m512 qmax = _mm512_set1_ps((float)((1 << bits) - 1));
    for (size_t c = 0; c < nb; c++) {
        const __m512 l = canonical_zero16(lo[c]), h = canonical_zero16(hi[c]);
        const __m256i s16 = _mm512_cvtps_ph(_mm512_div_ps(_mm512_sub_ps(h, l), qmax), 0);
        const __m256i m16 = _mm512_cvtps_ph(l, 0);
        uint16_t sb[16], mb[16];
        _mm256_storeu_si256((__m256i *)sb, s16);
        _mm256_storeu_si256((__m256i *)mb, m16);
        for (size_t j = 0; j < 16; j++) {
            st->scale[16 * c + j][k] = sb[j];
            st->min[16 * c + j][k] = mb[j];
        }
        for (size_t b = pf_bytes * c / nb; b < pf_bytes * (c + 1) / nb; b += 64)
            _mm_prefetch(pf + b, _MM_HINT_T1);
        key_codes16_dispatch(x, base + 16 * c, D, dt, bits, G,
                             _mm512_cvtph_ps(m16), quant_divisor16(_mm512_cvtph_ps(s16)),
                             st->codes + 16 * c, k);
    }
    return false;
}

/* Write staged groups g .. g+n-1 of channels d .. d+nc-1 of head bh to
 * the output rows: per channel one masked store of n * G*bits/32 code
 * words (<= 32) and one of n f16 scales and minima (<= 16). */
AVX512_INLINE void copy_out_keys_pass(const qkv_kivi_quant_params *p, size_t bh, size_t d,
                                      size_t nc, size_t g, size_t n, size_t G, int bits,
                                      const key_pass_stage *st)
{
    const size_t D = p->head_dim, f = (size_t)(32 / bits), nw = n * (G / f);
    const size_t wcap = p->out_capacity / f, gcap = p->out_capacity / G;
    const size_t gout = p->out_offset / G + g;
    const __mmask16 w0 = (__mmask16)(nw >= 16 ? 0xFFFFu : (1u << nw) - 1u);
    const __mmask16 w1 = (__mmask16)(nw >= 32 ? 0xFFFFu : nw > 16 ? (1u << (nw - 16)) - 1u : 0u);
    const __mmask16 gm = (__mmask16)(n >= 16 ? 0xFFFFu : (1u << n) - 1u);
    for (size_t j = 0; j < nc; j++) {
        const size_t row = bh * D + d + j;
        uint32_t *codes = (uint32_t *)p->codes->host + row * wcap + gout * (G / f);
        _mm512_mask_storeu_epi32(codes, w0, _mm512_loadu_si512(st->codes[j]));
        if (w1)
            _mm512_mask_storeu_epi32(codes + 16, w1, _mm512_loadu_si512(st->codes[j] + 16));
        _mm256_mask_storeu_epi16((uint16_t *)p->scale->host + row * gcap + gout, gm,
                                 _mm256_loadu_si256((const __m256i *)st->scale[j]));
        _mm256_mask_storeu_epi16((uint16_t *)p->min->host + row * gcap + gout, gm,
                                 _mm256_loadu_si256((const __m256i *)st->min[j]));
    }
}

/* Token groups g0 .. g1-1 of key head bh, all channels: per run of staged
 * groups and pass of up to KEY_PASS channels, each group's rows in order. */
AVX512_INLINE bool quant_keys_groups_avx512(const qkv_kivi_quant_params *p, size_t bh,
                                            size_t g0, size_t g1, qkv_dtype dt, int bits,
                                            size_t G, bool check)
{
    const size_t D = p->head_dim, run = key_run_groups(G, bits);
    const size_t head = bh * p->in_capacity * D, esz = dt == QKV_F16 ? 2 : 4;
    key_pass_stage st;
    for (size_t gs = g0; gs < g1; gs += run) {
        const size_t n = g1 - gs < run ? g1 - gs : run;
        for (size_t d = 0; d < D; d += KEY_PASS) {
            const size_t nc = D - d < KEY_PASS ? D - d : KEY_PASS;
            for (size_t g = gs; g < gs + n; g++) {
                /* the group after next, spread over this one's code passes */
                const bool ahead = g + 2 < g1 && D == nc;
                const char *pf = ahead ? (const char *)p->input->host +
                                             (head + (g + 2) * G * D) * esz
                                       : NULL;
                if (quant_keys_pass(p->input->host, head + g * G * D + d, D, dt, bits, G, check,
                                    nc / 16, &st, g - gs, pf, ahead ? G * D * esz : 0))
                    return true;
            }
            copy_out_keys_pass(p, bh, d, nc, gs, n, G, bits, &st);
        }
    }
    return false;
}

AVX512_FN bool kivi_avx512_quant_keys_groups(const qkv_kivi_quant_params *p, size_t bh,
                                             size_t g0, size_t g1, bool check)
{
    bool bad = false;
#define QK(DT, B, GG) bad = quant_keys_groups_avx512(p, bh, g0, g1, DT, B, GG, check)
    QUANT_DISPATCH(p, QK)
#undef QK
    return bad;
}

/* ---- quantize values ---------------------------------------------------------- */

/* Lane j = min (is_max: max) over the 16 lanes of v[j]: the shuffle tree
 * of hsum16 (dense_cpu_avx512.c) with min/max, reading its inputs in the
 * tree's order so lane j ends up with v[j]. */
AVX512_INLINE __m512 reduce16(const __m512 v[16], int is_max)
{
#define RED(a, b) (is_max ? _mm512_max_ps(a, b) : _mm512_min_ps(a, b))
    static const int TREE[16] = {0, 2, 1, 3, 8, 10, 9, 11, 4, 6, 5, 7, 12, 14, 13, 15};
    __m512 x[8], y[4], z[2];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++)
        x[i] = RED(_mm512_shuffle_f32x4(v[TREE[i]], v[TREE[i + 8]], 0x44),
                   _mm512_shuffle_f32x4(v[TREE[i]], v[TREE[i + 8]], 0xEE));
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++)
        y[i] = RED(_mm512_shuffle_f32x4(x[i], x[i + 4], 0x88),
                   _mm512_shuffle_f32x4(x[i], x[i + 4], 0xDD));
#pragma GCC unroll 2
    for (int i = 0; i < 2; i++)
        z[i] = RED(_mm512_shuffle_ps(y[i], y[i + 2], 0x44), _mm512_shuffle_ps(y[i], y[i + 2], 0xEE));
    return RED(_mm512_shuffle_ps(z[0], z[1], 0x88), _mm512_shuffle_ps(z[0], z[1], 0xDD));
#undef RED
}

/* Scale and min of groups 0..ng-1 (ng <= 16) of a contiguous stream of
 * G-element value groups at element x[base]: per group the lane-wise
 * extremes of its G / 16 vectors, then one reduction tree puts group j in
 * lane j (lanes j >= ng repeat group 0); f16 bits stored to scale[j],
 * mn[j]; *s16 gets the divisors, *m16 the minima.  With `check`, groups
 * holding rejected input write nothing: true. */
AVX512_INLINE bool values_scale16(const void *x, size_t base, size_t ng, qkv_dtype dt, int bits,
                                  size_t G, uint16_t *scale, uint16_t *mn, __m512 *s16,
                                  __m512 *m16, bool check)
{
    __m512 vlo[16], vhi[16];
    __mmask16 bad = 0;
#pragma GCC unroll 16
    for (size_t j = 0; j < 16; j++) {
        const size_t off = base + (j < ng ? j : 0) * G;
        vlo[j] = vhi[j] = load16(x, off, dt);
        bad |= nan_lanes(vlo[j]);
#pragma GCC unroll 8
        for (size_t i = 16; i < G; i += 16) {
            const __m512 v = load16(x, off + i, dt);
            bad |= nan_lanes(v);
            vlo[j] = _mm512_min_ps(v, vlo[j]);
            vhi[j] = _mm512_max_ps(v, vhi[j]);
        }
    }
    const __m512 lo = canonical_zero16(reduce16(vlo, 0)), hi = canonical_zero16(reduce16(vhi, 1));
    if (check && out_of_range16(bad, lo, hi))
        return true;
    const __m512 qmax = _mm512_set1_ps((float)((1 << bits) - 1));
    const __m256i sh = _mm512_cvtps_ph(_mm512_div_ps(_mm512_sub_ps(hi, lo), qmax), 0);
    const __m256i mh = _mm512_cvtps_ph(lo, 0);
    const __mmask16 keep = (__mmask16)((1u << ng) - 1u);
    _mm256_mask_storeu_epi16(scale, keep, sh);
    _mm256_mask_storeu_epi16(mn, keep, mh);
    *s16 = quant_divisor16(_mm512_cvtph_ps(sh));
    *m16 = _mm512_cvtph_ps(mh);
    return false;
}

/* Codes of one value group x[base .. base+G) against lane-broadcast
 * divisor s and minimum m, packed into words[0 .. G*bits/32): 32 codes
 * narrowed to bytes by two unsigned-saturating packs (negative codes
 * become 0) and one dword permute back into order, then packed as the
 * AVX2 items do. */
AVX512_INLINE void quant_values_codes16(const void *x, size_t base, qkv_dtype dt, int bits,
                                        size_t G, __m512 s, __m512 m, __m512 qmax,
                                        uint32_t *words)
{
#pragma GCC unroll 4
    for (size_t i = 0; i < G; i += 32) {
        const __m512i q0 = quant16(load16(x, base + i, dt), m, s, qmax);
        const __m512i q1 = quant16(load16(x, base + i + 16, dt), m, s, qmax);
        const __m512i w16 = _mm512_packus_epi32(q0, q1); /* per 128-bit lane: 4 of q0, 4 of q1 */
        const __m512i b = _mm512_permutexvar_epi32(
            _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 0, 0, 0, 0, 0, 0, 0, 0),
            _mm512_packus_epi16(w16, w16)); /* dword 4k: q0[4k..], 4k + 1: q1[4k..] */
        pack32_bytes(_mm512_castsi512_si256(b), bits, words + i / 32 * (size_t)bits);
    }
}

/* Value groups k0 .. k0+ng-1 (ng <= KIVI_CPU_VALUE_BATCH) of head bh,
 * counting the head's T * D/G groups in memory order: all scales first,
 * then the codes group by group; with `check`, stops before the codes if
 * any group holds rejected input: true. */
AVX512_INLINE bool quant_values_avx512(const qkv_kivi_quant_params *p, size_t bh, size_t k0,
                                       size_t ng, qkv_dtype dt, int bits, size_t G, bool check)
{
    const size_t D = p->head_dim, f = (size_t)(32 / bits), wpg = G / f;
    const size_t orow = bh * p->out_capacity + p->out_offset;
    const void *x = p->input->host;
    const size_t base = bh * p->in_capacity * D + k0 * G;
    uint16_t *scale = (uint16_t *)p->scale->host + orow * (D / G) + k0;
    uint16_t *mn = (uint16_t *)p->min->host + orow * (D / G) + k0;
    uint32_t *words = (uint32_t *)p->codes->host + orow * (D / f) + k0 * wpg;
    __m512 s16[KIVI_CPU_VALUE_BATCH / 16], m16[KIVI_CPU_VALUE_BATCH / 16];
    for (size_t b = 0; b * 16 < ng; b++)
        if (values_scale16(x, base + b * 16 * G, ng - b * 16 < 16 ? ng - b * 16 : 16, dt, bits,
                           G, scale + b * 16, mn + b * 16, &s16[b], &m16[b], check))
            return true;
    const __m512 qmax = _mm512_set1_ps((float)((1 << bits) - 1));
    for (size_t j = 0; j < ng; j++) {
        const __m512i lane = _mm512_set1_epi32((int)(j % 16));
        quant_values_codes16(x, base + j * G, dt, bits, G,
                             _mm512_permutexvar_ps(lane, s16[j / 16]),
                             _mm512_permutexvar_ps(lane, m16[j / 16]), qmax, words + j * wpg);
    }
    return false;
}

AVX512_FN bool kivi_avx512_quant_values_groups(const qkv_kivi_quant_params *p, size_t bh,
                                               size_t k0, size_t k1, bool check)
{
    bool bad = false;
#define QV(DT, B, GG)                                                                          \
    for (size_t k = k0; k < k1 && !bad; k += KIVI_CPU_VALUE_BATCH)                             \
        bad = quant_values_avx512(                                                             \
            p, bh, k, k1 - k < KIVI_CPU_VALUE_BATCH ? k1 - k : KIVI_CPU_VALUE_BATCH, DT, B, GG, \
            check);
    QUANT_DISPATCH(p, QV)
#undef QV
    return bad;
}

#endif /* KIVI_CPU_X86 */
