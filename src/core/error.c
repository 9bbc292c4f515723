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

size_t qkv_dtype_size(qkv_dtype dtype)
{
    static const size_t sizes[QKV_DTYPE_COUNT] = {4, 2, 2, 1, 2, 4, 4, 8};
    return (unsigned)dtype < QKV_DTYPE_COUNT ? sizes[dtype] : 0;
}

const char *qkv_dtype_name(qkv_dtype dtype)
{
    static const char *const names[QKV_DTYPE_COUNT] = {"f32", "f16", "bf16", "u8",
                                                       "u16", "i32", "u32", "i64"};
    return (unsigned)dtype < QKV_DTYPE_COUNT ? names[dtype] : "invalid";
}
