/* fireq_act_ref.h - scalar reference of FireQ's per-token activation
 * quantization (spec w4a8-gemm.md, "Activation quantization"), literal, in
 * f32 as the spec writes it, on host memory. */
#ifndef QKV_FIREQ_ACT_REF_H
#define QKV_FIREQ_ACT_REF_H

#include "qkv.h"

#include <stdbool.h>

/* Element i of an f32, f16 or bf16 array as f32 (exact). */
float fireq_ref_act_load(const void *x, qkv_dtype dtype, size_t i);
/* Whether x [p->m, p->k] (of p->dtype) holds a NaN or an Inf. */
bool fireq_ref_act_nonfinite(const qkv_w4a8_act_quant_params *p, const void *x);
/* The scale s of a row whose largest magnitude is amax: amax / 448 in f32,
 * or 1 where that is 0. */
float fireq_ref_act_scale(float amax);
/* Quantize x [m, k] into E4M3 codes xq [m, k] and bf16 scales sx [m]. */
void fireq_ref_quant_activations(const qkv_w4a8_act_quant_params *p, const void *x,
                                 uint8_t *xq, uint16_t *sx);

#endif
