/* backend_opencl.c - OpenCL 1.2 backend: buffers as cl_mem, kernels built
 * at run time from the embedded sources with tile parameters as -D macros,
 * programs cached per context by (program, defines).  The device timer
 * brackets work with marker commands on the in-order queue, created with
 * profiling where the device supports it. */
#define CL_TARGET_OPENCL_VERSION 120
#include "gpu.h"

#include "cpu_features.h"

#include <CL/cl.h>
#include <stdio.h>
#include <stdlib.h>

/* cl_nv_device_attribute_query */
#define QKV_CL_DEVICE_COMPUTE_CAPABILITY_MAJOR_NV 0x4000
#define QKV_CL_DEVICE_COMPUTE_CAPABILITY_MINOR_NV 0x4001

#define MAX_DEVICES 64

typedef struct cl_state {
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;
    int correct_div; /* device supports -cl-fp32-correctly-rounded-divide-sqrt */
    qkv_gpu_program_cache programs;
    cl_event mark;   /* the device timer's begin marker, between begin and end */
} cl_state;

static const qkv_gpu_compiler ocl_compiler; /* below: the program cache's callbacks */

static qkv_status cl_error(cl_int err, const char *what)
{
    return qkv_fail(QKV_ERR_BACKEND, "OpenCL %s failed (error %d)", what, (int)err);
}

/* All devices of all platforms, in platform order. */
static int list_devices(cl_device_id *out, int max)
{
    cl_platform_id platforms[16];
    cl_uint np = 0;
    if (clGetPlatformIDs(16, platforms, &np) != CL_SUCCESS)
        return 0;
    int n = 0;
    for (cl_uint p = 0; p < np && n < max; p++) {
        cl_uint nd = 0;
        if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, (cl_uint)(max - n), out + n, &nd) ==
            CL_SUCCESS)
            n += (int)nd;
    }
    return n;
}

static int ocl_device_count(void)
{
    cl_device_id ids[MAX_DEVICES];
    return list_devices(ids, MAX_DEVICES);
}

static qkv_status device_at(int index, cl_device_id *dev)
{
    cl_device_id ids[MAX_DEVICES];
    if (index >= list_devices(ids, MAX_DEVICES))
        return qkv_fail(QKV_ERR_NO_DEVICE, "no OpenCL device %d", index);
    *dev = ids[index];
    return QKV_OK;
}

static const char *type_name(cl_device_type t)
{
    return t & CL_DEVICE_TYPE_GPU ? "gpu" : t & CL_DEVICE_TYPE_CPU ? "cpu"
                                        : t & CL_DEVICE_TYPE_ACCELERATOR ? "accelerator" : "other";
}

/* The generation of an OpenCL device: the host CPU's for a CPU device (PoCL,
 * Intel's runtime), the compute capability of an NVIDIA GPU, else "". */
static void describe_microarch(cl_device_id dev, cl_device_type type, qkv_device_info *info)
{
    cl_uint major = 0, minor = 0;
    if (type & CL_DEVICE_TYPE_CPU)
        qkv_cpu_microarch(info->microarch, sizeof info->microarch);
    else if (clGetDeviceInfo(dev, QKV_CL_DEVICE_COMPUTE_CAPABILITY_MAJOR_NV, sizeof major, &major,
                             NULL) == CL_SUCCESS &&
             clGetDeviceInfo(dev, QKV_CL_DEVICE_COMPUTE_CAPABILITY_MINOR_NV, sizeof minor, &minor,
                             NULL) == CL_SUCCESS)
        snprintf(info->microarch, sizeof info->microarch, "sm_%u%u", major, minor);
}

static qkv_status ocl_describe(int index, qkv_device_info *info)
{
    cl_device_id dev = NULL;
    qkv_status st = device_at(index, &dev);
    if (st != QKV_OK)
        return st;
    cl_device_type type = 0;
    cl_ulong gmem = 0, lmem = 0;
    size_t wg = 0;
    cl_uint cu = 0, align_bits = 0;
    char driver[64] = "", version[256] = "";
    clGetDeviceInfo(dev, CL_DEVICE_NAME, sizeof info->name, info->name, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_VENDOR, sizeof info->vendor, info->vendor, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_VERSION, sizeof version, version, NULL);
    clGetDeviceInfo(dev, CL_DRIVER_VERSION, sizeof driver, driver, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof gmem, &gmem, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_LOCAL_MEM_SIZE, sizeof lmem, &lmem, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits, &align_bits, NULL);
    snprintf(info->version, sizeof info->version, "%s, driver %s", version, driver);
    snprintf(info->arch, sizeof info->arch, "opencl:%s", type_name(type));
    info->global_mem = (size_t)gmem;
    info->local_mem = (size_t)lmem;
    info->max_work_group = wg;
    info->compute_units = (int)cu;
    info->mem_align = align_bits >= 8 ? align_bits / 8 : 1;
    describe_microarch(dev, type, info);
    return QKV_OK;
}

