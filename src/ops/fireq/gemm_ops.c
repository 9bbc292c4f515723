/* gemm_ops.c - public entry point of FireQ's INT4 x FP8 GEMM (w4a8_gemm):
 * argument checks, then dispatch to the context's backend. */
#include "fireq/gemm_variants.h"

/* Byte sizes of the tensors of a call (y as its dtype); false on size_t
 * overflow. */
static bool tensor_bytes(const qkv_w4a8_gemm_params *p, size_t *xq, size_t *wq, size_t *ws,
                         size_t *y, size_t *acc)
{
    const size_t y_size = qkv_dtype_size(p->y_dtype);
    return qkv_mul_size(xq, p->m, p->k) && qkv_mul_size(wq, p->n, p->k / 2) &&
           qkv_mul_size(ws, p->n, p->k / (size_t)p->group) &&
           qkv_mul_sizes(y, 3, (const size_t[]){p->m, p->n, y_size}) &&
           qkv_mul_sizes(acc, 3, (const size_t[]){p->m, p->n, sizeof(float)});
}

/* Checks a call: sizes, group, pre-scale, mode, output dtype, then every
 * buffer against the shape (acc only when given). */
static qkv_status check_w4a8_gemm(qkv_context *ctx, const qkv_w4a8_gemm_params *p)
{
    const char *fn = "w4a8_gemm";
    if (!ctx || !p)
        return qkv_fail(QKV_ERR_INVALID_ARG, "%s: NULL argument", fn);
    if (!p->m || !p->n || !p->k)
        return qkv_fail(QKV_ERR_SHAPE, "%s: m, n and k must be > 0", fn);
    if (p->group != 64 && p->group != 128 && p->group != 256)
        return qkv_fail(QKV_ERR_SHAPE, "%s: group %d is not 64, 128 or 256", fn, p->group);
    if (p->k % (size_t)p->group)
        return qkv_fail(QKV_ERR_SHAPE, "%s: k %zu is not a multiple of group %d", fn, p->k,
                        p->group);
    if (p->prescale_exp < 0 || p->prescale_exp > 14)
        return qkv_fail(QKV_ERR_INVALID_ARG, "%s: prescale_exp %d is not in 0..14", fn,
                        p->prescale_exp);
    if (p->mode != QKV_W4A8_LUT && p->mode != QKV_W4A8_EXACT)
        return qkv_fail(QKV_ERR_INVALID_ARG, "%s: mode %d is neither lut (0) nor exact (1)", fn,
                        (int)p->mode);
    if (p->y_dtype != QKV_BF16 && !(p->y_dtype == QKV_F32 && p->mode == QKV_W4A8_EXACT))
        return qkv_fail(QKV_ERR_INVALID_ARG, "%s: y_dtype must be bf16%s (got %s)", fn,
                        p->mode == QKV_W4A8_EXACT ? " or f32" : " in the lut mode",
                        qkv_dtype_name(p->y_dtype));
    size_t xq_bytes, wq_bytes, ws_bytes, y_bytes, acc_bytes;
    if (!tensor_bytes(p, &xq_bytes, &wq_bytes, &ws_bytes, &y_bytes, &acc_bytes))
        return qkv_fail(QKV_ERR_OVERFLOW, "%s: size of a tensor overflows", fn);
    qkv_status st;
    if ((st = qkv_check_buffer(ctx, p->xq, xq_bytes, "xq")) ||
        (st = qkv_check_buffer(ctx, p->sx, p->m * sizeof(uint16_t), "sx")) ||
        (st = qkv_check_buffer(ctx, p->wq, wq_bytes, "wq")) ||
        (st = qkv_check_buffer(ctx, p->ws, ws_bytes, "ws")) ||
        (st = qkv_check_buffer(ctx, p->y, y_bytes, "y")) ||
        (p->acc && (st = qkv_check_buffer(ctx, p->acc, acc_bytes, "acc"))))
        return st;
    return QKV_OK;
}

qkv_status qkv_w4a8_gemm(qkv_context *ctx, const qkv_w4a8_gemm_params *p)
{
    const qkv_status st = check_w4a8_gemm(ctx, p);
    return st != QKV_OK ? st : qkv_dispatch(ctx, QKV_OP_W4A8_GEMM, p);
}

/* Tuning shape class: by the tokens M. */
static size_t w4a8_gemm_class_size(const void *params)
{
    return ((const qkv_w4a8_gemm_params *)params)->m;
}

static const qkv_variant *const w4a8_gemm_variants[] = {
    &qkv_w4a8_gemm_ref, &qkv_w4a8_gemm_avx512bf16, &qkv_w4a8_gemm_avx512, &qkv_w4a8_gemm_avx2, &qkv_w4a8_gemm_scalar,
    QKV_GPU_VARIANT(qkv_w4a8_gemm_generic) QKV_CUDA_VARIANT(qkv_w4a8_gemm_cuda) NULL};

const qkv_op_info qkv_op_info_w4a8_gemm = {
    QKV_OP_W4A8_GEMM, "w4a8_gemm",
    "FireQ INT4-weight x FP8-activation GEMM (lut and exact modes, bf16/f32 output)",
    w4a8_gemm_class_size, w4a8_gemm_variants};
