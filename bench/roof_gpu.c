/* roof_gpu.c - GPU roofs: the copy and multiply-add kernels of
 * kernels/opencl/roof.cl launched through qkv_gpu_ops (OpenCL and CUDA). */
#include "roof.h"
#include "gpu.h"

#define COPY_MAX_BYTES ((size_t)256 << 20) /* per buffer */
#define COPY_ELEM 16                       /* bytes of a uint4 */
#define FMA_ITEMS_PER_UNIT 16384 /* work-items per compute unit and launch */
#define FMA_FLOPS_PER_ITEM 4096.0 /* 256 rounds of 8 fmas in roof_fma */
#define WG 256

/* A probe's kernel, buffers and ND range. */
typedef struct gpu_probe {
    qkv_context *ctx;
    qkv_gpu_kernel *kernel;
    qkv_buffer *a, *b;
    size_t global, local;
    int count; /* elements copied */
} gpu_probe;

/* n launches of roof_copy, then finish; work = bytes read + written. */
static double copy_run(void *arg, long n)
{
    const gpu_probe *p = arg;
    const qkv_gpu_arg args[] = {QKV_GPU_BUF(p->a), QKV_GPU_BUF(p->b), QKV_GPU_INT(p->count)};
    for (long r = 0; r < n; r++)
        if (qkv_gpu_ops_of(p->ctx)->launch(p->ctx, p->kernel, 1, &p->global, &p->local, 3,
                                           args) != QKV_OK)
            return -1.0;
    if (qkv_finish(p->ctx) != QKV_OK)
        return -1.0;
    return 2.0 * (double)n * (double)p->count * COPY_ELEM;
}

/* n launches of roof_fma, then finish; work = flops. */
static double fma_run(void *arg, long n)
{
    const gpu_probe *p = arg;
    const qkv_gpu_arg args[] = {QKV_GPU_BUF(p->a), QKV_GPU_FLOAT(0.999f), QKV_GPU_FLOAT(1e-3f)};
    for (long r = 0; r < n; r++)
        if (qkv_gpu_ops_of(p->ctx)->launch(p->ctx, p->kernel, 1, &p->global, &p->local, 3,
                                           args) != QKV_OK)
            return -1.0;
    if (qkv_finish(p->ctx) != QKV_OK)
        return -1.0;
    return (double)n * (double)p->global * FMA_FLOPS_PER_ITEM;
}

/* Best rate of fn over `trials`, or the failure of its last call. */
static qkv_status probe_rate(bench_work_fn fn, gpu_probe *p, int trials, double *rate)
{
    *rate = bench_best_rate(fn, p, trials);
    return *rate < 0.0 ? qkv_fail(QKV_ERR_BACKEND, "roof probe failed: %s", qkv_last_error())
                       : QKV_OK;
}

qkv_status bench_roof_gpu(qkv_context *ctx, int trials, bench_roof *roof)
{
    qkv_device_info info;
    qkv_status st = qkv_context_info(ctx, &info);
    if (st != QKV_OK)
        return st;
    const size_t local = info.max_work_group < WG ? info.max_work_group : WG;
    size_t bytes = info.global_mem / 8 < COPY_MAX_BYTES ? info.global_mem / 8 : COPY_MAX_BYTES;
    bytes -= bytes % (COPY_ELEM * local);
    gpu_probe copy = {ctx, NULL, NULL, NULL, bytes / COPY_ELEM, local,
                      (int)(bytes / COPY_ELEM)};
    const size_t items = (size_t)info.compute_units * FMA_ITEMS_PER_UNIT;
    gpu_probe chains = {ctx, NULL, NULL, NULL, items - items % local, local, 0};
    const qkv_gpu_ops *ops = qkv_gpu_ops_of(ctx);
    st = ops->get_kernel(ctx, "roof", "roof_copy", "", &copy.kernel);
    if (st == QKV_OK)
        st = ops->get_kernel(ctx, "roof", "roof_fma", "", &chains.kernel);
    if (st == QKV_OK)
        st = qkv_buffer_create(ctx, bytes, &copy.a);
    if (st == QKV_OK)
        st = qkv_buffer_create(ctx, bytes, &copy.b);
    if (st == QKV_OK)
        st = qkv_buffer_create(ctx, chains.global * sizeof(float), &chains.a);
    if (st == QKV_OK)
        st = probe_rate(copy_run, &copy, trials, &roof->copy_bytes_per_s);
    if (st == QKV_OK)
        st = probe_rate(fma_run, &chains, trials, &roof->fma_flops_per_s);
    qkv_buffer_destroy(copy.a);
    qkv_buffer_destroy(copy.b);
    qkv_buffer_destroy(chains.a);
    return st;
}
