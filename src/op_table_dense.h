/* op_table_dense.h - the op-registry functions of the f16 dense decode
 * attention (op_table_dense.c), named in qkv_op_table's entry. */
#ifndef QKV_OP_TABLE_DENSE_H
#define QKV_OP_TABLE_DENSE_H

#include "op_table.h"

void qkv_dense_decode_describe(qkv_op_case *c);
void qkv_dense_decode_fill(qkv_op_case *c, uint64_t seed);
qkv_status qkv_dense_decode_launch(qkv_context *ctx, const qkv_op_shape *s,
                                   qkv_buffer *const *bufs);
qkv_status qkv_dense_decode_infer(const qkv_op_case *c, qkv_op_shape *s);
int qkv_dense_decode_shapes(const char *set, qkv_op_shape *out, int max);
double qkv_dense_decode_bytes(const qkv_op_shape *s);
double qkv_dense_decode_flops(const qkv_op_shape *s);
size_t qkv_dense_decode_class_size(const void *params);

#endif
