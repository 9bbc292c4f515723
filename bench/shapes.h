/* shapes.h - the representative shapes each op is benchmarked at. */
#ifndef QKV_BENCH_SHAPES_H
#define QKV_BENCH_SHAPES_H

#include "op_table.h"

#define BENCH_MAX_SHAPES 32
/* Name of the dense f16 decode-attention op the KIVI sweep compares with. */
#define BENCH_F16_DECODE "f16_decode_attention"

/* Shapes of op: its "llm" validation set, plus a 32K-token prefill for the
 * quantizers and dequantizers, plus the KIVI context sweep (labels
 * "sweep-b<B>-ctx<N>": N = 1K..32K, B = 1, 8, Hq 32 / Hkv 8, D 128, 2-bit
 * G 32 with a 128-token residual window) for kivi_decode_attention and
 * BENCH_F16_DECODE.  Returns the count written (at most max). */
int bench_shapes(const qkv_op_desc *op, qkv_op_shape *out, int max);

#endif
