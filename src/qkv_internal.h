/* qkv_internal.h - structures shared by the library's core and backends. */
#ifndef QKV_INTERNAL_H
#define QKV_INTERNAL_H

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "qkv.h"

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

/* One named tile parameter: candidate values and the default. */
typedef struct qkv_tile_param_def {
    const char *name;
    int default_value;
    int candidates[QKV_MAX_CANDIDATES]; /* terminated by 0 */
} qkv_tile_param_def;

/* ---- backends ----------------------------------------------------------- */

struct qkv_buffer {
    qkv_context *ctx;
    size_t bytes;
    qkv_buffer *parent; /* non-NULL for views */
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
};

/* ---- ops ------------------------------------------------------------------ */

typedef enum qkv_op_id {
    QKV_OP_KIVI_QUANT_KEYS = 0,
    QKV_OP_KIVI_QUANT_VALUES,
    QKV_OP_KIVI_DEQUANT_KEYS,
    QKV_OP_KIVI_DEQUANT_VALUES,
    QKV_OP_KIVI_DECODE_ATTENTION,
    QKV_OP_F16_DECODE_ATTENTION,
    QKV_OP_COUNT
} qkv_op_id;

/* One backend's implementation of one op.  `params` points to the op's
 * public params struct, already validated. */
typedef qkv_status (*qkv_kernel_fn)(qkv_context *ctx, const void *params,
                                    const qkv_tile_params *tile);

typedef struct qkv_kernel_impl {
    qkv_op_id op;
    qkv_kernel_fn run;
    int nparams;
    const qkv_tile_param_def *params; /* tile space and defaults */
    /* Constraint on a configuration for a device (NULL: all valid). */
    bool (*valid)(const qkv_tile_params *tile, const qkv_device_info *dev);
} qkv_kernel_impl;

/* Implementation of `op` on `backend`, or NULL. */
const qkv_kernel_impl *qkv_kernel_find(qkv_op_id op, qkv_backend_kind backend);
/* Defaults of an implementation's tile space. */
void qkv_tile_defaults(const qkv_kernel_impl *impl, qkv_tile_params *tile);
/* Run `op` on ctx with params after the op's own argument checks. */
qkv_status qkv_dispatch(qkv_context *ctx, qkv_op_id op, const void *params);

/* Implementation tables of each backend (NULL-terminated arrays). */
extern const qkv_kernel_impl *const qkv_ref_kernels[];
extern const qkv_kernel_impl *const qkv_cpu_kernels[];
extern const qkv_kernel_impl *const qkv_gpu_kernels[]; /* opencl + cuda */

/* Checks every buffer is on ctx and at least `bytes` long. */
qkv_status qkv_check_buffer(const qkv_context *ctx, const qkv_buffer *buf,
                            size_t bytes, const char *what);

#endif
