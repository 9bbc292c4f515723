/* cuda_gemm.c - host side of the native CUDA w4a8_gemm ("cuda" variant):
 * the FP8 tensor-core kernels of kernels/cuda/fireq_gemm.cu, on compute
 * capability 8.9 and above (mma m16n8k32 e4m3).  M <= 16 runs the decode
 * kernel (split K, then a reduction in split order), larger M the tiled
 * one.  Compile-checked only, never run on a GPU: needs_selection. */
#include "cuda_native.h"
#include "fireq/gemm_variants.h"

#include <math.h>
#include <stdio.h>

#define PROGRAM "fireq_gemm.cu"
#define DECODE_MAX_M 16 /* one m16 row tile */
#define CHUNK 128       /* K per chunk of the decode kernel */
#define REDUCE_THREADS 256
#define MAX_BLOCKS 65536 /* blocks of the grid-stride reduction */
#define TILED_MAX_FRAGMENTS 16 /* m16n8 tiles per warp (two f32 accumulators each) */

enum { T_BM, T_BN, T_WARPS_M, T_WARPS_N, T_SWARPS, T_UNROLL, T_SPLITS };
static const qkv_tile_param_def gemm_space[] = {
    /* tiled kernel: tokens and outputs per block, warps along each */
    {"bm", 64, {32, 64, 128, 0}, false},
    {"bn", 128, {64, 128, 256, 0}, false},
    {"warps_m", 2, {1, 2, 4, 0}, false},
    {"warps_n", 4, {1, 2, 4, 8, 0}, false},
    /* decode kernel (M <= 16): warps (n8 tiles) per block, 128-K chunks
     * loaded before use, most K splits over the grid */
    {"swarps", 4, {2, 4, 8, 0}, false},
    {"unroll", 2, {1, 2, 4, 0}, false},
    {"splits", 8, {1, 2, 4, 8, 16, 32, 0}, true},
};

/* Bytes of fireq_gemm_tiled's dynamic shared memory (fireq_gemm.cu):
 * the Xq and W 64-K steps in 80-byte rows, a 16-byte table and an f32
 * scale per output. */
static size_t tiled_smem_bytes(int bm, int bn)
{
    return (size_t)bm * 80 + (size_t)bn * 80 + (size_t)bn * 20;
}

/* FP8 MMA needs compute capability 8.9 or above. */
static bool has_fp8_mma(const qkv_device_info *dev)
{
    return dev->cc_major * 10 + dev->cc_minor >= 89;
}

/* A tile fits the device: FP8 MMA, whole m16n8 tiles per warp, at most
 * TILED_MAX_FRAGMENTS of them, about 8 registers per tile plus 48 within
 * the register file's share of a thread, blocks within the thread limit,
 * shared memory within the opt-in limit. */
static bool gemm_valid(const qkv_tile_params *t, const qkv_device_info *dev)
{
    const int bm = t->value[T_BM], bn = t->value[T_BN];
    const int wm = t->value[T_WARPS_M], wn = t->value[T_WARPS_N];
    const int threads = wm * wn * 32;
    if (!has_fp8_mma(dev) || bm % (wm * 16) || bn % (wn * 8))
        return false;
    const int fragments = (bm / wm / 16) * (bn / wn / 8);
    const int regs = 65536 / threads < 255 ? 65536 / threads : 255;
    return fragments <= TILED_MAX_FRAGMENTS && fragments * 8 + 48 <= regs &&
           (size_t)threads <= dev->max_work_group &&
           (size_t)t->value[T_SWARPS] * 32 <= dev->max_work_group &&
           tiled_smem_bytes(bm, bn) <= qkv_cuda_smem_limit(dev);
}

/* Runs on CUDA devices of compute capability 8.9 and above only. */
static bool gemm_supports(const qkv_context *ctx, const void *params)
{
    (void)params;
    return has_fp8_mma(&ctx->info);
}

