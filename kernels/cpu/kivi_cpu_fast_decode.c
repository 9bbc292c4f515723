/* kivi_cpu_fast_decode.c - the cpu "avx512bf16" variant of KIVI decode
 * attention, for calls in fast precision (QKV_PRECISION_FAST, spec kivi.md
 * "Precision modes") on CPUs with AVX-512 BF16.
 *
 * The code dot products run on vdpbf16ps, two products per 32-bit lane:
 *  keys:   lanes = 16 tokens, the pair = channels (d, d+1); the
 *          multiplicand is query x softmax scale x group scale, rounded to
 *          bf16 (RNE); the codes 0..15 are exact in bf16.
 *  values: lanes = 16 channels, the pair = tokens (t, t+1); the
 *          multiplicand is probability x group scale, rounded to bf16.
 * Everything else stays f32: accumulation, the min terms (sum q m and
 * sum p m), the f16 residual tokens, softmax and its max-subtraction, the
 * split merge (attention_cpu.h's driver).  Every function carries the
 * target attributes, so the library itself stays baseline x86-64. */
#include "cpu_features.h"
#include "kivi/kivi_variants.h"
#include "kivi_cpu.h"

#if KIVI_CPU_X86 && (defined(__clang__) || __GNUC__ >= 10)
#define KIVI_FAST_BF16 1
#else
#define KIVI_FAST_BF16 0
#endif

#include <math.h>
#include <stdatomic.h>
#include <string.h>

enum { FAST_SPLIT, FAST_CHUNK, FAST_VBLOCK, FAST_PREFETCH };
static const qkv_tile_param_def fast_decode_space[] = {
    /* tokens per work item (rounded up to a multiple of the group) */
    {"split_tokens", 1024, {128, 256, 512, 1024, 2048, 4096, 0}, false},
    /* work items per OpenMP dynamic chunk */
    {"omp_chunk", 1, {1, 2, 4, 8, 0}, false},
    /* quantized value tokens per block (even: tokens go in pairs) */
    {"value_block", 64, {16, 32, 64, 128, 256, 0}, false},
    /* key lines prefetched this many tokens past the next staged chunk */
    {"prefetch", 512, {128, 256, 512, 1024, 2048, 0}, false},
};

#if KIVI_FAST_BF16

#include "avx2_math.h"
#include <immintrin.h>

#define BF16_TARGET "avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,avx2,fma,f16c"
#define BF16_FN __attribute__((target(BF16_TARGET)))
#define BF16_INLINE static inline __attribute__((always_inline, target(BF16_TARGET)))

/* Key tokens per staged chunk: a multiple of every G, 8 groups at most. */
#define FAST_KEY_CHUNK 256
/* Query heads whose accumulators a pass keeps in registers. */
#define FAST_HEADS 4

/* ---- packed codes as bf16 pairs ---------------------------------------------- */

/* The code words of codes i..i+15 (i % 16 == 0) of a packed row, one per
 * 32-bit lane: lane j holds the word with code i + j. */
BF16_INLINE __m512i code_words(const uint32_t *row, size_t i, int bits)
{
    if (bits == 2)
        return _mm512_set1_epi32((int)row[i / 16]);
    const __m512i lane_word = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    return _mm512_permutexvar_epi32(
        lane_word, _mm512_castsi128_si512(_mm_loadl_epi64((const __m128i *)(row + i / 8))));
}

/* bf16 of the code value of each 5-bit index (its low 2 or 4 bits). */
#define BF16_CODES_0_3 0x0000, 0x3f80, 0x4000, 0x4040
#define BF16_CODES_4_15                                                                        \
    0x4080, 0x40a0, 0x40c0, 0x40e0, 0x4100, 0x4110, 0x4120, 0x4130, 0x4140, 0x4150, 0x4160,    \
        0x4170
static const uint16_t bf16_of_code2[32] = {BF16_CODES_0_3, BF16_CODES_0_3, BF16_CODES_0_3,
                                           BF16_CODES_0_3, BF16_CODES_0_3, BF16_CODES_0_3,
                                           BF16_CODES_0_3, BF16_CODES_0_3};
static const uint16_t bf16_of_code4[32] = {BF16_CODES_0_3, BF16_CODES_4_15, BF16_CODES_0_3,
                                           BF16_CODES_4_15};

