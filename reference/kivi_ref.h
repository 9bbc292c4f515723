/* kivi_ref.h - scalar reference of the KIVI ops (spec: kivi.md).
 * Host pointers, layouts as in qkv.h.  Literal and simple: the quantizer in
 * f32 exactly as the spec writes it, dequantization and attention in double. */
#ifndef QKV_KIVI_REF_H
#define QKV_KIVI_REF_H

#include "qkv.h"

/* Code i of a packed LSB-first stream of `bits`-bit codes in uint32 words. */
static inline unsigned kivi_code_get(const uint32_t *words, size_t i, int bits)
{
    const size_t per_word = (size_t)(32 / bits);
    return (unsigned)(words[i / per_word] >> (bits * (i % per_word))) & ((1u << bits) - 1u);
}

/* Quantize one group x[0..n-1] (element i at x[i*stride]) to `bits` bits:
 * *scale, *mn receive the stored f16 bits, codes[i] the code of element i. */
void kivi_ref_quant_group(const float *x, size_t stride, size_t n, int bits,
                          uint16_t *scale, uint16_t *mn, uint8_t *codes);

/* Whether code rounding of value x against stored (scale, mn) lies within
 * 1e-4 codes of a .5 boundary (a tie that other backends may round apart). */
int kivi_ref_code_is_tie(float x, uint16_t scale, uint16_t mn, int bits);
/* Whether f16 rounding of the scale of a group with extremes mn, mx lies
 * within a few f32 ulps of an f16 midpoint. */
int kivi_ref_scale_is_tie(float mn, float mx, int bits);

/* The ops, on host memory (input as p->dtype).  Pointers are to element 0. */
void kivi_ref_quant_keys(const qkv_kivi_quant_params *p, const void *input,
                         uint32_t *codes, uint16_t *scale, uint16_t *min);
void kivi_ref_quant_values(const qkv_kivi_quant_params *p, const void *input,
                           uint32_t *codes, uint16_t *scale, uint16_t *min);
void kivi_ref_dequant_keys(const qkv_kivi_dequant_params *p, const uint32_t *codes,
                           const uint16_t *scale, const uint16_t *min, float *out);
void kivi_ref_dequant_values(const qkv_kivi_dequant_params *p, const uint32_t *codes,
                             const uint16_t *scale, const uint16_t *min, float *out);

typedef struct kivi_decode_host {
    const float *query;
    const uint32_t *k_codes;
    const uint16_t *k_scale, *k_min, *k_resid;
    const uint32_t *v_codes;
    const uint16_t *v_scale, *v_min, *v_resid;
    float *output;
} kivi_decode_host;

/* p's capacities must already be resolved (non-zero where counts are). */
void kivi_ref_decode_attention(const qkv_kivi_decode_params *p, const kivi_decode_host *h);

#endif
