/* kivi_cpu.c - the cpu backend's KIVI kernels: OpenMP drivers over work
 * items (runs of key token groups, batches of value groups, dequantized
 * groups or rows, decode splits), each item run by the AVX-512 code of
 * kivi_cpu_avx512_*.c in the "avx512" variants, by the AVX2 code of
 * kivi_cpu_avx2_*.c in the "avx2" ones, by the portable scalar code below
 * in the "scalar" ones.  Decode attention splits every (batch, kv
 * head) over the token axis, handles all query heads of a kv head in one
 * item (the packed cache is read once per kv head) and merges the splits
 * FlashDecoding-style (running max, sum, partial output) through the
 * driver of attention_cpu.c. */
#include "kivi_cpu.h"

#include "cpu_features.h"
#include "cpu_team.h"
#include "kivi/kivi_variants.h"
#include "kivi/quant_input_check.h"
#include "softmax.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The work item of a variant's ISA level: the AVX-512 one in the avx512
 * variants, the AVX2 one in avx2, else the scalar. */
#if KIVI_CPU_X86
#define PICK(isa, avx512_fn, avx2_fn, scalar_fn)                                              \
    ((isa) >= QKV_CPU_ISA_AVX512 ? (avx512_fn) : (isa) >= QKV_CPU_ISA_AVX2 ? (avx2_fn) : (scalar_fn))
#else
#define PICK(isa, avx512_fn, avx2_fn, scalar_fn) ((void)(isa), (scalar_fn))
#endif

/* A tile value, at least 1. */
static int tile_value(const qkv_tile_params *tile, int i)
{
    return tile->value[i] > 0 ? tile->value[i] : 1;
}

/* Order this thread's non-temporal stores (when it made any) before the
 * end of the parallel region. */
static void store_fence(bool stream)
{
#if KIVI_CPU_X86
    if (stream)
        kivi_avx2_store_fence();
#else
    (void)stream;
#endif
}

/* ---- scalar helpers ------------------------------------------------------------ */

/* Element i of an f16 or f32 array as f32. */
static float load_elem(const void *x, qkv_dtype dt, size_t i)
{
    return dt == QKV_F16 ? qkv_f16_to_f32(((const uint16_t *)x)[i]) : ((const float *)x)[i];
}

/* Code i of a packed LSB-first row of `bits`-bit codes. */
static unsigned code_get(const uint32_t *row, size_t i, int bits)
{
    const size_t f = (size_t)(32 / bits);
    return (unsigned)(row[i / f] >> (bits * (int)(i % f))) & ((1u << bits) - 1u);
}

/* Quantize x[0..n-1] to `bits` exactly as kivi.md: f16 scale/min bits out,
 * codes packed LSB-first into words[0 .. n*bits/32) (overwritten). */
static void quant_group_scalar(const float *x, size_t n, int bits, uint16_t *scale, uint16_t *mn,
                               uint32_t *words)
{
    const float qmax = (float)((1 << bits) - 1);
    float lo = x[0], hi = x[0];
    for (size_t i = 1; i < n; i++) {
        lo = fminf(lo, x[i]);
        hi = fmaxf(hi, x[i]);
    }
    lo += 0.0f; /* a zero extreme of either sign counts as +0 (docs/kivi.md) */
    hi += 0.0f;
    *scale = qkv_f32_to_f16((hi - lo) / qmax);
    *mn = qkv_f32_to_f16(lo);
    const float s = qkv_f16_to_f32(*scale), m = qkv_f16_to_f32(*mn);
    const size_t f = (size_t)(32 / bits);
    memset(words, 0, n / f * sizeof *words);
    if (s == 0.0f)
        return;
    for (size_t i = 0; i < n; i++) {
        const float t = fminf(fmaxf((x[i] - m) / s, 0.0f), qmax);
        words[i / f] |= (uint32_t)rintf(t) << (bits * (int)(i % f));
    }
}

