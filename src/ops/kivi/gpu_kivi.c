/* gpu_kivi.c - host side of the KIVI ops on OpenCL and CUDA: one launch
 * sequence per op over the kernels of kernels/opencl/kivi.cl, with the tile
 * parameters turned into -D macros. */
#include "gpu.h"
#include "kivi/kivi_variants.h"
#include "kivi/quant_input_check.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define SPACE(space) QKV_NPARAMS(space), space /* nparams, params */

/* -D options of a kivi.cl build: the tile of a space (SPACE(...)) but its
 * host_only parameters (as qkv_gpu_defines), then BITS, GROUP and `more`
 * (other defines, may be ""). */
static qkv_status kivi_defines(char *out, size_t size, int nparams,
                               const qkv_tile_param_def *space, const qkv_tile_params *tile,
                               int bits, int group, const char *more)
{
    char extra[96];
    snprintf(extra, sizeof extra, "-DBITS=%d -DGROUP=%d%s%s", bits, group, *more ? " " : "",
             more);
    return qkv_gpu_defines(out, size, nparams, space, tile, extra);
}

/* Get kernel `name` of kivi.cl built with the formatted defines. */
static qkv_status kivi_kernel(qkv_context *ctx, const char *name, const char *defines,
                              qkv_gpu_kernel **k)
{
    return qkv_gpu_ops_of(ctx)->get_kernel(ctx, "kivi", name, defines, k);
}

/* Work-groups for `units` work units, `per_group` of them a work-group at
 * once and `items` rounds of that per work-group (at least one group). */
static size_t groups_for(size_t units, size_t per_group, size_t items)
{
    const size_t g = (units + per_group * items - 1) / (per_group * items);
    return g ? g : 1;
}

/* ---- quantizers ----------------------------------------------------------- */

/* kivi_quant_keys: work-group size, units (VEC channels of one token group)
 * per work-item, VEC. */
enum { QK_WG, QK_ITEMS, QK_VEC };
static const qkv_tile_param_def quant_keys_space[] = {
    {"wg", 64, {32, 64, 128, 256, 0}, true},
    {"items", 1, {1, 2, 4, 8, 0}, true},
    {"vec", 4, {1, 2, 4, 8, 0}, false},
};

/* kivi_quant_values: work-group size, value groups per team of work-items,
 * work-items per group (LANES; more than the group's code words act as that
 * many). */
enum { QV_WG, QV_ITEMS, QV_LANES };
static const qkv_tile_param_def quant_values_space[] = {
    {"wg", 64, {32, 64, 128, 256, 0}, false},
    {"items", 1, {1, 2, 4, 8, 0}, true},
    {"lanes", 1, {1, 2, 4, 8, 0}, false},
};

/* -D options of a quantizer build: the tile, bits, group and input dtype. */
static qkv_status quant_defines(char *out, size_t size, bool keys, const qkv_tile_params *tile,
                                int bits, int group, bool in_f16)
{
    const char *dtype = in_f16 ? "-DIN_F16=1" : "-DIN_F16=0";
    return keys ? kivi_defines(out, size, SPACE(quant_keys_space), tile, bits, group, dtype)
                : kivi_defines(out, size, SPACE(quant_values_space), tile, bits, group, dtype);
}

/* Scan the input for values the quantizer rejects; status as the host's. */
static qkv_status scan_input(qkv_context *ctx, const qkv_kivi_quant_params *p,
                             const char *defines, int wg, const char *fn)
{
    qkv_gpu_kernel *k;
    qkv_buffer *flag;
    qkv_status st = kivi_kernel(ctx, "kivi_scan_input", defines, &k);
    if (st == QKV_OK)
        st = qkv_gpu_scratch(ctx, sizeof(int32_t), &flag);
    const int32_t zero = 0;
    int32_t found = 0;
    if (st == QKV_OK)
        st = qkv_buffer_write(flag, 0, &zero, sizeof zero);
    if (st != QKV_OK)
        return st;
    const size_t total = p->batch * p->heads * p->tokens * p->head_dim;
    const size_t global = qkv_round_up(total < 65536 * 4 ? total : 65536 * 4, (size_t)wg);
    const size_t local = (size_t)wg;
    const qkv_gpu_arg args[] = {
        QKV_GPU_BUF(p->input), QKV_GPU_INT(p->batch * p->heads), QKV_GPU_INT(p->tokens),
        QKV_GPU_INT(p->head_dim), QKV_GPU_INT(p->in_capacity), QKV_GPU_BUF(flag),
    };
    st = qkv_gpu_ops_of(ctx)->launch(ctx, k, 1, &global, &local, 6, args);
    if (st == QKV_OK)
        st = qkv_buffer_read(flag, 0, &found, sizeof found);
    return st != QKV_OK ? st : qkv_quant_input_status(found, fn);
}

