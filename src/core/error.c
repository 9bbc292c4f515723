/* error.c - status names, the per-thread last-error message, size helpers. */
#include "qkv_internal.h"

#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[512];

const char *qkv_status_name(qkv_status status)
{
    static const char *const names[QKV_STATUS_COUNT] = {
        "QKV_OK",           "QKV_ERR_INVALID_ARG", "QKV_ERR_SHAPE",
        "QKV_ERR_OVERFLOW", "QKV_ERR_NONFINITE",   "QKV_ERR_RANGE",
        "QKV_ERR_NO_BACKEND", "QKV_ERR_NO_DEVICE", "QKV_ERR_UNSUPPORTED",
        "QKV_ERR_NO_MEMORY", "QKV_ERR_BACKEND",    "QKV_ERR_IO",
        "QKV_ERR_FORMAT",
    };
    if ((unsigned)status >= QKV_STATUS_COUNT)
        return "QKV_ERR_UNKNOWN";
    return names[status];
}

const char *qkv_last_error(void) { return last_error; }

void qkv_clear_error(void) { last_error[0] = '\0'; }

qkv_status qkv_fail(qkv_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

bool qkv_mul_size(size_t *out, size_t a, size_t b)
{
    return !__builtin_mul_overflow(a, b, out);
}

bool qkv_mul_sizes(size_t *out, int n, const size_t *factors)
{
    size_t acc = 1;
    for (int i = 0; i < n; i++)
        if (!qkv_mul_size(&acc, acc, factors[i]))
            return false;
    *out = acc;
    return true;
}

/* Bytes of dtype's storage unit: one element, or the byte of two QKV_I4. */
size_t qkv_dtype_size(qkv_dtype dtype)
{
    static const size_t sizes[QKV_DTYPE_COUNT] = {
        [QKV_F32] = 4, [QKV_F16] = 2, [QKV_BF16] = 2, [QKV_U8] = 1,   [QKV_U16] = 2,
        [QKV_I32] = 4, [QKV_U32] = 4, [QKV_I64] = 8,  [QKV_E4M3] = 1, [QKV_E5M2] = 1,
        [QKV_I4] = 1,
    };
    return (unsigned)dtype < QKV_DTYPE_COUNT ? sizes[dtype] : 0;
}

/* Bytes of `count` elements of dtype; QKV_I4 packs two per byte, rounding
 * up.  0 for an invalid dtype, count 0 or a size that overflows size_t. */
size_t qkv_dtype_bytes(qkv_dtype dtype, size_t count)
{
    if (dtype == QKV_I4)
        return count / 2 + count % 2;
    size_t bytes = 0;
    return qkv_mul_size(&bytes, qkv_dtype_size(dtype), count) ? bytes : 0;
}

const char *qkv_dtype_name(qkv_dtype dtype)
{
    static const char *const names[QKV_DTYPE_COUNT] = {
        [QKV_F32] = "f32", [QKV_F16] = "f16", [QKV_BF16] = "bf16", [QKV_U8] = "u8",
        [QKV_U16] = "u16", [QKV_I32] = "i32", [QKV_U32] = "u32",   [QKV_I64] = "i64",
        [QKV_E4M3] = "e4m3", [QKV_E5M2] = "e5m2", [QKV_I4] = "i4",
    };
    return (unsigned)dtype < QKV_DTYPE_COUNT ? names[dtype] : "invalid";
}
