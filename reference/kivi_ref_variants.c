/* kivi_ref_variants.c - the "ref" variants of the KIVI ops: the scalar
 * reference (kivi_ref.c) on the context's host buffers. */
#include "kivi/kivi_variants.h"
#include "kivi/quant_input_check.h"
#include "kivi_ref.h"
#include "ref_variant.h"

static qkv_status ref_quant_keys(qkv_context *ctx, const void *params, const qkv_tile_params *t)
{
    (void)ctx;
    (void)t;
    const qkv_kivi_quant_params *p = params;
    if (!p->unchecked) {
        qkv_status st = qkv_host_check_quant_input(p, p->input->host, "kivi_quant_keys");
        if (st != QKV_OK)
            return st;
    }
    kivi_ref_quant_keys(p, p->input->host, p->codes->host, p->scale->host, p->min->host);
    return QKV_OK;
}

static qkv_status ref_quant_values(qkv_context *ctx, const void *params,
                                   const qkv_tile_params *t)
{
    (void)ctx;
    (void)t;
    const qkv_kivi_quant_params *p = params;
    if (!p->unchecked) {
        qkv_status st = qkv_host_check_quant_input(p, p->input->host, "kivi_quant_values");
        if (st != QKV_OK)
            return st;
    }
    kivi_ref_quant_values(p, p->input->host, p->codes->host, p->scale->host, p->min->host);
    return QKV_OK;
}

static qkv_status ref_dequant_keys(qkv_context *ctx, const void *params,
                                   const qkv_tile_params *t)
{
    (void)ctx;
    (void)t;
    const qkv_kivi_dequant_params *p = params;
    kivi_ref_dequant_keys(p, p->codes->host, p->scale->host, p->min->host, p->output->host);
    return QKV_OK;
}

static qkv_status ref_dequant_values(qkv_context *ctx, const void *params,
                                     const qkv_tile_params *t)
{
    (void)ctx;
    (void)t;
    const qkv_kivi_dequant_params *p = params;
    kivi_ref_dequant_values(p, p->codes->host, p->scale->host, p->min->host, p->output->host);
    return QKV_OK;
}

static qkv_status ref_decode(qkv_context *ctx, const void *params, const qkv_tile_params *t)
{
    (void)ctx;
    (void)t;
    const qkv_kivi_decode_params *p = params;
    const kivi_decode_host h = {
        qkv_ref_host(p->query),    qkv_ref_host(p->k_codes), qkv_ref_host(p->k_scale), qkv_ref_host(p->k_min),
        qkv_ref_host(p->k_resid_data), qkv_ref_host(p->v_codes), qkv_ref_host(p->v_scale), qkv_ref_host(p->v_min),
        qkv_ref_host(p->v_resid_data), p->output->host,
    };
    kivi_ref_decode_attention(p, &h);
    return QKV_OK;
}

QKV_REF_VARIANT(kivi_quant_keys, QKV_OP_KIVI_QUANT_KEYS, ref_quant_keys)
QKV_REF_VARIANT(kivi_quant_values, QKV_OP_KIVI_QUANT_VALUES, ref_quant_values)
QKV_REF_VARIANT(kivi_dequant_keys, QKV_OP_KIVI_DEQUANT_KEYS, ref_dequant_keys)
QKV_REF_VARIANT(kivi_dequant_values, QKV_OP_KIVI_DEQUANT_VALUES, ref_dequant_values)
QKV_REF_VARIANT(kivi_decode_attention, QKV_OP_KIVI_DECODE_ATTENTION, ref_decode)
