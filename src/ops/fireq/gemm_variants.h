/* gemm_variants.h - the variants of w4a8_gemm, defined beside their kernels
 * (reference/fireq_gemm_ref_variants.c, kernels/cpu/fireq_gemm_cpu.c,
 * src/ops/fireq/gpu_gemm.c, src/ops/fireq/cuda_gemm.c) and listed in gemm_ops.c. */
#ifndef QKV_FIREQ_GEMM_VARIANTS_H
#define QKV_FIREQ_GEMM_VARIANTS_H

#include "qkv_internal.h"

extern const qkv_variant qkv_w4a8_gemm_ref, qkv_w4a8_gemm_avx512bf16, qkv_w4a8_gemm_avx512, qkv_w4a8_gemm_avx2,
    qkv_w4a8_gemm_scalar, qkv_w4a8_gemm_generic;
/* The native CUDA variant (src/ops/fireq/cuda_gemm.c). */
extern const qkv_variant qkv_w4a8_gemm_cuda;

#endif
