/* qkv_internal.h - structures shared by the library's core and backends. */
#ifndef QKV_INTERNAL_H
#define QKV_INTERNAL_H

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "qkv.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>

/* Record a failure message for qkv_last_error() and return `status`. */
qkv_status qkv_fail(qkv_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void qkv_clear_error(void);

/* a*b and a*b*c ... into *out; false on size_t overflow. */
bool qkv_mul_size(size_t *out, size_t a, size_t b);
bool qkv_mul_sizes(size_t *out, int n, const size_t *factors);

/* ---- tile parameters ---------------------------------------------------- */

#define QKV_MAX_TILE_PARAMS 8
#define QKV_MAX_CANDIDATES 12

/* Values of a kernel's tile parameters, in the order its space declares. */
typedef struct qkv_tile_params {
    int value[QKV_MAX_TILE_PARAMS];
} qkv_tile_params;

/* The number of parameters of a tile space (an array of qkv_tile_param_def). */
#define QKV_NPARAMS(space) ((int)(sizeof(space) / sizeof((space)[0])))

/* One named tile parameter: candidate values and the default. */
typedef struct qkv_tile_param_def {
    const char *name;
    int default_value;
    int candidates[QKV_MAX_CANDIDATES]; /* terminated by 0 */
    bool host_only; /* GPU: sizes the launch only, the kernels do not read it (no -D
                     * define, so its values share one compiled program) */
} qkv_tile_param_def;

/* ---- backends ----------------------------------------------------------- */

struct qkv_buffer {
    qkv_context *ctx;   /* NULL once qkv_close has released the buffer */
    qkv_buffer *prev, *next; /* the context's list of live buffers */
    size_t bytes;
    qkv_buffer *parent; /* non-NULL for views */
    size_t offset;      /* of a view: bytes from the start of its root allocation */
    void *host;         /* ref, cpu: host memory */
    void *mem;          /* opencl: cl_mem */
    uint64_t dptr;      /* cuda: CUdeviceptr */
};

typedef struct qkv_backend {
    qkv_backend_kind kind;
    int (*device_count)(void);
    qkv_status (*describe)(int index, qkv_device_info *info);
    qkv_status (*open)(qkv_context *ctx, int index);
    void (*close)(qkv_context *ctx);
    qkv_status (*alloc)(qkv_buffer *buf);
    qkv_status (*view)(qkv_buffer *parent, size_t offset, qkv_buffer *view);
    void (*release)(qkv_buffer *buf);
    qkv_status (*write)(qkv_buffer *buf, size_t offset, const void *src, size_t bytes);
    qkv_status (*read)(const qkv_buffer *buf, size_t offset, void *dst, size_t bytes);
    qkv_status (*copy)(qkv_buffer *dst, size_t dst_offset, const qkv_buffer *src,
                       size_t src_offset, size_t bytes);
    qkv_status (*finish)(qkv_context *ctx);
    /* Optional device timer (NULL for ref and cpu, which time with the host
     * clock; see timer.h), usable where open set ctx->device_timer.
     * timer_begin marks the context's queue or stream; timer_end marks it
     * again, waits for that mark and gives the device time between the two
     * marks in microseconds, so everything enqueued in between is inside.
     * After a successful timer_begin, timer_end must follow. */
    qkv_status (*timer_begin)(qkv_context *ctx);
    qkv_status (*timer_end)(qkv_context *ctx, double *us);
} qkv_backend;

/* The backend table entry for `kind`, or NULL if not compiled in. */
const qkv_backend *qkv_backend_get(qkv_backend_kind kind);

extern const qkv_backend qkv_backend_ref;
extern const qkv_backend qkv_backend_cpu;
extern const qkv_backend qkv_backend_opencl;
extern const qkv_backend qkv_backend_cuda;

struct qkv_context {
    const qkv_backend *backend;
    qkv_device_info info;
    void *impl;          /* backend state */
    qkv_buffer *scratch; /* temporary device memory, see qkv_gpu_scratch */
    struct qkv_tuning *tuning; /* tables and overrides, see tuning.h */
    bool device_timer;   /* the backend's timer works on this device (set by open) */
    int cpu_isa;         /* cpu: the qkv_cpu_isa level its variants may use, fixed at
                          * open (cpu_features.h); ref and GPUs: 0 */
    /* Serializes op calls (kernel arguments, scratch, program cache, the
     * queue), the tuning state and timed launches of threads sharing the
     * context; recursive, since an op may call ops (the cache object, the
     * verification of a tuning entry). */
    pthread_mutex_t lock;
    qkv_buffer *buffers; /* live buffers and views, released by qkv_close */
    pthread_mutex_t buffers_lock; /* guards `buffers` */
};

/* Take / release ctx->lock. */
void qkv_context_lock(qkv_context *ctx);
void qkv_context_unlock(qkv_context *ctx);

/* ---- ops and their variants ---------------------------------------------- */

/* Every op of the suite, from the one list in src/ops/op_list.h. */
typedef enum qkv_op_id {
#define QKV_OP(ID, name) QKV_OP_##ID,
#include "op_list.h"
#undef QKV_OP
    QKV_OP_COUNT
} qkv_op_id;

/* One implementation of an op.  `params` points to the op's public params
 * struct, already validated by the op's entry point. */
typedef qkv_status (*qkv_kernel_fn)(qkv_context *ctx, const void *params,
                                    const qkv_tile_params *tile);

struct qkv_gpu_build; /* gpu.h */

/* Backends a variant runs on (bit mask of qkv_backend_kind). */
#define QKV_ON(kind) (1u << (kind))
#define QKV_ON_GPU (QKV_ON(QKV_BACKEND_OPENCL) | QKV_ON(QKV_BACKEND_CUDA))

/* A named implementation of one op on some backends, with its own tile
 * space.  An (op, backend) may have several; the dispatcher takes a
 * variant forced by qkv_set_variant / $QKV_VARIANT, else the tuned choice,
 * else the first in the op's list that supports the call. */
typedef struct qkv_variant {
    const char *name; /* "ref", "avx2", "scalar", "generic", ... */
    qkv_op_id op;
    unsigned backends; /* QKV_ON(...) mask */
    qkv_kernel_fn run;
    /* Whether the variant can run on ctx's device (params NULL) or run
     * this call (params: the op's validated params struct); NULL: always. */
    bool (*supports)(const qkv_context *ctx, const void *params);
    int nparams;
    const qkv_tile_param_def *params; /* tile space and defaults */
    /* Constraint on a configuration for a device (NULL: all valid). */
    bool (*valid)(const qkv_tile_params *tile, const qkv_device_info *dev);
    /* Never chosen by default (e.g. not yet verified on hardware of its
     * kind): only a table entry or the user selects it. */
    bool needs_selection;
    /* Takes only calls in fast precision (its `supports` refuses exact ones),
     * so it is never the default of a question without a call (qkv info's
     * choice, qkv_get_tile_params). */
    bool fast_only;
    /* The NMSE bound of the variant's float outputs where its arithmetic is
     * looser than the op's cases assume (e.g. an FP8 tensor-core MMA that
     * accumulates in fewer than 24 bits, spec w4a8-gemm.md): the harness
     * takes the larger of it and the case's bound.  0: the case's bound. */
    double nmse_floor;
    /* GPU variants: the programs their host code builds with default tiles
     * over the op's options (for compile tests), as qkv_gpu_builds (gpu.h);
     * NULL elsewhere. */
    int (*gpu_builds)(struct qkv_gpu_build *out, int max);
} qkv_variant;

/* What the library knows of an op (the test-side description lives in
 * src/dev/op_case.h). */
typedef struct qkv_op_info {
    qkv_op_id id;
    const char *name;
    const char *summary;
    /* The size a call's tuning shape class is chosen by (e.g. context
     * length), from the op's public params struct. */
    size_t (*class_size)(const void *params);
    const qkv_variant *const *variants; /* NULL-terminated, all backends */
} qkv_op_info;

/* `&v,` in a variant list where a GPU backend is compiled in, else nothing. */
#if defined(QKV_HAVE_OPENCL) || defined(QKV_HAVE_CUDA)
#define QKV_GPU_VARIANT(v) &v,
#else
#define QKV_GPU_VARIANT(v)
#endif
/* `&v,` in a variant list where the CUDA backend is compiled in (native
 * CUDA variants), else nothing. */
#ifdef QKV_HAVE_CUDA
#define QKV_CUDA_VARIANT(v) &v,
#else
#define QKV_CUDA_VARIANT(v)
#endif

/* Each op's qkv_op_info_<name> (src/ops/<technique>/). */
#define QKV_OP(ID, name) extern const qkv_op_info qkv_op_info_##name;
#include "op_list.h"
#undef QKV_OP

/* The ops, indexed by qkv_op_id. */
extern const qkv_op_info *const qkv_ops[QKV_OP_COUNT];
/* The op named `name` ("kivi_quant_keys" ...), or NULL. */
const qkv_op_info *qkv_op_find(const char *name);

/* Whether variant v runs on ctx's backend and device (params NULL) or
 * runs this call. */
bool qkv_variant_supports(const qkv_variant *v, const qkv_context *ctx, const void *params);
/* The k-th variant (k = 0, 1, ...) of op that runs on ctx's device, or
 * NULL past the last. */
const qkv_variant *qkv_variant_nth(qkv_op_id op, const qkv_context *ctx, int k);
/* Variant `name` of op on backend kind, or NULL. */
const qkv_variant *qkv_variant_find(qkv_op_id op, qkv_backend_kind kind, const char *name);
/* Whether op has any variant on backend kind. */
bool qkv_op_on_backend(qkv_op_id op, qkv_backend_kind kind);
/* Defaults of a variant's tile space (of the nparams parameters of a
 * space; the others 0). */
void qkv_tile_defaults(const qkv_variant *v, qkv_tile_params *tile);
void qkv_tile_space_defaults(int nparams, const qkv_tile_param_def *params,
                             qkv_tile_params *tile);
/* Run `op` on ctx with params after the op's own argument checks. */
qkv_status qkv_dispatch(qkv_context *ctx, qkv_op_id op, const void *params);

/* Checks every buffer is on ctx and at least `bytes` long. */
qkv_status qkv_check_buffer(const qkv_context *ctx, const qkv_buffer *buf,
                            size_t bytes, const char *what);

#endif
