/* gpu_common.c - pieces shared by the OpenCL and CUDA backends. */
#include "gpu.h"

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
