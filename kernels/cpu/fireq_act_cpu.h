/* fireq_act_cpu.h - shared pieces of the cpu backend's FireQ activation
 * quantizer (kernels/cpu/fireq_act_cpu*.c): the branch-free integer E4M3
 * encoder that the scalar row and, lane for lane, the AVX2 and AVX-512 rows
 * compute, the row scale, and the vector rows. */
#ifndef QKV_FIREQ_ACT_CPU_H
#define QKV_FIREQ_ACT_CPU_H

#include "qkv_internal.h"

#include "avx2_math.h"

#define FIREQ_F32_ABS 0x7fffffffu
#define FIREQ_F32_INF 0x7f800000u
#define FIREQ_F16_INF 0x7c00u
#define FIREQ_BF16_INF 0x7f80u
/* Largest finite E4M3 magnitude code (448). */
#define FIREQ_E4M3_MAX 0x7eu

/* E4M3 byte of the non-NaN f32 with bits u, round to nearest even,
 * saturating to +-448 (as qkv_f32_to_e4m3(x, QKV_FP8_SATFINITE) for every
 * non-NaN x), in integer operations only.  With the f32 biased exponent e,
 * the magnitude bits a are shifted right by s = 20 for E4M3 normals
 * (e >= 121), by 141 - e for E4M3 subnormals (up to 25, which leaves 0);
 * the value shifted is a with its exponent rebased to E4M3's (normals) or
 * the significand with its implicit bit (subnormals, where e = 0 gives
 * a + 2^23 < 2^24, also 0).  Adding half - 1 plus the lowest kept bit
 * before the shift rounds half to even; a carry steps the exponent. */
static inline uint8_t fireq_e4m3_encode(uint32_t u)
{
    const uint32_t a = u & FIREQ_F32_ABS, e = a >> 23;
    const uint32_t shift = e >= 121u ? 20u : e <= 116u ? 25u : 141u - e;
    const uint32_t v = a - (((e < 121u ? e : 121u) - 1u) << 23);
    uint32_t code = (v + (1u << (shift - 1u)) - 1u + ((v >> shift) & 1u)) >> shift;
    code = code < FIREQ_E4M3_MAX ? code : FIREQ_E4M3_MAX;
    return (uint8_t)(((u >> 24) & 0x80u) | code);
}

/* The scale of a row whose largest magnitude is amax (spec: amax / 448,
 * 1 where that is 0). */
static inline float fireq_act_scale(float amax)
{
    const float s = amax / 448.0f;
    return s > 0.0f ? s : 1.0f;
}

/* Quantize one row x[0..k-1] (of dtype) into xq[0..k-1] and *sx; with
 * `check`, a row holding NaN or Inf is left unwritten and true returned. */
typedef bool (*fireq_act_row_fn)(const void *x, qkv_dtype dtype, size_t k, bool check,
                                 uint8_t *xq, uint16_t *sx);

#if QKV_CPU_X86
bool fireq_act_row_avx2(const void *x, qkv_dtype dtype, size_t k, bool check, uint8_t *xq,
                        uint16_t *sx);
bool fireq_act_row_avx512(const void *x, qkv_dtype dtype, size_t k, bool check, uint8_t *xq,
                          uint16_t *sx);
#endif

#endif