/* 16 pairs of codes as 32 bf16: lane j = (code j of words x, code j of
 * words y), each word vector as code_words gives it.  The code is brought
 * to bit 0 (x, shifted) and bit 16 (y, rotated) of the lane; vpermw reads
 * 5 index bits of each half, and its table maps them to the bf16 of their
 * low `bits` bits. */
BF16_INLINE __m512i code_pairs(__m512i x, __m512i y, int bits)
{
    __m512i shift, rot, table;
    if (bits == 2) {
        shift = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        rot = _mm512_setr_epi32(16, 14, 12, 10, 8, 6, 4, 2, 0, 30, 28, 26, 24, 22, 20, 18);
        table = _mm512_loadu_si512(bf16_of_code2);
    } else {
        shift = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28);
        rot = _mm512_setr_epi32(16, 12, 8, 4, 0, 28, 24, 20, 16, 12, 8, 4, 0, 28, 24, 20);
        table = _mm512_loadu_si512(bf16_of_code4);
    }
    const __m512i lo = _mm512_srlv_epi32(x, shift);
    const __m512i hi = _mm512_rolv_epi32(y, rot);
    return _mm512_permutexvar_epi16(_mm512_mask_blend_epi16(0xAAAAAAAAu, lo, hi), table);
}

/* vdpbf16ps: acc + the two products of each lane of a and b. */
BF16_INLINE __m512 dot_pairs(__m512 acc, __m512i a, __m512i b)
{
    return _mm512_dpbf16_ps(acc, (__m512bh)a, (__m512bh)b);
}

/* The 16 f32 at x rounded to bf16 (RNE) into 16 u16 at out (8 pairs). */
BF16_INLINE void store_bf16(uint16_t *out, __m512 x)
{
    _mm256_storeu_si256((__m256i *)out, (__m256i)_mm512_cvtneps_pbh(x));
}

/* ---- keys ------------------------------------------------------------------------ */

/* Per head h < NH of a head block and one key group: pairs[h][D/2] of
 * bf16(qs[h][d] * scale[d]) and bias[h] = sum_d qs[h][d] * min[d] (f32);
 * scale and min f32 [D]. */
BF16_INLINE void key_group_table(const float *qs, size_t D, int nh, const float *scale,
                                 const float *mn, uint16_t *pairs, float *bias)
{
    for (int h = 0; h < nh; h++) {
        const float *q = qs + (size_t)h * D;
        __m512 b = _mm512_setzero_ps();
        for (size_t d = 0; d < D; d += 16) {
            const __m512 qv = _mm512_loadu_ps(q + d);
            store_bf16(pairs + (size_t)h * D + d, _mm512_mul_ps(qv, _mm512_loadu_ps(scale + d)));
            b = _mm512_fmadd_ps(qv, _mm512_loadu_ps(mn + d), b);
        }
        bias[h] = _mm512_reduce_add_ps(b);
    }
}

/* Scores of the G tokens of one key group (codes from column tok0 of D
 * staged rows, wpr words each) for NH heads: sc[h * n + i] = sum over
 * channel pairs of pairs[h] x codes + bias[h].  32 tokens per pass. */
BF16_INLINE void key_group_scores(const uint32_t *codes, size_t wpr, size_t tok0, size_t G,
                                  size_t D, const uint16_t *pairs, const float *bias,
                                  float *sc, size_t n, int nh, int bits)
{
    const uint32_t *pw = (const uint32_t *)(const void *)pairs;
    for (size_t k = 0; k < G; k += 32) {
        __m512 acc[FAST_HEADS][2];
#pragma GCC unroll 4
        for (int h = 0; h < nh; h++)
            acc[h][0] = acc[h][1] = _mm512_setzero_ps();
        const uint32_t *r0 = codes;
        for (size_t p = 0; p < D / 2; p++, r0 += 2 * wpr) {
            const uint32_t *r1 = r0 + wpr;
            const __m512i c0 = code_pairs(code_words(r0, tok0 + k, bits),
                                          code_words(r1, tok0 + k, bits), bits);
            const __m512i c1 = code_pairs(code_words(r0, tok0 + k + 16, bits),
                                          code_words(r1, tok0 + k + 16, bits), bits);
#pragma GCC unroll 4
            for (int h = 0; h < nh; h++) {
                const __m512i a = _mm512_set1_epi32((int)pw[(size_t)h * D / 2 + p]);
                acc[h][0] = dot_pairs(acc[h][0], c0, a);
                acc[h][1] = dot_pairs(acc[h][1], c1, a);
            }
        }
#pragma GCC unroll 4
        for (int h = 0; h < nh; h++) {
            const __m512 b = _mm512_set1_ps(bias[h]);
            _mm512_storeu_ps(sc + (size_t)h * n + k, _mm512_add_ps(acc[h][0], b));
            _mm512_storeu_ps(sc + (size_t)h * n + k + 16, _mm512_add_ps(acc[h][1], b));
        }
    }
}

