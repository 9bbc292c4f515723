/* quant_input_check.c - host scan of quantizer inputs (OpenMP-parallel). */
#include "quant_input_check.h"

qkv_status qkv_quant_input_status(int flags, const char *fn)
{
    if (flags & 1)
        return qkv_fail(QKV_ERR_NONFINITE, "%s: input holds NaN or Inf", fn);
    if (flags & 2)
        return qkv_fail(QKV_ERR_RANGE, "%s: input holds |x| > 65504, beyond the f16 scale/min",
                        fn);
    return QKV_OK;
}

/* Flags of one row of n f16 values (branch-free, vectorized). */
static int scan_f16(const uint16_t *x, size_t n)
{
    int inf_or_nan = 0;
#pragma omp simd reduction(| : inf_or_nan)
    for (size_t i = 0; i < n; i++)
        inf_or_nan |= (x[i] & 0x7c00u) == 0x7c00u;
    return inf_or_nan;
}

/* Flags of one row of n f32 values, on the bit patterns: exponent all ones
 * is NaN/Inf; magnitude above 65504 (0x477fe000) is out of f16 range. */
static int scan_f32(const float *x, size_t n)
{
    const uint32_t *u = (const uint32_t *)x;
    int inf_or_nan = 0, big = 0;
#pragma omp simd reduction(| : inf_or_nan, big)
    for (size_t i = 0; i < n; i++) {
        inf_or_nan |= (u[i] & 0x7f800000u) == 0x7f800000u;
        big |= (u[i] & 0x7fffffffu) > 0x477fe000u;
    }
    return inf_or_nan ? 1 : big ? 2 : 0;
}

qkv_status qkv_host_check_quant_input(const qkv_kivi_quant_params *p, const void *input,
                                      const char *fn)
{
    const size_t rows = p->batch * p->heads, row = p->tokens * p->head_dim;
    const size_t stride = p->in_capacity * p->head_dim;
    int flags = 0;
#pragma omp parallel for reduction(| : flags) schedule(static)
    for (size_t r = 0; r < rows; r++)
        flags |= p->dtype == QKV_F16 ? scan_f16((const uint16_t *)input + r * stride, row)
                                     : scan_f32((const float *)input + r * stride, row);
    return qkv_quant_input_status(flags, fn);
}