/* CL_PROFILING_COMMAND_END of a completed event, in device nanoseconds;
 * CL_PROFILING_INFO_NOT_AVAILABLE for a zero timestamp (some implementations
 * do not time markers). */
static cl_int event_end_ns(cl_event ev, cl_ulong *ns)
{
    cl_int err = clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof *ns, ns, NULL);
    return err == CL_SUCCESS && *ns == 0 ? CL_PROFILING_INFO_NOT_AVAILABLE : err;
}

/* Device nanoseconds from the end of marker `begin` to the end of a marker
 * enqueued now, i.e. the span of everything enqueued after `begin` (the
 * queue is in order), once that has finished; releases `begin`. */
static cl_int marker_span(cl_state *s, cl_event begin, cl_ulong *ns)
{
    cl_event end = NULL;
    cl_ulong t0 = 0, t1 = 0;
    cl_int err = clEnqueueMarkerWithWaitList(s->queue, 0, NULL, &end);
    if (err == CL_SUCCESS)
        err = clWaitForEvents(1, &end);
    if (err == CL_SUCCESS)
        err = event_end_ns(begin, &t0);
    if (err == CL_SUCCESS)
        err = event_end_ns(end, &t1);
    if (err == CL_SUCCESS && t1 < t0)
        err = CL_PROFILING_INFO_NOT_AVAILABLE;
    *ns = err == CL_SUCCESS ? t1 - t0 : 0;
    clReleaseEvent(begin);
    if (end)
        clReleaseEvent(end);
    return err;
}

/* Whether markers on the (profiling) queue carry usable timestamps: an
 * empty marker pair must report non-zero, ordered ends. */
static bool markers_timed(cl_state *s)
{
    cl_event begin;
    cl_ulong ns;
    return clEnqueueMarkerWithWaitList(s->queue, 0, NULL, &begin) == CL_SUCCESS &&
           marker_span(s, begin, &ns) == CL_SUCCESS;
}

static qkv_status ocl_open(qkv_context *ctx, int index)
{
    cl_state *s = calloc(1, sizeof *s);
    if (!s)
        return qkv_fail(QKV_ERR_NO_MEMORY, "out of host memory");
    qkv_status st = device_at(index, &s->device);
    cl_int err = CL_SUCCESS;
    cl_command_queue_properties props = 0;
    if (st == QKV_OK) {
        clGetDeviceInfo(s->device, CL_DEVICE_QUEUE_PROPERTIES, sizeof props, &props, NULL);
        props &= CL_QUEUE_PROFILING_ENABLE;
        s->context = clCreateContext(NULL, 1, &s->device, NULL, NULL, &err);
        if (err != CL_SUCCESS)
            st = cl_error(err, "clCreateContext");
    }
    if (st == QKV_OK) {
        s->queue = clCreateCommandQueue(s->context, s->device, props, &err);
        if (err != CL_SUCCESS)
            st = cl_error(err, "clCreateCommandQueue");
    }
    if (st != QKV_OK) {
        if (s->context)
            clReleaseContext(s->context);
        free(s);
        return st;
    }
    cl_device_fp_config fp = 0;
    clGetDeviceInfo(s->device, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL);
    s->correct_div = (fp & CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT) != 0;
    ctx->device_timer = props != 0 && markers_timed(s);
    s->programs.compiler = &ocl_compiler;
    ctx->impl = s;
    return QKV_OK;
}

static void ocl_close(qkv_context *ctx)
{
    cl_state *s = ctx->impl;
    clFinish(s->queue);
    qkv_gpu_cache_clear(&s->programs);
    clReleaseCommandQueue(s->queue);
    clReleaseContext(s->context);
    free(s);
}

