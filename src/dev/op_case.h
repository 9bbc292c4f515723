/* op_case.h - the test side of the ops (not installed): what validation,
 * the tests, `qkv run`, the tuner and the benchmarks need to know of an op
 * beyond the library's qkv_op_info.  Each op describes itself once in a
 * qkv_op_desc named qkv_op_case_<name> (the *_cases.c file of its
 * technique under src/ops);
 * qkv_op_descs lists them all, from src/ops/op_list.h. */
#ifndef QKV_OP_CASE_H
#define QKV_OP_CASE_H

#include "qkv_internal.h"

#include <stdalign.h>
#include <stddef.h>

#define QKV_CASE_ARGS_BYTES 192

/* Sizes and options of one op call: a label and the op's own typed struct
 * (e.g. kivi_quant_case), reached with QKV_ARGS / QKV_CARGS. */
typedef struct qkv_op_shape {
    char label[32];
    union {
        max_align_t align;
        unsigned char bytes[QKV_CASE_ARGS_BYTES];
    } args;
} qkv_op_shape;

/* The op's typed struct TYPE inside shape s (const and mutable). */
#define QKV_CARGS(TYPE, s) ((const TYPE *)(const void *)(s)->args.bytes)
#define QKV_ARGS(TYPE, s) ((TYPE *)(void *)(s)->args.bytes)
/* Compile-time check that TYPE fits a shape. */
#define QKV_CASE_TYPE_FITS(TYPE)                                                               \
    _Static_assert(sizeof(TYPE) <= QKV_CASE_ARGS_BYTES, #TYPE " does not fit a qkv_op_shape")

/* A shape labelled `label` holding `size` bytes of the op's struct `args`. */
qkv_op_shape qkv_make_shape(const char *label, const void *args, size_t size);

/* How an output is compared with the reference (spec README, "What matches
 * the reference means"); harness.c has one hook per kind. */
typedef enum {
    QKV_CMP_NONE,      /* an input */
    QKV_CMP_EXACT,     /* identical bytes */
    QKV_CMP_CODES,     /* packed codes (code_bits each, in uint32 words): identical except
                        * off by one where the reference flags a rounding tie */
    QKV_CMP_F16,       /* f16 bits: identical except 1 ulp at a flagged tie */
    QKV_CMP_FLOAT,     /* f32: NMSE within the op's bound, no NaN the reference lacks */
    QKV_CMP_INDEX_SET, /* i32 rows (the last dim) as sets of indices, -1 padding: the same
                        * indices in any order, except reference indices flagged as ties
                        * at the cut, which may be swapped for others */
} qkv_cmp_kind;

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
    int code_bits;    /* QKV_CMP_CODES: bits per packed code */
} qkv_tensor_desc;

/* A 4-d tensor description. */
qkv_tensor_desc qkv_tensor4(const char *name, qkv_dtype dtype, bool output, qkv_cmp_kind cmp,
                            size_t d0, size_t d1, size_t d2, size_t d3);
/* Size in elements / bytes of a described tensor (packed int4: each row of
 * the last dim in whole bytes, as .npy files hold it). */
size_t qkv_tensor_count(const qkv_tensor_desc *t);
size_t qkv_tensor_bytes(const qkv_tensor_desc *t);
/* Elements that an output keeps tie flags for: codes of a code tensor, else
 * its elements. */
size_t qkv_tensor_tie_count(const qkv_tensor_desc *t);

/* An op call with host data: inputs, and for outputs the reference result
 * plus per-element tie flags (see qkv_cmp_kind). */
typedef struct qkv_op_case {
    qkv_op_shape shape;
    int ntensors;
    qkv_tensor_desc t[QKV_CASE_MAX_TENSORS];
    void *host[QKV_CASE_MAX_TENSORS];
    uint8_t *tie[QKV_CASE_MAX_TENSORS];
} qkv_op_case;

/* An integer option of an op's case struct that `qkv run` takes as
 * --NAME VALUE: a number among `allowed` (e.g. --bits 4), or for a named
 * option (names[0] set) one of `names`, stored as its index (e.g.
 * --precision fast stores 1). */
typedef struct qkv_op_option {
    const char *name;
    const char *help;
    size_t offset;      /* of the int in the op's case struct */
    int default_value;
    int allowed[16];    /* numeric option: the values accepted, 0-terminated */
    const char *names[8]; /* named option: value k is names[k], NULL-terminated */
} qkv_op_option;

#define QKV_MAX_OP_OPTIONS 4

struct qkv_check_result; /* harness.h */