/* key_group_scores with nh (1..4) and bits (2, 4) made constants. */
static BF16_FN __attribute__((noinline)) void key_group_scores_of(const uint32_t *codes, size_t wpr, size_t tok0,
                                        size_t G, size_t D, const uint16_t *pairs,
                                        const float *bias, float *sc, size_t n, int nh, int bits)
{
#define KGS(NH, B) key_group_scores(codes, wpr, tok0, G, D, pairs, bias, sc, n, NH, B)
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

/* The per-thread tables of the item, carved from cpu_attn_scratch.table. */
typedef struct fast_tables {
    uint32_t *codes;   /* [D, chunk words]: staged key codes */
    float *kscale;     /* [8, D]: key scales of the chunk's groups, group-major */
    float *kmin;       /* [8, D] */
    uint16_t *pairs;   /* [FAST_HEADS, D] bf16: a key group's query x scale, or
                        * [FAST_HEADS, D/G, vblock] bf16: a value block's p x scale */
    float *vscale;     /* [D/G, vblock]: value scales of a block, group-major */
    float *vmin;       /* [D/G, vblock] */
    float *zmin;       /* [nq, D/G, 16]: sum_t p_t min_t of each head and value group,
                        * in 16 lanes */
} fast_tables;

/* Floats of fast_tables.pairs: a key group's or a value block's bf16. */
static size_t pairs_floats(const kivi_cpu_decode *c)
{
    const size_t D = c->D, ng = D / c->G, vb = c->vblock;
    return FAST_HEADS * (D > ng * vb ? D : ng * vb) / 2;
}

/* Floats of the tables (see fast_tables) for decode context c. */
static size_t fast_table_floats(const kivi_cpu_decode *c)
{
    const size_t D = c->D, ng = D / c->G, vb = c->vblock;
    return D * FAST_KEY_CHUNK / 8 + 16 * D + pairs_floats(c) + 2 * ng * vb + 16 * c->nq * ng;
}

/* The tables in a thread's scratch `table` (fast_table_floats of them). */
static fast_tables tables_of(const kivi_cpu_decode *c, float *table)
{
    const size_t D = c->D, ng = D / c->G, vb = c->vblock, pairs = pairs_floats(c);
    fast_tables t;
    t.codes = (uint32_t *)(void *)table;
    t.kscale = table + D * FAST_KEY_CHUNK / 8;
    t.kmin = t.kscale + 8 * D;
    t.pairs = (uint16_t *)(void *)(t.kmin + 8 * D);
    t.vscale = t.kmin + 8 * D + pairs;
    t.vmin = t.vscale + ng * vb;
    t.zmin = t.vmin + ng * vb;
    return t;
}

/* Prefetch the key code and scale/min lines of tokens [ta, tb) of kv head
 * bkv. */
BF16_INLINE void key_prefetch(const kivi_cpu_decode *c, size_t bkv, size_t ta, size_t tb)
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

/* Copy nw (<= 32) code words of each of D rows, src rows `stride` words
 * apart, into dst rows nw words apart. */
BF16_INLINE void stage_rows(const uint32_t *src, size_t stride, size_t nw, size_t D,
                            uint32_t *dst)
{
    const __mmask16 m0 = (__mmask16)(nw >= 16 ? 0xffff : (1u << nw) - 1);
    const __mmask16 m1 = (__mmask16)(nw >= 32 ? 0xffff : nw > 16 ? (1u << (nw - 16)) - 1 : 0);
    for (size_t d = 0; d < D; d++, src += stride, dst += nw) {
        _mm512_mask_storeu_epi32(dst, m0, _mm512_maskz_loadu_epi32(m0, src));
        if (m1)
            _mm512_mask_storeu_epi32(dst + 16, m1, _mm512_maskz_loadu_epi32(m1, src + 16));
    }
}

/* Key scales or minima of groups gc..gc+ng-1 (ng <= 8) of kv head bkv,
 * src [D, gcap] f16, into dst[j * D + d] f32: per 16 channels, their 8
 * f16 each (masked to ng) transposed by word permutes (rows r, groups j:
 * word 8r + j of a pair of 4-row vectors), then converted. */
BF16_INLINE void key_params_transpose(const uint16_t *src, size_t gcap, size_t D, size_t gc,
                                      size_t ng, float *dst)
{
    /* (rows 0-7, groups 0-3 | 4-7) from two 4-row vectors: word 8j + r */
    static const uint16_t by_group[2][32] = {
        {0, 8, 16, 24, 32, 40, 48, 56, 1, 9, 17, 25, 33, 41, 49, 57,
         2, 10, 18, 26, 34, 42, 50, 58, 3, 11, 19, 27, 35, 43, 51, 59},
        {4, 12, 20, 28, 36, 44, 52, 60, 5, 13, 21, 29, 37, 45, 53, 61,
         6, 14, 22, 30, 38, 46, 54, 62, 7, 15, 23, 31, 39, 47, 55, 63}};
    /* (rows 0-15 of group 2k | of group 2k + 1) from rows 0-7 and 8-15 */
    static const uint16_t by_row[2][32] = {
        {0, 1, 2, 3, 4, 5, 6, 7, 32, 33, 34, 35, 36, 37, 38, 39,
         8, 9, 10, 11, 12, 13, 14, 15, 40, 41, 42, 43, 44, 45, 46, 47},
        {16, 17, 18, 19, 20, 21, 22, 23, 48, 49, 50, 51, 52, 53, 54, 55,
         24, 25, 26, 27, 28, 29, 30, 31, 56, 57, 58, 59, 60, 61, 62, 63}};
    const __mmask8 m = (__mmask8)((1u << ng) - 1);
    for (size_t d = 0; d < D; d += 16) {
        __m512i quad[4];
        for (int k = 0; k < 4; k++) {
            const uint16_t *r = src + (d + 4 * (size_t)k) * gcap + gc;
            const __m512i r01 = _mm512_castsi256_si512(_mm256_inserti32x4(
                _mm256_castsi128_si256(_mm_maskz_loadu_epi16(m, r)),
                _mm_maskz_loadu_epi16(m, r + gcap), 1));
            const __m256i r23 = _mm256_inserti32x4(
                _mm256_castsi128_si256(_mm_maskz_loadu_epi16(m, r + 2 * gcap)),
                _mm_maskz_loadu_epi16(m, r + 3 * gcap), 1);
            quad[k] = _mm512_inserti64x4(r01, r23, 1);
        }
        for (int half = 0; half < 2; half++) {
            const __m512i sel = _mm512_loadu_si512(by_group[half]);
            const __m512i lo = _mm512_permutex2var_epi16(quad[0], sel, quad[1]);
            const __m512i hi = _mm512_permutex2var_epi16(quad[2], sel, quad[3]);
            for (int k = 0; k < 2; k++) {
                const size_t j = (size_t)(4 * half + 2 * k);
                if (j >= ng)
                    break;
                const __m512i g2 =
                    _mm512_permutex2var_epi16(lo, _mm512_loadu_si512(by_row[k]), hi);
                _mm512_storeu_ps(dst + j * D + d, _mm512_cvtph_ps(_mm512_castsi512_si256(g2)));
                if (j + 1 < ng)
                    _mm512_storeu_ps(dst + (j + 1) * D + d,
                                     _mm512_cvtph_ps(_mm512_extracti64x4_epi64(g2, 1)));
            }
        }
    }
}

/* Scores of quantized key tokens [t0, te) (whole groups) for all nq heads
 * into s->score[h * n + t - t0], chunk by chunk: the chunk's code words
 * staged (rows of a power-of-two capacity would collide in a few L1 sets),
 * its groups' scales and minima transposed, then per head block and group
 * the bf16 query x scale pairs dotted with the codes. */
BF16_INLINE void key_quant_scores(const kivi_cpu_decode *c, const fast_tables *tb, size_t bkv,
                                  size_t t0, size_t te, size_t n, const cpu_attn_scratch *s)
{
    const qkv_kivi_decode_params *p = c->p;
    const size_t D = c->D, G = c->G, bits = (size_t)c->bits;
    const size_t wcap = p->k_quant_capacity * bits / 32, gcap = p->k_quant_capacity / G;
    float bias[FAST_HEADS];
    for (size_t c0 = t0; c0 < te; c0 += FAST_KEY_CHUNK) {
        const size_t nc = te - c0 < FAST_KEY_CHUNK ? te - c0 : FAST_KEY_CHUNK;
        const size_t wpr = nc * bits / 32, ng = nc / G;
        const size_t pa = c0 + FAST_KEY_CHUNK + c->prefetch;
        if (pa < p->k_quant)
            key_prefetch(c, bkv, pa, pa + nc < p->k_quant ? pa + nc : p->k_quant);
        stage_rows(c->k_codes + bkv * D * wcap + c0 * bits / 32, wcap, wpr, D, tb->codes);
        key_params_transpose(c->k_scale + bkv * D * gcap, gcap, D, c0 / G, ng, tb->kscale);
        key_params_transpose(c->k_min + bkv * D * gcap, gcap, D, c0 / G, ng, tb->kmin);
        for (size_t h0 = 0; h0 < c->nq; h0 += FAST_HEADS) {
            const int nh = c->nq - h0 < FAST_HEADS ? (int)(c->nq - h0) : FAST_HEADS;
            for (size_t j = 0; j < ng; j++) {
                key_group_table(s->qs + h0 * D, D, nh, tb->kscale + j * D, tb->kmin + j * D,
                                tb->pairs, bias);
                key_group_scores_of(tb->codes, wpr, j * G, G, D, tb->pairs, bias,
                                    s->score + h0 * n + c0 + j * G - t0, n, nh, c->bits);
            }
        }
    }
}

/* Scores of residual key tokens [ta, t1) (f16 rows, f32 products). */
BF16_INLINE void key_resid_scores(const kivi_cpu_decode *c, size_t bkv, size_t t0, size_t ta,
                                  size_t t1, size_t n, const cpu_attn_scratch *s)
{
    const qkv_kivi_decode_params *p = c->p;
    const size_t D = c->D;
    for (size_t t = ta; t < t1; t++) {
        const uint16_t *k = c->k_resid + (bkv * p->k_resid_capacity + t - p->k_quant) * D;
        for (size_t h = 0; h < c->nq; h++) {
            __m512 acc = _mm512_setzero_ps();
            for (size_t d = 0; d < D; d += 16)
                acc = _mm512_fmadd_ps(_mm512_loadu_ps(s->qs + h * D + d),
                                      _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(k + d))),
                                      acc);
            s->score[h * n + t - t0] = _mm512_reduce_add_ps(acc);
        }
    }
}

