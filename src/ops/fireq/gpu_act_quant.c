/* gpu_act_quant.c - host side of w4a8_quant_activations on OpenCL and CUDA:
 * one launch of kernels/opencl/fireq_act.cl (rows per work-group and the
 * work-group size from the tile space), then, unless the call is
 * unchecked, a read of the flag that rows holding NaN or Inf set. */
#include "fireq/act_quant_variants.h"
#include "gpu.h"

#include <stdio.h>

/* Work-group size; rows per work-group (WG / ROWS work-items per row). */
enum { ACT_WG, ACT_ROWS };
static const qkv_tile_param_def act_quant_space[] = {
    {"wg", 256, {32, 64, 128, 256, 512, 0}, false},
    {"rows", 1, {1, 2, 4, 8, 0}, false},
};

/* The program's input dtype id (fireq_act.cl's IN_TYPE_ID). */
static int in_type_id(qkv_dtype dtype)
{
    return dtype == QKV_F32 ? 0 : dtype == QKV_F16 ? 1 : 2;
}

/* -D options of a build: the tile and the input dtype. */
static qkv_status act_defines(char *out, size_t size, const qkv_tile_params *tile,
                              qkv_dtype dtype)
{
    char extra[32];
    snprintf(extra, sizeof extra, "-DIN_TYPE_ID=%d", in_type_id(dtype));
    return qkv_gpu_defines(out, size, QKV_NPARAMS(act_quant_space), act_quant_space, tile,
                           extra);
}

static qkv_status gpu_act_quant(qkv_context *ctx, const void *params, const qkv_tile_params *t)
{
    const char *fn = "w4a8_quant_activations";
    const qkv_w4a8_act_quant_params *p = params;
    const size_t sizes[] = {p->m, p->k};
    qkv_status st = qkv_gpu_check_int_sizes(2, sizes, fn);
    char defines[256];
    qkv_gpu_kernel *k;
    if (st != QKV_OK || (st = act_defines(defines, sizeof defines, t, p->dtype)) ||
        (st = qkv_gpu_ops_of(ctx)->get_kernel(ctx, "fireq_act", "fireq_quant_activations",
                                              defines, &k)))
        return st;
    const bool check = !p->unchecked;
    qkv_buffer *flag = NULL;
    const int32_t zero = 0;
    if (check && ((st = qkv_gpu_scratch(ctx, sizeof zero, &flag)) ||
                  (st = qkv_buffer_write(flag, 0, &zero, sizeof zero))))
        return st;
    const size_t wg = (size_t)t->value[ACT_WG], rows = (size_t)t->value[ACT_ROWS];
    const size_t global = (p->m + rows - 1) / rows * wg;
    const qkv_gpu_arg args[] = {
        QKV_GPU_BUF(p->x), QKV_GPU_BUF(p->xq),   QKV_GPU_BUF(p->sx),  QKV_GPU_INT(p->m),
        QKV_GPU_INT(p->k), QKV_GPU_INT(check), QKV_GPU_BUF(flag),
    };
    if ((st = qkv_gpu_ops_of(ctx)->launch(ctx, k, 1, &global, &wg, 7, args)) || !check)
        return st;
    int32_t found = 0;
    st = qkv_buffer_read(flag, 0, &found, sizeof found);
    return st != QKV_OK ? st : qkv_act_quant_status(found != 0);
}

/* Builds with default tiles, one per input dtype. */
static int act_quant_builds(qkv_gpu_build *out, int max)
{
    static const char *const kernels[] = {"fireq_quant_activations", NULL};
    static const qkv_dtype dtypes[] = {QKV_F32, QKV_F16, QKV_BF16};
    qkv_tile_params tile;
    qkv_tile_space_defaults(QKV_NPARAMS(act_quant_space), act_quant_space, &tile);
    int n = 0;
    char d[256];
    for (int i = 0; i < 3; i++)
        qkv_gpu_build_add(out, max, &n, act_defines(d, sizeof d, &tile, dtypes[i]), "fireq_act",
                          d, kernels);
    return n;
}

const qkv_variant qkv_w4a8_quant_activations_generic = {
    .name = "generic", .op = QKV_OP_W4A8_QUANT_ACTIVATIONS, .backends = QKV_ON_GPU,
    .run = gpu_act_quant, .nparams = QKV_NPARAMS(act_quant_space), .params = act_quant_space,
    .valid = qkv_gpu_wg_valid, .gpu_builds = act_quant_builds};
