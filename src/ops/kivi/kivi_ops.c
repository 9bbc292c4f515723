/* kivi_ops.c - public KIVI entry points: argument checks, capacity
 * defaults, then dispatch to the context's backend. */
#include "kivi/kivi_variants.h"

#include <string.h>

/* Bytes of a tensor of `n` dims, or an overflow failure naming it. */
static qkv_status tensor_bytes(size_t *bytes, size_t elem, int n, const size_t *dims,
                               const char *what)
{
    size_t count;
    if (!qkv_mul_sizes(&count, n, dims) || !qkv_mul_size(bytes, count, elem))
        return qkv_fail(QKV_ERR_OVERFLOW, "%s: size of the tensor overflows", what);
    return QKV_OK;
}

static qkv_status check_bits_group(int bits, int group, size_t head_dim, const char *fn)
{
    if (bits != 2 && bits != 4 && bits != 8)
        return qkv_fail(QKV_ERR_INVALID_ARG, "%s: bits must be 2, 4 or 8 (got %d)", fn, bits);
    if (group != 32 && group != 64 && group != 128)
        return qkv_fail(QKV_ERR_INVALID_ARG, "%s: group must be 32, 64 or 128 (got %d)", fn,
                        group);
    if (head_dim % (size_t)group != 0)
        return qkv_fail(QKV_ERR_SHAPE, "%s: head_dim %zu is not a multiple of group %d", fn,
                        head_dim, group);
    return QKV_OK;
}

/* Checks of a quantize call; fills r with capacities resolved. */
static qkv_status check_quant(qkv_context *ctx, const qkv_kivi_quant_params *p, bool keys,
                              qkv_kivi_quant_params *r)
{
    const char *fn = keys ? "kivi_quant_keys" : "kivi_quant_values";
    if (!ctx || !p)
        return qkv_fail(QKV_ERR_INVALID_ARG, "%s: NULL argument", fn);
    *r = *p;
    if (!p->batch || !p->heads || !p->tokens || !p->head_dim)
        return qkv_fail(QKV_ERR_SHAPE, "%s: batch, heads, tokens and head_dim must be > 0", fn);
    qkv_status st = check_bits_group(p->bits, p->group, p->head_dim, fn);
    if (st != QKV_OK)
        return st;
    if (p->dtype != QKV_F16 && p->dtype != QKV_F32)
        return qkv_fail(QKV_ERR_INVALID_ARG, "%s: input dtype must be f16 or f32", fn);
    const size_t G = (size_t)p->group;
    if (!r->in_capacity)
        r->in_capacity = p->tokens;
    if (r->in_capacity < p->tokens)
        return qkv_fail(QKV_ERR_SHAPE, "%s: in_capacity %zu < tokens %zu", fn, r->in_capacity,
                        p->tokens);
    if (p->out_offset > SIZE_MAX - p->tokens)
        return qkv_fail(QKV_ERR_OVERFLOW, "%s: out_offset + tokens overflows", fn);
    if (!r->out_capacity)
        r->out_capacity = p->out_offset + p->tokens;
    if (r->out_capacity < p->out_offset + p->tokens)
        return qkv_fail(QKV_ERR_SHAPE, "%s: out_capacity %zu < out_offset + tokens %zu", fn,
                        r->out_capacity, p->out_offset + p->tokens);
    if (keys && (p->tokens % G || p->out_offset % G || r->out_capacity % G))
        return qkv_fail(QKV_ERR_SHAPE,
                        "%s: tokens, out_offset and out_capacity must be multiples of group %zu",
                        fn, G);
    const size_t in_dims[4] = {p->batch, p->heads, r->in_capacity, p->head_dim};
    const size_t f = (size_t)(32 / p->bits);
    size_t code_dims[4], scale_dims[4];
    if (keys) {
        const size_t c[4] = {p->batch, p->heads, p->head_dim, r->out_capacity / f};
        const size_t s[4] = {p->batch, p->heads, p->head_dim, r->out_capacity / G};
        memcpy(code_dims, c, sizeof c);
        memcpy(scale_dims, s, sizeof s);
    } else {
        const size_t c[4] = {p->batch, p->heads, r->out_capacity, p->head_dim / f};
        const size_t s[4] = {p->batch, p->heads, r->out_capacity, p->head_dim / G};
        memcpy(code_dims, c, sizeof c);
        memcpy(scale_dims, s, sizeof s);
    }
    size_t in_b, code_b, scale_b;
    if ((st = tensor_bytes(&in_b, qkv_dtype_size(p->dtype), 4, in_dims, fn)) ||
        (st = tensor_bytes(&code_b, 4, 4, code_dims, fn)) ||
        (st = tensor_bytes(&scale_b, 2, 4, scale_dims, fn)))
        return st;
    if ((st = qkv_check_buffer(ctx, p->input, in_b, "input")) ||
        (st = qkv_check_buffer(ctx, p->codes, code_b, "codes")) ||
        (st = qkv_check_buffer(ctx, p->scale, scale_b, "scale")) ||
        (st = qkv_check_buffer(ctx, p->min, scale_b, "min")))
        return st;
    return QKV_OK;
}