/* ---- values ---------------------------------------------------------------------- */

/* acc[h][ch..ch+31] += sum over token pairs q < (nb + 1) / 2 of
 * pairs[h][q] x codes for NH heads (32 channels: one group); codes: row of
 * the block's first token, wrow words per row, nb tokens (an odd last
 * token pairs with itself, its partner's probability being 0); pairs[h]
 * of head h at pairs + h * pstride. */
BF16_INLINE void value_channels(const uint32_t *codes, size_t wrow, size_t nb, size_t ch,
                                const uint16_t *pairs, size_t pstride, float *acc, size_t D,
                                int nh, int bits)
{
    const uint32_t *pw = (const uint32_t *)(const void *)pairs;
    __m512 o[FAST_HEADS][2];
#pragma GCC unroll 4
    for (int h = 0; h < nh; h++) {
        o[h][0] = _mm512_loadu_ps(acc + (size_t)h * D + ch);
        o[h][1] = _mm512_loadu_ps(acc + (size_t)h * D + ch + 16);
    }
    const uint32_t *r0 = codes;
    for (size_t q = 0; q < (nb + 1) / 2; q++, r0 += 2 * wrow) {
        const uint32_t *r1 = 2 * q + 1 < nb ? r0 + wrow : r0;
        const __m512i c0 = code_pairs(code_words(r0, ch, bits), code_words(r1, ch, bits), bits);
        const __m512i c1 =
            code_pairs(code_words(r0, ch + 16, bits), code_words(r1, ch + 16, bits), bits);
#pragma GCC unroll 4
        for (int h = 0; h < nh; h++) {
            const __m512i b = _mm512_set1_epi32((int)pw[(size_t)h * pstride / 2 + q]);
            o[h][0] = dot_pairs(o[h][0], c0, b);
            o[h][1] = dot_pairs(o[h][1], c1, b);
        }
    }
#pragma GCC unroll 4
    for (int h = 0; h < nh; h++) {
        _mm512_storeu_ps(acc + (size_t)h * D + ch, o[h][0]);
        _mm512_storeu_ps(acc + (size_t)h * D + ch + 16, o[h][1]);
    }
}

