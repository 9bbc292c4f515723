/* kivi_cases.c - the test side of the KIVI ops (spec: kivi.md): tensors,
 * test data, launch, ties, shape inference, shape sets, bytes and flops. */
#include "kivi_cases.h"
#include "kivi_ref.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

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
        scale[i] = qkv_f32_to_f16((float)(0.5 * qkv_rng_uniform(rng)));
        mn[i] = qkv_f32_to_f16((float)(-1.0 + 0.3 * qkv_rng_normal(rng)));
    }
}

static void fill_f16_normal(uint16_t *x, size_t n, uint64_t *rng)
{
    for (size_t i = 0; i < n; i++)
        x[i] = qkv_f32_to_f16((float)qkv_rng_normal(rng));
}

static size_t per_word(int bits) { return (size_t)(32 / bits); }

/* ---- quantizers ------------------------------------------------------------ */

enum { Q_INPUT, Q_CODES, Q_SCALE, Q_MIN, Q_NTENSORS };

/* Keys: codes [B, H, D, T/f] per channel, scale/min [B, H, D, T/G]; values:
 * codes [B, H, T, D/f] per token, scale/min [B, H, T, D/G]; input [B, H, T, D]. */
static void quant_describe(qkv_op_case *c, bool keys)
{
    const kivi_quant_case *s = QKV_CARGS(kivi_quant_case, &c->shape);
    const size_t B = s->batch, H = s->heads, T = s->tokens, D = s->head_dim;
    const size_t rows = keys ? D : T, along = keys ? T : D;
    c->ntensors = Q_NTENSORS;
    c->t[Q_INPUT] = qkv_tensor4("input", s->dtype, false, QKV_CMP_NONE, B, H, T, D);
    c->t[Q_CODES] = qkv_tensor4("codes", QKV_U32, true, QKV_CMP_CODES, B, H, rows,
                                along / per_word(s->bits));
    c->t[Q_CODES].code_bits = s->bits;
    c->t[Q_SCALE] = qkv_tensor4("scale", QKV_F16, true, QKV_CMP_F16, B, H, rows,
                                along / (size_t)s->group);
    c->t[Q_MIN] = qkv_tensor4("min", QKV_F16, true, QKV_CMP_F16, B, H, rows,
                              along / (size_t)s->group);
}

static void quant_keys_describe(qkv_op_case *c) { quant_describe(c, true); }
static void quant_values_describe(qkv_op_case *c) { quant_describe(c, false); }

static void quant_fill(qkv_op_case *c, uint64_t seed)
{
    const kivi_quant_case *s = QKV_CARGS(kivi_quant_case, &c->shape);
    fill_kv(c->host[Q_INPUT], s->dtype, s->batch * s->heads * s->tokens, s->head_dim, &seed);
}