/* -D options of a build: the tile, G, the mode, y's dtype. */
static qkv_status gemm_defines(char *out, size_t size, const qkv_tile_params *tile, int group,
                               bool exact, bool y_f32)
{
    char extra[64];
    snprintf(extra, sizeof extra, "-DGROUP=%d -DEXACT=%d -DY_F32=%d", group, exact, y_f32);
    return qkv_gpu_defines(out, size, QKV_NPARAMS(gemm_space), gemm_space, tile, extra);
}

/* M <= 16: fireq_gemm_decode over (N / (swarps * 8), splits) blocks,
 * partial sums [splits, M, N] f32 in scratch, then fireq_gemm_reduce. */
static qkv_status run_decode(qkv_context *ctx, const qkv_w4a8_gemm_params *p,
                             const qkv_tile_params *tile, const char *defines, float inv_ps)
{
    const size_t chunks = (p->k + CHUNK - 1) / CHUNK;
    const size_t want = (size_t)tile->value[T_SPLITS] < chunks ? (size_t)tile->value[T_SPLITS]
                                                               : chunks;
    const size_t per_split = (chunks + want - 1) / want;
    const size_t splits = (chunks + per_split - 1) / per_split;
    const size_t cols = (size_t)tile->value[T_SWARPS] * 8;
    qkv_gpu_kernel *decode, *reduce;
    qkv_buffer *part;
    qkv_status st;
    if ((st = qkv_gpu_check_grid_yz(splits, "splits", "w4a8_gemm")) ||
        (st = qkv_gpu_ops_cuda.get_kernel(ctx, PROGRAM, "fireq_gemm_decode", defines, &decode)) ||
        (st = qkv_gpu_ops_cuda.get_kernel(ctx, PROGRAM, "fireq_gemm_reduce", defines, &reduce)) ||
        (st = qkv_gpu_scratch(ctx, splits * p->m * p->n * sizeof(float), &part)))
        return st;
    const qkv_gpu_arg args[] = {QKV_GPU_BUF(p->xq), QKV_GPU_BUF(p->wq), QKV_GPU_BUF(p->ws),
                                QKV_GPU_BUF(part),  QKV_GPU_INT(p->m),  QKV_GPU_INT(p->n),
                                QKV_GPU_INT(p->k),  QKV_GPU_INT(per_split)};
    const unsigned grid[3] = {(unsigned)((p->n + cols - 1) / cols), (unsigned)splits, 1};
    const unsigned block[3] = {(unsigned)cols * 4, 1, 1}; /* swarps warps */
    if ((st = qkv_cuda_launch(ctx, decode, grid, block, 0, 8, args)))
        return st;
    const size_t total = p->m * p->n, blocks = (total + REDUCE_THREADS - 1) / REDUCE_THREADS;
    const qkv_gpu_arg reduce_args[] = {QKV_GPU_BUF(part),    QKV_GPU_BUF(p->sx),
                                       QKV_GPU_BUF(p->y),    QKV_GPU_BUF(p->acc),
                                       QKV_GPU_INT(p->m),    QKV_GPU_INT(p->n),
                                       QKV_GPU_INT(splits),  QKV_GPU_FLOAT(inv_ps)};
    const unsigned reduce_grid[3] = {blocks < MAX_BLOCKS ? (unsigned)blocks : MAX_BLOCKS, 1, 1};
    const unsigned reduce_block[3] = {REDUCE_THREADS, 1, 1};
    return qkv_cuda_launch(ctx, reduce, reduce_grid, reduce_block, 0, 8, reduce_args);
}

