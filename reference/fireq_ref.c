/* fireq_ref.c - scalar reference of FireQ's INT4 x FP8 GEMM (spec
 * w4a8-gemm.md): the offline weight quantization, in f32 with the
 * underflow slack summed in double, literally as the spec's steps 1-3. */
#include "fireq_ref.h"

#include <math.h>

/* Pre-scale exponents tried: 0..14. */
#define QUANT_WEIGHTS_MAX_EXP 14
/* A group max above this (the largest E4M3 value) ends the search. */
#define QUANT_WEIGHTS_AMAX_LIMIT 448.0f
/* 7 * 2^-9: a group max below it gives a scale below the smallest E4M3
 * subnormal; its shortfall is the group's underflow slack. */
#define QUANT_WEIGHTS_UNDERFLOW (7.0 / 512.0)
/* Smallest group max a scale is derived from. */
#define QUANT_WEIGHTS_MIN_AMAX 1e-5f
/* E4M3 code of 2^-9, the floor of a group scale. */
#define QUANT_WEIGHTS_SCALE_FLOOR 0x01u
/* Codes: INT4, -8..7. */
#define QUANT_WEIGHTS_CODE_MIN (-8.0f)
#define QUANT_WEIGHTS_CODE_MAX (7.0f)
/* Largest group size (the spec allows 64, 128, 256). */
#define QUANT_WEIGHTS_MAX_GROUP 256

/* Element `index` of weights of dtype f32, f16 or bf16, as f32 (exact). */
float fireq_ref_quant_weights_load(const void *weights, qkv_dtype dtype, size_t index)
{
    switch (dtype) {
    case QKV_F16:
        return qkv_f16_to_f32(((const uint16_t *)weights)[index]);
    case QKV_BF16:
        return qkv_bf16_to_f32(((const uint16_t *)weights)[index]);
    default:
        return ((const float *)weights)[index];
    }
}

/* max |w| over the G weights starting at element `first` (f32). */
static float quant_weights_group_max(const void *weights, qkv_dtype dtype, size_t first,
                                     size_t G)
{
    float amax = 0.0f;
    for (size_t k = 0; k < G; k++)
        amax = fmaxf(amax, fabsf(fireq_ref_quant_weights_load(weights, dtype, first + k)));
    return amax;
}

/* Pre-scale exponent i (0..14) of weights [N, K] in groups of G (spec
 * step 1). */
int fireq_ref_quant_weights_prescale(const void *weights, qkv_dtype dtype, size_t N, size_t K,
                                     size_t G)
{
    /* one pass over the groups, in row-major order, gathers each i's slack
     * (a_g = max|w| * 2^i is exact in f32) and the largest group max */
    double slack[QUANT_WEIGHTS_MAX_EXP + 1] = {0};
    float amax_all = 0.0f;
    for (size_t first = 0; first < N * K; first += G) {
        const float amax = quant_weights_group_max(weights, dtype, first, G);
        amax_all = fmaxf(amax_all, amax);
        for (int i = 0; i <= QUANT_WEIGHTS_MAX_EXP; i++) {
            const double a = ldexpf(amax, i);
            if (a < QUANT_WEIGHTS_UNDERFLOW)
                slack[i] += (QUANT_WEIGHTS_UNDERFLOW - a) / QUANT_WEIGHTS_UNDERFLOW;
        }
    }
    /* stop at the first i where some group max exceeds 448; among the i
     * before it the smallest with the least slack; 0 when none qualifies */
    int best = 0;
    for (int i = 0; i <= QUANT_WEIGHTS_MAX_EXP; i++) {
        if (ldexpf(amax_all, i) > QUANT_WEIGHTS_AMAX_LIMIT)
            break;
        if (i == 0 || slack[i] < slack[best])
            best = i;
    }
    return best;
}

/* Weights [N, K] -> codes [N, K/2] packed int4, scales [N, K/G] e4m3,
 * *prescale_exp = i (spec steps 1-3). */
void fireq_ref_quant_weights(const void *weights, qkv_dtype dtype, size_t N, size_t K, size_t G,
                             uint8_t *codes, uint8_t *scales, int *prescale_exp)
{
    const int i = fireq_ref_quant_weights_prescale(weights, dtype, N, K, G);
    int8_t q[QUANT_WEIGHTS_MAX_GROUP];
    for (size_t first = 0; first < N * K; first += G) {
        /* group scale from the pre-scaled group max, floored at 2^-9 */
        const float amax = ldexpf(quant_weights_group_max(weights, dtype, first, G), i);
        uint8_t s = qkv_f32_to_e4m3(fmaxf(amax, QUANT_WEIGHTS_MIN_AMAX) / 7.0f,
                                    QKV_FP8_SATFINITE);
        if (qkv_e4m3_to_f32(s) < 0x1p-9f)
            s = QUANT_WEIGHTS_SCALE_FLOOR;
        const float scale = qkv_e4m3_to_f32(s);
        scales[first / G] = s;
        /* codes by the decoded scale, ties to even, clamped to INT4 */
        for (size_t k = 0; k < G; k++) {
            const float w = ldexpf(fireq_ref_quant_weights_load(weights, dtype, first + k), i);
            const float r = rintf(w / scale);
            q[k] = (int8_t)fminf(fmaxf(r, QUANT_WEIGHTS_CODE_MIN), QUANT_WEIGHTS_CODE_MAX);
        }
        qkv_i4_pack(q, G, codes + first / 2);
    }
    *prescale_exp = i;
}