static qkv_status ocl_alloc(qkv_buffer *buf)
{
    cl_state *s = buf->ctx->impl;
    cl_ulong max_alloc = 0;
    clGetDeviceInfo(s->device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof max_alloc, &max_alloc, NULL);
    if (max_alloc && buf->bytes > max_alloc)
        return qkv_fail(QKV_ERR_NO_MEMORY,
                        "OpenCL: %zu bytes exceed the device's largest allocation (%llu)",
                        buf->bytes, (unsigned long long)max_alloc);
    cl_int err;
    buf->mem = clCreateBuffer(s->context, CL_MEM_READ_WRITE, buf->bytes, NULL, &err);
    if (err != CL_SUCCESS)
        return err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_HOST_MEMORY ||
                       err == CL_INVALID_BUFFER_SIZE
                   ? qkv_fail(QKV_ERR_NO_MEMORY, "OpenCL cannot allocate %zu bytes (error %d)",
                              buf->bytes, (int)err)
                   : cl_error(err, "clCreateBuffer");
    return QKV_OK;
}

static qkv_status ocl_view(qkv_buffer *parent, size_t offset, qkv_buffer *view)
{
    const cl_buffer_region region = {offset, view->bytes};
    cl_int err;
    view->mem = clCreateSubBuffer(parent->mem, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION,
                                  &region, &err);
    return err == CL_SUCCESS ? QKV_OK : cl_error(err, "clCreateSubBuffer");
}

static void ocl_release(qkv_buffer *buf) { clReleaseMemObject(buf->mem); }

static qkv_status ocl_write(qkv_buffer *buf, size_t offset, const void *src, size_t bytes)
{
    cl_state *s = buf->ctx->impl;
    cl_int err = clEnqueueWriteBuffer(s->queue, buf->mem, CL_TRUE, offset, bytes, src, 0, NULL,
                                      NULL);
    return err == CL_SUCCESS ? QKV_OK : cl_error(err, "clEnqueueWriteBuffer");
}

static qkv_status ocl_read(const qkv_buffer *buf, size_t offset, void *dst, size_t bytes)
{
    cl_state *s = buf->ctx->impl;
    cl_int err = clEnqueueReadBuffer(s->queue, buf->mem, CL_TRUE, offset, bytes, dst, 0, NULL,
                                     NULL);
    return err == CL_SUCCESS ? QKV_OK : cl_error(err, "clEnqueueReadBuffer");
}

static qkv_status ocl_copy(qkv_buffer *dst, size_t dst_offset, const qkv_buffer *src,
                           size_t src_offset, size_t bytes)
{
    cl_state *s = dst->ctx->impl;
    cl_int err = clEnqueueCopyBuffer(s->queue, src->mem, dst->mem, src_offset, dst_offset, bytes,
                                     0, NULL, NULL);
    return err == CL_SUCCESS ? QKV_OK : cl_error(err, "clEnqueueCopyBuffer");
}

static qkv_status ocl_finish(qkv_context *ctx)
{
    cl_state *s = ctx->impl;
    cl_int err = clFinish(s->queue);
    return err == CL_SUCCESS ? QKV_OK : cl_error(err, "clFinish");
}

/* Device timer start: a marker whose end is the time everything enqueued
 * before it has finished. */
static qkv_status ocl_timer_begin(qkv_context *ctx)
{
    cl_state *s = ctx->impl;
    cl_int err = clEnqueueMarkerWithWaitList(s->queue, 0, NULL, &s->mark);
    return err == CL_SUCCESS ? QKV_OK : cl_error(err, "clEnqueueMarkerWithWaitList");
}

/* Device timer stop: microseconds between the end of the begin marker and
 * the end of a marker enqueued now, waited for. */
static qkv_status ocl_timer_end(qkv_context *ctx, double *us)
{
    cl_state *s = ctx->impl;
    cl_ulong ns = 0;
    const cl_int err = marker_span(s, s->mark, &ns);
    s->mark = NULL;
    if (err != CL_SUCCESS)
        return cl_error(err, "device timing with markers");
    *us = (double)ns * 1e-3;
    return QKV_OK;
}

/* Build `source` of `program` with `defines` into a cl_program; the build
 * log's head goes into the error. */
