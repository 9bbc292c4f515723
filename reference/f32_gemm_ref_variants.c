/* f32_gemm_ref_variants.c - the "ref" variant of f32_gemm: the scalar
 * reference (f32_gemm_ref.c) on the context's host buffers. */
#include "baseline/f32_gemm_variants.h"
#include "f32_gemm_ref.h"
#include "ref_variant.h"

static qkv_status ref_f32_gemm(qkv_context *ctx, const void *params, const qkv_tile_params *t)
{
    (void)ctx;
    (void)t;
    const qkv_f32_gemm_params *p = params;
    f32_gemm_ref(p, p->x->host, p->w->host, p->y->host);
    return QKV_OK;
}

QKV_REF_VARIANT(f32_gemm, QKV_OP_F32_GEMM, ref_f32_gemm)
