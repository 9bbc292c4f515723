/* f32_gemm_variants.h - the variants of f32_gemm, defined beside their
 * kernels (reference/f32_gemm_ref_variants.c, kernels/cpu/f32_gemm_cpu.c,
 * src/ops/baseline/gpu_f32_gemm.c) and listed in f32_gemm_ops.c. */
#ifndef QKV_F32_GEMM_VARIANTS_H
#define QKV_F32_GEMM_VARIANTS_H

#include "qkv_internal.h"

extern const qkv_variant qkv_f32_gemm_ref, qkv_f32_gemm_avx512, qkv_f32_gemm_avx2,
    qkv_f32_gemm_scalar, qkv_f32_gemm_generic;

#endif