static qkv_kivi_quant_params quant_params(const qkv_op_shape *shape, qkv_buffer *const *b)
{
    const kivi_quant_case *s = QKV_CARGS(kivi_quant_case, shape);
    return (qkv_kivi_quant_params){
        .batch = s->batch, .heads = s->heads, .tokens = s->tokens, .head_dim = s->head_dim,
        .bits = s->bits, .group = s->group, .dtype = s->dtype, .unchecked = s->unchecked,
        .input = b[Q_INPUT], .codes = b[Q_CODES], .scale = b[Q_SCALE], .min = b[Q_MIN],
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
    return QKV_CARGS(kivi_quant_case, &c->shape)->dtype == QKV_F16
               ? qkv_f16_to_f32(((const uint16_t *)c->host[Q_INPUT])[i])
               : ((const float *)c->host[Q_INPUT])[i];
}

/* Tie flags of group `gidx` (its elements at input index first + k*stride,
 * code index code0 + k): scale near an f16 midpoint makes every code of the
 * group tie-eligible, else each code near a .5 boundary is. */
static void mark_group(qkv_op_case *c, size_t gidx, size_t first, size_t stride, size_t code0)
{
    const kivi_quant_case *s = QKV_CARGS(kivi_quant_case, &c->shape);
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
    const kivi_quant_case *s = QKV_CARGS(kivi_quant_case, &c->shape);
    const size_t T = s->tokens, D = s->head_dim, G = (size_t)s->group;
    for (size_t bh = 0; bh < s->batch * s->heads; bh++)
        for (size_t d = 0; d < D; d++)
            for (size_t g = 0; g < T / G; g++)
                mark_group(c, (bh * D + d) * (T / G) + g, (bh * T + g * G) * D + d, D,
                           (bh * D + d) * T + g * G);
}

static void quant_values_ties(qkv_op_case *c)
{
    const kivi_quant_case *s = QKV_CARGS(kivi_quant_case, &c->shape);
    const size_t rows = s->batch * s->heads * s->tokens, D = s->head_dim;
    const size_t G = (size_t)s->group;
    for (size_t r = 0; r < rows; r++)
        for (size_t g = 0; g < D / G; g++)
            mark_group(c, r * (D / G) + g, r * D + g * G, 1, r * D + g * G);
}

/* The quantizer input [B, H, T, D], f16 or f32, gives every size. */
static qkv_status quant_infer(const qkv_op_case *c, qkv_op_shape *shape)
{
    kivi_quant_case *s = QKV_ARGS(kivi_quant_case, shape);
    const qkv_tensor_desc *in = &c->t[Q_INPUT];
    if (in->ndim == 0)
        return qkv_fail(QKV_ERR_INVALID_ARG, "input 'input' is missing");
    if (in->ndim != 4)
        return qkv_fail(QKV_ERR_SHAPE, "input must be 4-d [B, H, T, D]");
    if (in->dtype != QKV_F16 && in->dtype != QKV_F32)
        return qkv_fail(QKV_ERR_SHAPE, "input must be f16 or f32");
    s->batch = in->shape[0];
    s->heads = in->shape[1];
    s->tokens = in->shape[2];
    s->head_dim = in->shape[3];
    s->dtype = in->dtype;
    return QKV_OK;
}

static qkv_op_shape quant_shape(const char *label, size_t B, size_t H, size_t T, size_t D,
                                int bits, int G, qkv_dtype dtype)
{
    const kivi_quant_case s = {B, H, T, D, bits, G, dtype, 0};
    return qkv_make_shape(label, &s, sizeof s);
}

/* Shapes shared by quantizers and dequantizers: odd and LLM-like, and a
 * 32K-token prefill for the benchmarks; `unchecked` copies of the
 * benchmarks' shapes for the quantizers. */
static int quant_shapes(const char *set, qkv_op_shape *out, int max, bool keys,
                        bool unchecked)
{
    int n = 0;
    static const int bits[] = {2, 4, 8};
    if (strcmp(set, "small") == 0) {
        for (int b = 0; b < 3; b++) {
            const int G = b == 1 ? 64 : 32;
            char label[32];
            /* one group; odd batch/heads, tokens not a multiple of any tile */
            snprintf(label, sizeof label, "b%dg%d-one-group", bits[b], G);
            qkv_shape_push(out, max, &n,
                           quant_shape(label, 1, 1, (size_t)G, (size_t)G, bits[b], G, QKV_F32));
            snprintf(label, sizeof label, "b%dg%d-odd", bits[b], G);
            qkv_shape_push(out, max, &n,
                           quant_shape(label, 3, 5, keys ? (size_t)(7 * G) : 37, (size_t)(3 * G),
                                       bits[b], G, QKV_F16));
        }
        qkv_shape_push(out, max, &n,
                       quant_shape("b2g128-d128", 2, 3, keys ? 256 : 1, 128, 2, 128, QKV_F16));
        /* D = 128 + 32 (a full and a short channel pass); keys: 9 groups,
         * a staged run of 8 and one of 1 */
        qkv_shape_push(out, max, &n,
                       quant_shape("b2g32-d160", 1, 2, keys ? 288 : 37, 160, 2, 32, QKV_F16));
    } else if (strcmp(set, "llm") == 0) {
        qkv_shape_push(out, max, &n, quant_shape("b2-8x4096", 1, 8, 4096, 128, 2, 32, QKV_F16));
        qkv_shape_push(out, max, &n,
                       quant_shape("b4g128-b4-32x128", 4, 32, 128, 128, 4, 128, QKV_F32));
        qkv_shape_push(out, max, &n, quant_shape("b2g64-d64-b2", 2, 8, 1024, 64, 2, 64, QKV_F16));
    } else if (strcmp(set, "bench") == 0) {
        const qkv_op_shape prefill =
            quant_shape("prefill-32k", 1, 8, 32768, 128, 2, 32, QKV_F16);
        qkv_shape_push(out, max, &n, prefill);
        if (unchecked) { /* the quantizer alone, without its input check */
            qkv_op_shape base[8];
            int nb = quant_shapes("llm", base, 7, keys, false);
            base[nb++] = prefill;
            for (int i = 0; i < nb; i++) {
                QKV_ARGS(kivi_quant_case, &base[i])->unchecked = 1;
                char label[32];
                snprintf(label, sizeof label, "%.20s-unchecked", base[i].label);
                memcpy(base[i].label, label, sizeof label);
                qkv_shape_push(out, max, &n, base[i]);
            }
        }
    }
    return n;
}

static int quant_keys_shapes(const char *set, qkv_op_shape *out, int max)
{
    return quant_shapes(set, out, max, true, true);
}

static int quant_values_shapes(const char *set, qkv_op_shape *out, int max)
{
    return quant_shapes(set, out, max, false, true);
}

static int dequant_keys_shapes(const char *set, qkv_op_shape *out, int max)
{
    return quant_shapes(set, out, max, true, false);
}

static int dequant_values_shapes(const char *set, qkv_op_shape *out, int max)
{
    return quant_shapes(set, out, max, false, false);
}

/* Bytes: input read once, codes and scale/min written once. */
static double quant_bytes(const qkv_op_shape *shape)
{
    const kivi_quant_case *s = QKV_CARGS(kivi_quant_case, shape);
    const double n = (double)s->batch * s->heads * s->tokens * s->head_dim;
    return n * qkv_dtype_size(s->dtype) + n * s->bits / 8.0 + n / s->group * 4.0;
}

/* ~6 flops per element: min, max, subtract, divide, clamp, round. */
static double quant_flops(const qkv_op_shape *shape)
{
    const kivi_quant_case *s = QKV_CARGS(kivi_quant_case, shape);
    return 6.0 * s->batch * s->heads * s->tokens * s->head_dim;
}

/* Tuning class of a (de)quantizer call: its tokens. */
static size_t quant_class_size(const qkv_op_shape *shape)
{
    return QKV_CARGS(kivi_quant_case, shape)->tokens;
}

static qkv_op_shape quant_example(void)
{
    return quant_shape("example", 1, 1, 128, 128, 2, 32, QKV_F16);
}

/* ---- dequantizers ------------------------------------------------------------ */

enum { DQ_CODES, DQ_SCALE, DQ_MIN, DQ_OUTPUT, DQ_NTENSORS };

/* The quantizer's outputs as inputs, output f32 [B, H, T, D]. */
static void dequant_describe(qkv_op_case *c, bool keys)
{
    qkv_op_case q = {.shape = c->shape};
    quant_describe(&q, keys);
    const kivi_quant_case *s = QKV_CARGS(kivi_quant_case, &c->shape);
    c->ntensors = DQ_NTENSORS;
    c->t[DQ_CODES] = q.t[Q_CODES];
    c->t[DQ_SCALE] = q.t[Q_SCALE];
    c->t[DQ_MIN] = q.t[Q_MIN];
    for (int i = DQ_CODES; i <= DQ_MIN; i++) {
        c->t[i].output = false;
        c->t[i].cmp = QKV_CMP_NONE;
    }
    c->t[DQ_OUTPUT] = qkv_tensor4("output", QKV_F32, true, QKV_CMP_FLOAT, s->batch, s->heads,
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

static qkv_kivi_dequant_params dequant_params(const qkv_op_shape *shape, qkv_buffer *const *b)
{
    const kivi_quant_case *s = QKV_CARGS(kivi_quant_case, shape);
    return (qkv_kivi_dequant_params){
        .batch = s->batch, .heads = s->heads, .tokens = s->tokens, .head_dim = s->head_dim,
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
static qkv_status dequant_infer(const qkv_op_case *c, qkv_op_shape *shape, bool keys)
{
    kivi_quant_case *s = QKV_ARGS(kivi_quant_case, shape);
    const qkv_tensor_desc *codes = &c->t[DQ_CODES];
    if (codes->ndim == 0)
        return qkv_fail(QKV_ERR_INVALID_ARG, "input 'codes' is missing");
    if (codes->ndim != 4 || codes->dtype != QKV_U32)
        return qkv_fail(QKV_ERR_SHAPE, "codes must be 4-d uint32");
    s->batch = codes->shape[0];
    s->heads = codes->shape[1];
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
static double dequant_bytes(const qkv_op_shape *shape)
{
    const kivi_quant_case *s = QKV_CARGS(kivi_quant_case, shape);
    const double n = (double)s->batch * s->heads * s->tokens * s->head_dim;
    return n * s->bits / 8.0 + n / s->group * 4.0 + n * 4.0;
}

static double dequant_flops(const qkv_op_shape *shape)
{
    const kivi_quant_case *s = QKV_CARGS(kivi_quant_case, shape);
    return 2.0 * s->batch * s->heads * s->tokens * s->head_dim;
}

/* ---- decode attention ---------------------------------------------------------- */

enum {
    A_QUERY, A_KCODES, A_KSCALE, A_KMIN, A_KRESID,
    A_VCODES, A_VSCALE, A_VMIN, A_VRESID, A_OUTPUT, A_NTENSORS
};

static void decode_describe(qkv_op_case *c)
{
    const kivi_decode_case *s = QKV_CARGS(kivi_decode_case, &c->shape);
    const size_t B = s->batch, Hkv = s->kv_heads, D = s->head_dim, f = per_word(s->bits);
    const size_t G = (size_t)s->group;
    c->ntensors = A_NTENSORS;
    c->t[A_QUERY] = (qkv_tensor_desc){"query", QKV_F32, 3, {B, s->q_heads, D}, false,
                                      QKV_CMP_NONE, 0};
    c->t[A_KCODES] = qkv_tensor4("k_codes", QKV_U32, false, QKV_CMP_NONE, B, Hkv, D,
                                 s->k_quant / f);
    c->t[A_KSCALE] = qkv_tensor4("k_scale", QKV_F16, false, QKV_CMP_NONE, B, Hkv, D,
                                 s->k_quant / G);
    c->t[A_KMIN] = qkv_tensor4("k_min", QKV_F16, false, QKV_CMP_NONE, B, Hkv, D, s->k_quant / G);
    c->t[A_KRESID] = qkv_tensor4("k_resid", QKV_F16, false, QKV_CMP_NONE, B, Hkv, s->k_resid, D);
    c->t[A_VCODES] = qkv_tensor4("v_codes", QKV_U32, false, QKV_CMP_NONE, B, Hkv, s->v_quant,
                                 D / f);
    c->t[A_VSCALE] = qkv_tensor4("v_scale", QKV_F16, false, QKV_CMP_NONE, B, Hkv, s->v_quant,
                                 D / G);
    c->t[A_VMIN] = qkv_tensor4("v_min", QKV_F16, false, QKV_CMP_NONE, B, Hkv, s->v_quant, D / G);
    c->t[A_VRESID] = qkv_tensor4("v_resid", QKV_F16, false, QKV_CMP_NONE, B, Hkv, s->v_resid, D);
    c->t[A_OUTPUT] = (qkv_tensor_desc){"output", QKV_F32, 3, {B, s->q_heads, D}, true,
                                       QKV_CMP_FLOAT, 0};
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

/* The params of a call of shape `shape` on buffers b (capacities 0). */
static qkv_kivi_decode_params decode_params(const qkv_op_shape *shape, qkv_buffer *const *b)
{
    const kivi_decode_case *s = QKV_CARGS(kivi_decode_case, shape);
    return (qkv_kivi_decode_params){
        .batch = s->batch, .q_heads = s->q_heads, .kv_heads = s->kv_heads,
        .head_dim = s->head_dim, .k_quant = s->k_quant, .k_resid = s->k_resid,
        .v_quant = s->v_quant, .v_resid = s->v_resid, .bits = s->bits, .group = s->group,
        .query = b[A_QUERY], .k_codes = b[A_KCODES], .k_scale = b[A_KSCALE],
        .k_min = b[A_KMIN], .k_resid_data = b[A_KRESID], .v_codes = b[A_VCODES],
        .v_scale = b[A_VSCALE], .v_min = b[A_VMIN], .v_resid_data = b[A_VRESID],
        .output = b[A_OUTPUT], .precision = (qkv_precision)s->precision,
    };
}

static qkv_status decode_launch(qkv_context *ctx, const qkv_op_shape *shape,
                                qkv_buffer *const *b)
{
    const qkv_kivi_decode_params p = decode_params(shape, b);
    return qkv_kivi_decode_attention(ctx, &p);
}

/* Whether v takes a call of this shape (its precision mode, head dim). */
static bool decode_variant_runs(const qkv_variant *v, const qkv_context *ctx,
                                const qkv_op_shape *shape)
{
    qkv_buffer *const none[A_NTENSORS] = {NULL};
    const qkv_kivi_decode_params p = decode_params(shape, none);
    return qkv_variant_supports(v, ctx, &p);
}

/* Sizes from the query [B, Hq, D] and the cache parts given; a part not
 * given (ndim 0) is empty.  The kv-head count comes from any given part. */
static qkv_status decode_infer(const qkv_op_case *c, qkv_op_shape *shape)
{
    kivi_decode_case *s = QKV_ARGS(kivi_decode_case, shape);
    const qkv_tensor_desc *q = &c->t[A_QUERY];
    if (q->ndim == 0)
        return qkv_fail(QKV_ERR_INVALID_ARG, "input 'query' is missing");
    if (q->ndim != 3)
        return qkv_fail(QKV_ERR_SHAPE, "query must be 3-d [B, Hq, D]");
    static const int parts[] = {A_KCODES, A_KRESID, A_VCODES, A_VRESID};
    s->kv_heads = 0;
    for (int i = 0; i < 4; i++) {
        const qkv_tensor_desc *t = &c->t[parts[i]];
        if (t->ndim != 0 && t->ndim != 4)
            return qkv_fail(QKV_ERR_SHAPE, "%s must be 4-d", t->name);
        if (t->ndim == 4 && !s->kv_heads)
            s->kv_heads = t->shape[1];
    }
    if (!s->kv_heads)
        return qkv_fail(QKV_ERR_INVALID_ARG,
                        "no cache part given: pass k_codes/k_scale/k_min and/or k_resid, and "
                        "v_codes/v_scale/v_min and/or v_resid");
    s->batch = q->shape[0];
    s->q_heads = q->shape[1];
    s->head_dim = q->shape[2];
    s->k_quant = c->t[A_KCODES].ndim ? c->t[A_KCODES].shape[3] * per_word(s->bits) : 0;
    s->k_resid = c->t[A_KRESID].ndim ? c->t[A_KRESID].shape[2] : 0;
    s->v_quant = c->t[A_VCODES].ndim ? c->t[A_VCODES].shape[2] : 0;
    s->v_resid = c->t[A_VRESID].ndim ? c->t[A_VRESID].shape[2] : 0;
    return QKV_OK;
}

void kivi_cache_split(kivi_decode_case *c, size_t n, size_t r)
{
    c->k_quant = n - n % r;
    c->k_resid = n % r;
    c->v_quant = n > r ? n - r : 0;
    c->v_resid = n - c->v_quant;
}

/* Decode shape: N tokens with the cache split of a KIVI cache with
 * residual window R. */
static qkv_op_shape cache_shape(const char *label, size_t B, size_t Hq, size_t Hkv, size_t D,
                                size_t N, size_t R, int bits, int G)
{
    kivi_decode_case s = {B, Hq, Hkv, D, .bits = bits, .group = G};
    kivi_cache_split(&s, N, R);
    return qkv_make_shape(label, &s, sizeof s);
}

/* A shape of the decode sweep: 32 query / 8 KV heads, D 128, N tokens of a
 * 2-bit G 32 cache with a 128-token residual window. */
static qkv_op_shape decode_sweep_shape(const char *label, size_t B, size_t N)
{
    return cache_shape(label, B, 32, 8, 128, N, 128, 2, 32);
}

/* Shapes out[first .. *n) again in fast precision, labelled "<label>-fast". */
static void push_fast_copies(qkv_op_shape *out, int max, int *n, int first)
{
    const int last = *n;
    for (int i = first; i < last; i++) {
        qkv_op_shape fast = out[i];
        QKV_ARGS(kivi_decode_case, &fast)->precision = QKV_PRECISION_FAST;
        snprintf(fast.label, sizeof fast.label, "%.26s-fast", out[i].label);
        qkv_shape_push(out, max, n, fast);
    }
}

/* The shapes of a set, the small and llm ones in both precision modes
 * (exact first), the benchmarks' sweep too. */
static int decode_shapes(const char *set, qkv_op_shape *out, int max)
{
    int n = 0;
    if (strcmp(set, "small") == 0) {
        qkv_shape_push(out, max, &n, cache_shape("one-token", 1, 1, 1, 64, 1, 32, 2, 32));
        qkv_shape_push(out, max, &n, cache_shape("odd-gqa3", 3, 6, 2, 64, 109, 32, 2, 32));
        qkv_shape_push(out, max, &n, cache_shape("odd-4bit", 2, 5, 5, 128, 301, 64, 4, 64));
        qkv_shape_push(out, max, &n, cache_shape("odd-gqa8-d96", 2, 16, 2, 96, 333, 64, 2, 32));
        qkv_shape_push(out, max, &n, cache_shape("all-quant", 1, 4, 1, 128, 256, 128, 2, 128));
        qkv_op_shape uneven = cache_shape("uneven-split", 1, 2, 1, 64, 97, 32, 4, 32);
        kivi_decode_case *u = QKV_ARGS(kivi_decode_case, &uneven);
        u->k_quant = 64, u->k_resid = 33, u->v_quant = 90, u->v_resid = 7;
        qkv_shape_push(out, max, &n, uneven);
        push_fast_copies(out, max, &n, 0);
    } else if (strcmp(set, "llm") == 0) {
        qkv_shape_push(out, max, &n, cache_shape("llm-gqa-4k", 1, 32, 8, 128, 4100, 128, 2, 32));
        qkv_shape_push(out, max, &n, cache_shape("llm-b8-1k", 8, 32, 8, 128, 1000, 128, 2, 32));
        qkv_shape_push(out, max, &n,
                       cache_shape("llm-mha-4bit", 2, 32, 32, 128, 777, 128, 4, 128));
        qkv_shape_push(out, max, &n, cache_shape("llm-32k", 1, 32, 8, 128, 32768, 128, 2, 32));
        push_fast_copies(out, max, &n, 0);
    } else if (strcmp(set, "bench") == 0) {
        qkv_decode_sweep(out, max, &n, decode_sweep_shape);
        push_fast_copies(out, max, &n, 0);
    }
    return n;
}

/* The bound of the precision mode (spec kivi.md, "Precision modes"). */
static double decode_nmse_bound(const qkv_op_shape *shape)
{
    return QKV_CARGS(kivi_decode_case, shape)->precision == QKV_PRECISION_FAST ? 1e-4 : 1e-10;
}

/* Bytes: the packed cache and residuals read once, query and output once. */
static double decode_bytes(const qkv_op_shape *shape)
{
    const kivi_decode_case *s = QKV_CARGS(kivi_decode_case, shape);
    const double bh = (double)s->batch * s->kv_heads, D = (double)s->head_dim;
    const double packed = (s->k_quant + s->v_quant) * D * (s->bits / 8.0 + 4.0 / s->group);
    const double resid = (s->k_resid + s->v_resid) * D * 2.0;
    return bh * (packed + resid) + 8.0 * s->batch * s->q_heads * D;
}

/* Two multiply-adds per (query head, token, channel): scores and outputs. */
static double decode_flops(const qkv_op_shape *shape)
{
    const kivi_decode_case *s = QKV_CARGS(kivi_decode_case, shape);
    return 4.0 * s->batch * s->q_heads * (double)(s->k_quant + s->k_resid) * s->head_dim;
}

/* Tuning class of a decode call: its context length. */
static size_t decode_class_size(const qkv_op_shape *shape)
{
    const kivi_decode_case *s = QKV_CARGS(kivi_decode_case, shape);
    return s->k_quant + s->k_resid;
}

static qkv_op_shape decode_example(void)
{
    return cache_shape("example", 1, 4, 2, 64, 100, 32, 2, 32);
}

/* ---- the descriptions ------------------------------------------------------------ */

QKV_CASE_TYPE_FITS(kivi_quant_case);
QKV_CASE_TYPE_FITS(kivi_decode_case);

/* --bits and --group of a case struct TYPE. */
#define KIVI_OPTION_BITS(TYPE)                                                                 \
    {.name = "bits", .help = "bits per code", .offset = offsetof(TYPE, bits),                 \
     .default_value = 2, .allowed = {2, 4, 8}}
#define KIVI_OPTION_GROUP(TYPE)                                                                \
    {.name = "group", .help = "group size G (tokens per key group, channels per value group)", \
     .offset = offsetof(TYPE, group), .default_value = 32, .allowed = {32, 64, 128}}

#define KIVI_QUANT_OPTIONS                                                                     \
    {KIVI_OPTION_BITS(kivi_quant_case), KIVI_OPTION_GROUP(kivi_quant_case)}

const qkv_op_desc qkv_op_case_kivi_quant_keys = {
    .info = &qkv_op_info_kivi_quant_keys, .nmse_bound = 0.0, .options = KIVI_QUANT_OPTIONS,
    .example = quant_example, .describe = quant_keys_describe, .fill_inputs = quant_fill,
    .launch = quant_keys_launch, .mark_ties = quant_keys_ties, .infer_shape = quant_infer,
    .shapes = quant_keys_shapes, .bytes = quant_bytes, .flops = quant_flops,
    .class_size = quant_class_size};
const qkv_op_desc qkv_op_case_kivi_quant_values = {
    .info = &qkv_op_info_kivi_quant_values, .nmse_bound = 0.0, .options = KIVI_QUANT_OPTIONS,
    .example = quant_example, .describe = quant_values_describe, .fill_inputs = quant_fill,
    .launch = quant_values_launch, .mark_ties = quant_values_ties, .infer_shape = quant_infer,
    .shapes = quant_values_shapes, .bytes = quant_bytes, .flops = quant_flops,
    .class_size = quant_class_size};
const qkv_op_desc qkv_op_case_kivi_dequant_keys = {
    .info = &qkv_op_info_kivi_dequant_keys, .nmse_bound = 1e-12, .options = KIVI_QUANT_OPTIONS,
    .example = quant_example, .describe = dequant_keys_describe, .fill_inputs = dequant_fill,
    .launch = dequant_keys_launch, .infer_shape = dequant_keys_infer,
    .shapes = dequant_keys_shapes, .bytes = dequant_bytes, .flops = dequant_flops,
    .class_size = quant_class_size};
const qkv_op_desc qkv_op_case_kivi_dequant_values = {
    .info = &qkv_op_info_kivi_dequant_values, .nmse_bound = 1e-12,
    .options = KIVI_QUANT_OPTIONS, .example = quant_example,
    .describe = dequant_values_describe, .fill_inputs = dequant_fill,
    .launch = dequant_values_launch, .infer_shape = dequant_values_infer,
    .shapes = dequant_values_shapes, .bytes = dequant_bytes, .flops = dequant_flops,
    .class_size = quant_class_size};
const qkv_op_desc qkv_op_case_kivi_decode_attention = {
    .info = &qkv_op_info_kivi_decode_attention, .nmse_bound = 1e-10,
    .options = {KIVI_OPTION_BITS(kivi_decode_case), KIVI_OPTION_GROUP(kivi_decode_case),
                {.name = "precision", .help = "arithmetic precision mode (qkv_precision)",
                 .offset = offsetof(kivi_decode_case, precision),
                 .default_value = QKV_PRECISION_EXACT, .names = {"exact", "fast"}}},
    .example = decode_example, .describe = decode_describe, .fill_inputs = decode_fill,
    .launch = decode_launch, .infer_shape = decode_infer, .shapes = decode_shapes,
    .bytes = decode_bytes, .flops = decode_flops, .class_size = decode_class_size,
    .shape_nmse_bound = decode_nmse_bound, .variant_runs = decode_variant_runs};