qkv_status qkv_kivi_quant_keys(qkv_context *ctx, const qkv_kivi_quant_params *p)
{
    qkv_kivi_quant_params r;
    qkv_status st = check_quant(ctx, p, true, &r);
    return st != QKV_OK ? st : qkv_dispatch(ctx, QKV_OP_KIVI_QUANT_KEYS, &r);
}

qkv_status qkv_kivi_quant_values(qkv_context *ctx, const qkv_kivi_quant_params *p)
{
    qkv_kivi_quant_params r;
    qkv_status st = check_quant(ctx, p, false, &r);
    return st != QKV_OK ? st : qkv_dispatch(ctx, QKV_OP_KIVI_QUANT_VALUES, &r);
}

static qkv_status check_dequant(qkv_context *ctx, const qkv_kivi_dequant_params *p, bool keys)
{
    const char *fn = keys ? "kivi_dequant_keys" : "kivi_dequant_values";
    if (!ctx || !p)
        return qkv_fail(QKV_ERR_INVALID_ARG, "%s: NULL argument", fn);
    if (!p->batch || !p->heads || !p->tokens || !p->head_dim)
        return qkv_fail(QKV_ERR_SHAPE, "%s: batch, heads, tokens and head_dim must be > 0", fn);
    qkv_status st = check_bits_group(p->bits, p->group, p->head_dim, fn);
    if (st != QKV_OK)
        return st;
    const size_t G = (size_t)p->group, f = (size_t)(32 / p->bits);
    if (keys && p->tokens % G)
        return qkv_fail(QKV_ERR_SHAPE, "%s: tokens %zu is not a multiple of group %zu", fn,
                        p->tokens, G);
    const size_t elems[4] = {p->batch, p->heads, p->tokens, p->head_dim};
    size_t out_b, code_b, scale_b, n;
    if ((st = tensor_bytes(&out_b, 4, 4, elems, fn)))
        return st;
    n = out_b / 4;
    code_b = n / f * 4;
    scale_b = n / G * 2;
    if ((st = qkv_check_buffer(ctx, p->codes, code_b, "codes")) ||
        (st = qkv_check_buffer(ctx, p->scale, scale_b, "scale")) ||
        (st = qkv_check_buffer(ctx, p->min, scale_b, "min")) ||
        (st = qkv_check_buffer(ctx, p->output, out_b, "output")))
        return st;
    return QKV_OK;
}

qkv_status qkv_kivi_dequant_keys(qkv_context *ctx, const qkv_kivi_dequant_params *p)
{
    qkv_status st = check_dequant(ctx, p, true);
    return st != QKV_OK ? st : qkv_dispatch(ctx, QKV_OP_KIVI_DEQUANT_KEYS, p);
}

qkv_status qkv_kivi_dequant_values(qkv_context *ctx, const qkv_kivi_dequant_params *p)
{
    qkv_status st = check_dequant(ctx, p, false);
    return st != QKV_OK ? st : qkv_dispatch(ctx, QKV_OP_KIVI_DEQUANT_VALUES, p);
}

/* Resolve a capacity (0 = count) and check it holds count. */
static qkv_status resolve_capacity(size_t *cap, size_t count, const char *what)
{
    if (!*cap)
        *cap = count;
    if (*cap < count)
        return qkv_fail(QKV_ERR_SHAPE, "kivi_decode_attention: %s capacity %zu < count %zu",
                        what, *cap, count);
    return QKV_OK;
}

