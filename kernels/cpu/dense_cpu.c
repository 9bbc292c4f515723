/* dense_cpu.c - the cpu backend's f16 dense decode attention.  Work items
 * are (batch, kv head, split of the token axis) run by OpenMP; an item
 * handles all query heads of its kv head, so every key and value row is
 * read from memory once per kv head and converted f16 -> f32 once for all
 * of them, and the splits are merged FlashDecoding-style (running max, sum,
 * partial output) by the driver of attention_cpu.c.  The AVX-512 item
 * (dense_cpu_avx512.c; the "avx512" variant, D % 16 == 0) is preferred
 * where the context's ISA level is avx512.  The AVX2/F16C/FMA item
 * (target attributes; the "avx2" variant, which runs where the CPU has them
 * and D % 8 == 0) keeps query heads x
 * tokens in 8 register accumulators for the scores and query heads x 16
 * channels for the values, over L1-sized blocks of tokens, and prefetches
 * the key and value rows ahead of use in software; the portable scalar item
 * does the same arithmetic one element at a time. */
#include "dense_cpu.h"

#include "dense/dense_variants.h"

#include "avx2_math.h"
#include "cpu_features.h"
#include "softmax.h"

#include <math.h>
#include <string.h>

/* ---- scalar item ------------------------------------------------------------------ */

/* Key row t of kv head bkv (ctx: a dense_decode) as floats. */
static void scalar_key_row(const void *ctx, size_t bkv, size_t t, float *row)
{
    const dense_decode *c = ctx;
    const uint16_t *k = kv_row(c, c->keys, bkv, t);
    for (size_t d = 0; d < c->D; d++)
        row[d] = qkv_f16_to_f32(k[d]);
}

/* Value row t of kv head bkv (ctx: a dense_decode) as floats. */
static void scalar_value_row(const void *ctx, size_t bkv, size_t t, float *row)
{
    const dense_decode *c = ctx;
    const uint16_t *v = kv_row(c, c->values, bkv, t);
    for (size_t d = 0; d < c->D; d++)
        row[d] = qkv_f16_to_f32(v[d]);
}

/* Scalar work item (a cpu_attn_item_fn on a dense_decode; the scratch
 * table holds one converted row, D floats). */
static void scalar_item(const void *ctx, size_t bkv, size_t t0, size_t t1,
                        const cpu_attn_scratch *s, float *part)
{
    const dense_decode *c = ctx;
    cpu_attention_scalar_item(ctx, scalar_key_row, scalar_value_row, c->nq, c->D, bkv, t0, t1,
                              s, part);
}

/* ---- AVX2 item -------------------------------------------------------------------- */

#if QKV_CPU_X86
/* Scores of HB query heads (rows of qs, [HB, D]) against TB key rows k
 * [TB, D] (f16): sc[h * n + j] for h < HB, j < TB; HB * TB <= 8 register
 * accumulators, with whichever of the query and key vectors are fewer kept
 * in registers across the other (the empty asm keeps GCC from folding a
 * query load into every FMA, which made the loop load-bound). */
QKV_AVX2_INLINE void score_tile(const float *qs, const uint16_t *k, size_t D, size_t n,
                                float *sc, int HB, int TB)
{
    __m256 acc[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++)
        acc[i] = _mm256_setzero_ps();
#pragma GCC unroll 4
    for (size_t d = 0; d < D; d += 8) {
        if (TB <= HB) {
            __m256 kv[8];
#pragma GCC unroll 8
            for (int j = 0; j < TB; j++)
                kv[j] = qkv_avx2_load_h8(k + j * D + d);
#pragma GCC unroll 4
            for (int h = 0; h < HB; h++) {
                __m256 q = _mm256_loadu_ps(qs + h * D + d);
                __asm__("" : "+x"(q));
#pragma GCC unroll 8
                for (int j = 0; j < TB; j++)
                    acc[h * TB + j] = _mm256_fmadd_ps(q, kv[j], acc[h * TB + j]);
            }
        } else {
            __m256 q[4];
#pragma GCC unroll 4
            for (int h = 0; h < HB; h++)
                q[h] = _mm256_loadu_ps(qs + h * D + d);
#pragma GCC unroll 8
            for (int j = 0; j < TB; j++) {
                const __m256 kv = qkv_avx2_load_h8(k + j * D + d);
#pragma GCC unroll 4
                for (int h = 0; h < HB; h++)
                    acc[h * TB + j] = _mm256_fmadd_ps(q[h], kv, acc[h * TB + j]);
            }
        }
    }
    float r[8];
    _mm256_storeu_ps(r, qkv_avx2_hsum8(acc));
#pragma GCC unroll 4
    for (int h = 0; h < HB; h++)
#pragma GCC unroll 8
        for (int j = 0; j < TB; j++)
            sc[(size_t)h * n + j] = r[h * TB + j];
}