/* Whether x[0..n-1] holds a value the quantizers reject: NaN, Inf or
 * |x| > 65504. */
static bool group_rejected(const float *x, size_t n)
{
    bool bad = false;
    for (size_t i = 0; i < n; i++)
        bad |= !(fabsf(x[i]) <= 65504.0f);
    return bad;
}

/* ---- quantize ------------------------------------------------------------------ */

/* Quantize work item: groups [k0, k1) of head bh (key token groups or
 * value groups); with `check` it stops before writing a group that holds
 * rejected input and returns true (see kivi_cpu.h). */
typedef bool (*quant_groups_fn)(const qkv_kivi_quant_params *p, size_t bh, size_t k0,
                                size_t k1, bool check);

/* Scalar: key token groups g0 .. g1-1 of head bh, all channels. */
static bool scalar_quant_keys_groups(const qkv_kivi_quant_params *p, size_t bh, size_t g0,
                                     size_t g1, bool check)
{
    const size_t D = p->head_dim, G = (size_t)p->group, f = (size_t)(32 / p->bits);
    const size_t wcap = p->out_capacity / f, gcap = p->out_capacity / G;
    float x[128];
    for (size_t g = g0; g < g1; g++) {
        const size_t gout = p->out_offset / G + g;
        for (size_t d = 0; d < D; d++) {
            for (size_t i = 0; i < G; i++)
                x[i] = load_elem(p->input->host, p->dtype,
                                 (bh * p->in_capacity + g * G + i) * D + d);
            if (check && group_rejected(x, G))
                return true;
            const size_t row = bh * D + d;
            quant_group_scalar(x, G, p->bits, (uint16_t *)p->scale->host + row * gcap + gout,
                               (uint16_t *)p->min->host + row * gcap + gout,
                               (uint32_t *)p->codes->host + row * wcap + gout * (G / f));
        }
    }
    return false;
}

/* Scalar: value groups k0 .. k1-1 of head bh; group k is channels
 * (k % (D/G)) * G .. of token k / (D/G). */
static bool scalar_quant_values_groups(const qkv_kivi_quant_params *p, size_t bh, size_t k0,
                                       size_t k1, bool check)
{
    const size_t D = p->head_dim, G = (size_t)p->group, f = (size_t)(32 / p->bits), ng = D / G;
    const size_t orow = bh * p->out_capacity + p->out_offset;
    float x[128];
    for (size_t k = k0; k < k1; k++) {
        for (size_t i = 0; i < G; i++)
            x[i] = load_elem(p->input->host, p->dtype, bh * p->in_capacity * D + k * G + i);
        if (check && group_rejected(x, G))
            return true;
        quant_group_scalar(x, G, p->bits, (uint16_t *)p->scale->host + orow * ng + k,
                           (uint16_t *)p->min->host + orow * ng + k,
                           (uint32_t *)p->codes->host + orow * (D / f) + k * (G / f));
    }
    return false;
}

enum { QUANT_CHUNK, QUANT_ITEM_GROUPS };
/* Keys: items are runs of token groups (G tokens x D channels of a head). */
static const qkv_tile_param_def quant_keys_space[] = {
    /* work items per OpenMP chunk */
    {"omp_chunk", 1, {1, 2, 4, 8, 0}, false},
    /* token groups per work item; >= 32 keeps threads off each other's
     * cache lines of the per-channel output rows */
    {"item_groups", 32, {8, 16, 32, 64, 128, 256, 0}, false},
};
/* Values: items are runs of value groups (G channels of one token). */
static const qkv_tile_param_def quant_values_space[] = {
    /* work items per OpenMP chunk */
    {"omp_chunk", 4, {1, 2, 4, 8, 16, 32, 0}, false},
    /* value groups per work item */
    {"item_groups", 32, {8, 16, 32, 64, 128, 256, 0}, false},
};

/* The status of a quantizer whose items found rejected input (`bad`):
 * which error, from a scan of the input (taken on this path only). */