/* Shared by keys and values: checks, input scan, then the quantize kernel
 * over a 1-D grid (work-items take their units grid-stride). */
static qkv_status gpu_quant(qkv_context *ctx, const qkv_kivi_quant_params *p,
                            const qkv_tile_params *tile, bool keys)
{
    const char *fn = keys ? "kivi_quant_keys" : "kivi_quant_values";
    const size_t bh = p->batch * p->heads;
    const size_t sizes[] = {bh, p->tokens, p->head_dim, p->in_capacity, p->out_capacity,
                            bh * p->tokens};
    qkv_status st = qkv_gpu_check_int_sizes(6, sizes, fn);
    if (st != QKV_OK)
        return st;
    const int wg = tile->value[keys ? QK_WG : QV_WG];
    const size_t items = (size_t)tile->value[keys ? QK_ITEMS : QV_ITEMS];
    const size_t G = (size_t)p->group, groups = p->head_dim / G;
    char defines[256];
    if ((st = quant_defines(defines, sizeof defines, keys, tile, p->bits, p->group,
                            p->dtype == QKV_F16)))
        return st;
    size_t wgs; /* work-groups */
    if (keys) {
        const size_t vec = (size_t)tile->value[QK_VEC];
        wgs = groups_for(bh * (p->tokens / G) * (p->head_dim / vec), (size_t)wg, items);
    } else {
        const int lanes = tile->value[QV_LANES], words = p->group * p->bits / 32;
        const size_t team = (size_t)(lanes < words ? lanes : words);
        wgs = groups_for(bh * p->tokens * groups, (size_t)wg / team, items);
    }
    if (!p->unchecked && (st = scan_input(ctx, p, defines, wg, fn)) != QKV_OK)
        return st;
    qkv_gpu_kernel *k;
    if ((st = kivi_kernel(ctx, fn, defines, &k)))
        return st;
    const size_t global = wgs * (size_t)wg, local = (size_t)wg;
    const qkv_gpu_arg args[] = {
        QKV_GPU_BUF(p->input),        QKV_GPU_BUF(p->codes),         QKV_GPU_BUF(p->scale),
        QKV_GPU_BUF(p->min),          QKV_GPU_INT(bh),               QKV_GPU_INT(p->tokens),
        QKV_GPU_INT(p->head_dim),     QKV_GPU_INT(p->in_capacity),   QKV_GPU_INT(p->out_capacity),
        QKV_GPU_INT(p->out_offset),
    };
    return qkv_gpu_ops_of(ctx)->launch(ctx, k, 1, &global, &local, 10, args);
}

static qkv_status gpu_quant_keys(qkv_context *ctx, const void *p, const qkv_tile_params *t)
{
    return gpu_quant(ctx, p, t, true);
}

static qkv_status gpu_quant_values(qkv_context *ctx, const void *p, const qkv_tile_params *t)
{
    return gpu_quant(ctx, p, t, false);
}

/* ---- dequantizers --------------------------------------------------------- */

/* Work-group size, units per work-item, VEC channels per unit (keys: of one
 * code word of tokens; values: of one token). */
enum { DQ_WG, DQ_ITEMS, DQ_VEC };
static const qkv_tile_param_def dequant_keys_space[] = {
    {"wg", 128, {32, 64, 128, 256, 0}, true},
    {"items", 1, {1, 2, 4, 8, 0}, true},
    {"vec", 4, {1, 2, 4, 8, 0}, false},
};
static const qkv_tile_param_def dequant_values_space[] = {
    {"wg", 128, {32, 64, 128, 256, 0}, true},
    {"items", 1, {1, 2, 4, 8, 0}, true},
    {"vec", 4, {1, 2, 4, 8, 16, 0}, false},
};

