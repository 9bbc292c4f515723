/* op_table.c - the KIVI entries of the op registry (spec: kivi.md). */
#include "op_table.h"
#include "kivi_ref.h"
#include "op_table_dense.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

size_t qkv_tensor_count(const qkv_tensor_desc *t)
{
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

size_t qkv_tensor_bytes(const qkv_tensor_desc *t)
{
    return qkv_tensor_count(t) * qkv_dtype_size(t->dtype);
}

uint64_t qkv_rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1). */
static double rng_uniform(uint64_t *state)
{
    return ((double)(qkv_rng_next(state) >> 11) + 0.5) / 9007199254740992.0;
}

double qkv_rng_normal(uint64_t *state)
{
    const double u = rng_uniform(state), v = rng_uniform(state);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static void set_tensor(qkv_tensor_desc *t, const char *name, qkv_dtype dtype, bool output,
                       qkv_cmp_kind cmp, size_t d0, size_t d1, size_t d2, size_t d3)
{
    *t = (qkv_tensor_desc){name, dtype, 4, {d0, d1, d2, d3}, output, cmp};
}

/* KV-like activations into a f16 or f32 array [rows, D]: normal values,
 * outlier channels (x8, as keys have), and some constant runs so groups of
 * zero range (scale 0) occur. */
static void fill_kv(void *data, qkv_dtype dtype, size_t rows, size_t D, uint64_t *rng)
{
    for (size_t r = 0; r < rows; r++)
        for (size_t d = 0; d < D; d++) {
            double v = qkv_rng_normal(rng) * (d % 17 == 3 ? 8.0 : 1.0);
            if ((r / 5 + d / 7) % 23 == 11)
                v = 0.75; /* constant patches */
            if (dtype == QKV_F16)
                ((uint16_t *)data)[r * D + d] = qkv_f32_to_f16((float)v);
            else
                ((float *)data)[r * D + d] = (float)v;
        }
}

/* Random packed codes (any bit pattern is a valid code stream). */
static void fill_words(uint32_t *w, size_t n, uint64_t *rng)
{
    for (size_t i = 0; i < n; i++)
        w[i] = (uint32_t)qkv_rng_next(rng);
}

/* f16 scales in (0, 0.5] and minima around -1 of a group quantizer. */
static void fill_scale_min(uint16_t *scale, uint16_t *mn, size_t n, uint64_t *rng)
{
    for (size_t i = 0; i < n; i++) {
        scale[i] = qkv_f32_to_f16((float)(0.5 * rng_uniform(rng)));
        mn[i] = qkv_f32_to_f16((float)(-1.0 + 0.3 * qkv_rng_normal(rng)));
    }
}

static void fill_f16_normal(uint16_t *x, size_t n, uint64_t *rng)
{
    for (size_t i = 0; i < n; i++)
        x[i] = qkv_f32_to_f16((float)qkv_rng_normal(rng));
}

static size_t per_word(int bits) { return (size_t)(32 / bits); }

/* Add a shape to a list if there is room. */
static void push(qkv_op_shape *out, int max, int *n, qkv_op_shape s)
{
    if (*n < max)
        out[(*n)++] = s;
}

/* ---- quantizers ------------------------------------------------------------ */

enum { Q_INPUT, Q_CODES, Q_SCALE, Q_MIN, Q_NTENSORS };

static void quant_keys_describe(qkv_op_case *c)
{
    const qkv_op_shape *s = &c->shape;
    const size_t B = s->batch, H = s->kv_heads, T = s->tokens, D = s->head_dim;
    c->ntensors = Q_NTENSORS;
    set_tensor(&c->t[Q_INPUT], "input", s->dtype, false, QKV_CMP_NONE, B, H, T, D);
    set_tensor(&c->t[Q_CODES], "codes", QKV_U32, true, QKV_CMP_CODES, B, H, D,
               T / per_word(s->bits));
    set_tensor(&c->t[Q_SCALE], "scale", QKV_F16, true, QKV_CMP_F16, B, H, D, T / s->group);
    set_tensor(&c->t[Q_MIN], "min", QKV_F16, true, QKV_CMP_F16, B, H, D, T / s->group);
}

static void quant_values_describe(qkv_op_case *c)
{
    const qkv_op_shape *s = &c->shape;
    const size_t B = s->batch, H = s->kv_heads, T = s->tokens, D = s->head_dim;
    c->ntensors = Q_NTENSORS;
    set_tensor(&c->t[Q_INPUT], "input", s->dtype, false, QKV_CMP_NONE, B, H, T, D);
    set_tensor(&c->t[Q_CODES], "codes", QKV_U32, true, QKV_CMP_CODES, B, H, T,
               D / per_word(s->bits));
    set_tensor(&c->t[Q_SCALE], "scale", QKV_F16, true, QKV_CMP_F16, B, H, T, D / s->group);
    set_tensor(&c->t[Q_MIN], "min", QKV_F16, true, QKV_CMP_F16, B, H, T, D / s->group);
}

static void quant_fill(qkv_op_case *c, uint64_t seed)
{
    const qkv_op_shape *s = &c->shape;
    fill_kv(c->host[Q_INPUT], s->dtype, s->batch * s->kv_heads * s->tokens, s->head_dim, &seed);
}

static qkv_kivi_quant_params quant_params(const qkv_op_shape *s, qkv_buffer *const *b)
{
    return (qkv_kivi_quant_params){
        .batch = s->batch, .heads = s->kv_heads, .tokens = s->tokens, .head_dim = s->head_dim,
        .bits = s->bits, .group = s->group, .dtype = s->dtype, .input = b[Q_INPUT],
        .codes = b[Q_CODES], .scale = b[Q_SCALE], .min = b[Q_MIN],
    };
}

static qkv_status quant_keys_launch(qkv_context *ctx, const qkv_op_shape *s,
                                    qkv_buffer *const *b)
{
    const qkv_kivi_quant_params p = quant_params(s, b);
    return qkv_kivi_quant_keys(ctx, &p);
}

static qkv_status quant_values_launch(qkv_context *ctx, const qkv_op_shape *s,
                                      qkv_buffer *const *b)
{
    const qkv_kivi_quant_params p = quant_params(s, b);
    return qkv_kivi_quant_values(ctx, &p);
}

static float input_at(const qkv_op_case *c, size_t i)
{
    return c->shape.dtype == QKV_F16 ? qkv_f16_to_f32(((const uint16_t *)c->host[Q_INPUT])[i])
                                     : ((const float *)c->host[Q_INPUT])[i];
}

/* Tie flags of group `gidx` (its elements at input index first + k*stride,
 * code index code0 + k): scale near an f16 midpoint makes every code of the
 * group tie-eligible, else each code near a .5 boundary is. */
static void mark_group(qkv_op_case *c, size_t gidx, size_t first, size_t stride, size_t code0)
{
    const qkv_op_shape *s = &c->shape;
    const uint16_t *scale = c->host[Q_SCALE], *mn = c->host[Q_MIN];
    float lo = input_at(c, first), hi = lo;
    for (size_t k = 1; k < (size_t)s->group; k++) {
        lo = fminf(lo, input_at(c, first + k * stride));
        hi = fmaxf(hi, input_at(c, first + k * stride));
    }
    const int scale_tie = kivi_ref_scale_is_tie(lo, hi, s->bits);
    c->tie[Q_SCALE][gidx] = (uint8_t)scale_tie;
    for (size_t k = 0; k < (size_t)s->group; k++)
        c->tie[Q_CODES][code0 + k] =
            (uint8_t)(scale_tie || kivi_ref_code_is_tie(input_at(c, first + k * stride),
                                                        scale[gidx], mn[gidx], s->bits));
}

static void quant_keys_ties(qkv_op_case *c)
{
    const qkv_op_shape *s = &c->shape;
    const size_t T = s->tokens, D = s->head_dim, G = (size_t)s->group;
    for (size_t bh = 0; bh < s->batch * s->kv_heads; bh++)
        for (size_t d = 0; d < D; d++)
            for (size_t g = 0; g < T / G; g++)
                mark_group(c, (bh * D + d) * (T / G) + g, (bh * T + g * G) * D + d, D,
                           (bh * D + d) * T + g * G);
}

static void quant_values_ties(qkv_op_case *c)
{
    const qkv_op_shape *s = &c->shape;
    const size_t rows = s->batch * s->kv_heads * s->tokens, D = s->head_dim;
    const size_t G = (size_t)s->group;
    for (size_t r = 0; r < rows; r++)
        for (size_t g = 0; g < D / G; g++)
            mark_group(c, r * (D / G) + g, r * D + g * G, 1, r * D + g * G);
}

static qkv_status quant_infer(const qkv_op_case *c, qkv_op_shape *s)
{
    const qkv_tensor_desc *in = &c->t[Q_INPUT];
    if (in->ndim != 4)
        return qkv_fail(QKV_ERR_SHAPE, "input must be 4-d [B, H, T, D]");
    if (in->dtype != QKV_F16 && in->dtype != QKV_F32)
        return qkv_fail(QKV_ERR_SHAPE, "input must be f16 or f32");
    s->batch = in->shape[0];
    s->kv_heads = in->shape[1];
    s->tokens = in->shape[2];
    s->head_dim = in->shape[3];
    s->dtype = in->dtype;
    return QKV_OK;
}

/* Shapes shared by quantizers and dequantizers: odd and LLM-like. */
static int quant_shapes(const char *set, qkv_op_shape *out, int max, bool keys)
{
    int n = 0;
    static const int bits[] = {2, 4, 8};
    if (strcmp(set, "small") == 0) {
        for (int b = 0; b < 3; b++) {
            const int G = b == 1 ? 64 : 32;
            /* one group; odd batch/heads, tokens not a multiple of any tile */
            qkv_op_shape one = {"", 1, 1, 1, (size_t)G, (size_t)G, .bits = bits[b],
                                .group = G, .dtype = QKV_F32};
            qkv_op_shape odd = {"", 3, 5, 5, keys ? (size_t)(7 * G) : 37, (size_t)(3 * G),
                                .bits = bits[b], .group = G, .dtype = QKV_F16};
            snprintf(one.label, sizeof one.label, "b%dg%d-one-group", bits[b], G);
            snprintf(odd.label, sizeof odd.label, "b%dg%d-odd", bits[b], G);
            push(out, max, &n, one);
            push(out, max, &n, odd);
        }
        push(out, max, &n, (qkv_op_shape){"b2g128-d128", 2, 3, 3, keys ? 256 : 1, 128,
                                          .bits = 2, .group = 128, .dtype = QKV_F16});
    } else if (strcmp(set, "llm") == 0) {
        push(out, max, &n, (qkv_op_shape){"b2-8x4096", 1, 8, 8, 4096, 128, .bits = 2,
                                          .group = 32, .dtype = QKV_F16});
        push(out, max, &n, (qkv_op_shape){"b4g128-b4-32x128", 4, 32, 32, 128, 128, .bits = 4,
                                          .group = 128, .dtype = QKV_F32});
        push(out, max, &n, (qkv_op_shape){"b2g64-d64-b2", 2, 8, 8, 1024, 64, .bits = 2,
                                          .group = 64, .dtype = QKV_F16});
    }
    return n;
}

static int quant_keys_shapes(const char *set, qkv_op_shape *out, int max)
{
    return quant_shapes(set, out, max, true);
}

static int quant_values_shapes(const char *set, qkv_op_shape *out, int max)
{
    return quant_shapes(set, out, max, false);
}

/* Bytes: input read once, codes and scale/min written once. */
static double quant_bytes(const qkv_op_shape *s)
{
    const double n = (double)s->batch * s->kv_heads * s->tokens * s->head_dim;
    return n * qkv_dtype_size(s->dtype) + n * s->bits / 8.0 + n / s->group * 4.0;
}

/* ~6 flops per element: min, max, subtract, divide, clamp, round. */
static double quant_flops(const qkv_op_shape *s)
{
    return 6.0 * s->batch * s->kv_heads * s->tokens * s->head_dim;
}

/* ---- dequantizers ------------------------------------------------------------ */

enum { DQ_CODES, DQ_SCALE, DQ_MIN, DQ_OUTPUT, DQ_NTENSORS };

static void dequant_describe(qkv_op_case *c, bool keys)
{
    qkv_op_case q = {.shape = c->shape};
    if (keys)
        quant_keys_describe(&q);
    else
        quant_values_describe(&q);
    const qkv_op_shape *s = &c->shape;
    c->ntensors = DQ_NTENSORS;
    c->t[DQ_CODES] = q.t[Q_CODES];
    c->t[DQ_SCALE] = q.t[Q_SCALE];
    c->t[DQ_MIN] = q.t[Q_MIN];
    for (int i = DQ_CODES; i <= DQ_MIN; i++) {
        c->t[i].output = false;
        c->t[i].cmp = QKV_CMP_NONE;
    }
    set_tensor(&c->t[DQ_OUTPUT], "output", QKV_F32, true, QKV_CMP_FLOAT, s->batch, s->kv_heads,
               s->tokens, s->head_dim);
}

static void dequant_keys_describe(qkv_op_case *c) { dequant_describe(c, true); }
static void dequant_values_describe(qkv_op_case *c) { dequant_describe(c, false); }

static void dequant_fill(qkv_op_case *c, uint64_t seed)
{
    fill_words(c->host[DQ_CODES], qkv_tensor_count(&c->t[DQ_CODES]), &seed);
    fill_scale_min(c->host[DQ_SCALE], c->host[DQ_MIN], qkv_tensor_count(&c->t[DQ_SCALE]),
                   &seed);
}

static qkv_kivi_dequant_params dequant_params(const qkv_op_shape *s, qkv_buffer *const *b)
{
    return (qkv_kivi_dequant_params){
        .batch = s->batch, .heads = s->kv_heads, .tokens = s->tokens, .head_dim = s->head_dim,
        .bits = s->bits, .group = s->group, .codes = b[DQ_CODES], .scale = b[DQ_SCALE],
        .min = b[DQ_MIN], .output = b[DQ_OUTPUT],
    };
}

static qkv_status dequant_keys_launch(qkv_context *ctx, const qkv_op_shape *s,
                                      qkv_buffer *const *b)
{
    const qkv_kivi_dequant_params p = dequant_params(s, b);
    return qkv_kivi_dequant_keys(ctx, &p);
}

static qkv_status dequant_values_launch(qkv_context *ctx, const qkv_op_shape *s,
                                        qkv_buffer *const *b)
{
    const qkv_kivi_dequant_params p = dequant_params(s, b);
    return qkv_kivi_dequant_values(ctx, &p);
}

/* Dequant inputs: keys codes [B,H,D,T/f], values codes [B,H,T,D/f]. */
static qkv_status dequant_infer(const qkv_op_case *c, qkv_op_shape *s, bool keys)
{
    const qkv_tensor_desc *codes = &c->t[DQ_CODES];
    if (codes->ndim != 4 || codes->dtype != QKV_U32)
        return qkv_fail(QKV_ERR_SHAPE, "codes must be 4-d uint32");
    s->batch = codes->shape[0];
    s->kv_heads = codes->shape[1];
    if (keys) {
        s->head_dim = codes->shape[2];
        s->tokens = codes->shape[3] * per_word(s->bits);
    } else {
        s->tokens = codes->shape[2];
        s->head_dim = codes->shape[3] * per_word(s->bits);
    }
    return QKV_OK;
}

static qkv_status dequant_keys_infer(const qkv_op_case *c, qkv_op_shape *s)
{
    return dequant_infer(c, s, true);
}

static qkv_status dequant_values_infer(const qkv_op_case *c, qkv_op_shape *s)
{
    return dequant_infer(c, s, false);
}

/* Bytes: codes and scale/min read, f32 output written. */
static double dequant_bytes(const qkv_op_shape *s)
{
    const double n = (double)s->batch * s->kv_heads * s->tokens * s->head_dim;
    return n * s->bits / 8.0 + n / s->group * 4.0 + n * 4.0;
}

static double dequant_flops(const qkv_op_shape *s)
{
    return 2.0 * s->batch * s->kv_heads * s->tokens * s->head_dim;
}

/* ---- decode attention ---------------------------------------------------------- */

enum {
    A_QUERY, A_KCODES, A_KSCALE, A_KMIN, A_KRESID,
    A_VCODES, A_VSCALE, A_VMIN, A_VRESID, A_OUTPUT, A_NTENSORS
};

static void decode_describe(qkv_op_case *c)
{
    const qkv_op_shape *s = &c->shape;
    const size_t B = s->batch, Hkv = s->kv_heads, D = s->head_dim, f = per_word(s->bits);
    const size_t G = (size_t)s->group;
    c->ntensors = A_NTENSORS;
    c->t[A_QUERY] = (qkv_tensor_desc){"query", QKV_F32, 3, {B, s->q_heads, D}, false,
                                      QKV_CMP_NONE};
    set_tensor(&c->t[A_KCODES], "k_codes", QKV_U32, false, QKV_CMP_NONE, B, Hkv, D,
               s->k_quant / f);
    set_tensor(&c->t[A_KSCALE], "k_scale", QKV_F16, false, QKV_CMP_NONE, B, Hkv, D,
               s->k_quant / G);
    set_tensor(&c->t[A_KMIN], "k_min", QKV_F16, false, QKV_CMP_NONE, B, Hkv, D, s->k_quant / G);
    set_tensor(&c->t[A_KRESID], "k_resid", QKV_F16, false, QKV_CMP_NONE, B, Hkv, s->k_resid, D);
    set_tensor(&c->t[A_VCODES], "v_codes", QKV_U32, false, QKV_CMP_NONE, B, Hkv, s->v_quant,
               D / f);
    set_tensor(&c->t[A_VSCALE], "v_scale", QKV_F16, false, QKV_CMP_NONE, B, Hkv, s->v_quant,
               D / G);
    set_tensor(&c->t[A_VMIN], "v_min", QKV_F16, false, QKV_CMP_NONE, B, Hkv, s->v_quant, D / G);
    set_tensor(&c->t[A_VRESID], "v_resid", QKV_F16, false, QKV_CMP_NONE, B, Hkv, s->v_resid, D);
    c->t[A_OUTPUT] = (qkv_tensor_desc){"output", QKV_F32, 3, {B, s->q_heads, D}, true,
                                       QKV_CMP_FLOAT};
}

static void decode_fill(qkv_op_case *c, uint64_t seed)
{
    float *q = c->host[A_QUERY];
    for (size_t i = 0; i < qkv_tensor_count(&c->t[A_QUERY]); i++)
        q[i] = (float)qkv_rng_normal(&seed);
    for (int kv = 0; kv < 2; kv++) {
        const int codes = kv ? A_VCODES : A_KCODES;
        if (c->host[codes]) {
            fill_words(c->host[codes], qkv_tensor_count(&c->t[codes]), &seed);
            fill_scale_min(c->host[codes + 1], c->host[codes + 2],
                           qkv_tensor_count(&c->t[codes + 1]), &seed);
        }
        if (c->host[codes + 3])
            fill_f16_normal(c->host[codes + 3], qkv_tensor_count(&c->t[codes + 3]), &seed);
    }
}

static qkv_status decode_launch(qkv_context *ctx, const qkv_op_shape *s, qkv_buffer *const *b)
{
    const qkv_kivi_decode_params p = {
        .batch = s->batch, .q_heads = s->q_heads, .kv_heads = s->kv_heads,
        .head_dim = s->head_dim, .k_quant = s->k_quant, .k_resid = s->k_resid,
        .v_quant = s->v_quant, .v_resid = s->v_resid, .bits = s->bits, .group = s->group,
        .query = b[A_QUERY], .k_codes = b[A_KCODES], .k_scale = b[A_KSCALE],
        .k_min = b[A_KMIN], .k_resid_data = b[A_KRESID], .v_codes = b[A_VCODES],
        .v_scale = b[A_VSCALE], .v_min = b[A_VMIN], .v_resid_data = b[A_VRESID],
        .output = b[A_OUTPUT],
    };
    return qkv_kivi_decode_attention(ctx, &p);
}

static qkv_status decode_infer(const qkv_op_case *c, qkv_op_shape *s)
{
    const qkv_tensor_desc *q = &c->t[A_QUERY], *kc = &c->t[A_KCODES], *kr = &c->t[A_KRESID];
    const qkv_tensor_desc *vc = &c->t[A_VCODES], *vr = &c->t[A_VRESID];
    if (q->ndim != 3 || kc->ndim != 4 || kr->ndim != 4 || vc->ndim != 4 || vr->ndim != 4)
        return qkv_fail(QKV_ERR_SHAPE, "query must be 3-d, the cache tensors 4-d");
    s->batch = q->shape[0];
    s->q_heads = q->shape[1];
    s->head_dim = q->shape[2];
    s->kv_heads = kc->shape[1];
    s->k_quant = kc->shape[3] * per_word(s->bits);
    s->k_resid = kr->shape[2];
    s->v_quant = vc->shape[2];
    s->v_resid = vr->shape[2];
    return QKV_OK;
}

/* Decode shape: N tokens with the cache split of a KIVI cache with
 * residual window R (keys: N - N%R quantized; values: N - R). */
static qkv_op_shape cache_shape(const char *label, size_t B, size_t Hq, size_t Hkv, size_t D,
                                size_t N, size_t R, int bits, int G)
{
    qkv_op_shape s = {"", B, Hq, Hkv, N, D, .bits = bits, .group = G};
    snprintf(s.label, sizeof s.label, "%s", label);
    s.k_quant = N - N % R;
    s.k_resid = N % R;
    s.v_quant = N > R ? N - R : 0;
    s.v_resid = N - s.v_quant;
    return s;
}

static int decode_shapes(const char *set, qkv_op_shape *out, int max)
{
    int n = 0;
    if (strcmp(set, "small") == 0) {
        push(out, max, &n, cache_shape("one-token", 1, 1, 1, 64, 1, 32, 2, 32));
        push(out, max, &n, cache_shape("odd-gqa3", 3, 6, 2, 64, 109, 32, 2, 32));
        push(out, max, &n, cache_shape("odd-4bit", 2, 5, 5, 128, 301, 64, 4, 64));
        push(out, max, &n, cache_shape("odd-gqa8-d96", 2, 16, 2, 96, 333, 64, 2, 32));
        push(out, max, &n, cache_shape("all-quant", 1, 4, 1, 128, 256, 128, 2, 128));
        qkv_op_shape s = cache_shape("uneven-split", 1, 2, 1, 64, 97, 32, 4, 32);
        s.k_quant = 64, s.k_resid = 33, s.v_quant = 90, s.v_resid = 7;
        push(out, max, &n, s);
    } else if (strcmp(set, "llm") == 0) {
        push(out, max, &n, cache_shape("llm-gqa-4k", 1, 32, 8, 128, 4100, 128, 2, 32));
        push(out, max, &n, cache_shape("llm-b8-1k", 8, 32, 8, 128, 1000, 128, 2, 32));
        push(out, max, &n, cache_shape("llm-mha-4bit", 2, 32, 32, 128, 777, 128, 4, 128));
        push(out, max, &n, cache_shape("llm-32k", 1, 32, 8, 128, 32768, 128, 2, 32));
    }
    return n;
}

/* Bytes: the packed cache and residuals read once, query and output once. */
static double decode_bytes(const qkv_op_shape *s)
{
    const double bh = (double)s->batch * s->kv_heads, D = (double)s->head_dim;
    const double packed = (s->k_quant + s->v_quant) * D * (s->bits / 8.0 + 4.0 / s->group);
    const double resid = (s->k_resid + s->v_resid) * D * 2.0;
    return bh * (packed + resid) + 8.0 * s->batch * s->q_heads * D;
}

/* Two multiply-adds per (query head, token, channel): scores and outputs. */
static double decode_flops(const qkv_op_shape *s)
{
    return 4.0 * s->batch * s->q_heads * (double)(s->k_quant + s->k_resid) * s->head_dim;
}

/* Tuning shape classes: quantizers by tokens per call, decode attention
 * by context length. */
static size_t quant_class_size(const void *params)
{
    return ((const qkv_kivi_quant_params *)params)->tokens;
}

static size_t dequant_class_size(const void *params)
{
    return ((const qkv_kivi_dequant_params *)params)->tokens;
}

static size_t decode_class_size(const void *params)
{
    const qkv_kivi_decode_params *p = params;
    return p->k_quant + p->k_resid;
}

const qkv_op_desc qkv_op_table[QKV_OP_COUNT] = {
    {QKV_OP_KIVI_QUANT_KEYS, "kivi_quant_keys",
     "KIVI keys -> packed per-channel codes, f16 scale/min", 0.0, quant_keys_describe,
     quant_fill, quant_keys_launch, quant_keys_ties, quant_infer, quant_keys_shapes,
     quant_bytes, quant_flops, quant_class_size},
    {QKV_OP_KIVI_QUANT_VALUES, "kivi_quant_values",
     "KIVI values -> packed per-token codes, f16 scale/min", 0.0, quant_values_describe,
     quant_fill, quant_values_launch, quant_values_ties, quant_infer, quant_values_shapes,
     quant_bytes, quant_flops, quant_class_size},
    {QKV_OP_KIVI_DEQUANT_KEYS, "kivi_dequant_keys", "packed per-channel keys -> f32", 1e-12,
     dequant_keys_describe, dequant_fill, dequant_keys_launch, NULL, dequant_keys_infer,
     quant_keys_shapes, dequant_bytes, dequant_flops, dequant_class_size},
    {QKV_OP_KIVI_DEQUANT_VALUES, "kivi_dequant_values", "packed per-token values -> f32",
     1e-12, dequant_values_describe, dequant_fill, dequant_values_launch, NULL,
     dequant_values_infer, quant_values_shapes, dequant_bytes, dequant_flops,
     dequant_class_size},
    {QKV_OP_KIVI_DECODE_ATTENTION, "kivi_decode_attention",
     "fused decode attention over packed + f16 residual KV (GQA, batched)", 1e-10,
     decode_describe, decode_fill, decode_launch, NULL, decode_infer, decode_shapes,
     decode_bytes, decode_flops, decode_class_size},
    {QKV_OP_F16_DECODE_ATTENTION, "f16_decode_attention",
     "dense decode attention over an f16 KV cache (GQA, batched; KIVI's baseline)", 1e-10,
     qkv_dense_decode_describe, qkv_dense_decode_fill, qkv_dense_decode_launch, NULL,
     qkv_dense_decode_infer, qkv_dense_decode_shapes, qkv_dense_decode_bytes,
     qkv_dense_decode_flops, qkv_dense_decode_class_size},
};

const qkv_op_desc *qkv_op_by_name(const char *name)
{
    for (int i = 0; i < QKV_OP_COUNT; i++)
        if (strcmp(qkv_op_table[i].name, name) == 0)
            return &qkv_op_table[i];
    return NULL;
}
