/* cuda_fp8.h (host simulation) - stands in for the toolkit's header in
 * scripts/cuda-sim-check.sh's builds: the E4M3 conversions the native
 * kernels use, through libqkv's (which match NVIDIA's, spec w4a8-gemm.md). */
#ifndef QKV_CUDA_SIM_FP8_H
#define QKV_CUDA_SIM_FP8_H

#include "cuda_fp16.h"

extern "C" {
#include "qkv.h"
}

typedef unsigned char __nv_fp8_storage_t;
typedef unsigned short __nv_fp8x2_storage_t;
enum __nv_saturation_t { __NV_NOSAT, __NV_SATFINITE };
enum __nv_fp8_interpretation_t { __NV_E4M3, __NV_E5M2 };
struct __half_raw {
    unsigned short x;
};

/* E4M3 only (the kernels decode no E5M2): f16 bits of the byte's value
 * (every E4M3 value is exact in f16). */
inline __half_raw __nv_cvt_fp8_to_halfraw(__nv_fp8_storage_t b, __nv_fp8_interpretation_t)
{
    return __half_raw{qkv_f32_to_f16(qkv_e4m3_to_f32(b))};
}

/* Two f32 -> two E4M3 bytes (.x in the low byte). */
inline __nv_fp8x2_storage_t __nv_cvt_float2_to_fp8x2(float2 v, __nv_saturation_t sat,
                                                      __nv_fp8_interpretation_t)
{
    const qkv_fp8_overflow overflow = sat == __NV_SATFINITE ? QKV_FP8_SATFINITE : QKV_FP8_NOSAT;
    return (__nv_fp8x2_storage_t)(qkv_f32_to_e4m3(v.x, overflow) |
                                  qkv_f32_to_e4m3(v.y, overflow) << 8);
}

#endif
