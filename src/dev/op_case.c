/* op_case.c - the table of op descriptions (from src/ops/op_list.h) and
 * the helpers every description uses: tensors, shapes, test data. */
#include "op_case.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const qkv_op_desc *const qkv_op_descs[QKV_OP_COUNT] = {
#define QKV_OP(ID, name) [QKV_OP_##ID] = &qkv_op_case_##name,
#include "op_list.h"
#undef QKV_OP
};

const qkv_op_desc *qkv_op_by_name(const char *name)
{
    const qkv_op_info *info = qkv_op_find(name);
    return info ? qkv_op_descs[info->id] : NULL;
}

double qkv_case_nmse_bound(const qkv_op_desc *op, const qkv_op_shape *s)
{
    return op->shape_nmse_bound ? op->shape_nmse_bound(s) : op->nmse_bound;
}

bool qkv_case_variant_runs(const qkv_op_desc *op, const qkv_variant *v, const qkv_context *ctx,
                           const qkv_op_shape *s)
{
    return op->variant_runs ? op->variant_runs(v, ctx, s) : qkv_variant_supports(v, ctx, NULL);
}

qkv_op_shape qkv_make_shape(const char *label, const void *args, size_t size)
{
    qkv_op_shape s;
    memset(&s, 0, sizeof s);
    snprintf(s.label, sizeof s.label, "%s", label);
    if (args)
        memcpy(s.args.bytes, args, size < QKV_CASE_ARGS_BYTES ? size : QKV_CASE_ARGS_BYTES);
    return s;
}

void qkv_shape_push(qkv_op_shape *out, int max, int *n, qkv_op_shape s)
{
    if (*n < max)
        out[(*n)++] = s;
}

void qkv_decode_sweep(qkv_op_shape *out, int max, int *n,
                      qkv_op_shape (*make)(const char *label, size_t B, size_t N))
{
    for (size_t B = 1; B <= 8; B += 7)
        for (size_t N = 1024; N <= 32768; N *= 2) {
            char label[32];
            snprintf(label, sizeof label, "sweep-b%zu-ctx%zu", B, N);
            qkv_shape_push(out, max, n, make(label, B, N));
        }
}

qkv_tensor_desc qkv_tensor4(const char *name, qkv_dtype dtype, bool output, qkv_cmp_kind cmp,
                            size_t d0, size_t d1, size_t d2, size_t d3)
{
    return (qkv_tensor_desc){name, dtype, 4, {d0, d1, d2, d3}, output, cmp, 0};
}

size_t qkv_tensor_count(const qkv_tensor_desc *t)
{
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

size_t qkv_tensor_bytes(const qkv_tensor_desc *t)
{
    if (t->dtype != QKV_I4 || t->ndim == 0)
        return qkv_tensor_count(t) * qkv_dtype_size(t->dtype);
    const size_t row = t->shape[t->ndim - 1]; /* packed int4: rows of whole bytes */
    return row ? qkv_tensor_count(t) / row * qkv_dtype_bytes(QKV_I4, row) : 0;
}

size_t qkv_tensor_tie_count(const qkv_tensor_desc *t)
{
    const size_t n = qkv_tensor_count(t);
    return t->cmp == QKV_CMP_CODES ? n * (size_t)(32 / t->code_bits) : n;
}

uint64_t qkv_rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double qkv_rng_uniform(uint64_t *state)
{
    return ((double)(qkv_rng_next(state) >> 11) + 0.5) / 9007199254740992.0;
}

double qkv_rng_normal(uint64_t *state)
{
    const double u = qkv_rng_uniform(state), v = qkv_rng_uniform(state);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}
