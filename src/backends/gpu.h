/* gpu.h - what the OpenCL and CUDA backends share: a kernel launcher over
 * one set of kernel sources (the .cl files of kernels/opencl), so the host
 * code of every GPU op (src/ops/<technique>/gpu_*.c) is written once for
 * both, and the helpers that host code shares. */
#ifndef QKV_GPU_H
#define QKV_GPU_H

#include "qkv_internal.h"

/* A kernel of a compiled program, owned by the context's program cache:
 * its name and the backend's handle (cl_kernel, CUfunction). */
typedef struct qkv_gpu_kernel {
    char name[64];
    void *handle;
    size_t dynamic_smem_set; /* CUDA: dynamic shared memory bytes opted in so far */
} qkv_gpu_kernel;

typedef enum {
    QKV_ARG_BUFFER,
    QKV_ARG_INT,
    QKV_ARG_FLOAT,
    QKV_ARG_INT64,
    QKV_ARG_BYTES
} qkv_gpu_arg_kind;

/* One kernel argument: a buffer (NULL allowed: passed as a null pointer),
 * a 32-bit int, a float, a 64-bit int, or `size` bytes at `bytes` passed
 * by value (a struct the kernel takes by value; the bytes must stay valid
 * until the launch call returns). */
typedef struct qkv_gpu_arg {
    qkv_gpu_arg_kind kind;
    const qkv_buffer *buffer;
    int32_t i;
    float f;
    int64_t l;
    const void *bytes;
    size_t size;
} qkv_gpu_arg;

#define QKV_GPU_BUF(b) ((qkv_gpu_arg){QKV_ARG_BUFFER, (b), 0, 0.0f, 0, NULL, 0})
#define QKV_GPU_INT(v) ((qkv_gpu_arg){QKV_ARG_INT, NULL, (int32_t)(v), 0.0f, 0, NULL, 0})
#define QKV_GPU_FLOAT(v) ((qkv_gpu_arg){QKV_ARG_FLOAT, NULL, 0, (float)(v), 0, NULL, 0})
#define QKV_GPU_INT64(v) ((qkv_gpu_arg){QKV_ARG_INT64, NULL, 0, 0.0f, (int64_t)(v), NULL, 0})
#define QKV_GPU_STRUCT(p) ((qkv_gpu_arg){QKV_ARG_BYTES, NULL, 0, 0.0f, 0, (p), sizeof *(p)})

typedef struct qkv_gpu_ops {
    /* Kernel `kernel` of embedded program `program` built with `defines`
     * (e.g. "-DWG=128 -DBITS=2"); compiled programs are cached per context
     * by (program, defines). */
    qkv_status (*get_kernel)(qkv_context *ctx, const char *program, const char *kernel,
                             const char *defines, qkv_gpu_kernel **out);
    /* Launch over `global` work-items (a multiple of `local`, per dim). */
    qkv_status (*launch)(qkv_context *ctx, qkv_gpu_kernel *k, int ndim, const size_t *global,
                         const size_t *local, int nargs, const qkv_gpu_arg *args);
} qkv_gpu_ops;

/* What the program cache needs of a backend.  `built` is the backend's
 * compiled program (cl_program, CUmodule), `handle` its kernel. */
typedef struct qkv_gpu_compiler {
    /* Compile `source`, the text of embedded program `program`, with
     * `defines` into *built. */
    qkv_status (*build)(qkv_context *ctx, const char *program, const char *source,
                        const char *defines, void **built);
    /* Kernel `kernel` of `built` (compiled from `program`) into *handle. */
    qkv_status (*get_kernel)(void *built, const char *program, const char *kernel,
                             void **handle);
    /* Release a kernel; NULL where the program owns its kernels. */
    void (*release_kernel)(void *handle);
    void (*release_program)(void *built);
} qkv_gpu_compiler;

typedef struct qkv_gpu_program qkv_gpu_program; /* one cached (program, defines) */

/* The programs a context has compiled, by (program, defines), and their
 * kernels; zero-initialised but for `compiler`. */
typedef struct qkv_gpu_program_cache {
    const qkv_gpu_compiler *compiler;
    qkv_gpu_program *programs; /* most recently built first */
} qkv_gpu_program_cache;

/* Kernel `kernel` of embedded program `program` built with `defines`,
 * compiling the program and looking the kernel up on first use. */
qkv_status qkv_gpu_cache_kernel(qkv_gpu_program_cache *cache, qkv_context *ctx,
                                const char *program, const char *kernel, const char *defines,
                                qkv_gpu_kernel **out);
/* Release every cached program and kernel (the cache stays usable). */
void qkv_gpu_cache_clear(qkv_gpu_program_cache *cache);