static qkv_status quant_status(const qkv_kivi_quant_params *p, bool bad, const char *fn)
{
    if (!bad)
        return QKV_OK;
    const qkv_status st = qkv_host_check_quant_input(p, p->input->host, fn);
    return st != QKV_OK ? st : qkv_fail(QKV_ERR_NONFINITE, "%s: input rejected", fn);
}

/* The OpenMP driver of both quantizers: items are runs of item_groups of
 * the ng groups of each head, quantized by fn; the input check (unless
 * p->unchecked) rides on the items' min/max pass. */
static qkv_status run_quant(const qkv_kivi_quant_params *p, const qkv_tile_params *t,
                            quant_groups_fn fn, size_t ng, const char *name)
{
    const size_t per = (size_t)tile_value(t, QUANT_ITEM_GROUPS), nb = (ng + per - 1) / per;
    const size_t items = p->batch * p->heads * nb;
    const int chunk = tile_value(t, QUANT_CHUNK);
    const bool check = !p->unchecked;
    bool bad = false;
#pragma omp parallel num_threads(cpu_team_size()) reduction(| : bad)
    {
#pragma omp for schedule(static, chunk) nowait
        for (size_t i = 0; i < items; i++) {
            const size_t k0 = i % nb * per;
            bad |= fn(p, i / nb, k0, k0 + per < ng ? k0 + per : ng, check);
        }
    }
    return quant_status(p, bad, name);
}

/* Keys [B, H, T, D] -> per-channel groups along tokens (G tokens x D
 * channels of a head per group). */
static qkv_status cpu_quant_keys(const void *params, const qkv_tile_params *t, qkv_cpu_isa isa)
{
    const qkv_kivi_quant_params *p = params;
    return run_quant(p, t,
                     PICK(isa, kivi_avx512_quant_keys_groups, kivi_avx2_quant_keys_groups,
                          scalar_quant_keys_groups),
                     p->tokens / (size_t)p->group, "kivi_quant_keys");
}

/* Values [B, H, T, D] -> per-token groups along channels (G channels of one
 * token per group, T * D/G per head). */
static qkv_status cpu_quant_values(const void *params, const qkv_tile_params *t, qkv_cpu_isa isa)
{
    const qkv_kivi_quant_params *p = params;
    return run_quant(p, t,
                     PICK(isa, kivi_avx512_quant_values_groups, kivi_avx2_quant_values_groups,
                          scalar_quant_values_groups),
                     p->tokens * (p->head_dim / (size_t)p->group), "kivi_quant_values");
}

/* ---- dequantize ------------------------------------------------------------------ */

/* Dequantize work items; `stream` asks for non-temporal stores (the
 * scalar items ignore it). */
typedef void (*dq_keys_group_fn)(const qkv_kivi_dequant_params *p, size_t bh, size_t g,
                                 bool stream);
typedef void (*dq_values_row_fn)(const qkv_kivi_dequant_params *p, size_t row, bool stream);

/* Scalar: key token group g of head bh into out rows [G, D] (f32). */
static void scalar_dequant_keys_group(const qkv_kivi_dequant_params *p, size_t bh, size_t g,
                                      bool stream)
{
    (void)stream;
    const size_t T = p->tokens, D = p->head_dim, G = (size_t)p->group;
    const size_t wcap = T * (size_t)p->bits / 32, gcap = T / G;
    float *out = p->output->host;
    for (size_t d = 0; d < D; d++) {
        const size_t row = bh * D + d;
        const float s = qkv_f16_to_f32(((const uint16_t *)p->scale->host)[row * gcap + g]);
        const float m = qkv_f16_to_f32(((const uint16_t *)p->min->host)[row * gcap + g]);
        const uint32_t *c = (const uint32_t *)p->codes->host + row * wcap;
        for (size_t t = g * G; t < g * G + G; t++)
            out[(bh * T + t) * D + d] = (float)code_get(c, t, p->bits) * s + m;
    }
}

