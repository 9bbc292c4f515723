/* cuda_kivi.c - host side of the native CUDA KIVI variants ("cuda"): the
 * kernels of kernels/cuda/kivi.cu, launched with explicit grids, dynamic
 * shared memory and a by-value argument struct (cuda_native.h).  Not yet
 * verified on hardware: every variant needs_selection. */
#include "../../../kernels/cuda/kivi_args.cuh"
#include "cuda_native.h"
#include "kivi/kivi_variants.h"
#include "kivi/quant_input_check.h"

#include <math.h>
#include <stdio.h>

#define PROGRAM "kivi.cu"
#define SPACE(space) QKV_NPARAMS(space), space /* nparams, params */
#define MAX_BLOCKS 65536                         /* blocks of a grid-stride launch */

/* Get kernel `name` of kivi.cu built with `defines`. */
static qkv_status kernel(qkv_context *ctx, const char *name, const char *defines,
                         qkv_gpu_kernel **k)
{
    return qkv_gpu_ops_cuda.get_kernel(ctx, PROGRAM, name, defines, k);
}

/* Blocks of `threads` threads for `units` grid-stride units, `items` per
 * thread (at least 1, at most MAX_BLOCKS). */
static unsigned blocks_for(size_t units, int threads, int items)
{
    const size_t per_block = (size_t)threads * (size_t)items;
    const size_t b = (units + per_block - 1) / per_block;
    return b == 0 ? 1u : b > MAX_BLOCKS ? MAX_BLOCKS : (unsigned)b;
}

/* A 1-D launch of `blocks` blocks of `threads`, no dynamic shared memory. */
static qkv_status launch_1d(qkv_context *ctx, qkv_gpu_kernel *k, unsigned blocks, int threads,
                            int nargs, const qkv_gpu_arg *args)
{
    const unsigned grid[3] = {blocks, 1, 1}, block[3] = {(unsigned)threads, 1, 1};
    return qkv_cuda_launch(ctx, k, grid, block, 0, nargs, args);
}

/* ---- quantizers and dequantizers ------------------------------------------ */

/* Threads per block, grid-stride units per thread: both size the launch
 * only (kivi.cu's unit of work is fixed: 16 bytes of input or one code word). */
enum { ELEM_WG, ELEM_ITEMS };
static const qkv_tile_param_def elementwise_space[] = {
    {"wg", 128, {64, 128, 256, 512, 0}, true},
    {"items", 1, {1, 2, 4, 8, 0}, true},
};

/* The element-wise variants' predicate: the block fits the device. */
static bool elementwise_valid(const qkv_tile_params *t, const qkv_device_info *dev)
{
    return (size_t)t->value[ELEM_WG] <= dev->max_work_group;
}

/* -D options of a quantizer or dequantizer build. */
static qkv_status elementwise_defines(char *out, size_t size, int bits, int group, bool in_f16)
{
    const int n = snprintf(out, size, "-DBITS=%d -DGROUP=%d -DIN_F16=%d", bits, group, in_f16);
    return n > 0 && (size_t)n < size ? QKV_OK
                                     : qkv_fail(QKV_ERR_INVALID_ARG, "kivi.cu defines too long");
}

/* Scan the quantizer input for values it rejects; status as the host's. */
static qkv_status scan_input(qkv_context *ctx, const qkv_kivi_quant_params *p,
                             const char *defines, int wg, const char *fn)
{
    qkv_gpu_kernel *k;
    qkv_buffer *flag;
    const int32_t zero = 0;
    int32_t found = 0;
    qkv_status st = kernel(ctx, "kivi_scan_input", defines, &k);
    if (st == QKV_OK)
        st = qkv_gpu_scratch(ctx, sizeof(int32_t), &flag);
    if (st == QKV_OK)
        st = qkv_buffer_write(flag, 0, &zero, sizeof zero);
    if (st != QKV_OK)
        return st;
    const size_t per_chunk = p->dtype == QKV_F16 ? 8 : 4; /* values per 16-byte word */
    const size_t chunks = p->batch * p->heads * p->tokens * p->head_dim / per_chunk;
    const qkv_gpu_arg args[] = {
        QKV_GPU_BUF(p->input),        QKV_GPU_INT(p->tokens), QKV_GPU_INT(p->head_dim),
        QKV_GPU_INT(p->in_capacity),  QKV_GPU_INT64(chunks),  QKV_GPU_BUF(flag),
    };
    st = launch_1d(ctx, k, blocks_for(chunks, wg, 4), wg, 6, args);
    if (st == QKV_OK)
        st = qkv_buffer_read(flag, 0, &found, sizeof found);
    return st != QKV_OK ? st : qkv_quant_input_status(found, fn);
}