/* value_channels with nh (1..4) and bits (2, 4) made constants. */
static BF16_FN __attribute__((noinline)) void value_channels_of(const uint32_t *codes, size_t wrow, size_t nb, size_t ch,
                                      const uint16_t *pairs, size_t pstride, float *acc,
                                      size_t D, int nh, int bits)
{
#define VC(NH, B) value_channels(codes, wrow, nb, ch, pairs, pstride, acc, D, NH, B)
    switch (nh * 8 + bits) {
    case 1 * 8 + 2: VC(1, 2); break;
    case 2 * 8 + 2: VC(2, 2); break;
    case 3 * 8 + 2: VC(3, 2); break;
    case 4 * 8 + 2: VC(4, 2); break;
    case 1 * 8 + 4: VC(1, 4); break;
    case 2 * 8 + 4: VC(2, 4); break;
    case 3 * 8 + 4: VC(3, 4); break;
    default: VC(4, 4); break;
    }
#undef VC
}

/* For nh heads from h0 and a block of nb tokens (probabilities pr[h * n +
 * i], the block's scales and minima sf/mf [ng, vb] f32): pairs[h][g][vb]
 * of bf16(p x scale), 0 past nb, and zmin[h][g][16] += p x min in lanes. */
BF16_INLINE void value_block_table(const float *pr, size_t n, size_t nb, size_t vb, size_t ng,
                                   const float *sf, const float *mf, int nh, uint16_t *pairs,
                                   float *zmin)
{
    for (int h = 0; h < nh; h++)
        for (size_t g = 0; g < ng; g++) {
            __m512 z = _mm512_setzero_ps();
            for (size_t i = 0; i < nb; i += 16) {
                const __mmask16 m =
                    (__mmask16)(nb - i >= 16 ? 0xffff : (1u << (nb - i)) - 1);
                const __m512 p = _mm512_maskz_loadu_ps(m, pr + (size_t)h * n + i);
                store_bf16(pairs + ((size_t)h * ng + g) * vb + i,
                           _mm512_mul_ps(p, _mm512_maskz_loadu_ps(m, sf + g * vb + i)));
                z = _mm512_fmadd_ps(p, _mm512_maskz_loadu_ps(m, mf + g * vb + i), z);
            }
            float *zs = zmin + ((size_t)h * ng + g) * 16;
            _mm512_storeu_ps(zs, _mm512_add_ps(_mm512_loadu_ps(zs), z));
        }
}