/* Scalar: value row `row` (= bh * tokens + t) into D f32. */
static void scalar_dequant_values_row(const qkv_kivi_dequant_params *p, size_t row,
                                      bool stream)
{
    (void)stream;
    const size_t D = p->head_dim, G = (size_t)p->group;
    const uint32_t *c = (const uint32_t *)p->codes->host + row * (D * (size_t)p->bits / 32);
    const uint16_t *sc = (const uint16_t *)p->scale->host + row * (D / G);
    const uint16_t *mn = (const uint16_t *)p->min->host + row * (D / G);
    float *out = (float *)p->output->host + row * D;
    for (size_t d = 0; d < D; d++)
        out[d] = (float)code_get(c, d, p->bits) * qkv_f16_to_f32(sc[d / G]) +
                 qkv_f16_to_f32(mn[d / G]);
}

enum { DEQUANT_CHUNK, DEQUANT_STORES };
enum { STORES_CACHED = 1, STORES_STREAMING = 2 };
/* Keys: token groups per OpenMP chunk; output stores. */
static const qkv_tile_param_def dequant_keys_space[] = {
    {"omp_chunk", 4, {1, 2, 4, 8, 16, 32, 0}, false},
    /* 1: ordinary stores, 2: non-temporal (bypass the cache; the vector
     * items on an output aligned to their vectors) */
    {"stores", STORES_CACHED, {STORES_CACHED, STORES_STREAMING, 0}, false},
};
/* Values: token rows per OpenMP chunk; output stores as for keys. */
static const qkv_tile_param_def dequant_values_space[] = {
    {"omp_chunk", 64, {8, 16, 32, 64, 128, 256, 512, 0}, false},
    {"stores", STORES_CACHED, {STORES_CACHED, STORES_STREAMING, 0}, false},
};

/* Whether a dequantizer streams its stores: asked for, on a vector path
 * (isa: the variant's level; off x86 every item is scalar), to an output
 * aligned for its stores (32 bytes AVX2, 64 AVX-512). */
static bool dequant_streams(const qkv_tile_params *t, const void *out, qkv_cpu_isa isa)
{
    const uintptr_t align = isa >= QKV_CPU_ISA_AVX512 ? 64 : 32;
    return KIVI_CPU_X86 && isa >= QKV_CPU_ISA_AVX2 &&
           tile_value(t, DEQUANT_STORES) == STORES_STREAMING && (uintptr_t)out % align == 0;
}

/* Packed keys -> f32 [B, H, T, D], one item per (head, token group). */
static qkv_status cpu_dequant_keys(const void *params, const qkv_tile_params *t, qkv_cpu_isa isa)
{
    const qkv_kivi_dequant_params *p = params;
    const dq_keys_group_fn fn = PICK(isa, kivi_avx512_dequant_keys_group,
                                     kivi_avx2_dequant_keys_group, scalar_dequant_keys_group);
    const bool stream = dequant_streams(t, p->output->host, isa);
    const size_t ng = p->tokens / (size_t)p->group, items = p->batch * p->heads * ng;
    const int chunk = tile_value(t, DEQUANT_CHUNK);
#pragma omp parallel num_threads(cpu_team_size())
    {
#pragma omp for schedule(static, chunk) nowait
        for (size_t i = 0; i < items; i++)
            fn(p, i / ng, i % ng, stream);
        store_fence(stream);
    }
    return QKV_OK;
}

/* Packed values -> f32 [B, H, T, D], one item per row. */
static qkv_status cpu_dequant_values(const void *params, const qkv_tile_params *t, qkv_cpu_isa isa)
{
    const qkv_kivi_dequant_params *p = params;
    const dq_values_row_fn fn = PICK(isa, kivi_avx512_dequant_values_row,
                                     kivi_avx2_dequant_values_row, scalar_dequant_values_row);
    const bool stream = dequant_streams(t, p->output->host, isa);
    const size_t rows = p->batch * p->heads * p->tokens;
    const int chunk = tile_value(t, DEQUANT_CHUNK);
#pragma omp parallel num_threads(cpu_team_size())
    {
#pragma omp for schedule(static, chunk) nowait
        for (size_t r = 0; r < rows; r++)
            fn(p, r, stream);
        store_fence(stream);
    }
    return QKV_OK;
}

