/* gpu_f32_gemm.c - host side of the f32 GEMM baseline on OpenCL and CUDA:
 * one launch of kernels/opencl/f32_gemm.cl, TILE x TILE outputs per
 * work-group, from the tile space. */
#include "baseline/f32_gemm_variants.h"
#include "gpu.h"

enum { GEMM_TILE, GEMM_WORK, GEMM_TK };
static const qkv_tile_param_def f32_gemm_space[] = {
    /* outputs per work-group along M and along N */
    {"tile", 64, {16, 32, 64, 128, 0}, false},
    /* outputs per work-item along each */
    {"work", 4, {1, 2, 4, 8, 0}, false},
    /* channels per step in local memory */
    {"tk", 16, {8, 16, 32, 0}, false},
};

/* Work-items per work-group of a tile: (tile / work)^2. */
static size_t group_items(const qkv_tile_params *t)
{
    const size_t side = (size_t)(t->value[GEMM_TILE] / t->value[GEMM_WORK]);
    return side * side;
}

/* work divides tile; the work-group and the two staged blocks
 * ([tk][tile + 1] f32 each) fit the device. */
static bool f32_gemm_valid(const qkv_tile_params *t, const qkv_device_info *dev)
{
    const int tile = t->value[GEMM_TILE], work = t->value[GEMM_WORK], tk = t->value[GEMM_TK];
    const size_t local = 2 * (size_t)tk * (size_t)(tile + 1) * sizeof(float);
    return work <= tile && tile % work == 0 && group_items(t) <= dev->max_work_group &&
           local <= dev->local_mem;
}

static qkv_status gpu_f32_gemm(qkv_context *ctx, const void *params, const qkv_tile_params *t)
{
    const char *fn = "f32_gemm";
    const qkv_f32_gemm_params *p = params;
    const size_t sizes[] = {p->m, p->n, p->k};
    const size_t tile = (size_t)t->value[GEMM_TILE], items = group_items(t);
    const size_t row_blocks = (p->m + tile - 1) / tile, col_blocks = (p->n + tile - 1) / tile;
    qkv_status st = qkv_gpu_check_int_sizes(3, sizes, fn);
    char defines[256];
    qkv_gpu_kernel *k;
    if (st != QKV_OK || (st = qkv_gpu_check_grid_yz(row_blocks, "m / tile", fn)) ||
        (st = qkv_gpu_defines(defines, sizeof defines, QKV_NPARAMS(f32_gemm_space),
                              f32_gemm_space, t, "")) ||
        (st = qkv_gpu_ops_of(ctx)->get_kernel(ctx, "f32_gemm", "f32_gemm", defines, &k)))
        return st;
    const qkv_gpu_arg args[] = {
        QKV_GPU_BUF(p->x), QKV_GPU_BUF(p->w), QKV_GPU_BUF(p->y),
        QKV_GPU_INT(p->m), QKV_GPU_INT(p->n), QKV_GPU_INT(p->k),
    };
    const size_t global[2] = {col_blocks * items, row_blocks}, local[2] = {items, 1};
    return qkv_gpu_ops_of(ctx)->launch(ctx, k, 2, global, local, 6, args);
}

/* The build with default tiles. */
static int f32_gemm_builds(qkv_gpu_build *out, int max)
{
    static const char *const kernels[] = {"f32_gemm", NULL};
    qkv_tile_params tile;
    qkv_tile_space_defaults(QKV_NPARAMS(f32_gemm_space), f32_gemm_space, &tile);
    int n = 0;
    char d[256];
    qkv_gpu_build_add(out, max, &n,
                      qkv_gpu_defines(d, sizeof d, QKV_NPARAMS(f32_gemm_space), f32_gemm_space,
                                      &tile, ""),
                      "f32_gemm", d, kernels);
    return n;
}

const qkv_variant qkv_f32_gemm_generic = {
    .name = "generic", .op = QKV_OP_F32_GEMM, .backends = QKV_ON_GPU, .run = gpu_f32_gemm,
    .nparams = QKV_NPARAMS(f32_gemm_space), .params = f32_gemm_space, .valid = f32_gemm_valid,
    .gpu_builds = f32_gemm_builds};