/* A buffer of a part that may be empty: NULL allowed when count is 0. */
static qkv_status check_part(qkv_context *ctx, const qkv_buffer *buf, size_t count,
                             int n, const size_t *dims, size_t elem, const char *what)
{
    if (!count)
        return QKV_OK;
    size_t bytes;
    qkv_status st = tensor_bytes(&bytes, elem, n, dims, "kivi_decode_attention");
    return st != QKV_OK ? st : qkv_check_buffer(ctx, buf, bytes, what);
}

qkv_status qkv_kivi_decode_attention(qkv_context *ctx, const qkv_kivi_decode_params *p)
{
    const char *fn = "kivi_decode_attention";
    if (!ctx || !p)
        return qkv_fail(QKV_ERR_INVALID_ARG, "%s: NULL argument", fn);
    qkv_kivi_decode_params r = *p;
    if (!p->batch || !p->q_heads || !p->kv_heads || !p->head_dim)
        return qkv_fail(QKV_ERR_SHAPE, "%s: batch, heads and head_dim must be > 0", fn);
    if (p->q_heads % p->kv_heads)
        return qkv_fail(QKV_ERR_SHAPE, "%s: q_heads %zu is not a multiple of kv_heads %zu", fn,
                        p->q_heads, p->kv_heads);
    qkv_status st = check_bits_group(p->bits, p->group, p->head_dim, fn);
    if (st != QKV_OK)
        return st;
    if (p->bits == 8)
        return qkv_fail(QKV_ERR_UNSUPPORTED, "%s: decode attention takes 2 or 4 bits", fn);
    if (p->k_quant > SIZE_MAX - p->k_resid || p->v_quant > SIZE_MAX - p->v_resid)
        return qkv_fail(QKV_ERR_OVERFLOW, "%s: token counts overflow", fn);
    const size_t N = p->k_quant + p->k_resid;
    if (N == 0 || N != p->v_quant + p->v_resid)
        return qkv_fail(QKV_ERR_SHAPE,
                        "%s: keys hold %zu tokens, values %zu: both must be equal and > 0", fn,
                        N, p->v_quant + p->v_resid);
    const size_t G = (size_t)p->group, f = (size_t)(32 / p->bits);
    if ((st = resolve_capacity(&r.k_quant_capacity, p->k_quant, "k_quant")) ||
        (st = resolve_capacity(&r.k_resid_capacity, p->k_resid, "k_resid")) ||
        (st = resolve_capacity(&r.v_quant_capacity, p->v_quant, "v_quant")) ||
        (st = resolve_capacity(&r.v_resid_capacity, p->v_resid, "v_resid")))
        return st;
    if (p->k_quant % G || r.k_quant_capacity % G)
        return qkv_fail(QKV_ERR_SHAPE,
                        "%s: quantized key count and capacity must be multiples of group %zu",
                        fn, G);
    if (p->precision != QKV_PRECISION_EXACT && p->precision != QKV_PRECISION_FAST)
        return qkv_fail(QKV_ERR_INVALID_ARG,
                        "%s: precision must be QKV_PRECISION_EXACT or QKV_PRECISION_FAST (got %d)",
                        fn, (int)p->precision);
    if (!(p->softmax_scale >= 0.0f) || p->softmax_scale == __builtin_inff())
        return qkv_fail(QKV_ERR_INVALID_ARG, "%s: softmax_scale must be finite and >= 0", fn);
    const size_t B = p->batch, Hkv = p->kv_heads, D = p->head_dim;
    const size_t q_dims[3] = {B, p->q_heads, D};
    const size_t kc[4] = {B, Hkv, D, r.k_quant_capacity / f};
    const size_t ks[4] = {B, Hkv, D, r.k_quant_capacity / G};
    const size_t kr[4] = {B, Hkv, r.k_resid_capacity, D};
    const size_t vc[4] = {B, Hkv, r.v_quant_capacity, D / f};
    const size_t vs[4] = {B, Hkv, r.v_quant_capacity, D / G};
    const size_t vr[4] = {B, Hkv, r.v_resid_capacity, D};
    if ((st = check_part(ctx, p->query, 1, 3, q_dims, 4, "query")) ||
        (st = check_part(ctx, p->output, 1, 3, q_dims, 4, "output")) ||
        (st = check_part(ctx, p->k_codes, p->k_quant, 4, kc, 4, "k_codes")) ||
        (st = check_part(ctx, p->k_scale, p->k_quant, 4, ks, 2, "k_scale")) ||
        (st = check_part(ctx, p->k_min, p->k_quant, 4, ks, 2, "k_min")) ||
        (st = check_part(ctx, p->k_resid_data, p->k_resid, 4, kr, 2, "k_resid")) ||
        (st = check_part(ctx, p->v_codes, p->v_quant, 4, vc, 4, "v_codes")) ||
        (st = check_part(ctx, p->v_scale, p->v_quant, 4, vs, 2, "v_scale")) ||
        (st = check_part(ctx, p->v_min, p->v_quant, 4, vs, 2, "v_min")) ||
        (st = check_part(ctx, p->v_resid_data, p->v_resid, 4, vr, 2, "v_resid")))
        return st;
    return qkv_dispatch(ctx, QKV_OP_KIVI_DECODE_ATTENTION, &r);
}

