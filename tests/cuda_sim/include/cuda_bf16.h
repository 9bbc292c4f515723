/* cuda_bf16.h (host simulation) - stands in for the toolkit's header in
 * scripts/cuda-sim-check.sh's builds: bf16 conversions through libqkv's. */
#ifndef QKV_CUDA_SIM_BF16_H
#define QKV_CUDA_SIM_BF16_H

#include "cuda_fp16.h"

extern "C" uint16_t qkv_f32_to_bf16(float x);

struct __nv_bfloat16 {
    unsigned short bits;
};
inline __nv_bfloat16 __float2bfloat16_rn(float x) { return __nv_bfloat16{qkv_f32_to_bf16(x)}; }
inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 b) { return b.bits; }

#endif
