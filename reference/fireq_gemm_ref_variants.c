/* fireq_gemm_ref_variants.c - the "ref" variant of w4a8_gemm: the scalar
 * reference (fireq_gemm_ref.c) on the context's host buffers. */
#include "fireq/gemm_variants.h"
#include "fireq_gemm_ref.h"
#include "ref_variant.h"

static qkv_status ref_w4a8_gemm(qkv_context *ctx, const void *params, const qkv_tile_params *t)
{
    (void)ctx;
    (void)t;
    const qkv_w4a8_gemm_params *p = params;
    return fireq_ref_w4a8_gemm(p, p->xq->host, p->sx->host, p->wq->host, p->ws->host,
                               p->y->host, p->acc ? p->acc->host : NULL);
}

QKV_REF_VARIANT(w4a8_gemm, QKV_OP_W4A8_GEMM, ref_w4a8_gemm)
