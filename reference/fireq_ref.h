/* fireq_ref.h - scalar reference of FireQ's INT4 x FP8 GEMM (spec
 * w4a8-gemm.md): the offline weight quantization.  Host pointers, layouts
 * as in qkv.h. */
#ifndef QKV_FIREQ_REF_H
#define QKV_FIREQ_REF_H

#include "qkv.h"

/* Weight `index` of an f32, f16 or bf16 array, converted exactly to f32. */
float fireq_ref_quant_weights_load(const void *weights, qkv_dtype dtype, size_t index);

/* The pre-scale exponent i (0..14; the pre-scale is 2^i) the spec's search
 * picks for weights [N, K] of `dtype` (f32, f16, bf16; finite) in groups of
 * G along K (K % G == 0). */
int fireq_ref_quant_weights_prescale(const void *weights, qkv_dtype dtype, size_t N, size_t K,
                                     size_t G);

/* Quantize weights [N, K] of `dtype` (f32, f16, bf16; finite) in groups of
 * G (even, at most 256; K % G == 0): codes [N, K/2] packed int4, scales
 * [N, K/G] e4m3 bytes, *prescale_exp the exponent i of the pre-scale 2^i. */
void fireq_ref_quant_weights(const void *weights, qkv_dtype dtype, size_t N, size_t K, size_t G,
                             uint8_t *codes, uint8_t *scales, int *prescale_exp);

#endif