/* Keys or values: checks, input scan (unless unchecked), then one
 * grid-stride launch.  Thread units: 16 bytes of input channels of one
 * token group (keys) or one token (values). */
static qkv_status cuda_quant(qkv_context *ctx, const qkv_kivi_quant_params *p,
                             const qkv_tile_params *tile, bool keys)
{
    const char *fn = keys ? "kivi_quant_keys" : "kivi_quant_values";
    const size_t bh = p->batch * p->heads;
    const size_t sizes[] = {bh, p->tokens, p->head_dim, p->in_capacity, p->out_capacity,
                            bh * p->tokens};
    qkv_status st = qkv_gpu_check_int_sizes(6, sizes, fn);
    if (st != QKV_OK)
        return st;
    const int wg = tile->value[ELEM_WG], items = tile->value[ELEM_ITEMS];
    const size_t chunks = p->head_dim / (p->dtype == QKV_F16 ? 8 : 4);
    const size_t units = keys ? bh * (p->tokens / (size_t)p->group) * chunks
                              : bh * p->tokens * chunks;
    char defines[96];
    qkv_gpu_kernel *k;
    if ((st = elementwise_defines(defines, sizeof defines, p->bits, p->group,
                                  p->dtype == QKV_F16)) ||
        (!p->unchecked && (st = scan_input(ctx, p, defines, wg, fn))) ||
        (st = kernel(ctx, fn, defines, &k)))
        return st;
    const qkv_gpu_arg args[] = {
        QKV_GPU_BUF(p->input),       QKV_GPU_BUF(p->codes),        QKV_GPU_BUF(p->scale),
        QKV_GPU_BUF(p->min),         QKV_GPU_INT(bh),              QKV_GPU_INT(p->tokens),
        QKV_GPU_INT(p->head_dim),    QKV_GPU_INT(p->in_capacity),  QKV_GPU_INT(p->out_capacity),
        QKV_GPU_INT(p->out_offset),
    };
    return launch_1d(ctx, k, blocks_for(units, wg, items), wg, 10, args);
}

static qkv_status cuda_quant_keys(qkv_context *ctx, const void *p, const qkv_tile_params *t)
{
    return cuda_quant(ctx, p, t, true);
}

static qkv_status cuda_quant_values(qkv_context *ctx, const void *p, const qkv_tile_params *t)
{
    return cuda_quant(ctx, p, t, false);
}

/* Keys: a thread unit is one code word of 4 channels; values: one code
 * word. */
static qkv_status cuda_dequant(qkv_context *ctx, const qkv_kivi_dequant_params *p,
                               const qkv_tile_params *tile, bool keys)
{
    const char *fn = keys ? "kivi_dequant_keys" : "kivi_dequant_values";
    const size_t bh = p->batch * p->heads, rows = bh * p->tokens;
    const size_t sizes[] = {bh, p->tokens, p->head_dim, rows};
    qkv_status st = qkv_gpu_check_int_sizes(4, sizes, fn);
    if (st != QKV_OK)
        return st;
    const int wg = tile->value[ELEM_WG], items = tile->value[ELEM_ITEMS];
    const size_t per_word = (size_t)(32 / p->bits);
    char defines[96];
    qkv_gpu_kernel *k;
    if ((st = elementwise_defines(defines, sizeof defines, p->bits, p->group, true)) ||
        (st = kernel(ctx, fn, defines, &k)))
        return st;
    if (keys) {
        const size_t units = bh * (p->tokens / per_word) * (p->head_dim / 4);
        const qkv_gpu_arg args[] = {QKV_GPU_BUF(p->codes), QKV_GPU_BUF(p->scale),
                                    QKV_GPU_BUF(p->min),   QKV_GPU_BUF(p->output),
                                    QKV_GPU_INT(bh),       QKV_GPU_INT(p->tokens),
                                    QKV_GPU_INT(p->head_dim)};
        return launch_1d(ctx, k, blocks_for(units, wg, items), wg, 7, args);
    }
    const size_t units = rows * (p->head_dim / per_word);
    const qkv_gpu_arg args[] = {QKV_GPU_BUF(p->codes),    QKV_GPU_BUF(p->scale),
                                QKV_GPU_BUF(p->min),      QKV_GPU_BUF(p->output),
                                QKV_GPU_INT(p->head_dim), QKV_GPU_INT(rows)};
    return launch_1d(ctx, k, blocks_for(units, wg, items), wg, 6, args);
}