/* Value scales or minima of nb tokens, src [nb, ng] f16, into dst[g * vb +
 * i] f32: 16 tokens at a time by a word permute where their 16 x ng words
 * fit two vectors (ng <= 4), else one by one. */
BF16_INLINE void value_params_transpose(const uint16_t *src, size_t nb, size_t ng, size_t vb,
                                        float *dst)
{
    if (ng > 4) {
        for (size_t i = 0; i < nb; i++)
            for (size_t g = 0; g < ng; g++)
                dst[g * vb + i] = _cvtsh_ss(src[i * ng + g]);
        return;
    }
    const __m256i token =
        _mm256_setr_epi16(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (size_t i = 0; i < nb; i += 16) {
        const size_t words = (nb - i < 16 ? nb - i : 16) * ng;
        const __mmask32 m0 = (__mmask32)(words >= 32 ? ~0u : (1u << words) - 1);
        const __mmask32 m1 =
            (__mmask32)(words >= 64 ? ~0u : words > 32 ? (1u << (words - 32)) - 1 : 0);
        const __m512i a = _mm512_maskz_loadu_epi16(m0, src + i * ng);
        const __m512i b = _mm512_maskz_loadu_epi16(m1, src + i * ng + 32);
        for (size_t g = 0; g < ng; g++) {
            /* word t * ng + g of token t into word t (the upper 16 unused) */
            const __m256i idx = _mm256_add_epi16(
                _mm256_mullo_epi16(token, _mm256_set1_epi16((short)ng)),
                _mm256_set1_epi16((short)g));
            const __m512i w = _mm512_permutex2var_epi16(a, _mm512_castsi256_si512(idx), b);
            _mm512_storeu_ps(dst + g * vb + i, _mm512_cvtph_ps(_mm512_castsi512_si256(w)));
        }
    }
}

/* Quantized value tokens [ta, te) of kv head bkv into s->acc (without
 * their min terms, summed into tb->zmin), in blocks of vblock tokens. */
BF16_INLINE void value_quant_accum(const kivi_cpu_decode *c, const fast_tables *tb, size_t bkv,
                                   size_t t0, size_t ta, size_t te, size_t n,
                                   const cpu_attn_scratch *s)
{
    const qkv_kivi_decode_params *p = c->p;
    const size_t D = c->D, G = c->G, ng = D / G, wrow = D * (size_t)c->bits / 32;
    const size_t vb = c->vblock;
    for (size_t t = ta; t < te; t += vb) {
        const size_t nb = te - t < vb ? te - t : vb, row = bkv * p->v_quant_capacity + t;
        value_params_transpose(c->v_scale + row * ng, nb, ng, vb, tb->vscale);
        value_params_transpose(c->v_min + row * ng, nb, ng, vb, tb->vmin);
        for (size_t h0 = 0; h0 < c->nq; h0 += FAST_HEADS) {
            const int nh = c->nq - h0 < FAST_HEADS ? (int)(c->nq - h0) : FAST_HEADS;
            value_block_table(s->score + h0 * n + t - t0, n, nb, vb, ng, tb->vscale, tb->vmin,
                              nh, tb->pairs, tb->zmin + h0 * ng * 16);
            for (size_t ch = 0; ch < D; ch += 32)
                value_channels_of(c->v_codes + row * wrow, wrow, nb, ch,
                                  tb->pairs + ch / G * vb, ng * vb, s->acc + h0 * D, D, nh,
                                  c->bits);
        }
    }
}

/* Residual value tokens [ta, t1) (f16 rows, f32 products) into s->acc. */
BF16_INLINE void value_resid_accum(const kivi_cpu_decode *c, size_t bkv, size_t t0, size_t ta,
                                   size_t t1, size_t n, const cpu_attn_scratch *s)
{
    const qkv_kivi_decode_params *p = c->p;
    const size_t D = c->D;
    for (size_t t = ta; t < t1; t++) {
        const uint16_t *v = c->v_resid + (bkv * p->v_resid_capacity + t - p->v_quant) * D;
        for (size_t d = 0; d < D; d += 16) {
            const __m512 vv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(v + d)));
            for (size_t h = 0; h < c->nq; h++) {
                float *o = s->acc + h * D + d;
                _mm512_storeu_ps(o, _mm512_fmadd_ps(_mm512_set1_ps(s->score[h * n + t - t0]),
                                                    vv, _mm512_loadu_ps(o)));
            }
        }
    }
}