/* Scores of HB heads against nt key rows from k: tiles of TB rows, then
 * single rows; rows j < npf of pk and pv are prefetched with tile j. */
QKV_AVX2_INLINE void score_rows(const float *qs, const uint16_t *k, size_t D, size_t n,
                                size_t nt, float *sc, const uint16_t *pk, const uint16_t *pv,
                                size_t npf, int HB, int TB)
{
    size_t j = 0;
    for (; j + (size_t)TB <= nt; j += (size_t)TB) {
        prefetch_rows(pk, pv, j, j + (size_t)TB < npf ? j + (size_t)TB : npf, D);
        score_tile(qs, k + j * D, D, n, sc + j, HB, TB);
    }
    for (; j < nt; j++) {
        prefetch_rows(pk, pv, j, j < npf ? j + 1 : j, D);
        score_tile(qs, k + j * D, D, n, sc + j, HB, 1);
    }
}

/* score_rows for hb (1..4) heads, with 8 / hb rows per tile (2 for 3). */
static QKV_AVX2_FN void score_rows_dispatch(const float *qs, const uint16_t *k, size_t D,
                                            size_t n, size_t nt, float *sc, const uint16_t *pk,
                                            const uint16_t *pv, size_t npf, int hb)
{
    switch (hb) {
    case 1: score_rows(qs, k, D, n, nt, sc, pk, pv, npf, 1, 8); break;
    case 2: score_rows(qs, k, D, n, nt, sc, pk, pv, npf, 2, 4); break;
    case 3: score_rows(qs, k, D, n, nt, sc, pk, pv, npf, 3, 2); break;
    default: score_rows(qs, k, D, n, nt, sc, pk, pv, npf, 4, 2); break;
    }
}

/* acc[h][d .. d + 8 DB) += sum_j pr[h * n + j] * v[j][d ..] over nt value
 * rows v [nt, D] (f16), for HB heads: HB x DB register accumulators. */
QKV_AVX2_INLINE void value_tile(const float *pr, size_t n, const uint16_t *v, size_t nt,
                                size_t D, size_t d, float *acc, int HB, int DB)
{
    __m256 o[4][2];
#pragma GCC unroll 4
    for (int h = 0; h < HB; h++)
#pragma GCC unroll 2
        for (int i = 0; i < DB; i++)
            o[h][i] = _mm256_loadu_ps(acc + (size_t)h * D + d + 8 * i);
    for (size_t j = 0; j < nt; j++) {
        __m256 vv[2];
#pragma GCC unroll 2
        for (int i = 0; i < DB; i++)
            vv[i] = qkv_avx2_load_h8(v + j * D + d + 8 * i);
#pragma GCC unroll 4
        for (int h = 0; h < HB; h++) {
            const __m256 pb = _mm256_broadcast_ss(pr + (size_t)h * n + j);
#pragma GCC unroll 2
            for (int i = 0; i < DB; i++)
                o[h][i] = _mm256_fmadd_ps(pb, vv[i], o[h][i]);
        }
    }
#pragma GCC unroll 4
    for (int h = 0; h < HB; h++)
#pragma GCC unroll 2
        for (int i = 0; i < DB; i++)
            _mm256_storeu_ps(acc + (size_t)h * D + d + 8 * i, o[h][i]);
}

/* Values of nt rows into acc [HB, D] for HB heads: 16 channels at a time,
 * then 8. */
QKV_AVX2_INLINE void value_rows(const float *pr, size_t n, const uint16_t *v, size_t nt,
                                size_t D, float *acc, int HB)
{
    size_t d = 0;
    for (; d + 16 <= D; d += 16)
        value_tile(pr, n, v, nt, D, d, acc, HB, 2);
    if (d < D)
        value_tile(pr, n, v, nt, D, d, acc, HB, 1);
}