/* -D options of a dequantizer build: the tile, bits and group. */
static qkv_status dequant_defines(char *out, size_t size, bool keys, const qkv_tile_params *tile,
                                  int bits, int group)
{
    return keys ? kivi_defines(out, size, SPACE(dequant_keys_space), tile, bits, group, "")
                : kivi_defines(out, size, SPACE(dequant_values_space), tile, bits, group, "");
}

static qkv_status gpu_dequant(qkv_context *ctx, const qkv_kivi_dequant_params *p,
                              const qkv_tile_params *tile, bool keys)
{
    const char *fn = keys ? "kivi_dequant_keys" : "kivi_dequant_values";
    const size_t bh = p->batch * p->heads, rows = bh * p->tokens;
    const size_t sizes[] = {bh, p->tokens, p->head_dim, rows};
    qkv_status st = qkv_gpu_check_int_sizes(4, sizes, fn);
    if (st != QKV_OK)
        return st;
    const int wg = tile->value[DQ_WG], vec = tile->value[DQ_VEC];
    const size_t items = (size_t)tile->value[DQ_ITEMS], chunks = p->head_dim / (size_t)vec;
    char defines[256];
    qkv_gpu_kernel *k;
    if ((st = dequant_defines(defines, sizeof defines, keys, tile, p->bits, p->group)) ||
        (st = kivi_kernel(ctx, fn, defines, &k)))
        return st;
    const size_t local = (size_t)wg;
    if (keys) {
        const size_t words = p->tokens / (size_t)(32 / p->bits);
        const size_t global = groups_for(bh * words * chunks, local, items) * local;
        const qkv_gpu_arg args[] = {QKV_GPU_BUF(p->codes),  QKV_GPU_BUF(p->scale),
                                    QKV_GPU_BUF(p->min),    QKV_GPU_BUF(p->output),
                                    QKV_GPU_INT(bh),        QKV_GPU_INT(p->tokens),
                                    QKV_GPU_INT(p->head_dim)};
        return qkv_gpu_ops_of(ctx)->launch(ctx, k, 1, &global, &local, 7, args);
    }
    const size_t global = groups_for(rows * chunks, local, items) * local;
    const qkv_gpu_arg args[] = {QKV_GPU_BUF(p->codes),    QKV_GPU_BUF(p->scale),
                                QKV_GPU_BUF(p->min),      QKV_GPU_BUF(p->output),
                                QKV_GPU_INT(p->head_dim), QKV_GPU_INT(rows)};
    return qkv_gpu_ops_of(ctx)->launch(ctx, k, 1, &global, &local, 6, args);
}

static qkv_status gpu_dequant_keys(qkv_context *ctx, const void *p, const qkv_tile_params *t)
{
    return gpu_dequant(ctx, p, t, true);
}

static qkv_status gpu_dequant_values(qkv_context *ctx, const void *p, const qkv_tile_params *t)
{
    return gpu_dequant(ctx, p, t, false);
}

/* ---- decode attention ----------------------------------------------------- */

enum { DECODE_WG, DECODE_SPLIT, DECODE_HEADS, DECODE_TPI, DECODE_KSLICES, DECODE_VCH };
static const qkv_tile_param_def decode_space[] = {
    /* work-group size */
    {"wg", 64, {64, 128, 256, 0}, false},
    /* tokens per work-group (FlashDecoding split) */
    {"split", 256, {128, 256, 512, 1024, 0}, false},
    /* most query heads of a kv head sharing one pass over its codes */
    {"heads", 4, {1, 2, 4, 8, 0}, false},
    /* key tokens per work-item */
    {"tpi", 16, {4, 8, 16, 0}, false},
    /* channel slices of the key phase (their partial scores are added) */
    {"kslices", 4, {1, 2, 4, 8, 0}, false},
    /* value channels per work-item */
    {"vch", 16, {8, 16, 0}, false},
};

/* The fast variant's space: tpi 16 only (a work-item's tokens are one
 * 2-bit code word per channel, which its integer path splits in halves). */
static const qkv_tile_param_def decode_fast_space[] = {
    {"wg", 64, {64, 128, 256, 0}, false},
    {"split", 256, {128, 256, 512, 1024, 0}, false},
    {"heads", 4, {1, 2, 4, 8, 0}, false},
    {"tpi", 16, {16, 0}, false},
    {"kslices", 4, {1, 2, 4, 8, 0}, false},
    {"vch", 16, {8, 16, 0}, false},
};

