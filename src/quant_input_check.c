/* quant_input_check.c - host scan of quantizer inputs (OpenMP-parallel). */
#include "quant_input_check.h"

#include <math.h>

#define F16_MAX 65504.0f

qkv_status qkv_quant_input_status(int flags, const char *fn)
{
    if (flags & 1)
        return qkv_fail(QKV_ERR_NONFINITE, "%s: input holds NaN or Inf", fn);
    if (flags & 2)
        return qkv_fail(QKV_ERR_RANGE, "%s: input holds |x| > 65504, beyond the f16 scale/min",
                        fn);
    return QKV_OK;
}

qkv_status qkv_host_check_quant_input(const qkv_kivi_quant_params *p, const void *input,
                                      const char *fn)
{
    const size_t rows = p->batch * p->heads, D = p->head_dim;
    int flags = 0;
    if (p->dtype == QKV_F16) {
        const uint16_t *x = input;
#pragma omp parallel for reduction(| : flags) schedule(static)
        for (size_t r = 0; r < rows; r++)
            for (size_t i = 0; i < p->tokens * D; i++)
                if ((x[r * p->in_capacity * D + i] & 0x7c00u) == 0x7c00u)
                    flags |= 1;
    } else {
        const float *x = input;
#pragma omp parallel for reduction(| : flags) schedule(static)
        for (size_t r = 0; r < rows; r++)
            for (size_t i = 0; i < p->tokens * D; i++) {
                const float v = x[r * p->in_capacity * D + i];
                flags |= !isfinite(v) ? 1 : fabsf(v) > F16_MAX ? 2 : 0;
            }
    }
    return qkv_quant_input_status(flags, fn);
}