typedef struct qkv_op_desc {
    const qkv_op_info *info; /* id, name, summary, variants */
    double nmse_bound;       /* for float outputs (see shape_nmse_bound) */
    qkv_op_option options[QKV_MAX_OP_OPTIONS]; /* qkv run's, name NULL-terminated */
    /* The shape `qkv run` starts from (options at their defaults), and the
     * one `qkv run --help` describes the tensors of. */
    qkv_op_shape (*example)(void);
    /* Fill c->t from c->shape (checks nothing: the op itself does). */
    void (*describe)(qkv_op_case *c);
    /* Fill the input tensors (already allocated) with test data. */
    void (*fill_inputs)(qkv_op_case *c, uint64_t seed);
    /* Call the op on ctx, bufs[i] holding tensor i (NULL for empty ones). */
    qkv_status (*launch)(qkv_context *ctx, const qkv_op_shape *s, qkv_buffer *const *bufs);
    /* Set tie flags of the outputs from the inputs and reference outputs
     * (NULL: no ties). */
    void (*mark_ties)(qkv_op_case *c);
    /* Derive the shape from the input tensors' shapes in c->t (qkv run);
     * the options are already set in s.  An input not given has ndim 0. */
    qkv_status (*infer_shape)(const qkv_op_case *c, qkv_op_shape *s);
    /* Shapes of a set: "small" (odd), "llm" (LLM-like), "bench" (the
     * benchmarks' own beyond "llm"): count written, at most max. */
    int (*shapes)(const char *set, qkv_op_shape *out, int max);
    /* Minimum bytes moved and flops of one call. */
    double (*bytes)(const qkv_op_shape *s);
    double (*flops)(const qkv_op_shape *s);
    /* The tuning class size of a call of shape s (qkv_op_info.class_size). */
    size_t (*class_size)(const qkv_op_shape *s);
    /* The NMSE bound of float outputs of shape s, where it depends on the
     * call (e.g. its precision mode); NULL: nmse_bound. */
    double (*shape_nmse_bound)(const qkv_op_shape *s);
    /* Whether variant v runs a call of shape s on ctx (its `supports` with
     * the call's params, capacities not yet resolved), where a variant
     * takes some calls only (e.g. one precision mode); NULL: whether v runs
     * on ctx's device. */
    bool (*variant_runs)(const qkv_variant *v, const qkv_context *ctx, const qkv_op_shape *s);
    /* Checks between outputs of one run where the spec ties one to another
     * (e.g. a rounded output to the backend's own accumulator, which the
     * reference's cannot stand in for): got[i] is output i as the backend
     * wrote it (NULL for inputs); counts go to r (mismatches, ties, NaNs),
     * after every output's own comparison.  NULL: none. */
    void (*check_outputs)(const qkv_op_case *c, const void *const *got,
                          struct qkv_check_result *r);
} qkv_op_desc;

/* The NMSE bound of op's float outputs for shape s. */
double qkv_case_nmse_bound(const qkv_op_desc *op, const qkv_op_shape *s);
/* Whether variant v of op runs a call of shape s on ctx (the benchmarks and
 * the tuner pick their shapes and cases by it). */
bool qkv_case_variant_runs(const qkv_op_desc *op, const qkv_variant *v, const qkv_context *ctx,
                           const qkv_op_shape *s);

/* Each op's qkv_op_case_<name>. */
#define QKV_OP(ID, name) extern const qkv_op_desc qkv_op_case_##name;
#include "op_list.h"
#undef QKV_OP

/* Every op's description, indexed by qkv_op_id. */
extern const qkv_op_desc *const qkv_op_descs[QKV_OP_COUNT];
/* The op named `name` ("kivi_quant_keys" ...), or NULL. */
const qkv_op_desc *qkv_op_by_name(const char *name);

/* Append s to out[max] at *n if there is room. */
void qkv_shape_push(qkv_op_shape *out, int max, int *n, qkv_op_shape s);

/* The decode benchmarks' context sweep (the same for every decode
 * attention, so their figures compare): batch B = 1 and 8, context
 * N = 1K, 2K ... 32K, each shape made by make(label "sweep-b<B>-ctx<N>", B,
 * N) and appended to out[max] at *n. */
void qkv_decode_sweep(qkv_op_shape *out, int max, int *n,
                      qkv_op_shape (*make)(const char *label, size_t B, size_t N));

/* Deterministic test data: splitmix64 stream, uniforms in (0, 1) and
 * standard normals. */
uint64_t qkv_rng_next(uint64_t *state);
double qkv_rng_uniform(uint64_t *state);
double qkv_rng_normal(uint64_t *state);

#endif