#define MAX_HEAD_DIM 256
#define MAX_ACCUMULATORS 64 /* heads x tpi and heads x vch: f32 sums a work-item keeps */

/* Bytes of local memory of kivi_decode_partial at any D <= MAX_HEAD_DIM:
 * queries [heads, D], partial scores [kslices, heads, split], team sums
 * [wg * vch] (at least wg), f32. */
static size_t decode_local_bytes(int wg, int split, int heads, int kslices, int vch)
{
    return ((size_t)heads * (MAX_HEAD_DIM + (size_t)kslices * (size_t)split) +
            (size_t)wg * (size_t)vch) *
           sizeof(float);
}

/* The partial kernel's local memory and work-group must fit the device,
 * its per-work-item sums a register budget, and one round of the key phase
 * (wg / kslices lanes of tpi tokens) the split, so every lane gets tokens. */
static bool decode_valid(const qkv_tile_params *t, const qkv_device_info *dev)
{
    const int wg = t->value[DECODE_WG], heads = t->value[DECODE_HEADS];
    return (size_t)wg <= dev->max_work_group &&
           wg / t->value[DECODE_KSLICES] * t->value[DECODE_TPI] <= t->value[DECODE_SPLIT] &&
           heads * t->value[DECODE_TPI] <= MAX_ACCUMULATORS &&
           heads * t->value[DECODE_VCH] <= MAX_ACCUMULATORS &&
           decode_local_bytes(wg, t->value[DECODE_SPLIT], heads, t->value[DECODE_KSLICES],
                              t->value[DECODE_VCH]) <= dev->local_mem;
}

/* -D options of a decode build: the tile with HEADS the query heads per
 * work-group `qg`, bits, group and head dim D; `fast`: FAST=1 (the fast
 * variant, whose space has the same parameters). */
static qkv_status decode_defines(char *out, size_t size, const qkv_tile_params *tile, int qg,
                                 int bits, int group, size_t D, bool fast)
{
    qkv_tile_params t = *tile;
    t.value[DECODE_HEADS] = qg;
    char more[48];
    snprintf(more, sizeof more, "-DHEAD_DIM=%zu%s", D, fast ? " -DFAST=1" : "");
    return kivi_defines(out, size, SPACE(decode_space), &t, bits, group, more);
}

/* Decode: pass 1 over (split, head group), pass 2 merges per query head;
 * `fast`: the kernel built for fast precision. */
