/* dispatch.c - the variants of an op and running a call on one of them. */
#include "tuning.h"

#include <string.h>

bool qkv_variant_supports(const qkv_variant *v, const qkv_context *ctx, const void *params)
{
    return (v->backends & QKV_ON(ctx->backend->kind)) && (!v->supports || v->supports(ctx, params));
}

const qkv_variant *qkv_variant_nth(qkv_op_id op, const qkv_context *ctx, int k)
{
    for (const qkv_variant *const *v = qkv_ops[op]->variants; *v; v++)
        if (qkv_variant_supports(*v, ctx, NULL) && k-- == 0)
            return *v;
    return NULL;
}

const qkv_variant *qkv_variant_find(qkv_op_id op, qkv_backend_kind kind, const char *name)
{
    for (const qkv_variant *const *v = qkv_ops[op]->variants; *v; v++)
        if (((*v)->backends & QKV_ON(kind)) && strcmp((*v)->name, name) == 0)
            return *v;
    return NULL;
}

bool qkv_op_on_backend(qkv_op_id op, qkv_backend_kind kind)
{
    for (const qkv_variant *const *v = qkv_ops[op]->variants; *v; v++)
        if ((*v)->backends & QKV_ON(kind))
            return true;
    return false;
}

void qkv_tile_space_defaults(int nparams, const qkv_tile_param_def *params,
                             qkv_tile_params *tile)
{
    for (int i = 0; i < QKV_MAX_TILE_PARAMS; i++)
        tile->value[i] = i < nparams ? params[i].default_value : 0;
}

void qkv_tile_defaults(const qkv_variant *v, qkv_tile_params *tile)
{
    qkv_tile_space_defaults(v->nparams, v->params, tile);
}

qkv_status qkv_dispatch(qkv_context *ctx, qkv_op_id op, const void *params)
{
    const qkv_op_info *info = qkv_ops[op];
    qkv_choice choice;
    qkv_context_lock(ctx);
    qkv_status st =
        qkv_choose(ctx, op, NULL, params, info->class_size ? info->class_size(params) : 0, &choice);
    if (st == QKV_OK) {
        qkv_clear_error();
        st = choice.variant->run(ctx, params, &choice.tile);
    }
    qkv_context_unlock(ctx);
    return st;
}
