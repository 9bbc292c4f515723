/* act_quant_variants.h - the variants of w4a8_quant_activations, defined
 * beside their kernels (reference/fireq_act_ref_variants.c,
 * kernels/cpu/fireq_act_cpu.c, src/ops/fireq/gpu_act_quant.c) and listed in
 * act_quant_ops.c; the status of a rejected input, shared by them. */
#ifndef QKV_FIREQ_ACT_QUANT_VARIANTS_H
#define QKV_FIREQ_ACT_QUANT_VARIANTS_H

#include "qkv_internal.h"

extern const qkv_variant qkv_w4a8_quant_activations_ref, qkv_w4a8_quant_activations_avx512,
    qkv_w4a8_quant_activations_avx2, qkv_w4a8_quant_activations_scalar,
    qkv_w4a8_quant_activations_generic;

/* QKV_ERR_NONFINITE with its message when `found` (a row of x held NaN or
 * Inf), else QKV_OK. */
qkv_status qkv_act_quant_status(bool found);

#endif
