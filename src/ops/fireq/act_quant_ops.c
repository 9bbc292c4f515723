/* act_quant_ops.c - public entry point of the FireQ activation quantizer
 * (w4a8_quant_activations, spec w4a8-gemm.md): argument checks, then
 * dispatch to the context's backend; the op's variant list. */
#include "fireq/act_quant_variants.h"

qkv_status qkv_act_quant_status(bool found)
{
    return found ? qkv_fail(QKV_ERR_NONFINITE, "w4a8_quant_activations: x holds NaN or Inf")
                 : QKV_OK;
}

/* Checks a call: sizes, dtype, and buffers x [m, k] of dtype, xq [m, k]
 * bytes, sx [m] bf16. */
static qkv_status check_act_quant(qkv_context *ctx, const qkv_w4a8_act_quant_params *p)
{
    const char *fn = "w4a8_quant_activations";
    if (!ctx || !p)
        return qkv_fail(QKV_ERR_INVALID_ARG, "%s: NULL argument", fn);
    if (!p->m || !p->k)
        return qkv_fail(QKV_ERR_SHAPE, "%s: m and k must be > 0", fn);
    if (p->dtype != QKV_F32 && p->dtype != QKV_F16 && p->dtype != QKV_BF16)
        return qkv_fail(QKV_ERR_INVALID_ARG, "%s: x dtype must be f32, f16 or bf16", fn);
    size_t count, x_bytes, sx_bytes;
    if (!qkv_mul_size(&count, p->m, p->k) ||
        !qkv_mul_size(&x_bytes, count, qkv_dtype_size(p->dtype)) ||
        !qkv_mul_size(&sx_bytes, p->m, sizeof(uint16_t)))
        return qkv_fail(QKV_ERR_OVERFLOW, "%s: size of a tensor overflows", fn);
    qkv_status st;
    if ((st = qkv_check_buffer(ctx, p->x, x_bytes, "x")) ||
        (st = qkv_check_buffer(ctx, p->xq, count, "xq")) ||
        (st = qkv_check_buffer(ctx, p->sx, sx_bytes, "sx")))
        return st;
    return QKV_OK;
}

qkv_status qkv_w4a8_quant_activations(qkv_context *ctx, const qkv_w4a8_act_quant_params *p)
{
    const qkv_status st = check_act_quant(ctx, p);
    return st != QKV_OK ? st : qkv_dispatch(ctx, QKV_OP_W4A8_QUANT_ACTIVATIONS, p);
}

/* Tuning shape class: by tokens (rows). */
static size_t act_quant_class_size(const void *params)
{
    return ((const qkv_w4a8_act_quant_params *)params)->m;
}

static const qkv_variant *const act_quant_variants[] = {
    &qkv_w4a8_quant_activations_ref, &qkv_w4a8_quant_activations_avx512,
    &qkv_w4a8_quant_activations_avx2, &qkv_w4a8_quant_activations_scalar,
    QKV_GPU_VARIANT(qkv_w4a8_quant_activations_generic) NULL};

const qkv_op_info qkv_op_info_w4a8_quant_activations = {
    QKV_OP_W4A8_QUANT_ACTIVATIONS, "w4a8_quant_activations",
    "FireQ activations -> per-token E4M3 codes and bf16 scale", act_quant_class_size,
    act_quant_variants};
