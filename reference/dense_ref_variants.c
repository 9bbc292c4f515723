/* dense_ref_variants.c - the "ref" variant of f16_decode_attention: the
 * scalar reference (dense_ref.c) on the context's host buffers. */
#include "dense/dense_variants.h"
#include "dense_ref.h"
#include "ref_variant.h"

static qkv_status ref_f16_decode(qkv_context *ctx, const void *params, const qkv_tile_params *t)
{
    (void)ctx;
    (void)t;
    const qkv_f16_decode_params *p = params;
    dense_ref_f16_decode(p, p->query->host, p->keys->host, p->values->host, p->output->host);
    return QKV_OK;
}

QKV_REF_VARIANT(f16_decode_attention, QKV_OP_F16_DECODE_ATTENTION, ref_f16_decode)
