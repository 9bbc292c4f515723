/* f32_gemm_cpu.c - the cpu backend's f32 GEMM (f32_gemm), the baseline of
 * the quantized GEMMs.  Work items are tiles of `rows` tokens x `cols`
 * outputs run by OpenMP; each walks K in blocks of `kc` (its weight rows
 * stay in L2 across its tokens, a few tokens' rows in L1 across its
 * outputs), and per K block its ISA's tile keeps register blocks of tokens
 * x outputs as dot products along K (no packing: x and w are both K
 * contiguous), adding each block's sums into y.  The AVX-512 tile
 * (f32_gemm_cpu_avx512.c, 4 tokens x 6 outputs in 24 zmm) is preferred at
 * the avx512 level, the AVX2 tile (f32_gemm_cpu_avx2.c, 4 x 3 in 12 ymm)
 * at avx2; the portable tile does the same sums one element at a time. */
#include "f32_gemm_cpu.h"

#include "baseline/f32_gemm_variants.h"

#include "avx2_math.h"
#include "cpu_features.h"
#include "cpu_team.h"

/* ---- scalar tile ------------------------------------------------------------------ */

/* sum_k a[k] * b[k] for k < n: 8 interleaved partial sums, then a
 * pairwise tree. */
static float dot(const float *a, const float *b, size_t n)
{
    float part[8] = {0};
    size_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int l = 0; l < 8; l++)
            part[l] += a[k + l] * b[k + l];
    for (int l = 0; k < n; k++, l++)
        part[l] += a[k] * b[k];
    for (int h = 4; h > 0; h /= 2)
        for (int l = 0; l < h; l++)
            part[l] += part[l + h];
    return part[0];
}

/* The scalar tile (an f32_gemm_tile_fn). */
static void scalar_tile(const f32_gemm *c, size_t m0, size_t rows, size_t n0, size_t cols,
                        size_t k0, size_t kb)
{
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++) {
            float *y = c->y + (m0 + i) * c->N + n0 + j;
            const float s = dot(c->x + (m0 + i) * c->K + k0, c->w + (n0 + j) * c->K + k0, kb);
            *y = k0 ? *y + s : s;
        }
}

/* ---- driver ----------------------------------------------------------------------- */

enum { ROWS, COLS, KC };
static const qkv_tile_param_def f32_gemm_space[] = {
    /* tokens per work item */
    {"rows", 64, {4, 8, 16, 32, 64, 128, 256, 0}, false},
    /* outputs per work item */
    {"cols", 96, {24, 48, 96, 192, 384, 0}, false},
    /* K block (channels) */
    {"kc", 512, {128, 256, 512, 1024, 2048, 4096, 0}, false},
};

/* A tile value, at least 1. */
static size_t tile_value(const qkv_tile_params *tile, int i)
{
    return tile->value[i] > 0 ? (size_t)tile->value[i] : 1;
}

/* The tile of ISA level isa (scalar where the build is not x86). */
static f32_gemm_tile_fn tile_of(qkv_cpu_isa isa)
{
#if QKV_CPU_X86
    return isa >= QKV_CPU_ISA_AVX512 ? f32_gemm_avx512_tile
           : isa >= QKV_CPU_ISA_AVX2 ? f32_gemm_avx2_tile
                                     : scalar_tile;
#else
    (void)isa;
    return scalar_tile;
#endif
}

/* One call: the work items in parallel, each over K block by K block. */
static qkv_status cpu_f32_gemm(const void *params, const qkv_tile_params *tile, qkv_cpu_isa isa)
{
    const qkv_f32_gemm_params *p = params;
    const f32_gemm c = {p->x->host, p->w->host, p->y->host, p->m, p->n, p->k};
    const f32_gemm_tile_fn tile_fn = tile_of(isa);
    const size_t rows = tile_value(tile, ROWS), cols = tile_value(tile, COLS);
    const size_t kc = tile_value(tile, KC);
    const size_t row_tiles = (c.M + rows - 1) / rows, col_tiles = (c.N + cols - 1) / cols;
#pragma omp parallel for num_threads(cpu_team_size()) schedule(dynamic, 1)
    for (size_t t = 0; t < row_tiles * col_tiles; t++) {
        const size_t m0 = t / col_tiles * rows, n0 = t % col_tiles * cols;
        const size_t nr = c.M - m0 < rows ? c.M - m0 : rows;
        const size_t nc = c.N - n0 < cols ? c.N - n0 : cols;
        for (size_t k0 = 0; k0 < c.K; k0 += kc)
            tile_fn(&c, m0, nr, n0, nc, k0, c.K - k0 < kc ? c.K - k0 : kc);
    }
    return QKV_OK;
}

static qkv_status cpu_f32_gemm_avx512(qkv_context *ctx, const void *p, const qkv_tile_params *t)
{
    (void)ctx;
    return cpu_f32_gemm(p, t, QKV_CPU_ISA_AVX512);
}

static qkv_status cpu_f32_gemm_avx2(qkv_context *ctx, const void *p, const qkv_tile_params *t)
{
    (void)ctx;
    return cpu_f32_gemm(p, t, QKV_CPU_ISA_AVX2);
}

static qkv_status cpu_f32_gemm_scalar(qkv_context *ctx, const void *p, const qkv_tile_params *t)
{
    (void)ctx;
    return cpu_f32_gemm(p, t, QKV_CPU_ISA_SCALAR);
}

const qkv_variant qkv_f32_gemm_avx512 = {
    .name = "avx512", .op = QKV_OP_F32_GEMM, .backends = QKV_ON(QKV_BACKEND_CPU),
    .run = cpu_f32_gemm_avx512, .supports = qkv_cpu_avx512_supports,
    .nparams = QKV_NPARAMS(f32_gemm_space), .params = f32_gemm_space};
const qkv_variant qkv_f32_gemm_avx2 = {
    .name = "avx2", .op = QKV_OP_F32_GEMM, .backends = QKV_ON(QKV_BACKEND_CPU),
    .run = cpu_f32_gemm_avx2, .supports = qkv_cpu_avx2_supports,
    .nparams = QKV_NPARAMS(f32_gemm_space), .params = f32_gemm_space};
const qkv_variant qkv_f32_gemm_scalar = {
    .name = "scalar", .op = QKV_OP_F32_GEMM, .backends = QKV_ON(QKV_BACKEND_CPU),
    .run = cpu_f32_gemm_scalar, .nparams = QKV_NPARAMS(f32_gemm_space),
    .params = f32_gemm_space};
