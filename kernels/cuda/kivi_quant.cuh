/* kivi_quant.cuh - the KIVI quantizer's pieces shared by the native KIVI
 * kernels (kivi.cu): code width macros and the quantization of one value
 * against the stored (f16-rounded) scale and min (spec: kivi.md). */
#ifndef QKV_CUDA_KIVI_QUANT_CUH
#define QKV_CUDA_KIVI_QUANT_CUH

#include "common.cuh"

#ifndef BITS
#define BITS 2
#endif
#ifndef GROUP
#define GROUP 32
#endif

#define PER_WORD (32 / BITS) /* codes per u32 word */
#define QMAX ((1 << BITS) - 1)
#define CODE_MASK ((u32)QMAX)

/* Code j (0 <= j < PER_WORD) of a packed word, as a float. */
#define CODE_OF(word, j) ((float)(((word) >> (BITS * (j))) & CODE_MASK))

/* The code of x: (x - mn) / scale clamped to [0, QMAX], then rounded half
 * to even; 0 where scale is 0 (a group whose max equals its min). */
static __device__ __forceinline__ u32 quant_code(float x, float scale, float mn)
{
    if (scale == 0.0f)
        return 0u;
    const float t = fminf(fmaxf(__fdiv_rn(__fsub_rn(x, mn), scale), 0.0f), (float)QMAX);
    return (u32)__float2int_rn(t);
}

/* Stored f16 scale and min of a group with extremes lo, hi (a zero extreme
 * of either sign counts as +0, as in the reference). */
static __device__ __forceinline__ void group_scale_min(float lo, float hi, u16 *s_bits,
                                                       u16 *m_bits)
{
    lo = __fadd_rn(lo, 0.0f);
    hi = __fadd_rn(hi, 0.0f);
    *s_bits = f2h(__fdiv_rn(__fsub_rn(hi, lo), (float)QMAX));
    *m_bits = f2h(lo);
}

#endif