static qkv_status cuda_dequant_keys(qkv_context *ctx, const void *p, const qkv_tile_params *t)
{
    return cuda_dequant(ctx, p, t, true);
}

static qkv_status cuda_dequant_values(qkv_context *ctx, const void *p, const qkv_tile_params *t)
{
    return cuda_dequant(ctx, p, t, false);
}

/* ---- decode attention ----------------------------------------------------- */

enum { DECODE_WARPS, DECODE_SPLIT, DECODE_HEADS, DECODE_KLANES };
static const qkv_tile_param_def decode_space[] = {
    /* warps per block */
    {"warps", 4, {2, 4, 8, 0}, false},
    /* tokens per block (FlashDecoding split) */
    {"split", 256, {64, 128, 256, 512, 1024, 0}, false},
    /* most query heads of a kv head sharing one pass over its codes */
    {"heads", 4, {1, 2, 4, 8, 0}, false},
    /* lanes scoring one key code word together */
    {"klanes", 8, {4, 8, 16, 32, 0}, false},
};

#define MAX_HEAD_DIM 256
#define MAX_SCORES 64 /* heads x tokens of a code word one key team sums */

/* Most query heads a block serves at `bits`: a key team keeps heads x
 * (32 / bits) sums. */
static int max_heads(int bits) { return MAX_SCORES / (32 / bits); }

/* Bytes of dynamic shared memory of kivi_decode_split (kivi.cu's
 * SMEM_FLOATS): queries [heads, D] and scores [heads, split] f32, staged
 * codes max(D * (split/f + 1), split * D/f) u32, warp sums [warps, D]. */
static size_t decode_smem_bytes(int warps, int split, int heads, int bits, size_t D)
{
    const size_t f = (size_t)(32 / bits), s = (size_t)split;
    const size_t key_words = D * (s / f + 1), value_words = s * (D / f);
    return ((size_t)heads * (D + s) + (key_words > value_words ? key_words : value_words) +
            (size_t)warps * D) *
           sizeof(float);
}

/* The block fits the device and its shared memory the opt-in limit at any
 * D <= MAX_HEAD_DIM and 2 or 4 bits. */
static bool decode_valid(const qkv_tile_params *t, const qkv_device_info *dev)
{
    const int warps = t->value[DECODE_WARPS];
    return (size_t)warps * 32 <= dev->max_work_group &&
           decode_smem_bytes(warps, t->value[DECODE_SPLIT], t->value[DECODE_HEADS], 4,
                             MAX_HEAD_DIM) <= qkv_cuda_smem_limit(dev);
}

/* -D options of a decode build: the tile with HEADS the query heads per
 * block `qg`, bits, group and head dim D. */
static qkv_status decode_defines(char *out, size_t size, const qkv_tile_params *tile, int qg,
                                 int bits, int group, size_t D)
{
    qkv_tile_params t = *tile;
    t.value[DECODE_HEADS] = qg;
    char extra[64];
    snprintf(extra, sizeof extra, "-DBITS=%d -DGROUP=%d -DHEAD_DIM=%zu", bits, group, D);
    return qkv_gpu_defines(out, size, SPACE(decode_space), &t, extra);
}

/* Device address of a buffer (0 for none). */
static unsigned long long device_address(const qkv_buffer *b) { return b ? b->dptr : 0; }

/* Decode: kivi_decode_split over (split, head group), then attention_merge
 * per query head. */
