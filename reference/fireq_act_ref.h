/* fireq_act_ref.h - scalar reference of FireQ's per-token activation
 * quantization (spec w4a8-gemm.md, "Activation quantization"), literal, in
 * f32 as the spec writes it, on host memory. */
#ifndef QKV_FIREQ_ACT_REF_H
#define QKV_FIREQ_ACT_REF_H

#include "qkv.h"

#include <stdbool.h>

/* Whether x [p->m, p->k] (of p->dtype) holds a NaN or an Inf. */
bool fireq_ref_act_nonfinite(const qkv_w4a8_act_quant_params *p, const void *x);
/* Quantize x [m, k] into E4M3 codes xq [m, k] and bf16 scales sx [m]: per
 * row s = max |x| / 448 in f32 (1 where that is 0), codes of
 * clamp(x / s, -448, 448), sx = bf16(s). */
void fireq_ref_quant_activations(const qkv_w4a8_act_quant_params *p, const void *x,
                                 uint8_t *xq, uint16_t *sx);

#endif
