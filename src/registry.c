/* registry.c - op x backend -> implementation lookup and tile parameters. */
#include "op_table.h"
#include "tuning.h"

static const qkv_kernel_impl *const *backend_table(qkv_backend_kind backend)
{
    switch (backend) {
    case QKV_BACKEND_REF: return qkv_ref_kernels;
    case QKV_BACKEND_CPU: return qkv_cpu_kernels;
#if defined(QKV_HAVE_OPENCL) || defined(QKV_HAVE_CUDA)
    case QKV_BACKEND_OPENCL:
    case QKV_BACKEND_CUDA: return qkv_gpu_kernels;
#endif
    default: return NULL;
    }
}

const qkv_kernel_impl *qkv_kernel_find(qkv_op_id op, qkv_backend_kind backend)
{
    const qkv_kernel_impl *const *table = backend_table(backend);
    if (!table)
        return NULL;
    for (; *table; table++)
        if ((*table)->op == op)
            return *table;
    return NULL;
}

void qkv_tile_defaults(const qkv_kernel_impl *impl, qkv_tile_params *tile)
{
    for (int i = 0; i < QKV_MAX_TILE_PARAMS; i++)
        tile->value[i] = i < impl->nparams ? impl->params[i].default_value : 0;
}

qkv_status qkv_dispatch(qkv_context *ctx, qkv_op_id op, const void *params)
{
    const qkv_kernel_impl *impl = qkv_kernel_find(op, ctx->backend->kind);
    if (!impl)
        return qkv_fail(QKV_ERR_UNSUPPORTED, "op %d is not implemented on backend %s", (int)op,
                        qkv_backend_name(ctx->backend->kind));
    const qkv_op_desc *desc = &qkv_op_table[op];
    qkv_tile_params tile;
    qkv_tile_resolve(ctx, op, impl, desc->class_size ? desc->class_size(params) : 0, &tile);
    qkv_clear_error();
    return impl->run(ctx, params, &tile);
}
