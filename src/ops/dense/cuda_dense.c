/* cuda_dense.c - host side of the native CUDA f16 dense decode attention
 * ("cuda" variant): dense_decode_split and attention_merge of
 * kernels/cuda/dense.cu, launched with dynamic shared memory
 * (cuda_native.h).  Not yet verified on hardware: needs_selection. */
#include "cuda_native.h"
#include "dense/dense_variants.h"

#include <math.h>
#include <stdio.h>

#define PROGRAM "dense.cu"
#define MAX_HEAD_DIM 256
#define MAX_SUMS 64 /* heads x value channels a lane keeps */

enum { DENSE_WARPS, DENSE_SPLIT, DENSE_HEADS, DENSE_KLANES };
static const qkv_tile_param_def f16_decode_space[] = {
    /* warps per block */
    {"warps", 4, {2, 4, 8, 0}, false},
    /* tokens per block (FlashDecoding split) */
    {"split", 256, {64, 128, 256, 512, 1024, 0}, false},
    /* most query heads of a kv head sharing one pass over its rows */
    {"heads", 8, {1, 2, 4, 8, 0}, false},
    /* lanes reading one key row together */
    {"klanes", 16, {4, 8, 16, 32, 0}, false},
};

/* dense.cu's value-phase layout at head dim D: f16 values per load (VW),
 * lanes per row (V_LANES), value channels a lane keeps (V_CHANNELS). */
typedef struct value_layout {
    int vw, lanes, channels;
} value_layout;

static value_layout layout_of(size_t D)
{
    value_layout l;
    l.vw = D % 8 == 0 ? 8 : D % 4 == 0 ? 4 : D % 2 == 0 ? 2 : 1;
    const int loads = (int)D / l.vw;
    l.lanes = 1;
    while (l.lanes * 2 <= loads && l.lanes < 32)
        l.lanes *= 2;
    l.channels = (loads + l.lanes - 1) / l.lanes * l.vw;
    return l;
}

/* Bytes of dynamic shared memory of dense_decode_split (dense.cu's
 * SMEM_FLOATS): queries [heads, D], scores [heads, split], team sums
 * [warps * 32 / V_LANES, D], f32. */
static size_t smem_bytes(int warps, int split, int heads, size_t D)
{
    const size_t teams = (size_t)warps * (32 / (size_t)layout_of(D).lanes);
    return ((size_t)heads * (D + (size_t)split) + teams * D) * sizeof(float);
}

/* The block fits the device and its shared memory the opt-in limit at
 * every D <= MAX_HEAD_DIM (the team sums are largest where D has few
 * loads per row: bounded by warps * 64 * 8 floats). */
static bool f16_decode_valid(const qkv_tile_params *t, const qkv_device_info *dev)
{
    const int warps = t->value[DENSE_WARPS];
    const size_t bytes = smem_bytes(warps, t->value[DENSE_SPLIT], t->value[DENSE_HEADS],
                                    MAX_HEAD_DIM) +
                         (size_t)warps * 64 * 8 * sizeof(float);
    return (size_t)warps * 32 <= dev->max_work_group && bytes <= qkv_cuda_smem_limit(dev);
}

/* -D options of a build of dense.cu: the tile with HEADS the query heads
 * per block `qg` and the head dim D. */
static qkv_status dense_defines(char *out, size_t size, const qkv_tile_params *tile, int qg,
                                size_t D)
{
    qkv_tile_params t = *tile;
    t.value[DENSE_HEADS] = qg;
    char extra[32];
    snprintf(extra, sizeof extra, "-DHEAD_DIM=%zu", D);
    return qkv_gpu_defines(out, size, QKV_NPARAMS(f16_decode_space), f16_decode_space, &t,
                           extra);
}

/* Decode: dense_decode_split over (split, head group), then
 * attention_merge per query head. */