/* The gpu ops of a context's backend (OpenCL or CUDA). */
const qkv_gpu_ops *qkv_gpu_ops_of(const qkv_context *ctx);
extern const qkv_gpu_ops qkv_gpu_ops_opencl;
extern const qkv_gpu_ops qkv_gpu_ops_cuda;

/* Text of an embedded kernel program, or NULL: an OpenCL C program of
 * kernels/opencl by its basename ("kivi", "dense", ...), a native CUDA
 * program of kernels/cuda by its file name ("kivi.cu", ...). */
const char *qkv_kernel_source(const char *program);
/* True for the name of a native CUDA program (it ends in ".cu"): compiled
 * by NVRTC as CUDA C++ without the prelude, on the CUDA backend only. */
bool qkv_kernel_is_native_cuda(const char *program);
/* The OpenCL-C-to-CUDA macro header prepended by the CUDA backend. */
extern const char qkv_cuda_prelude[];

/* Context-owned scratch buffer of at least `bytes`, grown on demand; valid
 * until the next call with a larger size. */
qkv_status qkv_gpu_scratch(qkv_context *ctx, size_t bytes, qkv_buffer **out);

/* Writes into out[size] "-D<NAME>=<value>" for each of the nparams tile
 * parameters (NAME: the parameter's name upper-cased, the value from
 * tile) but the host_only ones (the kernels do not read them, they only
 * size the grid: leaving them out spares a compile per value), then
 * `extra`, the op's other defines (e.g. "-DBITS=2 -DGROUP=32"; NULL or ""
 * for none), separated by spaces.  QKV_ERR_INVALID_ARG if it does not
 * fit. */
qkv_status qkv_gpu_defines(char *out, size_t size, int nparams, const qkv_tile_param_def *params,
                           const qkv_tile_params *tile, const char *extra);

#define QKV_GPU_MAX_GRID_YZ 65535 /* CUDA's limit on grid dims 1 and 2 */

/* Fail (QKV_ERR_SHAPE, naming fn) unless each of the n sizes fits the
 * kernels' 32-bit int arguments. */
qkv_status qkv_gpu_check_int_sizes(int n, const size_t *sizes, const char *fn);
/* Fail (QKV_ERR_SHAPE) unless n, the `what` grid dimension 1 or 2, fits
 * QKV_GPU_MAX_GRID_YZ. */
qkv_status qkv_gpu_check_grid_yz(size_t n, const char *what, const char *fn);
/* A variant's `valid` predicate for spaces whose first parameter is the
 * work-group size: it must not exceed the device's maximum. */
bool qkv_gpu_wg_valid(const qkv_tile_params *tile, const qkv_device_info *dev);
/* n rounded up to a multiple of m. */
static inline size_t qkv_round_up(size_t n, size_t m) { return (n + m - 1) / m * m; }

/* Query heads per work-group of a decode attention: the largest power of
 * two <= heads that divides q_per_kv, the query heads per kv head. */
int qkv_gpu_head_group(size_t q_per_kv, int heads);

/* Launch `merge` (attention_decode_merge of attention_merge.cl, built for
 * head dim D) over the bq query heads: the nsplit partial results
 * [bq, nsplit, D + 2] in `part` into output f32 [bq, D]. */
qkv_status qkv_gpu_launch_merge(qkv_context *ctx, qkv_gpu_kernel *merge, const qkv_buffer *part,
                                const qkv_buffer *output, size_t nsplit, size_t D, size_t bq);

#define QKV_GPU_BUILD_KERNELS 4

/* One (program, defines) combination a GPU op compiles and the kernels its
 * host code gets from it. */
typedef struct qkv_gpu_build {
    const char *program;
    char defines[256];
    const char *kernels[QKV_GPU_BUILD_KERNELS]; /* NULL-terminated if fewer */
} qkv_gpu_build;

/* The builds of the OpenCL C programs: those of every variant that runs on
 * OpenCL (its gpu_builds hook: default tiles over the supported bits,
 * groups, dtypes, head dims ...) plus the benchmarks' roof probes, for
 * compile tests: the count written (at most max). */
int qkv_gpu_builds(qkv_gpu_build *out, int max);
/* The same for the native CUDA programs: the builds of every variant that
 * runs on CUDA only. */
int qkv_gpu_native_cuda_builds(qkv_gpu_build *out, int max);
/* Append a build of `program` with `defines` and up to
 * QKV_GPU_BUILD_KERNELS kernel names (NULL-terminated list) to out[max] at
 * *n, if st (the status of formatting defines) is QKV_OK and there is room. */
void qkv_gpu_build_add(qkv_gpu_build *out, int max, int *n, qkv_status st, const char *program,
                       const char *defines, const char *const *kernels);

#endif