/* ---- decode attention: scalar work item ------------------------------------------ */

/* Key t of kv head bkv, dequantized, into k[D]. */
static void scalar_key_row(const void *ctx, size_t bkv, size_t t, float *k)
{
    const kivi_cpu_decode *c = ctx;
    const qkv_kivi_decode_params *p = c->p;
    const size_t D = c->D;
    if (t >= p->k_quant) {
        const uint16_t *r = c->k_resid + (bkv * p->k_resid_capacity + t - p->k_quant) * D;
        for (size_t d = 0; d < D; d++)
            k[d] = qkv_f16_to_f32(r[d]);
        return;
    }
    const size_t wcap = p->k_quant_capacity * (size_t)c->bits / 32;
    const size_t gcap = p->k_quant_capacity / c->G;
    for (size_t d = 0; d < D; d++) {
        const size_t row = bkv * D + d;
        k[d] = (float)code_get(c->k_codes + row * wcap, t, c->bits) *
                   qkv_f16_to_f32(c->k_scale[row * gcap + t / c->G]) +
               qkv_f16_to_f32(c->k_min[row * gcap + t / c->G]);
    }
}

/* Value t of kv head bkv, dequantized, into v[D]. */
static void scalar_value_row(const void *ctx, size_t bkv, size_t t, float *v)
{
    const kivi_cpu_decode *c = ctx;
    const qkv_kivi_decode_params *p = c->p;
    const size_t D = c->D, ng = D / c->G;
    if (t >= p->v_quant) {
        const uint16_t *r = c->v_resid + (bkv * p->v_resid_capacity + t - p->v_quant) * D;
        for (size_t d = 0; d < D; d++)
            v[d] = qkv_f16_to_f32(r[d]);
        return;
    }
    const size_t row = bkv * p->v_quant_capacity + t;
    const uint32_t *codes = c->v_codes + row * (D * (size_t)c->bits / 32);
    for (size_t d = 0; d < D; d++) {
        const size_t g = row * ng + d / c->G;
        v[d] = (float)code_get(codes, d, c->bits) * qkv_f16_to_f32(c->v_scale[g]) +
               qkv_f16_to_f32(c->v_min[g]);
    }
}

/* Scalar decode work item (see kivi_cpu_decode_item_fn). */
static void scalar_decode_item(const kivi_cpu_decode *c, size_t bkv, size_t t0, size_t t1,
                               const cpu_attn_scratch *s, float *part)
{
    cpu_attention_scalar_item(c, scalar_key_row, scalar_value_row, c->nq, c->D, bkv, t0, t1, s,
                              part);
}

/* ---- decode attention: driver ----------------------------------------------------- */

enum { DECODE_SPLIT, DECODE_CHUNK, DECODE_VBLOCK, DECODE_PREFETCH };
static const qkv_tile_param_def decode_space[] = {
    /* tokens per work item (rounded up to a multiple of the group) */
    {"split_tokens", 1024, {128, 256, 512, 1024, 2048, 4096, 0}, false},
    /* work items per OpenMP dynamic chunk */
    {"omp_chunk", 1, {1, 2, 4, 8, 0}, false},
    /* quantized value tokens per cache block of the AVX2 path */
    {"value_block", 64, {16, 32, 64, 128, 256, 0}, false},
    /* AVX2 path: key lines prefetched this many tokens past the next staged
     * key chunk */
    {"prefetch", 512, {128, 256, 512, 1024, 2048, 0}, false},
};
enum { DECODE_HEADS = DECODE_PREFETCH + 1 };
/* The avx512 item's space: decode_space's parameters, then the query heads
 * per pass over the codes (8 keeps 16 zmm accumulators). */
