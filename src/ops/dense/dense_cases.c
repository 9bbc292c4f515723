/* dense_cases.c - the test side of the f16 dense decode attention (the
 * baseline of KIVI's decode, spec: kivi.md): tensors, test data, launch,
 * shape inference, shape sets, bytes and flops. */
#include "op_case.h"

#include <stdio.h>
#include <string.h>

/* A decode call: query [batch, q_heads, head_dim] over `tokens` f16 KV
 * rows per kv head, stored `capacity` rows apart (0: tokens). */
typedef struct dense_decode_case {
    size_t batch, q_heads, kv_heads, head_dim, tokens, capacity;
} dense_decode_case;

QKV_CASE_TYPE_FITS(dense_decode_case);

enum { D_QUERY, D_KEYS, D_VALUES, D_OUTPUT, D_NTENSORS };

#define F16_NAN 0x7e00u

/* KV rows per head of a shape. */
static size_t kv_rows(const dense_decode_case *s) { return s->capacity ? s->capacity : s->tokens; }

/* query f32 [B, Hq, D], keys/values f16 [B, Hkv, capacity, D], output f32
 * [B, Hq, D]. */
static void dense_describe(qkv_op_case *c)
{
    const dense_decode_case *s = QKV_CARGS(dense_decode_case, &c->shape);
    const size_t B = s->batch, Hkv = s->kv_heads, D = s->head_dim, cap = kv_rows(s);
    c->ntensors = D_NTENSORS;
    c->t[D_QUERY] = (qkv_tensor_desc){"query", QKV_F32, 3, {B, s->q_heads, D}, false,
                                      QKV_CMP_NONE, 0};
    c->t[D_KEYS] = qkv_tensor4("keys", QKV_F16, false, QKV_CMP_NONE, B, Hkv, cap, D);
    c->t[D_VALUES] = qkv_tensor4("values", QKV_F16, false, QKV_CMP_NONE, B, Hkv, cap, D);
    c->t[D_OUTPUT] = (qkv_tensor_desc){"output", QKV_F32, 3, {B, s->q_heads, D}, true,
                                       QKV_CMP_FLOAT, 0};
}

/* rows x D f16 of KV data: standard normals, keys with outlier channels
 * (x8) as real keys have; rows from `used` on (capacity padding) are NaN
 * so that a kernel reading past the tokens shows. */
static void fill_kv(uint16_t *x, size_t heads, size_t rows, size_t used, size_t D, bool keys,
                    uint64_t *rng)
{
    for (size_t h = 0; h < heads; h++)
        for (size_t r = 0; r < rows; r++)
            for (size_t d = 0; d < D; d++) {
                const double v = qkv_rng_normal(rng) * (keys && d % 17 == 3 ? 8.0 : 1.0);
                x[(h * rows + r) * D + d] = r < used ? qkv_f32_to_f16((float)v) : F16_NAN;
            }
}

static void dense_fill(qkv_op_case *c, uint64_t seed)
{
    const dense_decode_case *s = QKV_CARGS(dense_decode_case, &c->shape);
    float *q = c->host[D_QUERY];
    for (size_t i = 0; i < qkv_tensor_count(&c->t[D_QUERY]); i++)
        q[i] = (float)qkv_rng_normal(&seed);
    const size_t heads = s->batch * s->kv_heads;
    fill_kv(c->host[D_KEYS], heads, kv_rows(s), s->tokens, s->head_dim, true, &seed);
    fill_kv(c->host[D_VALUES], heads, kv_rows(s), s->tokens, s->head_dim, false, &seed);
}

static qkv_status dense_launch(qkv_context *ctx, const qkv_op_shape *shape,
                               qkv_buffer *const *b)
{
    const dense_decode_case *s = QKV_CARGS(dense_decode_case, shape);
    const qkv_f16_decode_params p = {
        .batch = s->batch, .q_heads = s->q_heads, .kv_heads = s->kv_heads,
        .head_dim = s->head_dim, .tokens = s->tokens, .capacity = s->capacity,
        .query = b[D_QUERY], .keys = b[D_KEYS], .values = b[D_VALUES], .output = b[D_OUTPUT],
    };
    return qkv_f16_decode_attention(ctx, &p);
}