/* ---- the ops: variants in the order the dispatcher prefers them ---------- */

/* Tuning shape classes: quantizers by tokens per call, decode attention by
 * context length. */
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

/* qkv_op_info_OP_NAME over the list OP_NAME_variants. */
#define KIVI_OP_INFO(OP_NAME, OP, SUMMARY, CLASS_SIZE)                                         \
    const qkv_op_info qkv_op_info_##OP_NAME = {OP, #OP_NAME, SUMMARY, CLASS_SIZE,              \
                                              OP_NAME##_variants};

/* qkv_op_info_OP_NAME with the ref, avx512, avx2, scalar, generic and cuda
 * variants. */
#define KIVI_OP(OP_NAME, OP, SUMMARY, CLASS_SIZE)                                              \
    static const qkv_variant *const OP_NAME##_variants[] = {                                   \
        &qkv_##OP_NAME##_ref, &qkv_##OP_NAME##_avx512, &qkv_##OP_NAME##_avx2,                 \
        &qkv_##OP_NAME##_scalar, QKV_GPU_VARIANT(qkv_##OP_NAME##_generic)                      \
        QKV_CUDA_VARIANT(qkv_##OP_NAME##_cuda) NULL};                                          \
    KIVI_OP_INFO(OP_NAME, OP, SUMMARY, CLASS_SIZE)

KIVI_OP(kivi_quant_keys, QKV_OP_KIVI_QUANT_KEYS,
        "KIVI keys -> packed per-channel codes, f16 scale/min", quant_class_size)
KIVI_OP(kivi_quant_values, QKV_OP_KIVI_QUANT_VALUES,
        "KIVI values -> packed per-token codes, f16 scale/min", quant_class_size)
KIVI_OP(kivi_dequant_keys, QKV_OP_KIVI_DEQUANT_KEYS, "packed per-channel keys -> f32",
        dequant_class_size)
KIVI_OP(kivi_dequant_values, QKV_OP_KIVI_DEQUANT_VALUES, "packed per-token values -> f32",
        dequant_class_size)

/* Decode attention: the variants that take only fast-precision calls come
 * first, so a fast call runs them by default and an exact one never does
 * (their `supports` refuses it); every other variant takes both modes. */
static const qkv_variant *const kivi_decode_attention_variants[] = {
    &qkv_kivi_decode_attention_avx512bf16,
    QKV_GPU_VARIANT(qkv_kivi_decode_attention_fast)
    &qkv_kivi_decode_attention_ref,
    &qkv_kivi_decode_attention_avx512,
    &qkv_kivi_decode_attention_avx2,
    &qkv_kivi_decode_attention_scalar,
    QKV_GPU_VARIANT(qkv_kivi_decode_attention_generic)
    QKV_CUDA_VARIANT(qkv_kivi_decode_attention_cuda) NULL};
KIVI_OP_INFO(kivi_decode_attention, QKV_OP_KIVI_DECODE_ATTENTION,
             "fused decode attention over packed + f16 residual KV (GQA, batched)",
             decode_class_size)