static qkv_status ocl_build(qkv_context *ctx, const char *program, const char *source,
                            const char *defines, void **built)
{
    cl_state *s = ctx->impl;
    cl_int err;
    cl_program prog = clCreateProgramWithSource(s->context, 1, &source, NULL, &err);
    if (err != CL_SUCCESS)
        return cl_error(err, "clCreateProgramWithSource");
    char options[400];
    snprintf(options, sizeof options, "-cl-std=CL1.2 %s %s", defines,
             s->correct_div ? "-cl-fp32-correctly-rounded-divide-sqrt" : "");
    err = clBuildProgram(prog, 1, &s->device, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        char log[1024] = "";
        clGetProgramBuildInfo(prog, s->device, CL_PROGRAM_BUILD_LOG, sizeof log - 1, log, NULL);
        clReleaseProgram(prog);
        return qkv_fail(QKV_ERR_BACKEND, "OpenCL build of '%s' [%s] failed (error %d): %.700s",
                        program, options, (int)err, log);
    }
    *built = prog;
    return QKV_OK;
}

/* The cl_kernel `kernel` of a built program. */
static qkv_status ocl_create_kernel(void *built, const char *program, const char *kernel,
                                    void **handle)
{
    cl_int err;
    cl_kernel k = clCreateKernel((cl_program)built, kernel, &err);
    if (err != CL_SUCCESS)
        return qkv_fail(QKV_ERR_BACKEND, "OpenCL kernel '%s' not found in '%s' (error %d)", kernel,
                        program, (int)err);
    *handle = k;
    return QKV_OK;
}

/* Releases of the program cache's kernels and programs. */
static void ocl_release_kernel(void *handle) { clReleaseKernel((cl_kernel)handle); }
static void ocl_release_program(void *built) { clReleaseProgram((cl_program)built); }

static const qkv_gpu_compiler ocl_compiler = {ocl_build, ocl_create_kernel, ocl_release_kernel,
                                              ocl_release_program};

/* Kernel of (program, defines) from the context's program cache. */
static qkv_status ocl_get_kernel(qkv_context *ctx, const char *program, const char *kernel,
                                 const char *defines, qkv_gpu_kernel **out)
{
    cl_state *s = ctx->impl;
    return qkv_gpu_cache_kernel(&s->programs, ctx, program, kernel, defines, out);
}

/* Set the arguments of kernel k and enqueue it over the NDRange. */
static qkv_status ocl_launch(qkv_context *ctx, qkv_gpu_kernel *k, int ndim,
                             const size_t *global, const size_t *local, int nargs,
                             const qkv_gpu_arg *args)
{
    cl_state *s = ctx->impl;
    const cl_kernel kernel = k->handle;
    for (int i = 0; i < nargs; i++) {
        cl_int err;
        switch (args[i].kind) {
        case QKV_ARG_BUFFER: {
            const cl_mem mem = args[i].buffer ? (cl_mem)args[i].buffer->mem : NULL;
            err = clSetKernelArg(kernel, (cl_uint)i, sizeof mem, &mem);
            break;
        }
        case QKV_ARG_INT:
            err = clSetKernelArg(kernel, (cl_uint)i, sizeof args[i].i, &args[i].i);
            break;
        case QKV_ARG_INT64:
            err = clSetKernelArg(kernel, (cl_uint)i, sizeof args[i].l, &args[i].l);
            break;
        case QKV_ARG_BYTES:
            err = clSetKernelArg(kernel, (cl_uint)i, args[i].size, args[i].bytes);
            break;
        default:
            err = clSetKernelArg(kernel, (cl_uint)i, sizeof args[i].f, &args[i].f);
            break;
        }
        if (err != CL_SUCCESS)
            return qkv_fail(QKV_ERR_BACKEND, "OpenCL clSetKernelArg(%s, %d) failed (error %d)",
                            k->name, i, (int)err);
    }
    cl_int err = clEnqueueNDRangeKernel(s->queue, kernel, (cl_uint)ndim, NULL, global, local, 0,
                                        NULL, NULL);
    if (err != CL_SUCCESS)
        return qkv_fail(QKV_ERR_BACKEND, "OpenCL launch of %s failed (error %d)", k->name,
                        (int)err);
    return QKV_OK;
}

const qkv_backend qkv_backend_opencl = {
    QKV_BACKEND_OPENCL, ocl_device_count, ocl_describe, ocl_open, ocl_close,
    ocl_alloc, ocl_view, ocl_release, ocl_write, ocl_read, ocl_copy, ocl_finish,
    ocl_timer_begin, ocl_timer_end,
};

const qkv_gpu_ops qkv_gpu_ops_opencl = {ocl_get_kernel, ocl_launch};