static qkv_status gpu_decode_run(qkv_context *ctx, const void *params,
                                 const qkv_tile_params *tile, bool fast)
{
    const qkv_kivi_decode_params *p = params;
    const char *fn = "kivi_decode_attention";
    const size_t n = p->k_quant + p->k_resid, bq = p->batch * p->q_heads;
    const size_t D = p->head_dim, q_per_kv = p->q_heads / p->kv_heads;
    if (D > MAX_HEAD_DIM)
        return qkv_fail(QKV_ERR_UNSUPPORTED, "%s: head_dim %zu > %d on GPU backends", fn, D,
                        MAX_HEAD_DIM);
    const size_t sizes[] = {n, p->k_quant_capacity, p->k_resid_capacity, p->v_quant_capacity,
                            p->v_resid_capacity, p->kv_heads, p->q_heads};
    const int qg = qkv_gpu_head_group(q_per_kv, tile->value[DECODE_HEADS]);
    qkv_status st = qkv_gpu_check_int_sizes(7, sizes, fn);
    if (st == QKV_OK)
        st = qkv_gpu_check_grid_yz(bq, "batch*q_heads", fn);
    if (st != QKV_OK)
        return st;
    const int wg = tile->value[DECODE_WG], split = tile->value[DECODE_SPLIT];
    const size_t nsplit = (n + (size_t)split - 1) / (size_t)split;
    char defines[256];
    qkv_gpu_kernel *partial, *merge;
    qkv_buffer *part;
    if ((st = decode_defines(defines, sizeof defines, tile, qg, p->bits, p->group, D, fast)) ||
        (st = kivi_kernel(ctx, "kivi_decode_partial", defines, &partial)) ||
        (st = kivi_kernel(ctx, "attention_decode_merge", defines, &merge)) ||
        (st = qkv_gpu_scratch(ctx, bq * nsplit * (D + 2) * sizeof(float), &part)))
        return st;
    const float sm = p->softmax_scale != 0.0f ? p->softmax_scale : 1.0f / sqrtf((float)D);
    const qkv_gpu_arg args[] = {
        QKV_GPU_BUF(p->query),      QKV_GPU_BUF(p->k_codes),
        QKV_GPU_BUF(p->k_scale),    QKV_GPU_BUF(p->k_min),
        QKV_GPU_BUF(p->k_resid_data), QKV_GPU_BUF(p->v_codes),
        QKV_GPU_BUF(p->v_scale),    QKV_GPU_BUF(p->v_min),
        QKV_GPU_BUF(p->v_resid_data), QKV_GPU_BUF(part),
        QKV_GPU_INT(q_per_kv),      QKV_GPU_INT(n),
        QKV_GPU_INT(p->k_quant),    QKV_GPU_INT(p->k_quant_capacity),
        QKV_GPU_INT(p->k_resid_capacity), QKV_GPU_INT(p->v_quant),
        QKV_GPU_INT(p->v_quant_capacity), QKV_GPU_INT(p->v_resid_capacity),
        QKV_GPU_FLOAT(sm),
    };
    const size_t g1[2] = {nsplit * (size_t)wg, bq / (size_t)qg}, l1[2] = {(size_t)wg, 1};
    st = qkv_gpu_ops_of(ctx)->launch(ctx, partial, 2, g1, l1, 19, args);
    if (st != QKV_OK)
        return st;
    return qkv_gpu_launch_merge(ctx, merge, part, p->output, nsplit, D, bq);
}

static qkv_status gpu_decode(qkv_context *ctx, const void *params, const qkv_tile_params *tile)
{
    return gpu_decode_run(ctx, params, tile, false);
}

static qkv_status gpu_decode_fast(qkv_context *ctx, const void *params,
                                  const qkv_tile_params *tile)
{
    return gpu_decode_run(ctx, params, tile, true);
}

/* The fast variant runs any device (params NULL) and fast calls only. */
static bool decode_fast_supports(const qkv_context *ctx, const void *params)
{
    (void)ctx;
    const qkv_kivi_decode_params *p = params;
    return !p || p->precision == QKV_PRECISION_FAST;
}

/* ---- builds and variants ----------------------------------------------- */

static const int build_bits[] = {2, 4, 8}, build_groups[] = {32, 128}, build_dims[] = {64, 128};

/* A quantizer's builds with default tiles: every bits x group x input
 * dtype. */
static int quant_builds(qkv_gpu_build *out, int max, bool keys)
{
    static const char *const kernels[2][3] = {{"kivi_scan_input", "kivi_quant_values", NULL},
                                               {"kivi_scan_input", "kivi_quant_keys", NULL}};
    qkv_tile_params tile;
    if (keys)
        qkv_tile_space_defaults(SPACE(quant_keys_space), &tile);
    else
        qkv_tile_space_defaults(SPACE(quant_values_space), &tile);
    int n = 0;
    char d[256];
    for (int b = 0; b < 3; b++)
        for (int g = 0; g < 2; g++)
            for (int f16 = 0; f16 < 2; f16++)
                qkv_gpu_build_add(out, max, &n,
                                  quant_defines(d, sizeof d, keys, &tile, build_bits[b],
                                                build_groups[g], f16),
                                  "kivi", d, kernels[keys]);
    return n;
}

static int quant_keys_builds(qkv_gpu_build *out, int max) { return quant_builds(out, max, true); }
static int quant_values_builds(qkv_gpu_build *out, int max)
{
    return quant_builds(out, max, false);
}

/* A dequantizer's builds with default tiles: every bits x group. */
static int dequant_builds(qkv_gpu_build *out, int max, bool keys)
{
    static const char *const kernels[2][2] = {{"kivi_dequant_values", NULL},
                                               {"kivi_dequant_keys", NULL}};
    qkv_tile_params tile;
    if (keys)
        qkv_tile_space_defaults(SPACE(dequant_keys_space), &tile);
    else
        qkv_tile_space_defaults(SPACE(dequant_values_space), &tile);
    int n = 0;
    char d[256];
    for (int b = 0; b < 3; b++)
        for (int g = 0; g < 2; g++)
            qkv_gpu_build_add(out, max, &n,
                              dequant_defines(d, sizeof d, keys, &tile, build_bits[b],
                                              build_groups[g]),
                              "kivi", d, kernels[keys]);
    return n;
}

