/* f32_gemm_ops.c - public entry point of the f32 GEMM (f32_gemm), the
 * quantized GEMMs' baseline: argument checks, then dispatch to the
 * context's backend. */
#include "baseline/f32_gemm_variants.h"

/* Checks a call: sizes, then every buffer against the shape (x [M, K],
 * w [N, K], y [M, N], f32). */
static qkv_status check_f32_gemm(qkv_context *ctx, const qkv_f32_gemm_params *p)
{
    const char *fn = "f32_gemm";
    if (!ctx || !p)
        return qkv_fail(QKV_ERR_INVALID_ARG, "%s: NULL argument", fn);
    if (!p->m || !p->n || !p->k)
        return qkv_fail(QKV_ERR_SHAPE, "%s: m, n and k must be > 0", fn);
    const size_t f = sizeof(float);
    size_t x_bytes, w_bytes, y_bytes;
    if (!qkv_mul_sizes(&x_bytes, 3, (const size_t[]){p->m, p->k, f}) ||
        !qkv_mul_sizes(&w_bytes, 3, (const size_t[]){p->n, p->k, f}) ||
        !qkv_mul_sizes(&y_bytes, 3, (const size_t[]){p->m, p->n, f}))
        return qkv_fail(QKV_ERR_OVERFLOW, "%s: size of a tensor overflows", fn);
    qkv_status st;
    if ((st = qkv_check_buffer(ctx, p->x, x_bytes, "x")) ||
        (st = qkv_check_buffer(ctx, p->w, w_bytes, "w")) ||
        (st = qkv_check_buffer(ctx, p->y, y_bytes, "y")))
        return st;
    return QKV_OK;
}

qkv_status qkv_f32_gemm(qkv_context *ctx, const qkv_f32_gemm_params *p)
{
    const qkv_status st = check_f32_gemm(ctx, p);
    return st != QKV_OK ? st : qkv_dispatch(ctx, QKV_OP_F32_GEMM, p);
}

/* Tuning shape class: by the tokens M. */
static size_t f32_gemm_class_size(const void *params)
{
    return ((const qkv_f32_gemm_params *)params)->m;
}

static const qkv_variant *const f32_gemm_variants[] = {
    &qkv_f32_gemm_ref, &qkv_f32_gemm_avx512, &qkv_f32_gemm_avx2, &qkv_f32_gemm_scalar,
    QKV_GPU_VARIANT(qkv_f32_gemm_generic) NULL};

const qkv_op_info qkv_op_info_f32_gemm = {
    QKV_OP_F32_GEMM, "f32_gemm",
    "f32 GEMM Y = X W^T (the baseline of the quantized GEMMs)", f32_gemm_class_size,
    f32_gemm_variants};
