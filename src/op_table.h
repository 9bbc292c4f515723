/* op_table.h - the op registry that validation, tests, `qkv run`, the tuner
 * and benchmarks iterate: per op, its tensors, test data, launch, tolerance,
 * shape sets and byte/flop counts.  Adding an op is one qkv_op_desc. */
#ifndef QKV_OP_TABLE_H
#define QKV_OP_TABLE_H

#include "qkv_internal.h"

/* Sizes and options of one op call; each op reads the fields it needs. */
typedef struct qkv_op_shape {
    char label[32];
    size_t batch, q_heads, kv_heads, tokens, head_dim;
    size_t k_quant, k_resid, v_quant, v_resid; /* decode attention */
    size_t capacity; /* f16 decode: KV rows per head (0 = tokens) */
    int bits, group;
    qkv_dtype dtype; /* quantizer input */
} qkv_op_shape;

typedef enum { QKV_CMP_NONE, QKV_CMP_CODES, QKV_CMP_F16, QKV_CMP_FLOAT } qkv_cmp_kind;

#define QKV_CASE_MAX_TENSORS 12
#define QKV_CASE_MAX_DIMS 4

/* One tensor of an op call, in the op's argument order. */
typedef struct qkv_tensor_desc {
    const char *name;
    qkv_dtype dtype;
    int ndim;
    size_t shape[QKV_CASE_MAX_DIMS];
    bool output;
    qkv_cmp_kind cmp; /* how an output is compared with the reference */
} qkv_tensor_desc;

/* Size in elements / bytes of a described tensor. */
size_t qkv_tensor_count(const qkv_tensor_desc *t);
size_t qkv_tensor_bytes(const qkv_tensor_desc *t);

/* An op call with host data: inputs, and for outputs the reference result
 * plus per-element tie flags (codes: per code; f16: per value). */
typedef struct qkv_op_case {
    qkv_op_shape shape;
    int ntensors;
    qkv_tensor_desc t[QKV_CASE_MAX_TENSORS];
    void *host[QKV_CASE_MAX_TENSORS];
    uint8_t *tie[QKV_CASE_MAX_TENSORS];
} qkv_op_case;

typedef struct qkv_op_desc {
    qkv_op_id id;
    const char *name;
    const char *summary;
    double nmse_bound; /* for float outputs */
    /* Fill c->t from c->shape (checks nothing: the op itself does). */
    void (*describe)(qkv_op_case *c);
    /* Fill the input tensors (already allocated) with test data. */
    void (*fill_inputs)(qkv_op_case *c, uint64_t seed);
    /* Call the op on ctx, bufs[i] holding tensor i (NULL for empty ones). */
    qkv_status (*launch)(qkv_context *ctx, const qkv_op_shape *s, qkv_buffer *const *bufs);
    /* Set tie flags of the outputs from the inputs and reference outputs. */
    void (*mark_ties)(qkv_op_case *c);
    /* Derive the shape from the input tensors' shapes in c->t (qkv run);
     * bits, group and dtype are already set in s. */
    qkv_status (*infer_shape)(const qkv_op_case *c, qkv_op_shape *s);
    /* Validation shapes of a set ("small" or "llm"): count written. */
    int (*shapes)(const char *set, qkv_op_shape *out, int max);
    /* Minimum bytes moved and flops of one call. */
    double (*bytes)(const qkv_op_shape *s);
    double (*flops)(const qkv_op_shape *s);
    /* The size a call's tuning shape class is chosen by (e.g. context
     * length), from the op's public params struct. */
    size_t (*class_size)(const void *params);
} qkv_op_desc;

extern const qkv_op_desc qkv_op_table[QKV_OP_COUNT];
/* The op named `name` ("kivi_quant_keys" ...), or NULL. */
const qkv_op_desc *qkv_op_by_name(const char *name);

/* Deterministic test data: splitmix64 stream and standard normals. */
uint64_t qkv_rng_next(uint64_t *state);
double qkv_rng_normal(uint64_t *state);

#endif