static int dequant_keys_builds(qkv_gpu_build *out, int max)
{
    return dequant_builds(out, max, true);
}

static int dequant_values_builds(qkv_gpu_build *out, int max)
{
    return dequant_builds(out, max, false);
}

/* Decode builds with default tiles: 2 and 4 bits x group x head dim, and
 * each head group at one shape, exact or `fast`. */
static int decode_builds_of(qkv_gpu_build *out, int max, bool fast)
{
    static const char *const kernels[] = {"kivi_decode_partial", "attention_decode_merge", NULL};
    qkv_tile_params tile;
    qkv_tile_space_defaults(SPACE(decode_space), &tile);
    const int heads = tile.value[DECODE_HEADS];
    int n = 0;
    char d[256];
    for (int b = 0; b < 2; b++)
        for (int g = 0; g < 2; g++)
            for (int k = 0; k < 2; k++)
                qkv_gpu_build_add(out, max, &n,
                                  decode_defines(d, sizeof d, &tile, heads, build_bits[b],
                                                 build_groups[g], (size_t)build_dims[k], fast),
                                  "kivi", d, kernels);
    for (int qg = 1; qg <= 8; qg *= 2)
        if (qg != heads)
            qkv_gpu_build_add(out, max, &n,
                              decode_defines(d, sizeof d, &tile, qg, 2, 32, 128, fast), "kivi",
                              d, kernels);
    return n;
}

static int decode_builds(qkv_gpu_build *out, int max) { return decode_builds_of(out, max, false); }
static int decode_fast_builds(qkv_gpu_build *out, int max)
{
    return decode_builds_of(out, max, true);
}

/* The "generic" variant of op OP_NAME: the OpenCL C kernels, run by
 * OpenCL and (through NVRTC) CUDA. */
#define GPU_VARIANT(OP_NAME, OP, FN, SPACE_, VALID, BUILDS)                                    \
    const qkv_variant qkv_##OP_NAME##_generic = {                                              \
        .name = "generic", .op = OP, .backends = QKV_ON_GPU, .run = FN,                        \
        .nparams = QKV_NPARAMS(SPACE_), .params = SPACE_, .valid = VALID,                      \
        .gpu_builds = BUILDS};

GPU_VARIANT(kivi_quant_keys, QKV_OP_KIVI_QUANT_KEYS, gpu_quant_keys, quant_keys_space,
            qkv_gpu_wg_valid, quant_keys_builds)
GPU_VARIANT(kivi_quant_values, QKV_OP_KIVI_QUANT_VALUES, gpu_quant_values, quant_values_space,
            qkv_gpu_wg_valid, quant_values_builds)
GPU_VARIANT(kivi_dequant_keys, QKV_OP_KIVI_DEQUANT_KEYS, gpu_dequant_keys, dequant_keys_space,
            qkv_gpu_wg_valid, dequant_keys_builds)
GPU_VARIANT(kivi_dequant_values, QKV_OP_KIVI_DEQUANT_VALUES, gpu_dequant_values,
            dequant_values_space, qkv_gpu_wg_valid, dequant_values_builds)
GPU_VARIANT(kivi_decode_attention, QKV_OP_KIVI_DECODE_ATTENTION, gpu_decode, decode_space,
            decode_valid, decode_builds)

/* Decode attention in fast precision (kivi.cl with FAST=1: 2-bit keys
 * scored in integers); not yet run on a GPU, so only a tuning entry or the
 * user selects it. */
const qkv_variant qkv_kivi_decode_attention_fast = {
    .name = "fast", .op = QKV_OP_KIVI_DECODE_ATTENTION, .backends = QKV_ON_GPU,
    .run = gpu_decode_fast, .supports = decode_fast_supports, .fast_only = true,
    .nparams = QKV_NPARAMS(decode_fast_space), .params = decode_fast_space,
    .valid = decode_valid, .needs_selection = true, .gpu_builds = decode_fast_builds};