static qkv_status cuda_decode(qkv_context *ctx, const void *params, const qkv_tile_params *tile)
{
    const qkv_kivi_decode_params *p = params;
    const char *fn = "kivi_decode_attention";
    const size_t n = p->k_quant + p->k_resid, bq = p->batch * p->q_heads;
    const size_t D = p->head_dim, q_per_kv = p->q_heads / p->kv_heads;
    if (D > MAX_HEAD_DIM)
        return qkv_fail(QKV_ERR_UNSUPPORTED, "%s: head_dim %zu > %d on the cuda variant", fn, D,
                        MAX_HEAD_DIM);
    const size_t sizes[] = {n, p->k_quant_capacity, p->k_resid_capacity, p->v_quant_capacity,
                            p->v_resid_capacity, p->kv_heads, p->q_heads};
    qkv_status st = qkv_gpu_check_int_sizes(7, sizes, fn);
    if (st == QKV_OK)
        st = qkv_gpu_check_grid_yz(bq, "batch*q_heads", fn);
    if (st != QKV_OK)
        return st;
    const int warps = tile->value[DECODE_WARPS], split = tile->value[DECODE_SPLIT];
    const int heads = tile->value[DECODE_HEADS] < max_heads(p->bits) ? tile->value[DECODE_HEADS]
                                                                      : max_heads(p->bits);
    const int qg = qkv_gpu_head_group(q_per_kv, heads);
    const size_t nsplit = (n + (size_t)split - 1) / (size_t)split;
    char defines[256];
    qkv_gpu_kernel *partial, *merge;
    qkv_buffer *part;
    if ((st = decode_defines(defines, sizeof defines, tile, qg, p->bits, p->group, D)) ||
        (st = kernel(ctx, "kivi_decode_split", defines, &partial)) ||
        (st = kernel(ctx, "attention_merge", defines, &merge)) ||
        (st = qkv_gpu_scratch(ctx, bq * nsplit * (D + 2) * sizeof(float), &part)))
        return st;
    const kivi_decode_args a = {
        .query = device_address(p->query),
        .k_codes = device_address(p->k_codes),
        .k_scale = device_address(p->k_scale),
        .k_min = device_address(p->k_min),
        .k_resid = device_address(p->k_resid_data),
        .v_codes = device_address(p->v_codes),
        .v_scale = device_address(p->v_scale),
        .v_min = device_address(p->v_min),
        .v_resid = device_address(p->v_resid_data),
        .part = device_address(part),
        .q_per_kv = (int)q_per_kv,
        .n_tokens = (int)n,
        .k_quant = (int)p->k_quant,
        .kcap = (int)p->k_quant_capacity,
        .krcap = (int)p->k_resid_capacity,
        .v_quant = (int)p->v_quant,
        .vcap = (int)p->v_quant_capacity,
        .vrcap = (int)p->v_resid_capacity,
        .sm_scale = p->softmax_scale != 0.0f ? p->softmax_scale : 1.0f / sqrtf((float)D),
    };
    const qkv_gpu_arg args[] = {QKV_GPU_STRUCT(&a)};
    const unsigned grid[3] = {(unsigned)nsplit, (unsigned)(bq / (size_t)qg), 1};
    const unsigned block[3] = {(unsigned)warps * 32, 1, 1};
    st = qkv_cuda_launch(ctx, partial, grid, block,
                         decode_smem_bytes(warps, split, qg, p->bits, D), 1, args);
    if (st != QKV_OK)
        return st;
    const qkv_gpu_arg merge_args[] = {QKV_GPU_BUF(part), QKV_GPU_BUF(p->output),
                                      QKV_GPU_INT(nsplit)};
    const unsigned merge_grid[3] = {(unsigned)bq, 1, 1};
    const unsigned merge_block[3] = {(unsigned)qkv_round_up(D, 32), 1, 1};
    return qkv_cuda_launch(ctx, merge, merge_grid, merge_block, 0, 3, merge_args);
}

/* ---- builds and variants ------------------------------------------------- */

/* One (bits, group, input dtype) combination a compile test builds. */
typedef struct quant_build {
    int bits, group;
    bool in_f16;
} quant_build;

/* Every code width and input dtype, and the widest group (32 lanes). */
static const quant_build quant_builds_list[] = {
    {2, 32, true}, {4, 32, false}, {8, 64, true}, {2, 128, false},
};