/* M > 16: fireq_gemm_tiled over (N / bn, M / bm) blocks. */
static qkv_status run_tiled(qkv_context *ctx, const qkv_w4a8_gemm_params *p,
                            const qkv_tile_params *tile, const char *defines, float inv_ps)
{
    const size_t bm = (size_t)tile->value[T_BM], bn = (size_t)tile->value[T_BN];
    const size_t rows = (p->m + bm - 1) / bm;
    qkv_gpu_kernel *k;
    qkv_status st;
    if ((st = qkv_gpu_check_grid_yz(rows, "m / bm", "w4a8_gemm")) ||
        (st = qkv_gpu_ops_cuda.get_kernel(ctx, PROGRAM, "fireq_gemm_tiled", defines, &k)))
        return st;
    const qkv_gpu_arg args[] = {QKV_GPU_BUF(p->xq), QKV_GPU_BUF(p->sx),  QKV_GPU_BUF(p->wq),
                                QKV_GPU_BUF(p->ws), QKV_GPU_BUF(p->y),   QKV_GPU_BUF(p->acc),
                                QKV_GPU_INT(p->m),  QKV_GPU_INT(p->n),   QKV_GPU_INT(p->k),
                                QKV_GPU_FLOAT(inv_ps)};
    const unsigned grid[3] = {(unsigned)((p->n + bn - 1) / bn), (unsigned)rows, 1};
    const unsigned block[3] = {(unsigned)(tile->value[T_WARPS_M] * tile->value[T_WARPS_N] * 32),
                               1, 1};
    return qkv_cuda_launch(ctx, k, grid, block, tiled_smem_bytes((int)bm, (int)bn), 10, args);
}

static qkv_status cuda_gemm(qkv_context *ctx, const void *params, const qkv_tile_params *tile)
{
    const qkv_w4a8_gemm_params *p = params;
    const size_t sizes[] = {p->m, p->n, p->k};
    qkv_status st = qkv_gpu_check_int_sizes(3, sizes, "w4a8_gemm");
    char defines[256];
    if (st == QKV_OK)
        st = gemm_defines(defines, sizeof defines, tile, p->group, p->mode == QKV_W4A8_EXACT,
                          p->y_dtype == QKV_F32);
    if (st != QKV_OK)
        return st;
    const float inv_ps = ldexpf(1.0f, -p->prescale_exp);
    return p->m <= DECODE_MAX_M ? run_decode(ctx, p, tile, defines, inv_ps)
                                : run_tiled(ctx, p, tile, defines, inv_ps);
}

/* Builds: the default tile in each mode, G and y dtype, and a large tile
 * (128 x 128 over 4 x 2 warps, 8 decode warps, 4 chunks in flight). */
static int gemm_builds(qkv_gpu_build *out, int max)
{
    static const char *const kernels[] = {"fireq_gemm_tiled", "fireq_gemm_decode",
                                          "fireq_gemm_reduce", NULL};
    static const int groups[] = {64, 128, 256};
    qkv_tile_params tile;
    qkv_tile_space_defaults(QKV_NPARAMS(gemm_space), gemm_space, &tile);
    int n = 0;
    char d[256];
    for (int g = 0; g < 3; g++) {
        qkv_gpu_build_add(out, max, &n, gemm_defines(d, sizeof d, &tile, groups[g], false, false),
                          PROGRAM, d, kernels);
        for (int f32 = 0; f32 < 2; f32++)
            qkv_gpu_build_add(out, max, &n,
                              gemm_defines(d, sizeof d, &tile, groups[g], true, f32 != 0),
                              PROGRAM, d, kernels);
    }
    tile.value[T_BM] = 128;
    tile.value[T_BN] = 128;
    tile.value[T_WARPS_M] = 4;
    tile.value[T_WARPS_N] = 2;
    tile.value[T_SWARPS] = 8;
    tile.value[T_UNROLL] = 4;
    for (int exact = 0; exact < 2; exact++)
        qkv_gpu_build_add(out, max, &n, gemm_defines(d, sizeof d, &tile, 64, exact != 0, false),
                          PROGRAM, d, kernels);
    return n;
}

const qkv_variant qkv_w4a8_gemm_cuda = {
    .name = "cuda", .op = QKV_OP_W4A8_GEMM, .backends = QKV_ON(QKV_BACKEND_CUDA),
    .run = cuda_gemm, .supports = gemm_supports, .nparams = QKV_NPARAMS(gemm_space),
    .params = gemm_space, .valid = gemm_valid, .needs_selection = true,
    .nmse_floor = 1e-5, /* the spec's bound for FP8-MMA accumulation */
    .gpu_builds = gemm_builds};
