/* fireq_act_ref_variants.c - the "ref" variant of w4a8_quant_activations:
 * the scalar reference (fireq_act_ref.c) on the context's host buffers. */
#include "fireq/act_quant_variants.h"
#include "fireq_act_ref.h"
#include "ref_variant.h"

/* Scans the whole input first, so a rejected call writes nothing. */
static qkv_status ref_quant_activations(qkv_context *ctx, const void *params,
                                        const qkv_tile_params *t)
{
    (void)ctx;
    (void)t;
    const qkv_w4a8_act_quant_params *p = params;
    if (!p->unchecked && fireq_ref_act_nonfinite(p, p->x->host))
        return qkv_act_quant_status(true);
    fireq_ref_quant_activations(p, p->x->host, p->xq->host, p->sx->host);
    return QKV_OK;
}

QKV_REF_VARIANT(w4a8_quant_activations, QKV_OP_W4A8_QUANT_ACTIVATIONS, ref_quant_activations)
