/* fireq_act_ref.c - scalar reference of FireQ's activation quantization;
 * see fireq_act_ref.h for the contracts. */
#include "fireq_act_ref.h"

#include <math.h>

/* Element i of an f32, f16 or bf16 array as f32 (exact). */
static float load(const void *x, qkv_dtype dtype, size_t i)
{
    if (dtype == QKV_F16)
        return qkv_f16_to_f32(((const uint16_t *)x)[i]);
    if (dtype == QKV_BF16)
        return qkv_bf16_to_f32(((const uint16_t *)x)[i]);
    return ((const float *)x)[i];
}

bool fireq_ref_act_nonfinite(const qkv_w4a8_act_quant_params *p, const void *x)
{
    for (size_t i = 0; i < p->m * p->k; i++)
        if (!isfinite(load(x, p->dtype, i)))
            return true;
    return false;
}

/* The scale of a row whose largest magnitude is amax: amax / 448 in f32,
 * or 1 where that is 0 (an all-zero row, or an underflowing quotient). */
static float row_scale(float amax)
{
    const float s = amax / 448.0f;
    return s > 0.0f ? s : 1.0f;
}

void fireq_ref_quant_activations(const qkv_w4a8_act_quant_params *p, const void *x,
                                 uint8_t *xq, uint16_t *sx)
{
    for (size_t m = 0; m < p->m; m++) {
        const size_t row = m * p->k;
        float amax = 0.0f;
        for (size_t k = 0; k < p->k; k++)
            amax = fmaxf(amax, fabsf(load(x, p->dtype, row + k)));
        const float s = row_scale(amax);
        for (size_t k = 0; k < p->k; k++) {
            const float q = load(x, p->dtype, row + k) / s;
            xq[row + k] = qkv_f32_to_e4m3(fminf(fmaxf(q, -448.0f), 448.0f), QKV_FP8_SATFINITE);
        }
        sx[m] = qkv_f32_to_bf16(s);
    }
}
