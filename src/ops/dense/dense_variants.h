/* dense_variants.h - the variants of f16_decode_attention, defined beside
 * their kernels (reference/ref_backend.c, kernels/cpu/dense_cpu.c,
 * src/ops/dense/gpu_dense.c) and listed in dense_ops.c. */
#ifndef QKV_DENSE_VARIANTS_H
#define QKV_DENSE_VARIANTS_H

#include "qkv_internal.h"

extern const qkv_variant qkv_f16_decode_attention_ref, qkv_f16_decode_attention_avx512,
    qkv_f16_decode_attention_avx2,
    qkv_f16_decode_attention_scalar, qkv_f16_decode_attention_generic;
/* The native CUDA variant (src/ops/dense/cuda_dense.c). */
extern const qkv_variant qkv_f16_decode_attention_cuda;

#endif
