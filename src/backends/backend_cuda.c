/* backend_cuda.c - CUDA backend: the OpenCL C kernel programs compiled by
 * NVRTC (cuda_nvrtc.c) after the cl2cuda.h prelude and the native CUDA
 * programs (kernels/cuda/NAME.cu), for the device's sm_XY (sm_90a on compute
 * capability 9.0), run through the CUDA driver API (loaded at run time by
 * cuda_driver.c, so the library starts on machines without a driver and
 * then sees no CUDA device).
 *
 * Every call of a qkv context runs on one stream of the device's primary
 * context; host transfers synchronise that stream, kernels and device copies
 * are queued on it, qkv_finish waits for it.  The device timer records a
 * pair of CUDA events on that stream. */
#include "cuda_compile.h"
#include "cuda_driver.h"
#include "cuda_native.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS 32 /* kernel arguments per launch */

static const qkv_cuda_driver *const drv = &qkv_cuda_drv;

/* ---- backend state -------------------------------------------------------- */

static const qkv_gpu_compiler cuda_compiler; /* below: the program cache's callbacks */

typedef struct cu_state {
    CUdevice device;
    CUcontext context; /* the device's primary context, retained */
    CUstream stream;   /* carries all work of the qkv context, in order */
    int max_grid[3];   /* blocks per grid dimension */
    qkv_gpu_program_cache programs;
    CUevent timer[2];  /* device timer's begin and end events, when usable */
} cu_state;

/* QKV_OK, or QKV_ERR_BACKEND naming the failed call `what` and the error. */
static qkv_status cu_check(CUresult r, const char *what)
{
    if (r == CUDA_SUCCESS)
        return QKV_OK;
    const char *text = NULL;
    if (drv->GetErrorString(r, &text) != CUDA_SUCCESS || !text)
        text = "unrecognised error";
    return qkv_fail(QKV_ERR_BACKEND, "CUDA %s failed: %s (error %d)", what, text, (int)r);
}

/* Integer attribute `attr` of device `dev`. */
static qkv_status attribute(CUdevice dev, CUdevice_attribute attr, int *value)
{
    return cu_check(drv->DeviceGetAttribute(value, attr, dev), "cuDeviceGetAttribute");
}

/* Make the state's primary context current on the calling thread. */
static qkv_status make_current(const cu_state *s)
{
    return cu_check(drv->CtxSetCurrent(s->context), "cuCtxSetCurrent");
}

/* Devices the driver reports; 0 when libcuda.so.1 or cuInit is missing. */
static int cuda_device_count(void)
{
    int n = 0;
    return qkv_cuda_driver_loaded() && drv->DeviceGetCount(&n) == CUDA_SUCCESS ? n : 0;
}

/* Name, architecture, versions and limits of device `index`. */
static qkv_status cuda_describe(int index, qkv_device_info *info)
{
    if (!qkv_cuda_driver_loaded())
        return qkv_fail(QKV_ERR_NO_DEVICE,
                        "no CUDA driver (libcuda.so.1 not loadable or cuInit failed)");
    CUdevice dev;
    int major = 0, minor = 0, shared = 0, optin = 0, threads = 0, sms = 0, driver = 0;
    size_t mem = 0;
    qkv_status st = cu_check(drv->DeviceGet(&dev, index), "cuDeviceGet");
    if (st == QKV_OK)
        st = cu_check(drv->DeviceGetName(info->name, (int)sizeof info->name, dev),
                      "cuDeviceGetName");
    if (st == QKV_OK)
        st = attribute(dev, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, &major);
    if (st == QKV_OK)
        st = attribute(dev, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, &minor);
    if (st == QKV_OK)
        st = attribute(dev, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK, &shared);
    if (st == QKV_OK)
        st = attribute(dev, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, &optin);
    if (st == QKV_OK)
        st = attribute(dev, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, &threads);
    if (st == QKV_OK)
        st = attribute(dev, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, &sms);
    if (st == QKV_OK)
        st = cu_check(drv->DeviceTotalMem(&mem, dev), "cuDeviceTotalMem");
    if (st == QKV_OK)
        st = cu_check(drv->DriverGetVersion(&driver), "cuDriverGetVersion");
    if (st != QKV_OK)
        return st;
    char nvrtc[64];
    qkv_cuda_nvrtc_version(nvrtc, sizeof nvrtc);
    snprintf(info->vendor, sizeof info->vendor, "NVIDIA");
    snprintf(info->version, sizeof info->version, "CUDA driver %d.%d, %s", driver / 1000,
             driver % 1000 / 10, nvrtc);
    snprintf(info->arch, sizeof info->arch, "sm_%d%d", major, minor);
    snprintf(info->microarch, sizeof info->microarch, "%s", info->arch);
    info->global_mem = mem;
    info->local_mem = (size_t)shared;
    info->cc_major = major;
    info->cc_minor = minor;
    info->local_mem_optin = (size_t)optin;
    info->max_work_group = (size_t)threads;
    info->compute_units = sms;
    info->mem_align = 256;
    return QKV_OK;
}

