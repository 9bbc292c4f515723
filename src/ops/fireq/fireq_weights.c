/* fireq_weights.c - public entry point of FireQ's offline weight
 * quantization on host arrays: argument checks and a scan for NaN/Inf
 * before anything is written, then the reference (fireq_ref.c). */
#include "qkv_internal.h"

#include "fireq_ref.h"

#include <math.h>

/* Checks every argument of a quantize call (shapes, group, dtype, pointers,
 * size overflow), then the weights for NaN and Inf. */
static qkv_status check_quantize_weights(const qkv_w4a8_weight_quant_params *p)
{
    static const char fn[] = "w4a8_quantize_weights";
    if (!p)
        return qkv_fail(QKV_ERR_INVALID_ARG, "%s: NULL params", fn);
    if (!p->weights || !p->codes || !p->scales || !p->prescale_exp)
        return qkv_fail(QKV_ERR_INVALID_ARG, "%s: NULL weights, codes, scales or prescale_exp",
                        fn);
    if (!p->n || !p->k)
        return qkv_fail(QKV_ERR_SHAPE, "%s: n and k must be > 0", fn);
    if (p->group != 64 && p->group != 128 && p->group != 256)
        return qkv_fail(QKV_ERR_INVALID_ARG, "%s: group must be 64, 128 or 256 (got %d)", fn,
                        p->group);
    if (p->k % (size_t)p->group)
        return qkv_fail(QKV_ERR_SHAPE, "%s: k %zu is not a multiple of group %d", fn, p->k,
                        p->group);
    if (p->dtype != QKV_F32 && p->dtype != QKV_F16 && p->dtype != QKV_BF16)
        return qkv_fail(QKV_ERR_INVALID_ARG, "%s: weights dtype must be f32, f16 or bf16 (got %s)",
                        fn, qkv_dtype_name(p->dtype));
    size_t count, bytes;
    if (!qkv_mul_size(&count, p->n, p->k) ||
        !qkv_mul_size(&bytes, count, qkv_dtype_size(p->dtype)))
        return qkv_fail(QKV_ERR_OVERFLOW, "%s: size of the weights overflows", fn);
    for (size_t index = 0; index < count; index++)
        if (!isfinite(fireq_ref_quant_weights_load(p->weights, p->dtype, index)))
            return qkv_fail(QKV_ERR_NONFINITE, "%s: weight [%zu, %zu] is NaN or Inf", fn,
                            index / p->k, index % p->k);
    return QKV_OK;
}

qkv_status qkv_w4a8_quantize_weights(const qkv_w4a8_weight_quant_params *p)
{
    const qkv_status st = check_quantize_weights(p);
    if (st != QKV_OK)
        return st;
    qkv_clear_error();
    fireq_ref_quant_weights(p->weights, p->dtype, p->n, p->k, (size_t)p->group, p->codes,
                            p->scales, p->prescale_exp);
    return QKV_OK;
}
