/* shapes.c - the representative shapes each op is benchmarked at. */
#include "shapes.h"

#include <stdio.h>
#include <string.h>

#define SWEEP_MIN 1024
#define SWEEP_MAX 32768
#define RESIDUAL 128 /* KIVI residual window R */

/* Context N of batch B in the sweep's geometry.  KIVI: the split of an
 * N-token cache (keys: N - N % R quantized, values: all but the last R);
 * dense: all N tokens are f16 (tokens = k_resid = v_resid = N). */
static qkv_op_shape sweep_shape(size_t B, size_t N, bool dense)
{
    qkv_op_shape s = {"", B, 32, 8, N, 128, .bits = 2, .group = 32, .dtype = QKV_F16};
    snprintf(s.label, sizeof s.label, "sweep-b%zu-ctx%zu", B, N);
    s.k_quant = dense ? 0 : N - N % RESIDUAL;
    s.k_resid = N - s.k_quant;
    s.v_quant = dense ? 0 : N - RESIDUAL;
    s.v_resid = N - s.v_quant;
    return s;
}

/* The KIVI quantizers and dequantizers (shapes [B, H, T, D]). */
static bool is_kivi_quantizer(const qkv_op_desc *op)
{
    switch (op->id) {
    case QKV_OP_KIVI_QUANT_KEYS:
    case QKV_OP_KIVI_QUANT_VALUES:
    case QKV_OP_KIVI_DEQUANT_KEYS:
    case QKV_OP_KIVI_DEQUANT_VALUES: return true;
    default: return false;
    }
}

int bench_shapes(const qkv_op_desc *op, qkv_op_shape *out, int max)
{
    int n = op->shapes("llm", out, max);
    const bool kivi_decode = op->id == QKV_OP_KIVI_DECODE_ATTENTION;
    const bool dense_decode = strcmp(op->name, BENCH_F16_DECODE) == 0;
    if (kivi_decode || dense_decode) {
        for (size_t B = 1; B <= 8; B += 7)
            for (size_t N = SWEEP_MIN; N <= SWEEP_MAX && n < max; N *= 2)
                out[n++] = sweep_shape(B, N, dense_decode);
    } else if (is_kivi_quantizer(op) && n < max) {
        out[n++] = (qkv_op_shape){"prefill-32k", 1, 8, 8, 32768, 128, .bits = 2, .group = 32,
                                  .dtype = QKV_F16};
    }
    return n;
}
