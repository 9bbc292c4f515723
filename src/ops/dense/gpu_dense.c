/* gpu_dense.c - host side of the f16 dense decode attention on OpenCL and
 * CUDA: the two FlashDecoding passes of kernels/opencl/dense.cl with the
 * tile parameters turned into -D macros. */
#include "dense/dense_variants.h"
#include "gpu.h"

#include <math.h>
#include <stdio.h>

#define MAX_HEAD_DIM 256
#define ROW_LANES 32 /* work-items per key/value row (dense.cl's ROW_LANES) */

enum { DENSE_WG, DENSE_SPLIT, DENSE_HEADS };
static const qkv_tile_param_def f16_decode_space[] = {
    /* work-group size, a multiple of ROW_LANES */
    {"wg", 128, {64, 128, 256, 0}, false},
    /* tokens per work-group (FlashDecoding split) */
    {"split", 256, {64, 128, 256, 512, 1024, 0}, false},
    /* most query heads of a kv head sharing one pass over its rows */
    {"heads", 8, {1, 2, 4, 8, 0}, false},
};

/* Bytes of local memory of dense_decode_partial: the lane partials
 * [wg, ROW_LANES + 1] and the scores [heads, split], f32. */
static size_t local_bytes(int wg, int split, int heads)
{
    return ((size_t)wg * (ROW_LANES + 1) + (size_t)heads * (size_t)split) * sizeof(float);
}

/* The partial kernel's local memory and work-group must fit the device. */
static bool f16_decode_valid(const qkv_tile_params *t, const qkv_device_info *dev)
{
    const int wg = t->value[DENSE_WG], split = t->value[DENSE_SPLIT];
    return (size_t)wg <= dev->max_work_group &&
           local_bytes(wg, split, t->value[DENSE_HEADS]) <= dev->local_mem;
}

/* -D options of a build of dense.cl: the tile with HEADS the query heads
 * per work-group `qg`, the head dim D and ROW_LANES. */
static qkv_status dense_defines(char *out, size_t size, const qkv_tile_params *tile, int qg,
                                size_t D)
{
    qkv_tile_params t = *tile;
    t.value[DENSE_HEADS] = qg;
    char extra[64];
    snprintf(extra, sizeof extra, "-DHEAD_DIM=%zu -DROW_LANES=%d", D, ROW_LANES);
    return qkv_gpu_defines(out, size, QKV_NPARAMS(f16_decode_space),
                           f16_decode_space, &t, extra);
}

/* Checks a call against the kernels' limits: D, 32-bit sizes, grid. */
static qkv_status check_limits(const qkv_f16_decode_params *p)
{
    const char *fn = "f16_decode_attention";
    if (p->head_dim > MAX_HEAD_DIM)
        return qkv_fail(QKV_ERR_UNSUPPORTED, "%s: head_dim %zu > %d on GPU backends", fn,
                        p->head_dim, MAX_HEAD_DIM);
    const size_t sizes[] = {p->capacity, p->q_heads};
    const qkv_status st = qkv_gpu_check_int_sizes(2, sizes, fn);
    return st != QKV_OK ? st : qkv_gpu_check_grid_yz(p->batch * p->q_heads, "batch*q_heads", fn);
}

/* Decode: pass 1 over (split, head group), pass 2 merges per query head. */
static qkv_status gpu_f16_decode(qkv_context *ctx, const void *params,
                                 const qkv_tile_params *tile)
{
    const qkv_f16_decode_params *p = params;
    const size_t D = p->head_dim, q_per_kv = p->q_heads / p->kv_heads;
    const size_t bq = p->batch * p->q_heads;
    const int wg = tile->value[DENSE_WG], split = tile->value[DENSE_SPLIT];
    const int qg = qkv_gpu_head_group(q_per_kv, tile->value[DENSE_HEADS]);
    const size_t groups = bq / (size_t)qg, nsplit = (p->tokens + (size_t)split - 1) / (size_t)split;
    qkv_status st = check_limits(p);
    if (st != QKV_OK)
        return st;
    char defines[256];
    const qkv_gpu_ops *gpu = qkv_gpu_ops_of(ctx);
    qkv_gpu_kernel *partial, *merge;
    qkv_buffer *part;
    if ((st = dense_defines(defines, sizeof defines, tile, qg, D)) ||
        (st = gpu->get_kernel(ctx, "dense", "dense_decode_partial", defines, &partial)) ||
        (st = gpu->get_kernel(ctx, "dense", "attention_decode_merge", defines, &merge)) ||
        (st = qkv_gpu_scratch(ctx, bq * nsplit * (D + 2) * sizeof(float), &part)))
        return st;
    const float sm = p->softmax_scale != 0.0f ? p->softmax_scale : 1.0f / sqrtf((float)D);
    const qkv_gpu_arg args[] = {
        QKV_GPU_BUF(p->query),   QKV_GPU_BUF(p->keys),     QKV_GPU_BUF(p->values),
        QKV_GPU_BUF(part),       QKV_GPU_INT(q_per_kv),    QKV_GPU_INT(p->tokens),
        QKV_GPU_INT(p->capacity), QKV_GPU_FLOAT(sm),
    };
    const size_t g1[2] = {nsplit * (size_t)wg, groups}, l1[2] = {(size_t)wg, 1};
    if ((st = gpu->launch(ctx, partial, 2, g1, l1, 8, args)))
        return st;
    return qkv_gpu_launch_merge(ctx, merge, part, p->output, nsplit, D, bq);
}

/* Builds with default tiles: head dims 64 and 128 x each head group. */
static int f16_decode_builds(qkv_gpu_build *out, int max)
{
    static const int dims[] = {64, 128}, groups[] = {1, 2, 4, 8};
    static const char *const kernels[] = {"dense_decode_partial", "attention_decode_merge", NULL};
    qkv_tile_params tile;
    qkv_tile_space_defaults(QKV_NPARAMS(f16_decode_space),
                            f16_decode_space, &tile);
    int n = 0;
    char d[256];
    for (int k = 0; k < 2; k++)
        for (int g = 0; g < 4; g++)
            qkv_gpu_build_add(out, max, &n,
                              dense_defines(d, sizeof d, &tile, groups[g], (size_t)dims[k]),
                              "dense", d, kernels);
    return n;
}

const qkv_variant qkv_f16_decode_attention_generic = {
    .name = "generic", .op = QKV_OP_F16_DECODE_ATTENTION, .backends = QKV_ON_GPU,
    .run = gpu_f16_decode, .nparams = QKV_NPARAMS(f16_decode_space),
    .params = f16_decode_space, .valid = f16_decode_valid, .gpu_builds = f16_decode_builds};