static const qkv_tile_param_def decode_avx512_space[] = {
    {"split_tokens", 1024, {128, 256, 512, 1024, 2048, 4096, 0}, false},
    {"omp_chunk", 1, {1, 2, 4, 8, 0}, false},
    {"value_block", 64, {16, 32, 64, 128, 256, 0}, false},
    {"prefetch", 512, {128, 256, 512, 1024, 2048, 0}, false},
    {"heads", 4, {2, 4, 8, 0}, false},
};

/* Host pointer of an optional buffer. */
static const void *host_of(const qkv_buffer *b) { return b ? b->host : NULL; }

/* Fill c from the validated params and the tile. */
static void decode_setup(kivi_cpu_decode *c, const qkv_kivi_decode_params *p,
                         const qkv_tile_params *tile)
{
    c->p = p;
    c->query = p->query->host;
    c->k_codes = host_of(p->k_codes);
    c->k_scale = host_of(p->k_scale);
    c->k_min = host_of(p->k_min);
    c->k_resid = host_of(p->k_resid_data);
    c->v_codes = host_of(p->v_codes);
    c->v_scale = host_of(p->v_scale);
    c->v_min = host_of(p->v_min);
    c->v_resid = host_of(p->v_resid_data);
    c->D = p->head_dim;
    c->G = (size_t)p->group;
    c->nq = p->q_heads / p->kv_heads;
    c->vblock = (size_t)tile_value(tile, DECODE_VBLOCK);
    c->prefetch = (size_t)tile_value(tile, DECODE_PREFETCH);
    c->bits = p->bits;
}

/* The decode context and the work item picked for it. */
typedef struct decode_job {
    const kivi_cpu_decode *c;
    kivi_cpu_decode_item_fn item;
} decode_job;

/* The driver's cpu_attn_item_fn: runs job->item on job->c. */
static void run_decode_item(const void *job, size_t bkv, size_t t0, size_t t1,
                            const cpu_attn_scratch *s, float *part)
{
    const decode_job *j = job;
    j->item(j->c, bkv, t0, t1, s, part);
}

/* Fused decode: items (batch, kv head, split) in parallel, then the merge. */
static qkv_status cpu_decode(const void *params, const qkv_tile_params *tile, qkv_cpu_isa isa)
{
    const qkv_kivi_decode_params *p = params;
    kivi_cpu_decode c;
    decode_setup(&c, p, tile);
    c.heads = isa >= QKV_CPU_ISA_AVX512 ? (size_t)tile_value(tile, DECODE_HEADS) : 4;
    if (c.heads > KIVI_CPU_MAX_HEADS)
        c.heads = KIVI_CPU_MAX_HEADS;
    const decode_job dj = {
        &c, PICK(isa, kivi_avx512_decode_item, kivi_avx2_decode_item, scalar_decode_item)};
    const cpu_attn_job job = {
        .query = c.query, .output = p->output->host, .kv_rows = p->batch * p->kv_heads,
        .nq = c.nq, .D = c.D, .tokens = p->k_quant + p->k_resid,
        .split = ((size_t)tile_value(tile, DECODE_SPLIT) + c.G - 1) / c.G * c.G,
        .table_floats = kivi_cpu_table_floats(&c),
        .sm = p->softmax_scale != 0.0f ? p->softmax_scale : 1.0f / sqrtf((float)c.D),
        .chunk = tile_value(tile, DECODE_CHUNK), .item = run_decode_item, .ctx = &dj,
        .op = "kivi_decode_attention"};
    return cpu_attention_run(&job);
}

/* ---- variants --------------------------------------------------------------------- */

/* "avx2" (AVX2 + FMA + F16C work items; preferred where the CPU has them
 * and no avx512 variant is) and "scalar" (portable) variants of cpu kernel
 * FN of op OP_NAME over tile space SPACE; the scalar variant's space
 * leaves out the last AVX2_ONLY parameters (those only the AVX2 items
 * read). */
