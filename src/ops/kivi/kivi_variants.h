/* kivi_variants.h - the variants of the KIVI ops, defined beside their
 * kernels (reference/ref_backend.c, kernels/cpu/kivi_cpu.c,
 * src/ops/kivi/gpu_kivi.c) and listed per op in kivi_ops.c. */
#ifndef QKV_KIVI_VARIANTS_H
#define QKV_KIVI_VARIANTS_H

#include "qkv_internal.h"

/* ref, cpu avx512 + avx2 + scalar, gpu generic of one op. */
#define KIVI_VARIANTS_OF(OP_NAME)                                                              \
    extern const qkv_variant qkv_##OP_NAME##_ref, qkv_##OP_NAME##_avx512, qkv_##OP_NAME##_avx2, \
        qkv_##OP_NAME##_scalar, qkv_##OP_NAME##_generic;

KIVI_VARIANTS_OF(kivi_quant_keys)
KIVI_VARIANTS_OF(kivi_quant_values)
KIVI_VARIANTS_OF(kivi_dequant_keys)
KIVI_VARIANTS_OF(kivi_dequant_values)
KIVI_VARIANTS_OF(kivi_decode_attention)

#undef KIVI_VARIANTS_OF

/* The native CUDA variants (src/ops/kivi/cuda_kivi.c). */
extern const qkv_variant qkv_kivi_quant_keys_cuda, qkv_kivi_quant_values_cuda,
    qkv_kivi_dequant_keys_cuda, qkv_kivi_dequant_values_cuda, qkv_kivi_decode_attention_cuda;
/* Decode attention in fast precision only: cpu (kernels/cpu/kivi_cpu_fast_decode.c)
 * and OpenCL/CUDA (gpu_kivi.c). */
extern const qkv_variant qkv_kivi_decode_attention_avx512bf16, qkv_kivi_decode_attention_fast;

#endif
