/* fireq_gemm_cpu.c - the cpu backend's FireQ INT4 x FP8 GEMM (w4a8_gemm).
 * The activations are decoded to f32 once per call; each work item is a
 * tile of `rows` tokens x `cols` outputs, run by OpenMP, whose weights are
 * expanded group by group through a 16-entry f32 table per scale code (the
 * lut mode's E4M3-rounded q * s, or the exact mode's q * s), accumulated in
 * f32 and finished by the mode's epilogue.  The AVX-512 tile
 * (fireq_gemm_cpu_avx512.c; the "avx512" variant) is preferred where the
 * context's ISA level is avx512, the AVX2 tile (fireq_gemm_cpu_avx2.c; the
 * "avx2" variant) at avx2; the portable scalar tile does the same
 * arithmetic one element at a time. */
#include "fireq_gemm_cpu.h"

#include "fireq/gemm_variants.h"

#include "avx2_math.h"
#include "cpu_features.h"
#include "cpu_team.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* ---- scalar tile ------------------------------------------------------------------ */

/* Weights of group g of row n as G floats into w (its table by nibble). */
static void expand_group(const fireq_gemm *c, size_t n, size_t g, float *w)
{
    const float *t = c->table[c->ws[n * (c->K / c->G) + g]];
    const uint8_t *b = c->wq + n * (c->K / 2) + g * (c->G / 2);
    for (size_t j = 0; j < c->G / 2; j++) {
        w[2 * j] = t[b[j] & 15];
        w[2 * j + 1] = t[b[j] >> 4];
    }
}

/* sum_k x[k] * w[k] over one group (G a multiple of 16): 16 interleaved
 * partial sums, then a pairwise tree. */
static float dot_group(const float *x, const float *w, size_t G)
{
    float part[16] = {0};
    for (size_t k = 0; k < G; k += 16)
        for (int l = 0; l < 16; l++)
            part[l] += x[k + l] * w[k + l];
    for (int h = 8; h > 0; h /= 2)
        for (int l = 0; l < h; l++)
            part[l] += part[l + h];
    return part[0];
}

/* The scalar tile (a fireq_gemm_tile_fn): per group, the cols weight rows
 * expanded into scratch once, then every token's dot with each. */
static void scalar_tile(const fireq_gemm *c, size_t m0, size_t rows, size_t n0, size_t cols,
                        float *acc, void *space)
{
    float *scratch = space;
    memset(acc, 0, rows * cols * sizeof *acc);
    for (size_t g = 0; g < c->K / c->G; g++) {
        for (size_t j = 0; j < cols; j++)
            expand_group(c, n0 + j, g, scratch + j * c->G);
        for (size_t i = 0; i < rows; i++) {
            const float *x = c->x + (m0 + i) * c->K + g * c->G;
            for (size_t j = 0; j < cols; j++)
                acc[i * cols + j] += dot_group(x, scratch + j * c->G, c->G);
        }
    }
}

/* ---- tables and epilogue ---------------------------------------------------------- */

/* The weight tables of both modes, [exact][scale code][nibble], as f32
 * and as bf16 (the upper half of each f32: exact, see
 * fireq_gemm_cpu_avx512bf16.c), built by the first call. */
static float mode_tables[2][256][16];
static uint16_t mode_tables_bf16[2][256][16];
static atomic_int mode_tables_ready;

/* Fills mode_tables and mode_tables_bf16. */
static void build_tables(void)
{
    for (int exact = 0; exact < 2; exact++)
        for (int s = 0; s < 256; s++) {
            const float scale = qkv_e4m3_to_f32((uint8_t)s);
            for (int v = 0; v < 16; v++) {
                const float qs = (float)(v >= 8 ? v - 16 : v) * scale;
                const float t =
                    exact ? qs
                    : v == 0 ? -0.0f
                             : qkv_e4m3_to_f32(qkv_f32_to_e4m3(qs, QKV_FP8_SATFINITE));
                uint32_t u;
                memcpy(&u, &t, sizeof u);
                mode_tables[exact][s][v] = t;
                mode_tables_bf16[exact][s][v] = (uint16_t)(u >> 16);
            }
        }
}

/* Builds the tables once (any thread, any number of calls at a time). */
static void ensure_tables(void)
{
    if (atomic_load_explicit(&mode_tables_ready, memory_order_acquire))
        return;
#pragma omp critical(fireq_gemm_tables)
    if (!atomic_load_explicit(&mode_tables_ready, memory_order_relaxed)) {
        build_tables();
        atomic_store_explicit(&mode_tables_ready, 1, memory_order_release);
    }
}

