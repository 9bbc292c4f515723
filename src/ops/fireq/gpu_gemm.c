/* gpu_gemm.c - host side of w4a8_gemm on OpenCL and CUDA: the tiles of
 * kernels/opencl/fireq_gemm.cl in one launch, or, for a few tokens
 * (decode, bound by the weights' bytes), split along K over `split` times
 * more work-groups into partial accumulators that a second kernel adds and
 * finishes. */
#include "fireq/gemm_variants.h"
#include "gpu.h"

#include <stdio.h>

/* Most tokens the split along K applies to. */
#define SPLIT_MAX_M 16

enum { GEMM_WG, GEMM_WM, GEMM_TM, GEMM_TN, GEMM_KSTEP, GEMM_SPLIT };
static const qkv_tile_param_def gemm_space[] = {
    /* work-group size */
    {"wg", 128, {64, 128, 256, 0}, false},
    /* work-items along the tokens (wg / wm along the outputs) */
    {"wm", 4, {1, 2, 4, 8, 16, 0}, false},
    /* tokens per work-item */
    {"tm", 4, {1, 2, 4, 8, 0}, false},
    /* outputs per work-item */
    {"tn", 4, {1, 2, 4, 8, 0}, false},
    /* K per step through local memory */
    {"kstep", 32, {16, 32, 64, 0}, false},
    /* K slices for M <= 16 (at most K / G) */
    {"split", 8, {1, 2, 4, 8, 16, 32, 0}, true},
};

/* Local memory of a tile: the activation and weight tiles, the tables. */
static size_t local_bytes(const qkv_tile_params *t)
{
    const size_t wg = (size_t)t->value[GEMM_WG], wm = (size_t)t->value[GEMM_WM];
    const size_t bm = wm * (size_t)t->value[GEMM_TM], bn = wg / wm * (size_t)t->value[GEMM_TN];
    const size_t ldk = (size_t)t->value[GEMM_KSTEP] + 1;
    return ((bm + bn) * ldk + bn * 16) * sizeof(float);
}

/* The device takes the work-group and its local memory; wm divides wg. */
static bool gemm_valid(const qkv_tile_params *t, const qkv_device_info *dev)
{
    return qkv_gpu_wg_valid(t, dev) && t->value[GEMM_WG] % t->value[GEMM_WM] == 0 &&
           local_bytes(t) <= dev->local_mem;
}

/* -D options of a build: the tile, the mode, y's dtype. */
static qkv_status gemm_defines(char *out, size_t size, const qkv_tile_params *tile,
                               qkv_w4a8_mode mode, qkv_dtype y_dtype)
{
    char extra[32];
    snprintf(extra, sizeof extra, "-DEXACT=%d -DY_F32=%d", mode == QKV_W4A8_EXACT,
             y_dtype == QKV_F32);
    return qkv_gpu_defines(out, size, QKV_NPARAMS(gemm_space), gemm_space, tile, extra);
}

/* K slices of a call: `split` (at most one per group) for M <= 16, else
 * 1; *slice_groups the groups per slice (every slice has some). */
static size_t k_slices(const qkv_w4a8_gemm_params *p, const qkv_tile_params *t,
                       size_t *slice_groups)
{
    const size_t groups = p->k / (size_t)p->group;
    const size_t split = p->m <= SPLIT_MAX_M ? (size_t)t->value[GEMM_SPLIT] : 1;
    *slice_groups = (groups + split - 1) / split;
    return (groups + *slice_groups - 1) / *slice_groups;
}