/* Builds of an element-wise op: `kernels` over quant_builds_list. */
static int elementwise_builds(qkv_gpu_build *out, int max, const char *const *kernels)
{
    int n = 0;
    char d[96];
    for (size_t i = 0; i < sizeof quant_builds_list / sizeof quant_builds_list[0]; i++) {
        const quant_build *b = &quant_builds_list[i];
        qkv_gpu_build_add(out, max, &n, elementwise_defines(d, sizeof d, b->bits, b->group,
                                                            b->in_f16),
                          PROGRAM, d, kernels);
    }
    return n;
}

static int quant_keys_builds(qkv_gpu_build *out, int max)
{
    static const char *const kernels[] = {"kivi_scan_input", "kivi_quant_keys", NULL};
    return elementwise_builds(out, max, kernels);
}

static int quant_values_builds(qkv_gpu_build *out, int max)
{
    static const char *const kernels[] = {"kivi_scan_input", "kivi_quant_values", NULL};
    return elementwise_builds(out, max, kernels);
}

static int dequant_keys_builds(qkv_gpu_build *out, int max)
{
    static const char *const kernels[] = {"kivi_dequant_keys", NULL};
    return elementwise_builds(out, max, kernels);
}

static int dequant_values_builds(qkv_gpu_build *out, int max)
{
    static const char *const kernels[] = {"kivi_dequant_values", NULL};
    return elementwise_builds(out, max, kernels);
}

/* Decode builds: the default tile at 2 and 4 bits (the most heads each
 * allows), head dims 64, 96 (not a power of two), 128 and 256, one head,
 * and the largest team (klanes 32). */
static int decode_builds(qkv_gpu_build *out, int max)
{
    static const char *const kernels[] = {"kivi_decode_split", "attention_merge", NULL};
    static const struct {
        int bits, group, heads, klanes;
        size_t D;
    } list[] = {{2, 32, 4, 8, 128}, {4, 32, 8, 8, 128}, {2, 128, 1, 32, 256},
                {4, 64, 2, 4, 64},  {2, 32, 4, 16, 96}};
    qkv_tile_params tile;
    qkv_tile_space_defaults(SPACE(decode_space), &tile);
    int n = 0;
    char d[256];
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) {
        tile.value[DECODE_KLANES] = list[i].klanes;
        qkv_gpu_build_add(out, max, &n,
                          decode_defines(d, sizeof d, &tile, list[i].heads, list[i].bits,
                                         list[i].group, list[i].D),
                          PROGRAM, d, kernels);
    }
    return n;
}

/* The "cuda" variant of op OP_NAME: native kernels, CUDA only, chosen only
 * when selected until verified on hardware. */
#define CUDA_VARIANT(OP_NAME, OP, FN, SPACE_, VALID, BUILDS)                                   \
    const qkv_variant qkv_##OP_NAME##_cuda = {                                                 \
        .name = "cuda", .op = OP, .backends = QKV_ON(QKV_BACKEND_CUDA), .run = FN,             \
        .nparams = QKV_NPARAMS(SPACE_), .params = SPACE_, .valid = VALID,                      \
        .needs_selection = true, .gpu_builds = BUILDS};

CUDA_VARIANT(kivi_quant_keys, QKV_OP_KIVI_QUANT_KEYS, cuda_quant_keys, elementwise_space,
             elementwise_valid, quant_keys_builds)
CUDA_VARIANT(kivi_quant_values, QKV_OP_KIVI_QUANT_VALUES, cuda_quant_values, elementwise_space,
             elementwise_valid, quant_values_builds)
CUDA_VARIANT(kivi_dequant_keys, QKV_OP_KIVI_DEQUANT_KEYS, cuda_dequant_keys, elementwise_space,
             elementwise_valid, dequant_keys_builds)
CUDA_VARIANT(kivi_dequant_values, QKV_OP_KIVI_DEQUANT_VALUES, cuda_dequant_values,
             elementwise_space, elementwise_valid, dequant_values_builds)
CUDA_VARIANT(kivi_decode_attention, QKV_OP_KIVI_DECODE_ATTENTION, cuda_decode, decode_space,
             decode_valid, decode_builds)