/* The work item (cpu_attn_item_fn; ctx a kivi_cpu_decode): scores, the
 * split's softmax (f32), then the values; writes part[nq][D + 2]. */
static BF16_FN void fast_decode_item(const void *ctx, size_t bkv, size_t t0, size_t t1,
                                     const cpu_attn_scratch *s, float *part)
{
    const kivi_cpu_decode *c = ctx;
    const qkv_kivi_decode_params *p = c->p;
    const size_t n = t1 - t0, D = c->D, ng = D / c->G;
    const size_t kq = p->k_quant < t1 ? p->k_quant : t1, vq = p->v_quant < t1 ? p->v_quant : t1;
    const fast_tables tb = tables_of(c, s->table);
    if (t0 < kq)
        key_quant_scores(c, &tb, bkv, t0, kq, n, s);
    key_resid_scores(c, bkv, t0, kq > t0 ? kq : t0, t1, n, s);
    for (size_t h = 0; h < c->nq; h++)
        qkv_avx2_softmax_partial(s->score + h * n, n, &part[h * (D + 2)], &part[h * (D + 2) + 1]);
    memset(s->acc, 0, c->nq * D * sizeof *s->acc);
    memset(tb.zmin, 0, c->nq * ng * 16 * sizeof *tb.zmin);
    if (t0 < vq) {
        value_quant_accum(c, &tb, bkv, t0, t0, vq, n, s);
        for (size_t h = 0; h < c->nq; h++)
            for (size_t g = 0; g < ng; g++) {
                const __m512 z = _mm512_set1_ps(_mm512_reduce_add_ps(
                    _mm512_loadu_ps(tb.zmin + (h * ng + g) * 16)));
                for (size_t d = g * c->G; d < (g + 1) * c->G; d += 16) {
                    float *o = s->acc + h * D + d;
                    _mm512_storeu_ps(o, _mm512_add_ps(_mm512_loadu_ps(o), z));
                }
            }
    }
    value_resid_accum(c, bkv, t0, vq > t0 ? vq : t0, t1, n, s);
    for (size_t h = 0; h < c->nq; h++)
        memcpy(&part[h * (D + 2) + 2], s->acc + h * D, D * sizeof *part);
}