/* With the primary context retained: make it current, read the grid limits
 * and create the stream. */
static qkv_status open_stream(cu_state *s)
{
    static const CUdevice_attribute grid[3] = {CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X,
                                               CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y,
                                               CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z};
    qkv_status st = make_current(s);
    for (int d = 0; d < 3 && st == QKV_OK; d++)
        st = attribute(s->device, grid[d], &s->max_grid[d]);
    if (st == QKV_OK)
        st = cu_check(drv->StreamCreate(&s->stream, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
    return st;
}

/* Create the device timer's two events (timing enabled); false, with none
 * kept, if the driver lacks cuEventElapsedTime or creation fails.  The
 * context must be current. */
static bool create_timer_events(cu_state *s)
{
    if (!drv->EventElapsedTime || drv->EventCreate(&s->timer[0], CU_EVENT_DEFAULT) != CUDA_SUCCESS)
        return false;
    if (drv->EventCreate(&s->timer[1], CU_EVENT_DEFAULT) == CUDA_SUCCESS)
        return true;
    (void)drv->EventDestroy(s->timer[0]);
    return false;
}

/* Retain device `index`'s primary context and create the context's stream. */
static qkv_status cuda_open(qkv_context *ctx, int index)
{
    cu_state *s = calloc(1, sizeof *s);
    if (!s)
        return qkv_fail(QKV_ERR_NO_MEMORY, "out of host memory");
    qkv_status st = cu_check(drv->DeviceGet(&s->device, index), "cuDeviceGet");
    if (st == QKV_OK)
        st = cu_check(drv->DevicePrimaryCtxRetain(&s->context, s->device),
                      "cuDevicePrimaryCtxRetain");
    if (st == QKV_OK) {
        st = open_stream(s);
        if (st != QKV_OK) /* st already holds the error to report */
            (void)drv->DevicePrimaryCtxRelease(s->device);
    }
    if (st != QKV_OK) {
        free(s);
        return st;
    }
    ctx->device_timer = create_timer_events(s);
    s->programs.compiler = &cuda_compiler;
    ctx->impl = s;
    return QKV_OK;
}

/* Teardown cannot report errors: every step runs, results are ignored. */
static void cuda_close(qkv_context *ctx)
{
    cu_state *s = ctx->impl;
    (void)drv->CtxSetCurrent(s->context);
    (void)drv->StreamSynchronize(s->stream);
    qkv_gpu_cache_clear(&s->programs);
    if (ctx->device_timer) {
        (void)drv->EventDestroy(s->timer[0]);
        (void)drv->EventDestroy(s->timer[1]);
    }
    (void)drv->StreamDestroy(s->stream);
    (void)drv->DevicePrimaryCtxRelease(s->device);
    free(s);
}

/* cuMemAlloc of the buffer's bytes (256-byte aligned by the driver). */
static qkv_status cuda_alloc(qkv_buffer *buf)
{
    cu_state *s = buf->ctx->impl;
    qkv_status st = make_current(s);
    if (st != QKV_OK)
        return st;
    CUdeviceptr p = 0;
    const CUresult r = drv->MemAlloc(&p, buf->bytes);
    if (r == CUDA_ERROR_OUT_OF_MEMORY)
        return qkv_fail(QKV_ERR_NO_MEMORY, "CUDA cannot allocate %zu bytes", buf->bytes);
    st = cu_check(r, "cuMemAlloc");
    if (st == QKV_OK)
        buf->dptr = (uint64_t)p;
    return st;
}

/* A view is its parent's device pointer plus the offset. */
static qkv_status cuda_view(qkv_buffer *parent, size_t offset, qkv_buffer *view)
{
    view->dptr = parent->dptr + offset;
    return QKV_OK;
}

/* Frees an allocation once the work queued before it has finished; views
 * own nothing.  Cannot report errors. */
static void cuda_release(qkv_buffer *buf)
{
    if (buf->parent)
        return;
    cu_state *s = buf->ctx->impl;
    (void)drv->CtxSetCurrent(s->context);
    (void)drv->StreamSynchronize(s->stream);
    (void)drv->MemFree((CUdeviceptr)buf->dptr);
}

/* Wait for the stream, reporting the first asynchronous error. */
static qkv_status sync_stream(const cu_state *s)
{
    return cu_check(drv->StreamSynchronize(s->stream), "cuStreamSynchronize");
}

/* Host -> device, stream-ordered, returning once the copy is done. */
static qkv_status cuda_write(qkv_buffer *buf, size_t offset, const void *src, size_t bytes)
{
    cu_state *s = buf->ctx->impl;
    qkv_status st = make_current(s);
    if (st == QKV_OK)
        st = cu_check(drv->MemcpyHtoDAsync((CUdeviceptr)(buf->dptr + offset), src, bytes,
                                          s->stream),
                      "cuMemcpyHtoDAsync");
    return st == QKV_OK ? sync_stream(s) : st;
}

/* Device -> host, after the work queued before it. */
static qkv_status cuda_read(const qkv_buffer *buf, size_t offset, void *dst, size_t bytes)
{
    cu_state *s = buf->ctx->impl;
    qkv_status st = make_current(s);
    if (st == QKV_OK)
        st = cu_check(drv->MemcpyDtoHAsync(dst, (CUdeviceptr)(buf->dptr + offset), bytes,
                                          s->stream),
                      "cuMemcpyDtoHAsync");
    return st == QKV_OK ? sync_stream(s) : st;
}

/* Queued on the stream like a kernel; qkv_finish or a read waits for it. */
static qkv_status cuda_copy(qkv_buffer *dst, size_t dst_offset, const qkv_buffer *src,
                            size_t src_offset, size_t bytes)
{
    cu_state *s = dst->ctx->impl;
    qkv_status st = make_current(s);
    if (st == QKV_OK)
        st = cu_check(drv->MemcpyDtoDAsync((CUdeviceptr)(dst->dptr + dst_offset),
                                          (CUdeviceptr)(src->dptr + src_offset), bytes,
                                          s->stream),
                      "cuMemcpyDtoDAsync");
    return st;
}

/* Wait for all work queued on the context's stream. */
static qkv_status cuda_finish(qkv_context *ctx)
{
    cu_state *s = ctx->impl;
    qkv_status st = make_current(s);
    return st == QKV_OK ? sync_stream(s) : st;
}

/* Device timer start: record the begin event on the stream. */
static qkv_status cuda_timer_begin(qkv_context *ctx)
{
    cu_state *s = ctx->impl;
    qkv_status st = make_current(s);
    return st == QKV_OK ? cu_check(drv->EventRecord(s->timer[0], s->stream), "cuEventRecord")
                        : st;
}

/* Device timer stop: record the end event, wait for it and give the time
 * between the two events in microseconds (resolution about 0.5 us). */
static qkv_status cuda_timer_end(qkv_context *ctx, double *us)
{
    cu_state *s = ctx->impl;
    float ms = 0.0f;
    qkv_status st = make_current(s);
    if (st == QKV_OK)
        st = cu_check(drv->EventRecord(s->timer[1], s->stream), "cuEventRecord");
    if (st == QKV_OK)
        st = cu_check(drv->EventSynchronize(s->timer[1]), "cuEventSynchronize");
    if (st == QKV_OK)
        st = cu_check(drv->EventElapsedTime(&ms, s->timer[0], s->timer[1]),
                      "cuEventElapsedTime");
    if (st == QKV_OK)
        *us = (double)ms * 1e3;
    return st;
}

/* ---- kernels -------------------------------------------------------------- */

/* Compile `source` of `program` with `defines` for the context's device
 * architecture (its "sm_XY", "sm_90a" on compute capability 9.0, so the
 * native kernels may use its architecture-specific features): a CUBIN when
 * NVRTC can make one, else compute_XY PTX; load it as the CUmodule *built.
 * The context must be current. */
static qkv_status cuda_build(qkv_context *ctx, const char *program, const char *source,
                             const char *defines, void **built)
{
    char *image;
    size_t size;
    char arch[sizeof ctx->info.arch + 1];
    snprintf(arch, sizeof arch, "%s%s", ctx->info.arch,
             ctx->info.cc_major == 9 && ctx->info.cc_minor == 0 ? "a" : "");
    qkv_status st = qkv_cuda_compile_image(program, source, defines, arch, &image, &size);
    if (st != QKV_OK)
        return st;
    CUmodule module;
    st = cu_check(drv->ModuleLoadData(&module, image), "cuModuleLoadData");
    free(image);
    if (st == QKV_OK)
        *built = module;
    return st;
}

/* The CUfunction `kernel` of a loaded module (owned by the module). */
static qkv_status cuda_module_function(void *built, const char *program, const char *kernel,
                                       void **handle)
{
    CUfunction f;
    const CUresult r = drv->ModuleGetFunction(&f, (CUmodule)built, kernel);
    if (r != CUDA_SUCCESS) {
        char what[160];
        snprintf(what, sizeof what, "lookup of kernel '%s' in '%s'", kernel, program);
        return cu_check(r, what);
    }
    *handle = f;
    return QKV_OK;
}

/* Unload a cached module (the context is current: cuda_close). */
static void cuda_unload(void *built) { (void)drv->ModuleUnload((CUmodule)built); }

static const qkv_gpu_compiler cuda_compiler = {cuda_build, cuda_module_function, NULL,
                                               cuda_unload};

/* Kernel `kernel` of (program, defines) from the context's program cache. */
static qkv_status cuda_get_kernel(qkv_context *ctx, const char *program, const char *kernel,
                                  const char *defines, qkv_gpu_kernel **out)
{
    cu_state *s = ctx->impl;
    const qkv_status st = make_current(s);
    return st == QKV_OK ? qkv_gpu_cache_kernel(&s->programs, ctx, program, kernel, defines, out)
                        : st;
}

/* Grid and block of an NDRange: block = local, grid = global / local in
 * each of ndim dims (the others 1), within the device's limits. */
static qkv_status launch_shape(const qkv_context *ctx, const qkv_gpu_kernel *k, int ndim,
                               const size_t *global, const size_t *local, unsigned *grid,
                               unsigned *block)
{
    const cu_state *s = ctx->impl;
    if (ndim < 1 || ndim > 3 || !global || !local)
        return qkv_fail(QKV_ERR_INVALID_ARG, "CUDA launch of %s: bad NDRange (%d dims)",
                        k->name, ndim);
    size_t threads = 1;
    for (int d = 0; d < ndim; d++) {
        if (local[d] == 0 || global[d] == 0 || global[d] % local[d] != 0)
            return qkv_fail(QKV_ERR_INVALID_ARG,
                            "CUDA launch of %s: global size %zu is not a positive multiple of "
                            "local size %zu in dim %d",
                            k->name, global[d], local[d], d);
        const size_t groups = global[d] / local[d];
        threads = local[d] <= ctx->info.max_work_group ? threads * local[d] : SIZE_MAX;
        if (groups > (size_t)s->max_grid[d] || threads > ctx->info.max_work_group)
            return qkv_fail(QKV_ERR_UNSUPPORTED,
                            "CUDA launch of %s: %zu blocks of %zu threads in dim %d exceed the "
                            "device's limits (%d blocks, %zu threads)",
                            k->name, groups, local[d], d, s->max_grid[d],
                            ctx->info.max_work_group);
        grid[d] = (unsigned)groups;
        block[d] = (unsigned)local[d];
    }
    return QKV_OK;
}

/* Storage of one kernel argument's value for cuLaunchKernel. */
typedef union arg_value {
    CUdeviceptr ptr;
    int32_t i;
    float f;
    int64_t l;
} arg_value;

/* Store argument `a` in *v; returns the address cuLaunchKernel reads (a
 * by-value struct is read where the caller keeps it). */
static void *arg_pointer(const qkv_gpu_arg *a, arg_value *v)
{
    switch (a->kind) {
    case QKV_ARG_BUFFER:
        v->ptr = a->buffer ? (CUdeviceptr)a->buffer->dptr : 0;
        return &v->ptr;
    case QKV_ARG_INT:
        v->i = a->i;
        return &v->i;
    case QKV_ARG_INT64:
        v->l = a->l;
        return &v->l;
    case QKV_ARG_BYTES:
        return (void *)a->bytes;
    default:
        v->f = a->f;
        return &v->f;
    }
}

/* Opt kernel k in to `smem` bytes of dynamic shared memory where that
 * exceeds the default, within the device's opt-in limit. */
static qkv_status opt_in_smem(const qkv_context *ctx, qkv_gpu_kernel *k, size_t smem)
{
    if (smem <= QKV_CUDA_DEFAULT_SMEM || smem <= k->dynamic_smem_set)
        return QKV_OK;
    if (smem > qkv_cuda_smem_limit(&ctx->info))
        return qkv_fail(QKV_ERR_UNSUPPORTED,
                        "CUDA launch of %s: %zu bytes of dynamic shared memory exceed the "
                        "device's opt-in limit %zu",
                        k->name, smem, qkv_cuda_smem_limit(&ctx->info));
    char what[160];
    snprintf(what, sizeof what, "cuFuncSetAttribute(%s, max dynamic shared memory %zu)", k->name,
             smem);
    const qkv_status st = cu_check(
        drv->FuncSetAttribute((CUfunction)k->handle,
                              CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, (int)smem),
        what);
    if (st == QKV_OK)
        k->dynamic_smem_set = smem;
    return st;
}

/* Queue kernel k, grid x block with `smem` bytes of dynamic shared memory,
 * with its arguments on the stream (grid and block within the limits). */
static qkv_status launch_grid(qkv_context *ctx, qkv_gpu_kernel *k, const unsigned *grid,
                              const unsigned *block, size_t smem, int nargs,
                              const qkv_gpu_arg *args)
{
    cu_state *s = ctx->impl;
    if (nargs < 0 || nargs > MAX_ARGS || (nargs > 0 && !args))
        return qkv_fail(QKV_ERR_INVALID_ARG, "CUDA launch of %s: %d arguments (at most %d)",
                        k->name, nargs, MAX_ARGS);
    arg_value values[MAX_ARGS];
    void *params[MAX_ARGS];
    for (int i = 0; i < nargs; i++) {
        if (args[i].kind == QKV_ARG_BYTES && (!args[i].bytes || !args[i].size))
            return qkv_fail(QKV_ERR_INVALID_ARG, "CUDA launch of %s: argument %d has no bytes",
                            k->name, i);
        params[i] = arg_pointer(&args[i], &values[i]);
    }
    qkv_status st = make_current(s);
    if (st == QKV_OK)
        st = opt_in_smem(ctx, k, smem);
    if (st != QKV_OK)
        return st;
    const CUresult r = drv->LaunchKernel((CUfunction)k->handle, grid[0], grid[1], grid[2],
                                        block[0], block[1], block[2], (unsigned)smem, s->stream,
                                        params, NULL);
    if (r == CUDA_SUCCESS)
        return QKV_OK;
    char what[96];
    snprintf(what, sizeof what, "launch of %s", k->name);
    return cu_check(r, what);
}

/* Queue kernel k over the NDRange with its arguments on the stream. */
static qkv_status cuda_launch(qkv_context *ctx, qkv_gpu_kernel *k, int ndim,
                              const size_t *global, const size_t *local, int nargs,
                              const qkv_gpu_arg *args)
{
    unsigned grid[3] = {1, 1, 1}, block[3] = {1, 1, 1};
    const qkv_status st = launch_shape(ctx, k, ndim, global, local, grid, block);
    return st != QKV_OK ? st : launch_grid(ctx, k, grid, block, 0, nargs, args);
}

/* See cuda_native.h: grid and block checked against the device's limits. */
qkv_status qkv_cuda_launch(qkv_context *ctx, qkv_gpu_kernel *k, const unsigned grid[3],
                           const unsigned block[3], size_t smem_bytes, int nargs,
                           const qkv_gpu_arg *args)
{
    const cu_state *s = ctx->impl;
    size_t threads = 1;
    for (int d = 0; d < 3; d++) {
        threads *= block[d];
        if (grid[d] == 0 || block[d] == 0 || grid[d] > (unsigned)s->max_grid[d] ||
            threads > ctx->info.max_work_group)
            return qkv_fail(QKV_ERR_UNSUPPORTED,
                            "CUDA launch of %s: grid (%u, %u, %u) of blocks (%u, %u, %u) is "
                            "empty or exceeds the device's limits",
                            k->name, grid[0], grid[1], grid[2], block[0], block[1], block[2]);
    }
    return launch_grid(ctx, k, grid, block, smem_bytes, nargs, args);
}

/* See cuda_native.h. */
qkv_status qkv_cuda_stream(qkv_context *ctx, CUstream *stream)
{
    if (ctx->backend->kind != QKV_BACKEND_CUDA)
        return qkv_fail(QKV_ERR_INVALID_ARG, "not a CUDA context");
    const cu_state *s = ctx->impl;
    const qkv_status st = make_current(s);
    if (st == QKV_OK)
        *stream = s->stream;
    return st;
}

const qkv_backend qkv_backend_cuda = {
    QKV_BACKEND_CUDA, cuda_device_count, cuda_describe, cuda_open,   cuda_close,
    cuda_alloc,       cuda_view,         cuda_release,  cuda_write,  cuda_read,
    cuda_copy,        cuda_finish,       cuda_timer_begin, cuda_timer_end,
};

const qkv_gpu_ops qkv_gpu_ops_cuda = {cuda_get_kernel, cuda_launch};
