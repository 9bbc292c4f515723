/* gpu_common.c - pieces shared by the OpenCL and CUDA backends. */
#include "gpu.h"

#define MERGE_WG 64 /* work-group size of attention_decode_merge */

const qkv_gpu_ops *qkv_gpu_ops_of(const qkv_context *ctx)
{
    switch (ctx->backend->kind) {
#ifdef QKV_HAVE_OPENCL
    case QKV_BACKEND_OPENCL: return &qkv_gpu_ops_opencl;
#endif
#ifdef QKV_HAVE_CUDA
    case QKV_BACKEND_CUDA: return &qkv_gpu_ops_cuda;
#endif
    default: return NULL;
    }
}

qkv_status qkv_gpu_scratch(qkv_context *ctx, size_t bytes, qkv_buffer **out)
{
    if (!ctx->scratch || ctx->scratch->bytes < bytes) {
        qkv_buffer_destroy(ctx->scratch);
        ctx->scratch = NULL;
        qkv_status st = qkv_buffer_create(ctx, bytes < 4096 ? 4096 : bytes, &ctx->scratch);
        if (st != QKV_OK)
            return st;
    }
    *out = ctx->scratch;
    return QKV_OK;
}

/* Largest power of two <= heads dividing q_per_kv (see gpu.h). */
int qkv_gpu_head_group(size_t q_per_kv, int heads)
{
    int qg = 1;
    while (qg * 2 <= heads && q_per_kv % (size_t)(qg * 2) == 0)
        qg *= 2;
    return qg;
}

/* attention_decode_merge over a (D rounded up to MERGE_WG, bq) grid. */
qkv_status qkv_gpu_launch_merge(qkv_context *ctx, qkv_gpu_kernel *merge, const qkv_buffer *part,
                                const qkv_buffer *output, size_t nsplit, size_t D, size_t bq)
{
    const qkv_gpu_arg args[] = {QKV_GPU_BUF(part), QKV_GPU_BUF(output), QKV_GPU_INT(nsplit)};
    const size_t global[2] = {(D + MERGE_WG - 1) / MERGE_WG * MERGE_WG, bq};
    const size_t local[2] = {MERGE_WG, 1};
    return qkv_gpu_ops_of(ctx)->launch(ctx, merge, 2, global, local, 3, args);
}