const float (*fireq_gemm_table(qkv_w4a8_mode mode))[16]
{
    ensure_tables();
    return (const float(*)[16])mode_tables[mode == QKV_W4A8_EXACT];
}

const uint16_t (*fireq_gemm_table_bf16(qkv_w4a8_mode mode))[16]
{
    ensure_tables();
    return (const uint16_t(*)[16])mode_tables_bf16[mode == QKV_W4A8_EXACT];
}

/* bf16 bits of x, rounded to nearest even (NaN stays NaN, quiet); as
 * qkv_f32_to_bf16, inline so the epilogue's loops vectorize. */
static inline uint16_t bf16_round(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x0040u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/* The value of bf16 bits b. */
static inline float bf16_value(uint16_t b)
{
    const uint32_t u = (uint32_t)b << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* Outputs of a tile: y (and acc when the call asks for it) of the rows x
 * cols accumulators at acc (row stride cols) for tokens m0.. and outputs
 * n0.., by the mode's epilogue (spec: lut Y = bf16(bf16(acc) * sx), then
 * * 1/ps in bf16; exact Y = acc * sx / ps in f32, stored as y_dtype). */
static void write_tile(const qkv_w4a8_gemm_params *p, const float *acc, size_t m0, size_t rows,
                       size_t n0, size_t cols)
{
    const float inv_ps = ldexpf(1.0f, -p->prescale_exp);
    const uint16_t *sx_bits = p->sx->host;
    for (size_t i = 0; i < rows; i++) {
        const float *a = acc + i * cols, sx = bf16_value(sx_bits[m0 + i]);
        const size_t at = (m0 + i) * p->n + n0;
        if (p->acc)
            memcpy((float *)p->acc->host + at, a, cols * sizeof *a);
        if (p->y_dtype == QKV_F32) {
            float *y = (float *)p->y->host + at;
            for (size_t j = 0; j < cols; j++)
                y[j] = a[j] * sx * inv_ps;
            continue;
        }
        uint16_t *y = (uint16_t *)p->y->host + at;
        if (p->mode == QKV_W4A8_EXACT)
            for (size_t j = 0; j < cols; j++)
                y[j] = bf16_round(a[j] * sx * inv_ps);
        else if (p->prescale_exp)
            for (size_t j = 0; j < cols; j++)
                y[j] = bf16_round(bf16_value(bf16_round(bf16_value(bf16_round(a[j])) * sx)) *
                                  inv_ps);
        else
            for (size_t j = 0; j < cols; j++)
                y[j] = bf16_round(bf16_value(bf16_round(a[j])) * sx);
    }
}

/* ---- driver ----------------------------------------------------------------------- */

enum { ROWS, COLS };
static const qkv_tile_param_def w4a8_gemm_space[] = {
    /* tokens per work item */
    {"rows", 8, {1, 2, 4, 8, 16, 32, 64, 0}, false},
    /* outputs per work item */
    {"cols", 32, {4, 8, 16, 32, 64, 128, 0}, false},
};

/* A tile value, at least 1. */
static size_t tile_value(const qkv_tile_params *tile, int i)
{
    return tile->value[i] > 0 ? (size_t)tile->value[i] : 1;
}

qkv_status fireq_gemm_run_tiles(const qkv_w4a8_gemm_params *p, const fireq_gemm *c,
                                fireq_gemm_tile_fn tile_fn, size_t rows, size_t cols,
                                size_t scratch_bytes)
{
    const size_t row_tiles = (c->M + rows - 1) / rows, col_tiles = (c->N + cols - 1) / cols;
    int failed = 0;
#pragma omp parallel num_threads(cpu_team_size()) reduction(| : failed)
    {
        float *acc = malloc(rows * cols * sizeof *acc);
        void *scratch = aligned_alloc(64, (scratch_bytes + 63) / 64 * 64 + 64);
        failed = !acc || !scratch;
#pragma omp for schedule(dynamic, 1)
        for (size_t t = 0; t < row_tiles * col_tiles; t++) {
            if (failed)
                continue;
            const size_t m0 = t / col_tiles * rows, n0 = t % col_tiles * cols;
            const size_t nr = c->M - m0 < rows ? c->M - m0 : rows;
            const size_t nc = c->N - n0 < cols ? c->N - n0 : cols;
            tile_fn(c, m0, nr, n0, nc, acc, scratch);
            write_tile(p, acc, m0, nr, n0, nc);
        }
        free(acc);
        free(scratch);
    }
    return failed ? qkv_fail(QKV_ERR_NO_MEMORY, "w4a8_gemm: out of host memory") : QKV_OK;
}

/* One call: tables, the activations decoded, then the tiles. */
static qkv_status cpu_w4a8_gemm(const void *params, const qkv_tile_params *tile,
                                qkv_cpu_isa isa)
{
    const qkv_w4a8_gemm_params *p = params;
    const size_t M = p->m, K = p->k;
#if QKV_CPU_X86
    const fireq_gemm_tile_fn tile_fn = isa >= QKV_CPU_ISA_AVX512 ? fireq_gemm_avx512_tile
                                       : isa >= QKV_CPU_ISA_AVX2 ? fireq_gemm_avx2_tile
                                                                 : scalar_tile;
#else
    (void)isa;
    const fireq_gemm_tile_fn tile_fn = scalar_tile;
#endif
    size_t x_bytes;
    float *x = qkv_mul_sizes(&x_bytes, 3, (const size_t[]){M, K, sizeof *x}) ? malloc(x_bytes)
                                                                             : NULL;
    if (!x)
        return qkv_fail(QKV_ERR_NO_MEMORY, "w4a8_gemm: out of host memory");
    float e4m3[256];
    for (int b = 0; b < 256; b++)
        e4m3[b] = qkv_e4m3_to_f32((uint8_t)b);
    const uint8_t *xq = p->xq->host;
#pragma omp parallel for num_threads(cpu_team_size()) schedule(static)
    for (size_t i = 0; i < M * K; i++)
        x[i] = e4m3[xq[i]];
    const fireq_gemm c = {.x = x, .wq = p->wq->host, .ws = p->ws->host,
                          .table = fireq_gemm_table(p->mode), .M = M, .N = p->n, .K = K,
                          .G = (size_t)p->group};
    const qkv_status st =
        fireq_gemm_run_tiles(p, &c, tile_fn, tile_value(tile, ROWS), tile_value(tile, COLS),
                             tile_value(tile, COLS) * c.G * sizeof(float));
    free(x);
    return st;
}

static qkv_status cpu_w4a8_gemm_avx512(qkv_context *ctx, const void *p,
                                       const qkv_tile_params *t)
{
    (void)ctx;
    return cpu_w4a8_gemm(p, t, QKV_CPU_ISA_AVX512);
}

static qkv_status cpu_w4a8_gemm_avx2(qkv_context *ctx, const void *p,
                                     const qkv_tile_params *t)
{
    (void)ctx;
    return cpu_w4a8_gemm(p, t, QKV_CPU_ISA_AVX2);
}

static qkv_status cpu_w4a8_gemm_scalar(qkv_context *ctx, const void *p,
                                       const qkv_tile_params *t)
{
    (void)ctx;
    return cpu_w4a8_gemm(p, t, QKV_CPU_ISA_SCALAR);
}

/* The avx512 variant's space: as w4a8_gemm_space, its own defaults. */
static const qkv_tile_param_def w4a8_gemm_avx512_space[] = {
    {"rows", 16, {1, 2, 4, 8, 16, 32, 64, 0}, false},
    {"cols", 32, {4, 8, 16, 32, 64, 128, 0}, false},
};

/* The avx2 variant's space: cols a multiple of its 3-output blocks. */
static const qkv_tile_param_def w4a8_gemm_avx2_space[] = {
    {"rows", 16, {1, 2, 4, 8, 16, 32, 64, 0}, false},
    {"cols", 24, {3, 6, 12, 24, 48, 96, 0}, false},
};

const qkv_variant qkv_w4a8_gemm_avx512 = {
    .name = "avx512", .op = QKV_OP_W4A8_GEMM, .backends = QKV_ON(QKV_BACKEND_CPU),
    .run = cpu_w4a8_gemm_avx512, .supports = qkv_cpu_avx512_supports,
    .nparams = QKV_NPARAMS(w4a8_gemm_avx512_space), .params = w4a8_gemm_avx512_space};
const qkv_variant qkv_w4a8_gemm_avx2 = {
    .name = "avx2", .op = QKV_OP_W4A8_GEMM, .backends = QKV_ON(QKV_BACKEND_CPU),
    .run = cpu_w4a8_gemm_avx2, .supports = qkv_cpu_avx2_supports,
    .nparams = QKV_NPARAMS(w4a8_gemm_avx2_space), .params = w4a8_gemm_avx2_space};
const qkv_variant qkv_w4a8_gemm_scalar = {
    .name = "scalar", .op = QKV_OP_W4A8_GEMM, .backends = QKV_ON(QKV_BACKEND_CPU),
    .run = cpu_w4a8_gemm_scalar, .nparams = QKV_NPARAMS(w4a8_gemm_space),
    .params = w4a8_gemm_space};