static qkv_status gpu_gemm(qkv_context *ctx, const void *params, const qkv_tile_params *t)
{
    const char *fn = "w4a8_gemm";
    const qkv_w4a8_gemm_params *p = params;
    const size_t wg = (size_t)t->value[GEMM_WG], wm = (size_t)t->value[GEMM_WM];
    const size_t bm = wm * (size_t)t->value[GEMM_TM], bn = wg / wm * (size_t)t->value[GEMM_TN];
    size_t slice_groups;
    const size_t slices = k_slices(p, t, &slice_groups);
    const size_t wgs = (p->m + bm - 1) / bm * ((p->n + bn - 1) / bn) * slices;
    const size_t sizes[] = {p->m, p->n, p->k, p->m * p->n, wgs};
    qkv_status st = qkv_gpu_check_int_sizes(5, sizes, fn);
    char defines[256];
    qkv_gpu_kernel *k, *reduce = NULL;
    if (st != QKV_OK || (st = gemm_defines(defines, sizeof defines, t, p->mode, p->y_dtype)) ||
        (st = qkv_gpu_ops_of(ctx)->get_kernel(ctx, "fireq_gemm", "fireq_gemm", defines, &k)) ||
        (slices > 1 && (st = qkv_gpu_ops_of(ctx)->get_kernel(ctx, "fireq_gemm",
                                                             "fireq_gemm_reduce", defines,
                                                             &reduce))))
        return st;
    qkv_buffer *part = NULL;
    if (slices > 1 && (st = qkv_gpu_scratch(ctx, slices * p->m * p->n * sizeof(float), &part)))
        return st;
    const size_t global = wgs * wg;
    const qkv_gpu_arg args[] = {
        QKV_GPU_BUF(p->xq),         QKV_GPU_BUF(p->sx),          QKV_GPU_BUF(p->wq),
        QKV_GPU_BUF(p->ws),         QKV_GPU_BUF(p->y),           QKV_GPU_BUF(part ? part : p->acc),
        QKV_GPU_INT(p->m),          QKV_GPU_INT(p->n),           QKV_GPU_INT(p->k),
        QKV_GPU_INT(p->group),      QKV_GPU_INT(slice_groups),   QKV_GPU_INT(p->prescale_exp),
        QKV_GPU_INT(part != NULL),
    };
    if ((st = qkv_gpu_ops_of(ctx)->launch(ctx, k, 1, &global, &wg, 13, args)) || !part)
        return st;
    const size_t outputs = qkv_round_up(p->m * p->n, wg);
    const qkv_gpu_arg reduce_args[] = {
        QKV_GPU_BUF(part),      QKV_GPU_BUF(p->sx), QKV_GPU_BUF(p->y),
        QKV_GPU_BUF(p->acc),    QKV_GPU_INT(p->m),  QKV_GPU_INT(p->n),
        QKV_GPU_INT(slices),    QKV_GPU_INT(p->prescale_exp),
    };
    return qkv_gpu_ops_of(ctx)->launch(ctx, reduce, 1, &outputs, &wg, 8, reduce_args);
}

/* Builds with the default tile, one per mode and y dtype. */
static int gemm_builds(qkv_gpu_build *out, int max)
{
    static const char *const kernels[] = {"fireq_gemm", "fireq_gemm_reduce", NULL};
    static const struct {
        qkv_w4a8_mode mode;
        qkv_dtype y;
    } kinds[] = {{QKV_W4A8_LUT, QKV_BF16}, {QKV_W4A8_EXACT, QKV_BF16}, {QKV_W4A8_EXACT, QKV_F32}};
    qkv_tile_params tile;
    qkv_tile_space_defaults(QKV_NPARAMS(gemm_space), gemm_space, &tile);
    int n = 0;
    char d[256];
    for (int i = 0; i < 3; i++)
        qkv_gpu_build_add(out, max, &n, gemm_defines(d, sizeof d, &tile, kinds[i].mode, kinds[i].y),
                          "fireq_gemm", d, kernels);
    return n;
}

const qkv_variant qkv_w4a8_gemm_generic = {
    .name = "generic", .op = QKV_OP_W4A8_GEMM, .backends = QKV_ON_GPU, .run = gpu_gemm,
    .nparams = QKV_NPARAMS(gemm_space), .params = gemm_space, .valid = gemm_valid,
    .gpu_builds = gemm_builds};