/* value_rows for hb (1..4) heads. */
static QKV_AVX2_FN void value_rows_dispatch(const float *pr, size_t n, const uint16_t *v,
                                            size_t nt, size_t D, float *acc, int hb)
{
    switch (hb) {
    case 1: value_rows(pr, n, v, nt, D, acc, 1); break;
    case 2: value_rows(pr, n, v, nt, D, acc, 2); break;
    case 3: value_rows(pr, n, v, nt, D, acc, 3); break;
    default: value_rows(pr, n, v, nt, D, acc, 4); break;
    }
}


/* AVX2 work item (a cpu_attn_item_fn on a dense_decode; D % 8 == 0):
 * scores then values, each over blocks of c->block tokens visited once per
 * group of 4 query heads; while scoring, the key rows c->prefetch tokens
 * ahead (inside the item) and the block's value rows are prefetched. */
static QKV_AVX2_FN void avx2_item(const void *ctx, size_t bkv, size_t t0, size_t t1,
                                  const cpu_attn_scratch *s, float *part)
{
    const dense_decode *c = ctx;
    const size_t n = t1 - t0, D = c->D, nq = c->nq, pf = c->prefetch;
    for (size_t tb = t0; tb < t1; tb += c->block) {
        const size_t nt = t1 - tb < c->block ? t1 - tb : c->block;
        const uint16_t *k = kv_row(c, c->keys, bkv, tb);
        const size_t ahead = t1 > tb + pf ? t1 - tb - pf : 0; /* rows with a target */
        for (size_t h0 = 0; h0 < nq; h0 += 4)
            score_rows_dispatch(s->qs + h0 * D, k, D, n, nt, s->score + h0 * n + tb - t0,
                                k + pf * D, kv_row(c, c->values, bkv, tb),
                                h0 ? 0 : ahead < nt ? ahead : nt,
                                nq - h0 < 4 ? (int)(nq - h0) : 4);
    }
    for (size_t h = 0; h < nq; h++)
        qkv_avx2_softmax_partial(s->score + h * n, n, &part[h * (D + 2)], &part[h * (D + 2) + 1]);
    memset(s->acc, 0, nq * D * sizeof *s->acc);
    for (size_t tb = t0; tb < t1; tb += c->block) {
        const size_t nt = t1 - tb < c->block ? t1 - tb : c->block;
        const uint16_t *v = kv_row(c, c->values, bkv, tb);
        for (size_t h0 = 0; h0 < nq; h0 += 4)
            value_rows_dispatch(s->score + h0 * n + tb - t0, n, v, nt, D, s->acc + h0 * D,
                                nq - h0 < 4 ? (int)(nq - h0) : 4);
    }
    for (size_t h = 0; h < nq; h++)
        memcpy(&part[h * (D + 2) + 2], s->acc + h * D, D * sizeof *part);
}
#endif

/* ---- driver ----------------------------------------------------------------------- */

enum { SPLIT_TOKENS, OMP_CHUNK, BLOCK_TOKENS, PREFETCH };
static const qkv_tile_param_def f16_decode_space[] = {
    /* tokens per work item */
    {"split_tokens", 1024, {64, 128, 256, 512, 1024, 2048, 4096, 0}, false},
    /* work items per OpenMP dynamic chunk */
    {"omp_chunk", 1, {1, 2, 4, 8, 0}, false},
    /* AVX2 item: tokens per block visited by every head group (L1 reuse) */
    {"block_tokens", 32, {8, 16, 32, 64, 128, 0}, false},
    /* AVX2 item: key rows prefetched this many tokens ahead */
    {"prefetch", 64, {16, 32, 64, 128, 256, 0}, false},
};

/* A tile value, at least 1. */
static size_t tile_value(const qkv_tile_params *tile, int i)
{
    return tile->value[i] > 0 ? (size_t)tile->value[i] : 1;
}