#define CPU_VARIANTS(OP_NAME, OP, FN, SPACE, AVX2_ONLY)                                        \
    static qkv_status FN##_avx2(qkv_context *ctx, const void *p, const qkv_tile_params *t)      \
    {                                                                                          \
        (void)ctx;                                                                             \
        return FN(p, t, QKV_CPU_ISA_AVX2);                                                     \
    }                                                                                          \
    static qkv_status FN##_scalar(qkv_context *ctx, const void *p, const qkv_tile_params *t)    \
    {                                                                                          \
        (void)ctx;                                                                             \
        return FN(p, t, QKV_CPU_ISA_SCALAR);                                                   \
    }                                                                                          \
    const qkv_variant qkv_##OP_NAME##_avx2 = {                                                 \
        .name = "avx2", .op = OP, .backends = QKV_ON(QKV_BACKEND_CPU), .run = FN##_avx2,         \
        .supports = qkv_cpu_avx2_supports, .nparams = QKV_NPARAMS(SPACE),                      \
        .params = SPACE};                                                                      \
    const qkv_variant qkv_##OP_NAME##_scalar = {                                               \
        .name = "scalar", .op = OP, .backends = QKV_ON(QKV_BACKEND_CPU), .run = FN##_scalar,     \
        .nparams = QKV_NPARAMS(SPACE) - (AVX2_ONLY), .params = SPACE};

/* "avx512" variant (AVX-512 F/BW/DQ/VL work items, picked at run time where
 * the context's ISA level is avx512) of cpu kernel FN over tile space SPACE. */
#define CPU_AVX512_VARIANT(OP_NAME, OP, FN, SPACE)                                             \
    static qkv_status FN##_avx512(qkv_context *ctx, const void *p, const qkv_tile_params *t)    \
    {                                                                                          \
        (void)ctx;                                                                             \
        return FN(p, t, QKV_CPU_ISA_AVX512);                                                   \
    }                                                                                          \
    const qkv_variant qkv_##OP_NAME##_avx512 = {                                               \
        .name = "avx512", .op = OP, .backends = QKV_ON(QKV_BACKEND_CPU), .run = FN##_avx512,     \
        .supports = qkv_cpu_avx512_supports, .nparams = QKV_NPARAMS(SPACE), .params = SPACE};

CPU_VARIANTS(kivi_quant_keys, QKV_OP_KIVI_QUANT_KEYS, cpu_quant_keys, quant_keys_space, 0)
CPU_VARIANTS(kivi_quant_values, QKV_OP_KIVI_QUANT_VALUES, cpu_quant_values, quant_values_space,
             0)
CPU_VARIANTS(kivi_dequant_keys, QKV_OP_KIVI_DEQUANT_KEYS, cpu_dequant_keys, dequant_keys_space,
             1)
CPU_VARIANTS(kivi_dequant_values, QKV_OP_KIVI_DEQUANT_VALUES, cpu_dequant_values,
             dequant_values_space, 1)
CPU_VARIANTS(kivi_decode_attention, QKV_OP_KIVI_DECODE_ATTENTION, cpu_decode, decode_space, 2)
CPU_AVX512_VARIANT(kivi_quant_keys, QKV_OP_KIVI_QUANT_KEYS, cpu_quant_keys, quant_keys_space)
CPU_AVX512_VARIANT(kivi_quant_values, QKV_OP_KIVI_QUANT_VALUES, cpu_quant_values,
                   quant_values_space)
CPU_AVX512_VARIANT(kivi_dequant_keys, QKV_OP_KIVI_DEQUANT_KEYS, cpu_dequant_keys,
                   dequant_keys_space)
CPU_AVX512_VARIANT(kivi_dequant_values, QKV_OP_KIVI_DEQUANT_VALUES, cpu_dequant_values,
                   dequant_values_space)
CPU_AVX512_VARIANT(kivi_decode_attention, QKV_OP_KIVI_DECODE_ATTENTION, cpu_decode,
                   decode_avx512_space)
