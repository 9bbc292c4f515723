/* kivi_cases.h - the typed case structs of the KIVI ops (the op-specific
 * part of a qkv_op_shape; see src/dev/op_case.h). */
#ifndef QKV_KIVI_CASES_H
#define QKV_KIVI_CASES_H

#include "op_case.h"

/* A quantizer or dequantizer call: [batch, heads, tokens, head_dim] of
 * dtype (quantizer input), bits per code, group size; quantizers: whether
 * the input check is skipped (the params' `unchecked`). */
typedef struct kivi_quant_case {
    size_t batch, heads, tokens, head_dim;
    int bits, group;
    qkv_dtype dtype;
    int unchecked;
} kivi_quant_case;

/* A decode-attention call over a KIVI cache split into packed and residual
 * parts (tokens = k_quant + k_resid = v_quant + v_resid), in precision mode
 * `precision` (a qkv_precision, an int for qkv run's options). */
typedef struct kivi_decode_case {
    size_t batch, q_heads, kv_heads, head_dim;
    size_t k_quant, k_resid, v_quant, v_resid;
    int bits, group;
    int precision;
} kivi_decode_case;

/* The split of an n-token KIVI cache with residual window r (keys:
 * n - n % r quantized; values: all but the last r) into c's four parts. */
void kivi_cache_split(kivi_decode_case *c, size_t n, size_t r);

#endif