/* Shape from query [B, Hq, D] and keys [B, Hkv, N, D] (N = tokens). */
static qkv_status dense_infer(const qkv_op_case *c, qkv_op_shape *shape)
{
    dense_decode_case *s = QKV_ARGS(dense_decode_case, shape);
    const qkv_tensor_desc *q = &c->t[D_QUERY], *k = &c->t[D_KEYS];
    for (int i = D_QUERY; i <= D_VALUES; i++)
        if (c->t[i].ndim == 0)
            return qkv_fail(QKV_ERR_INVALID_ARG, "input '%s' is missing", c->t[i].name);
    if (q->ndim != 3 || k->ndim != 4)
        return qkv_fail(QKV_ERR_SHAPE, "query must be 3-d [B, Hq, D], keys 4-d [B, Hkv, N, D]");
    s->batch = q->shape[0];
    s->q_heads = q->shape[1];
    s->head_dim = q->shape[2];
    s->kv_heads = k->shape[1];
    s->tokens = k->shape[2];
    s->capacity = 0;
    return QKV_OK;
}

/* A shape (capacity 0 = tokens). */
static qkv_op_shape dense_shape(const char *label, size_t B, size_t Hq, size_t Hkv, size_t D,
                                size_t N, size_t cap)
{
    const dense_decode_case s = {B, Hq, Hkv, D, N, cap};
    return qkv_make_shape(label, &s, sizeof s);
}

/* A shape of the decode sweep: 32 query / 8 KV heads, D 128, N tokens. */
static qkv_op_shape dense_sweep_shape(const char *label, size_t B, size_t N)
{
    return dense_shape(label, B, 32, 8, 128, N, 0);
}

/* small: odd sizes, GQA ratios that leave partial head groups, head dims
 * off the vector width, capacity padding; llm: LLM-like; bench: the
 * context sweep of kivi_decode_attention's, all tokens f16. */
static int dense_shapes(const char *set, qkv_op_shape *out, int max)
{
    int n = 0;
    if (strcmp(set, "small") == 0) {
        qkv_shape_push(out, max, &n, dense_shape("one-token", 1, 1, 1, 64, 1, 0));
        qkv_shape_push(out, max, &n, dense_shape("odd-gqa3", 3, 6, 2, 64, 109, 0));
        qkv_shape_push(out, max, &n, dense_shape("mha-capacity", 2, 5, 5, 128, 301, 320));
        qkv_shape_push(out, max, &n, dense_shape("gqa7-d72", 1, 7, 1, 72, 200, 0));
        qkv_shape_push(out, max, &n, dense_shape("d36", 2, 2, 1, 36, 50, 64));
        qkv_shape_push(out, max, &n, dense_shape("d256-capacity", 1, 4, 2, 256, 130, 160));
    } else if (strcmp(set, "llm") == 0) {
        qkv_shape_push(out, max, &n, dense_shape("llm-gqa-4k", 1, 32, 8, 128, 4096, 0));
        qkv_shape_push(out, max, &n, dense_shape("llm-b8-1k", 8, 32, 8, 128, 1000, 1024));
        qkv_shape_push(out, max, &n, dense_shape("llm-mha", 2, 32, 32, 128, 777, 0));
        qkv_shape_push(out, max, &n, dense_shape("llm-32k", 1, 32, 8, 128, 32768, 0));
    } else if (strcmp(set, "bench") == 0) {
        qkv_decode_sweep(out, max, &n, dense_sweep_shape);
    }
    return n;
}

/* Bytes: keys and values read once per kv head, query and output once. */
static double dense_bytes(const qkv_op_shape *shape)
{
    const dense_decode_case *s = QKV_CARGS(dense_decode_case, shape);
    return 4.0 * s->batch * s->kv_heads * (double)s->tokens * s->head_dim +
           8.0 * s->batch * s->q_heads * s->head_dim;
}

/* Two multiply-adds per (query head, token, channel): scores and outputs. */
static double dense_flops(const qkv_op_shape *shape)
{
    const dense_decode_case *s = QKV_CARGS(dense_decode_case, shape);
    return 4.0 * s->batch * s->q_heads * (double)s->tokens * s->head_dim;
}

/* Tuning shape class: the context length. */
static size_t dense_class_size(const qkv_op_shape *shape)
{
    return QKV_CARGS(dense_decode_case, shape)->tokens;
}

static qkv_op_shape dense_example(void) { return dense_shape("example", 1, 4, 2, 64, 100, 0); }

const qkv_op_desc qkv_op_case_f16_decode_attention = {
    .info = &qkv_op_info_f16_decode_attention, .nmse_bound = 1e-10, .example = dense_example,
    .describe = dense_describe, .fill_inputs = dense_fill, .launch = dense_launch,
    .infer_shape = dense_infer, .shapes = dense_shapes, .bytes = dense_bytes,
    .flops = dense_flops, .class_size = dense_class_size};
