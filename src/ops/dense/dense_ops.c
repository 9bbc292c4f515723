/* dense_ops.c - public entry point of the f16 dense decode attention:
 * argument checks, capacity default, then dispatch to the context's backend. */
#include "dense/dense_variants.h"

/* Checks a decode call; r receives it with the KV capacity (rows per head)
 * resolved.  Shapes: query/output f32 [B, Hq, D], keys/values f16
 * [B, Hkv, capacity, D]. */
static qkv_status check_f16_decode(qkv_context *ctx, const qkv_f16_decode_params *p,
                                   qkv_f16_decode_params *r)
{
    const char *fn = "f16_decode_attention";
    if (!ctx || !p)
        return qkv_fail(QKV_ERR_INVALID_ARG, "%s: NULL argument", fn);
    *r = *p;
    if (!p->batch || !p->q_heads || !p->kv_heads || !p->head_dim || !p->tokens)
        return qkv_fail(QKV_ERR_SHAPE, "%s: batch, heads, head_dim and tokens must be > 0", fn);
    if (p->q_heads % p->kv_heads)
        return qkv_fail(QKV_ERR_SHAPE, "%s: q_heads %zu is not a multiple of kv_heads %zu", fn,
                        p->q_heads, p->kv_heads);
    if (!r->capacity)
        r->capacity = p->tokens;
    if (r->capacity < p->tokens)
        return qkv_fail(QKV_ERR_SHAPE, "%s: capacity %zu < tokens %zu", fn, r->capacity,
                        p->tokens);
    if (!(p->softmax_scale >= 0.0f) || p->softmax_scale == __builtin_inff())
        return qkv_fail(QKV_ERR_INVALID_ARG, "%s: softmax_scale must be finite and >= 0", fn);
    const size_t q_dims[4] = {p->batch, p->q_heads, p->head_dim, sizeof(float)};
    const size_t kv_dims[5] = {p->batch, p->kv_heads, r->capacity, p->head_dim, sizeof(uint16_t)};
    size_t q_bytes, kv_bytes;
    if (!qkv_mul_sizes(&q_bytes, 4, q_dims) || !qkv_mul_sizes(&kv_bytes, 5, kv_dims))
        return qkv_fail(QKV_ERR_OVERFLOW, "%s: size of a tensor overflows", fn);
    qkv_status st;
    if ((st = qkv_check_buffer(ctx, p->query, q_bytes, "query")) ||
        (st = qkv_check_buffer(ctx, p->keys, kv_bytes, "keys")) ||
        (st = qkv_check_buffer(ctx, p->values, kv_bytes, "values")) ||
        (st = qkv_check_buffer(ctx, p->output, q_bytes, "output")))
        return st;
    return QKV_OK;
}

qkv_status qkv_f16_decode_attention(qkv_context *ctx, const qkv_f16_decode_params *p)
{
    qkv_f16_decode_params r;
    const qkv_status st = check_f16_decode(ctx, p, &r);
    return st != QKV_OK ? st : qkv_dispatch(ctx, QKV_OP_F16_DECODE_ATTENTION, &r);
}

/* Tuning shape class: by context length. */
static size_t f16_decode_class_size(const void *params)
{
    return ((const qkv_f16_decode_params *)params)->tokens;
}

static const qkv_variant *const f16_decode_variants[] = {
    &qkv_f16_decode_attention_ref, &qkv_f16_decode_attention_avx512,
    &qkv_f16_decode_attention_avx2, &qkv_f16_decode_attention_scalar,
    QKV_GPU_VARIANT(qkv_f16_decode_attention_generic)
    QKV_CUDA_VARIANT(qkv_f16_decode_attention_cuda) NULL};

const qkv_op_info qkv_op_info_f16_decode_attention = {
    QKV_OP_F16_DECODE_ATTENTION, "f16_decode_attention",
    "dense decode attention over an f16 KV cache (GQA, batched; KIVI's baseline)",
    f16_decode_class_size, f16_decode_variants};