/* Decode: items (batch, kv head, split) in parallel, then the merge. */
static qkv_status cpu_f16_decode(const void *params, const qkv_tile_params *tile,
                                 qkv_cpu_isa isa)
{
    const qkv_f16_decode_params *p = params;
    const size_t D = p->head_dim, nq = p->q_heads / p->kv_heads;
#if QKV_CPU_X86
    const cpu_attn_item_fn item = isa >= QKV_CPU_ISA_AVX512 ? dense_avx512_item
                                  : isa >= QKV_CPU_ISA_AVX2   ? avx2_item
                                                              : scalar_item;
#else
    (void)isa;
    const cpu_attn_item_fn item = scalar_item;
#endif
    const dense_decode c = {p, p->query->host, p->keys->host, p->values->host, D, nq,
                            tile_value(tile, BLOCK_TOKENS), tile_value(tile, PREFETCH)};
    const cpu_attn_job job = {
        .query = c.query, .output = p->output->host, .kv_rows = p->batch * p->kv_heads,
        .nq = nq, .D = D, .tokens = p->tokens, .split = tile_value(tile, SPLIT_TOKENS),
        .table_floats = D,
        .sm = p->softmax_scale != 0.0f ? p->softmax_scale : 1.0f / sqrtf((float)D),
        .chunk = (int)tile_value(tile, OMP_CHUNK), .item = item, .ctx = &c,
        .op = "f16_decode_attention"};
    return cpu_attention_run(&job);
}

/* The avx2 variant runs where the CPU has AVX2, FMA and F16C, on head dims
 * that are multiples of 8. */
static bool avx2_supports(const qkv_context *ctx, const void *params)
{
    const qkv_f16_decode_params *p = params;
    return qkv_cpu_avx2_supports(ctx, params) && (!p || p->head_dim % 8 == 0);
}

/* The avx512 variant runs where the context's ISA level is avx512, on head
 * dims that are multiples of 16. */
static bool avx512_supports(const qkv_context *ctx, const void *params)
{
    const qkv_f16_decode_params *p = params;
    return qkv_cpu_avx512_supports(ctx, params) && (!p || p->head_dim % 16 == 0);
}

static qkv_status cpu_f16_decode_avx512(qkv_context *ctx, const void *p,
                                        const qkv_tile_params *t)
{
    (void)ctx;
    return cpu_f16_decode(p, t, QKV_CPU_ISA_AVX512);
}

static qkv_status cpu_f16_decode_avx2(qkv_context *ctx, const void *p, const qkv_tile_params *t)
{
    (void)ctx;
    return cpu_f16_decode(p, t, QKV_CPU_ISA_AVX2);
}

static qkv_status cpu_f16_decode_scalar(qkv_context *ctx, const void *p,
                                        const qkv_tile_params *t)
{
    (void)ctx;
    return cpu_f16_decode(p, t, QKV_CPU_ISA_SCALAR);
}

/* The avx512 item's space: as f16_decode_space (its own defaults and
 * candidates). */
static const qkv_tile_param_def f16_decode_avx512_space[] = {
    {"split_tokens", 1024, {64, 128, 256, 512, 1024, 2048, 4096, 0}, false},
    {"omp_chunk", 1, {1, 2, 4, 8, 0}, false},
    {"block_tokens", 32, {8, 16, 32, 64, 128, 0}, false},
    {"prefetch", 64, {16, 32, 64, 128, 256, 0}, false},
};

const qkv_variant qkv_f16_decode_attention_avx512 = {
    .name = "avx512", .op = QKV_OP_F16_DECODE_ATTENTION, .backends = QKV_ON(QKV_BACKEND_CPU),
    .run = cpu_f16_decode_avx512, .supports = avx512_supports,
    .nparams = QKV_NPARAMS(f16_decode_avx512_space), .params = f16_decode_avx512_space};
const qkv_variant qkv_f16_decode_attention_avx2 = {
    .name = "avx2", .op = QKV_OP_F16_DECODE_ATTENTION, .backends = QKV_ON(QKV_BACKEND_CPU),
    .run = cpu_f16_decode_avx2, .supports = avx2_supports,
    .nparams = QKV_NPARAMS(f16_decode_space),
    .params = f16_decode_space};
/* The scalar variant's space: split_tokens and omp_chunk (block_tokens and
 * prefetch are read by the AVX2 item only). */
const qkv_variant qkv_f16_decode_attention_scalar = {
    .name = "scalar", .op = QKV_OP_F16_DECODE_ATTENTION, .backends = QKV_ON(QKV_BACKEND_CPU),
    .run = cpu_f16_decode_scalar, .nparams = 2, .params = f16_decode_space};
