/* ref_backend.c - the reference as a backend: each op's kernel entry calls
 * the scalar reference on the context's host buffers. */
#include "dense_ref.h"
#include "dense_variants.h"
#include "kivi_ref.h"
#include "kivi_variants.h"
#include "qkv_internal.h"
#include "quant_input_check.h"

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

/* Host pointer of an optional buffer. */
static const void *host_of(const qkv_buffer *b) { return b ? b->host : NULL; }

static qkv_status ref_decode(qkv_context *ctx, const void *params, const qkv_tile_params *t)
{
    (void)ctx;
    (void)t;
    const qkv_kivi_decode_params *p = params;
    const kivi_decode_host h = {
        host_of(p->query),    host_of(p->k_codes), host_of(p->k_scale), host_of(p->k_min),
        host_of(p->k_resid_data), host_of(p->v_codes), host_of(p->v_scale), host_of(p->v_min),
        host_of(p->v_resid_data), p->output->host,
    };
    kivi_ref_decode_attention(p, &h);
    return QKV_OK;
}

static qkv_status ref_f16_decode(qkv_context *ctx, const void *params, const qkv_tile_params *t)
{
    (void)ctx;
    (void)t;
    const qkv_f16_decode_params *p = params;
    dense_ref_f16_decode(p, p->query->host, p->keys->host, p->values->host, p->output->host);
    return QKV_OK;
}

/* The reference variant of each op (a literal scalar implementation; no
 * tile parameters). */
#define REF_VARIANT(OP_NAME, OP, FN)                                                           \
    const qkv_variant qkv_##OP_NAME##_ref = {                                                  \
        .name = "ref", .op = OP, .backends = QKV_ON(QKV_BACKEND_REF), .run = FN};

REF_VARIANT(kivi_quant_keys, QKV_OP_KIVI_QUANT_KEYS, ref_quant_keys)
REF_VARIANT(kivi_quant_values, QKV_OP_KIVI_QUANT_VALUES, ref_quant_values)
REF_VARIANT(kivi_dequant_keys, QKV_OP_KIVI_DEQUANT_KEYS, ref_dequant_keys)
REF_VARIANT(kivi_dequant_values, QKV_OP_KIVI_DEQUANT_VALUES, ref_dequant_values)
REF_VARIANT(kivi_decode_attention, QKV_OP_KIVI_DECODE_ATTENTION, ref_decode)
REF_VARIANT(f16_decode_attention, QKV_OP_F16_DECODE_ATTENTION, ref_f16_decode)
