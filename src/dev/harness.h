/* harness.h - runs op cases on a context and compares with the reference,
 * with guard regions around and poison inside every output. */
#ifndef QKV_HARNESS_H
#define QKV_HARNESS_H

#include "op_case.h"

/* Outcome of one op case on one backend. */
typedef struct qkv_check_result {
    qkv_status status;        /* what the op returned */
    size_t mismatches;        /* codes / f16 values off beyond the tie rule */
    size_t ties;              /* tolerated off-by-one at a rounding tie */
    size_t guard_violations;  /* bytes changed outside the outputs */
    size_t nan_mismatches;    /* NaN where the reference has none */
    double max_abs_err;       /* over float outputs */
    double nmse;              /* worst float output */
    bool pass;
    char message[256];        /* why it failed, if it did */
} qkv_check_result;

/* Build case `shape` of op: describe, allocate, fill inputs from seed, run
 * on the reference backend, mark ties.  qkv_case_free releases it. */
qkv_status qkv_case_prepare(const qkv_op_desc *op, const qkv_op_shape *shape, uint64_t seed,
                            qkv_op_case *c);
void qkv_case_free(qkv_op_case *c);
/* Only describe, allocate and fill the inputs (no reference run: for
 * benchmarks of shapes too large for the reference). */
qkv_status qkv_case_inputs(const qkv_op_desc *op, const qkv_op_shape *shape, uint64_t seed,
                           qkv_op_case *c);

/* Run the case's inputs on ctx and write the outputs into out[i] (host
 * arrays of the output tensors' sizes; entries of inputs ignored). */
qkv_status qkv_case_run(const qkv_op_desc *op, const qkv_op_case *c, qkv_context *ctx,
                        void *const *out);

/* Device buffers of a case on ctx, inputs uploaded (bufs[i] NULL for empty
 * tensors); for repeated launches, e.g. timing.  Release with
 * qkv_case_release. */
qkv_status qkv_case_upload(const qkv_op_case *c, qkv_context *ctx, qkv_buffer **bufs);
void qkv_case_release(const qkv_op_case *c, qkv_buffer **bufs);

/* Run on ctx with guarded, poisoned outputs and compare with the case's
 * reference outputs. */
void qkv_case_check(const qkv_op_desc *op, const qkv_op_case *c, qkv_context *ctx,
                    qkv_check_result *r);

/* Install the check of tuning-table entries against the reference before
 * their first use (verify.c); the tools, tests and benchmarks call it at
 * start-up. */
void qkv_dev_install_verifier(void);

#endif