static qkv_status cuda_f16_decode(qkv_context *ctx, const void *params,
                                  const qkv_tile_params *tile)
{
    const qkv_f16_decode_params *p = params;
    const char *fn = "f16_decode_attention";
    const size_t D = p->head_dim, q_per_kv = p->q_heads / p->kv_heads;
    const size_t bq = p->batch * p->q_heads;
    if (D > MAX_HEAD_DIM)
        return qkv_fail(QKV_ERR_UNSUPPORTED, "%s: head_dim %zu > %d on the cuda variant", fn, D,
                        MAX_HEAD_DIM);
    const size_t sizes[] = {p->capacity, p->q_heads};
    qkv_status st = qkv_gpu_check_int_sizes(2, sizes, fn);
    if (st == QKV_OK)
        st = qkv_gpu_check_grid_yz(bq, "batch*q_heads", fn);
    if (st != QKV_OK)
        return st;
    const int warps = tile->value[DENSE_WARPS], split = tile->value[DENSE_SPLIT];
    const int most = MAX_SUMS / layout_of(D).channels;
    const int heads = tile->value[DENSE_HEADS] < most ? tile->value[DENSE_HEADS] : most;
    const int qg = qkv_gpu_head_group(q_per_kv, heads);
    const size_t nsplit = (p->tokens + (size_t)split - 1) / (size_t)split;
    char defines[256];
    qkv_gpu_kernel *partial, *merge;
    qkv_buffer *part;
    if ((st = dense_defines(defines, sizeof defines, tile, qg, D)) ||
        (st = qkv_gpu_ops_cuda.get_kernel(ctx, PROGRAM, "dense_decode_split", defines,
                                          &partial)) ||
        (st = qkv_gpu_ops_cuda.get_kernel(ctx, PROGRAM, "attention_merge", defines, &merge)) ||
        (st = qkv_gpu_scratch(ctx, bq * nsplit * (D + 2) * sizeof(float), &part)))
        return st;
    const float sm = p->softmax_scale != 0.0f ? p->softmax_scale : 1.0f / sqrtf((float)D);
    const qkv_gpu_arg args[] = {
        QKV_GPU_BUF(p->query),    QKV_GPU_BUF(p->keys),     QKV_GPU_BUF(p->values),
        QKV_GPU_BUF(part),        QKV_GPU_INT(q_per_kv),    QKV_GPU_INT(p->tokens),
        QKV_GPU_INT(p->capacity), QKV_GPU_FLOAT(sm),
    };
    const unsigned grid[3] = {(unsigned)nsplit, (unsigned)(bq / (size_t)qg), 1};
    const unsigned block[3] = {(unsigned)warps * 32, 1, 1};
    st = qkv_cuda_launch(ctx, partial, grid, block, smem_bytes(warps, split, qg, D), 8, args);
    if (st != QKV_OK)
        return st;
    const qkv_gpu_arg merge_args[] = {QKV_GPU_BUF(part), QKV_GPU_BUF(p->output),
                                      QKV_GPU_INT(nsplit)};
    const unsigned merge_grid[3] = {(unsigned)bq, 1, 1};
    const unsigned merge_block[3] = {(unsigned)qkv_round_up(D, 32), 1, 1};
    return qkv_cuda_launch(ctx, merge, merge_grid, merge_block, 0, 3, merge_args);
}

/* Builds: the default tile at head dims 128 and 64, each load width (D 100
 * loads 4 values, 66 two, 33 one), one head, and the largest team. */
static int f16_decode_builds(qkv_gpu_build *out, int max)
{
    static const char *const kernels[] = {"dense_decode_split", "attention_merge", NULL};
    static const struct {
        int heads, klanes;
        size_t D;
    } list[] = {{8, 16, 128}, {4, 8, 64}, {2, 16, 100}, {8, 32, 66}, {1, 4, 33}, {8, 32, 256}};
    qkv_tile_params tile;
    qkv_tile_space_defaults(QKV_NPARAMS(f16_decode_space), f16_decode_space, &tile);
    int n = 0;
    char d[256];
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) {
        tile.value[DENSE_KLANES] = list[i].klanes;
        qkv_gpu_build_add(out, max, &n, dense_defines(d, sizeof d, &tile, list[i].heads, list[i].D),
                          PROGRAM, d, kernels);
    }
    return n;
}

const qkv_variant qkv_f16_decode_attention_cuda = {
    .name = "cuda", .op = QKV_OP_F16_DECODE_ATTENTION, .backends = QKV_ON(QKV_BACKEND_CUDA),
    .run = cuda_f16_decode, .nparams = QKV_NPARAMS(f16_decode_space),
    .params = f16_decode_space, .valid = f16_decode_valid, .needs_selection = true,
    .gpu_builds = f16_decode_builds};