/* Host pointer of an optional buffer. */
static const void *host_of(const qkv_buffer *b) { return b ? b->host : NULL; }

/* Fused decode on the validated params: the driver runs the items
 * (batch x kv head, split) and merges the splits. */
static qkv_status fast_decode(qkv_context *ctx, const void *params, const qkv_tile_params *tile)
{
    (void)ctx;
    const qkv_kivi_decode_params *p = params;
    const kivi_cpu_decode c = {
        .p = p, .query = p->query->host, .k_codes = host_of(p->k_codes),
        .k_scale = host_of(p->k_scale), .k_min = host_of(p->k_min),
        .k_resid = host_of(p->k_resid_data), .v_codes = host_of(p->v_codes),
        .v_scale = host_of(p->v_scale), .v_min = host_of(p->v_min),
        .v_resid = host_of(p->v_resid_data), .D = p->head_dim, .G = (size_t)p->group,
        .nq = p->q_heads / p->kv_heads, .vblock = (size_t)tile->value[FAST_VBLOCK],
        .prefetch = (size_t)tile->value[FAST_PREFETCH], .bits = p->bits};
    const size_t split = (size_t)tile->value[FAST_SPLIT];
    const cpu_attn_job job = {
        .query = c.query, .output = p->output->host, .kv_rows = p->batch * p->kv_heads,
        .nq = c.nq, .D = c.D, .tokens = p->k_quant + p->k_resid,
        .split = (split + c.G - 1) / c.G * c.G, .table_floats = fast_table_floats(&c),
        .sm = p->softmax_scale != 0.0f ? p->softmax_scale : 1.0f / sqrtf((float)c.D),
        .chunk = tile->value[FAST_CHUNK], .item = fast_decode_item, .ctx = &c,
        .op = "kivi_decode_attention"};
    return cpu_attention_run(&job);
}

#endif /* KIVI_FAST_BF16 */

/* The device (params NULL): an avx512 context on a CPU with AVX-512 BF16;
 * a call: one in fast precision. */
static bool fast_supports(const qkv_context *ctx, const void *params)
{
    const qkv_kivi_decode_params *p = params;
    return KIVI_FAST_BF16 && ctx->cpu_isa >= QKV_CPU_ISA_AVX512 &&
           qkv_cpu_has(QKV_CPU_AVX512_BF16) &&
           (!p || p->precision == QKV_PRECISION_FAST);
}

#if !KIVI_FAST_BF16
/* Never run: fast_supports is false without the compiler's BF16 support. */
static qkv_status fast_decode(qkv_context *ctx, const void *params, const qkv_tile_params *tile)
{
    (void)params;
    (void)tile;
    (void)ctx;
    return qkv_fail(QKV_ERR_UNSUPPORTED, "kivi_decode_attention: avx512bf16 not built");
}
#endif

const qkv_variant qkv_kivi_decode_attention_avx512bf16 = {
    .name = "avx512bf16", .op = QKV_OP_KIVI_DECODE_ATTENTION,
    .backends = QKV_ON(QKV_BACKEND_CPU), .run = fast_decode, .supports = fast_supports,
    .fast_only = true, .nparams = QKV_NPARAMS(fast_decode_space), .params = fast_decode_space};
