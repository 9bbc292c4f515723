/* fireq_gemm_cpu_avx512bf16.c - the cpu "avx512bf16" variant of w4a8_gemm:
 * the products on vdpbf16ps, 32 per instruction.
 *
 * Exact, not an approximation: every activation is an E4M3 value and every
 * table entry an E4M3 value (lut) or q * s with at most 3 + 4 significant
 * bits (exact), so both are exact in bf16 (8 significant bits) and each
 * product exact in f32; vdpbf16ps adds the pair to the f32 accumulator with
 * f32 rounding, as two FMAs would (AMD may round once for the pair, which is
 * no worse).  Its flushing of denormals never applies: every nonzero input
 * is at least 2^-9 and every partial sum a multiple of 2^-18.
 *
 * Layout (spec w4a8-gemm.md, "Kernel notes: OpenMP"): 64 packed bytes are
 * 32 words; word i holds the codes of k = 4i .. 4i + 3, in bits 4r .. 4r + 3
 * for k = 4i + r.  Shifting the words by 4r and looking up the low 4 bits
 * in the group's 16-entry bf16 table with vpermw gives 32 weights
 * W[k0 + 4i + r]; the activations of each 128-k block are stored the same
 * way (sub-vector r, lane i = x[k0 + 4i + r]), so lanes of weights and
 * activations pair up and vdpbf16ps sums k0 + 8j + r and k0 + 8j + 4 + r
 * into lane j.  The two halves of a 128-k block may lie in two groups
 * (G = 64): the table register holds group k0/G in words 0..15 and group
 * (k0 + 64)/G in words 16..31, and bit 4 of each index selects the half.
 * A 64-k tail (K an odd multiple of 64) runs the same on the low half. */
#include "fireq_gemm_cpu.h"

#include "avx2_math.h"
#include "cpu_features.h"
#include "cpu_team.h"
#include "fireq/gemm_variants.h"

#include <stdlib.h>
#include <string.h>

/* QKV_FUZZ_LEAN (scripts/fuzz.sh) leaves the kernels out: clang's ASan,
 * UBSan and fuzzer instrumentation of their ~70 unrolled register-block
 * instances takes five minutes; the gcc sanitizer build covers them. */
#if QKV_CPU_X86 && (defined(__clang__) || __GNUC__ >= 10) && !defined(QKV_FUZZ_LEAN)
#define FIREQ_BF16 1
#else
#define FIREQ_BF16 0
#endif

enum { ROWS, COLS, K_STEP, BLOCK_ROWS };
static const qkv_tile_param_def w4a8_gemm_bf16_space[] = {
    /* tokens per work item */
    {"rows", 64, {1, 2, 4, 8, 16, 32, 48, 64, 96, 128, 0}, false},
    /* outputs per work item */
    {"cols", 64, {4, 8, 16, 32, 64, 128, 0}, false},
    /* K per pass over a work item (all of K when larger) */
    {"k_step", 16384, {256, 512, 1024, 2048, 4096, 16384, 0}, false},
    /* tokens per register block (of 4 outputs, 3 at 7-8 tokens) */
    {"block_rows", 6, {1, 2, 4, 6, 8, 0}, false},
};

#if FIREQ_BF16

#include <immintrin.h>

#define BF16_TARGET "avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,avx2,fma,f16c"
#define BF16_FN __attribute__((target(BF16_TARGET)))
#define BF16_INLINE static inline __attribute__((always_inline, target(BF16_TARGET)))

enum { MAX_R = 8, MAX_C = 4 };

/* Outputs per register block of r tokens that expands its own weights
 * (tables, codes and weights in registers beside the accumulators). */
static int direct_cols(int r)
{
    return r <= 4 ? 4 : r <= 6 ? 3 : 2;
}

/* Outputs per register block of r tokens that reads expanded weights. */
static int panel_cols(int r)
{
    return r <= 6 ? 4 : 3;
}

/* The table register of output row `ws_row` (its scale codes) for the
 * 128-k block at k: words 0..15 the group of k, 16..31 that of k + 64
 * (two_groups: G = 64) or the same table again (G >= 128). */
BF16_INLINE __m512i block_table(const fireq_gemm *c, const uint8_t *ws_row, size_t k,
                                bool two_groups)
{
    const __m256i lo = _mm256_loadu_si256((const __m256i *)c->table_bf16[ws_row[k >> c->g_shift]]);
    if (!two_groups)
        return _mm512_broadcast_i64x4(lo);
    const __m256i hi =
        _mm256_loadu_si256((const __m256i *)c->table_bf16[ws_row[(k + 64) >> c->g_shift]]);
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* Weights r (k = 4i + r) of the 32 code words q through table t.  vpermw
 * reads 5 index bits: with one group the table repeats, so bit 4 (the
 * next nibble's) does not matter; with two it is set to the word's half. */
BF16_INLINE __m512bh block_weights(__m512i q, __m512i t, int r, bool two_groups)
{
    const __m512i shifted = r ? _mm512_srli_epi16(q, 4 * r) : q;
    if (!two_groups)
        return (__m512bh)_mm512_permutexvar_epi16(shifted, t);
    const __m512i nibble = _mm512_set1_epi16(0x000f);
    const __m512i half = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(16), 1);
    /* shifted & 15 | half, one vpternlog */
    const __m512i idx = _mm512_ternarylogic_epi32(shifted, nibble, half, 0xea);
    return (__m512bh)_mm512_permutexvar_epi16(idx, t);
}

/* s[i][j] = 0 for i < R, j < C. */
BF16_INLINE void zero_sums(__m512 s[MAX_R][MAX_C], int R, int C)
{
#pragma GCC unroll 8
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int j = 0; j < C; j++)
            s[i][j] = _mm512_setzero_ps();
}

/* s[i][j] += the products of token i's 32 activations at x + i * K (16,
 * the rest zero, when `half`) with w[j], for i < R, j < C. */
BF16_INLINE void multiply_add(__m512 s[MAX_R][MAX_C], const uint16_t *x, size_t K,
                              const __m512bh w[MAX_C], int R, int C, bool half)
{
#pragma GCC unroll 8
    for (int i = 0; i < R; i++) {
        const __m512bh xv = half ? (__m512bh)_mm512_maskz_loadu_epi16(0xffff, x + i * K)
                                 : (__m512bh)_mm512_loadu_si512(x + i * K);
#pragma GCC unroll 4
        for (int j = 0; j < C; j++)
            s[i][j] = _mm512_dpbf16_ps(s[i][j], xv, w[j]);
    }
}

/* acc[i * ld + j] += the lane sum of s[i][j], for i < R, j < C. */
BF16_INLINE void add_sums(float *acc, size_t ld, __m512 s[MAX_R][MAX_C], int R, int C)
{
#pragma GCC unroll 8
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int j = 0; j < C; j++)
            acc[i * ld + j] += _mm512_reduce_add_ps(s[i][j]);
}

/* acc[i * ld + j] += sum_{k in [k0, k1)} x[m + i, k] * W[n + j, k] for
 * i < R, j < C, the weights expanded here: R x C accumulators over 128-k
 * blocks, then the 64-k tail (k1 - k0 a multiple of 64, k0 of 128). */
BF16_INLINE void block(const fireq_gemm *c, size_t m, size_t n, size_t k0, size_t k1, float *acc,
                       size_t ld, int R, int C, bool two_groups)
{
    const size_t K = c->K, KG = K / c->G;
    __m512 s[MAX_R][MAX_C];
    zero_sums(s, R, C);
    const uint16_t *x = c->xb + m * K;
    /* the next C outputs' codes and scales, fetched a step ahead of their
     * block (those of the last rows again at the end of N) */
    const uint8_t *next_codes[MAX_C], *next_scales[MAX_C];
#pragma GCC unroll 4
    for (int j = 0; j < C; j++) {
        const size_t row = n + C + j < c->N ? n + C + j : c->N - 1;
        next_codes[j] = c->wq + row * (K / 2);
        next_scales[j] = c->ws + row * KG;
    }
    size_t k = k0;
    for (; k + 128 <= k1; k += 128) {
        __m512i t[MAX_C], q[MAX_C];
#pragma GCC unroll 4
        for (int j = 0; j < C; j++) {
            _mm_prefetch((const char *)next_codes[j] + k / 2, _MM_HINT_T1);
            _mm_prefetch((const char *)next_scales[j] + (k >> c->g_shift), _MM_HINT_T1);
            t[j] = block_table(c, c->ws + (n + j) * KG, k, two_groups);
            q[j] = _mm512_loadu_si512(c->wq + (n + j) * (K / 2) + k / 2);
        }
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            __m512bh w[MAX_C];
#pragma GCC unroll 4
            for (int j = 0; j < C; j++)
                w[j] = block_weights(q[j], t[j], r, two_groups);
            multiply_add(s, x + k + 32 * r, K, w, R, C, false);
        }
    }
    if (k < k1) {
        /* the 64-k tail: 16 words; the table's high half is zero, so are the
         * weights and activations of lanes 16..31 */
        __m512i t[MAX_C], q[MAX_C];
#pragma GCC unroll 4
        for (int j = 0; j < C; j++) {
            t[j] = _mm512_zextsi256_si512(_mm256_loadu_si256(
                (const __m256i *)c->table_bf16[c->ws[(n + j) * KG + (k >> c->g_shift)]]));
            q[j] = _mm512_zextsi256_si512(
                _mm256_loadu_si256((const __m256i *)(c->wq + (n + j) * (K / 2) + k / 2)));
        }
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            __m512bh w[MAX_C];
#pragma GCC unroll 4
            for (int j = 0; j < C; j++)
                w[j] = block_weights(q[j], t[j], r, true);
            multiply_add(s, x + k + 16 * r, K, w, R, C, true);
        }
    }
    add_sums(acc, ld, s, R, C);
}

/* panel[j * (k1 - k0) + k - k0 ...] = the weights of outputs n + j,
 * j < C, over [k0, k1) in the activations' layout (128-k blocks of 4
 * sub-vectors of 32, a 64-k tail of 4 of 16). */
BF16_INLINE void expand_panel(const fireq_gemm *c, size_t n, int C, size_t k0, size_t k1,
                              uint16_t *panel)
{
    const size_t K = c->K, KG = K / c->G, kc = k1 - k0;
    for (int j = 0; j < C; j++) {
        const uint8_t *codes = c->wq + (n + j) * (K / 2), *scales = c->ws + (n + j) * KG;
        /* the next panel's row j, fetched a panel ahead */
        const size_t next = n + C + j < c->N ? n + C + j : c->N - 1;
        const uint8_t *next_codes = c->wq + next * (K / 2), *next_scales = c->ws + next * KG;
        uint16_t *out = panel + (size_t)j * kc - k0;
        size_t k = k0;
        for (; k + 128 <= k1; k += 128) {
            _mm_prefetch((const char *)next_codes + k / 2, _MM_HINT_T1);
            _mm_prefetch((const char *)next_scales + (k >> c->g_shift), _MM_HINT_T1);
            const __m512i t = block_table(c, scales, k, true), q = _mm512_loadu_si512(codes + k / 2);
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++)
                _mm512_storeu_si512(out + k + 32 * r, (__m512i)block_weights(q, t, r, true));
        }
        if (k < k1) {
            const __m512i t = _mm512_zextsi256_si512(
                _mm256_loadu_si256((const __m256i *)c->table_bf16[scales[k >> c->g_shift]]));
            const __m512i q =
                _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(codes + k / 2)));
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++)
                _mm256_storeu_si256((__m256i *)(out + k + 16 * r),
                                    _mm512_castsi512_si256((__m512i)block_weights(q, t, r, true)));
        }
    }
}

/* As block(), the weights read from a panel of expand_panel(). */
BF16_INLINE void panel_block(const fireq_gemm *c, const uint16_t *panel, size_t m, size_t k0,
                             size_t k1, float *acc, size_t ld, int R, int C)
{
    const size_t K = c->K, kc = k1 - k0;
    __m512 s[MAX_R][MAX_C];
    zero_sums(s, R, C);
    const uint16_t *x = c->xb + m * K;
    size_t k = k0;
    for (; k + 128 <= k1; k += 128)
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            __m512bh w[MAX_C];
#pragma GCC unroll 4
            for (int j = 0; j < C; j++)
                w[j] = (__m512bh)_mm512_loadu_si512(panel + j * kc + k - k0 + 32 * r);
            multiply_add(s, x + k + 32 * r, K, w, R, C, false);
        }
    if (k < k1)
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            __m512bh w[MAX_C];
#pragma GCC unroll 4
            for (int j = 0; j < C; j++)
                w[j] = (__m512bh)_mm512_maskz_loadu_epi16(0xffff, panel + j * kc + k - k0 + 16 * r);
            multiply_add(s, x + k + 16 * r, K, w, R, C, true);
        }
    add_sums(acc, ld, s, R, C);
}

typedef void (*block_fn)(const fireq_gemm *c, size_t m, size_t n, size_t k0, size_t k1,
                         float *acc, size_t ld);
typedef void (*panel_block_fn)(const fireq_gemm *c, const uint16_t *panel, size_t m, size_t k0,
                               size_t k1, float *acc, size_t ld);
typedef void (*expand_fn)(const fireq_gemm *c, size_t n, size_t k0, size_t k1, uint16_t *panel);

/* block() for R tokens x C outputs as functions: block_RxC for G >= 128,
 * block2_RxC for G = 64. */
#define FIREQ_BF16_BLOCK(R, C)                                                                 \
    static BF16_FN void block_##R##x##C(const fireq_gemm *c, size_t m, size_t n, size_t k0,    \
                                        size_t k1, float *acc, size_t ld)                      \
    {                                                                                          \
        block(c, m, n, k0, k1, acc, ld, R, C, false);                                          \
    }                                                                                          \
    static BF16_FN void block2_##R##x##C(const fireq_gemm *c, size_t m, size_t n, size_t k0,   \
                                         size_t k1, float *acc, size_t ld)                     \
    {                                                                                          \
        block(c, m, n, k0, k1, acc, ld, R, C, true);                                           \
    }
#define FIREQ_BF16_ROW(R)                                                                      \
    FIREQ_BF16_BLOCK(R, 1) FIREQ_BF16_BLOCK(R, 2) FIREQ_BF16_BLOCK(R, 3) FIREQ_BF16_BLOCK(R, 4)
FIREQ_BF16_ROW(1)
FIREQ_BF16_ROW(2)
FIREQ_BF16_ROW(3)
FIREQ_BF16_ROW(4)
FIREQ_BF16_BLOCK(5, 1) FIREQ_BF16_BLOCK(5, 2) FIREQ_BF16_BLOCK(5, 3)
FIREQ_BF16_BLOCK(6, 1) FIREQ_BF16_BLOCK(6, 2) FIREQ_BF16_BLOCK(6, 3)
FIREQ_BF16_BLOCK(7, 1) FIREQ_BF16_BLOCK(7, 2)
FIREQ_BF16_BLOCK(8, 1) FIREQ_BF16_BLOCK(8, 2)

/* panel_block() for R tokens x C outputs as a function. */
#define FIREQ_BF16_PANEL(R, C)                                                                 \
    static BF16_FN void panel_##R##x##C(const fireq_gemm *c, const uint16_t *panel, size_t m,  \
                                        size_t k0, size_t k1, float *acc, size_t ld)           \
    {                                                                                          \
        panel_block(c, panel, m, k0, k1, acc, ld, R, C);                                       \
    }
#define FIREQ_BF16_PANEL_ROW(R)                                                                \
    FIREQ_BF16_PANEL(R, 1) FIREQ_BF16_PANEL(R, 2) FIREQ_BF16_PANEL(R, 3) FIREQ_BF16_PANEL(R, 4)
FIREQ_BF16_PANEL_ROW(1)
FIREQ_BF16_PANEL_ROW(2)
FIREQ_BF16_PANEL_ROW(3)
FIREQ_BF16_PANEL_ROW(4)
FIREQ_BF16_PANEL_ROW(5)
FIREQ_BF16_PANEL_ROW(6)
FIREQ_BF16_PANEL(7, 1) FIREQ_BF16_PANEL(7, 2) FIREQ_BF16_PANEL(7, 3)
FIREQ_BF16_PANEL(8, 1) FIREQ_BF16_PANEL(8, 2) FIREQ_BF16_PANEL(8, 3)

/* panels[R - 1][C - 1] for C <= panel_cols(R). */
static const panel_block_fn panels[MAX_R][MAX_C] = {
    {panel_1x1, panel_1x2, panel_1x3, panel_1x4}, {panel_2x1, panel_2x2, panel_2x3, panel_2x4},
    {panel_3x1, panel_3x2, panel_3x3, panel_3x4}, {panel_4x1, panel_4x2, panel_4x3, panel_4x4},
    {panel_5x1, panel_5x2, panel_5x3, panel_5x4}, {panel_6x1, panel_6x2, panel_6x3, panel_6x4},
    {panel_7x1, panel_7x2, panel_7x3, NULL},      {panel_8x1, panel_8x2, panel_8x3, NULL},
};

/* expand_panel() for C outputs as a function. */
#define FIREQ_BF16_EXPAND(C)                                                                   \
    static BF16_FN void expand_##C(const fireq_gemm *c, size_t n, size_t k0, size_t k1,        \
                                   uint16_t *panel)                                            \
    {                                                                                          \
        expand_panel(c, n, C, k0, k1, panel);                                                  \
    }
FIREQ_BF16_EXPAND(1)
FIREQ_BF16_EXPAND(2)
FIREQ_BF16_EXPAND(3)
FIREQ_BF16_EXPAND(4)
static const expand_fn expands[MAX_C] = {expand_1, expand_2, expand_3, expand_4};

/* blocks[G == 64][R - 1][C - 1] for C <= direct_cols(R). */
static const block_fn blocks[2][MAX_R][MAX_C] = {
    {{block_1x1, block_1x2, block_1x3, block_1x4},
     {block_2x1, block_2x2, block_2x3, block_2x4},
     {block_3x1, block_3x2, block_3x3, block_3x4},
     {block_4x1, block_4x2, block_4x3, block_4x4},
     {block_5x1, block_5x2, block_5x3, NULL},
     {block_6x1, block_6x2, block_6x3, NULL},
     {block_7x1, block_7x2, NULL, NULL},
     {block_8x1, block_8x2, NULL, NULL}},
    {{block2_1x1, block2_1x2, block2_1x3, block2_1x4},
     {block2_2x1, block2_2x2, block2_2x3, block2_2x4},
     {block2_3x1, block2_3x2, block2_3x3, block2_3x4},
     {block2_4x1, block2_4x2, block2_4x3, block2_4x4},
     {block2_5x1, block2_5x2, block2_5x3, NULL},
     {block2_6x1, block2_6x2, block2_6x3, NULL},
     {block2_7x1, block2_7x2, NULL, NULL},
     {block2_8x1, block2_8x2, NULL, NULL}},
};

/* The tile (a fireq_gemm_tile_fn; scratch: panel_bytes(c)): per K pass
 * of k_step, a tile of at most block_rows tokens runs register blocks
 * that expand their own weights; a taller one expands panel_cols outputs
 * at a time into scratch and runs block_rows x panel_cols blocks over it. */
static void bf16_tile(const fireq_gemm *c, size_t m0, size_t rows, size_t n0, size_t cols,
                      float *acc, void *scratch)
{
    const size_t mr = (size_t)c->block_rows;
    const bool direct = rows <= mr;
    const size_t nr = (size_t)(direct ? direct_cols((int)rows) : panel_cols((int)mr));
    memset(acc, 0, rows * cols * sizeof *acc);
    for (size_t k0 = 0; k0 < c->K; k0 += c->k_step) {
        const size_t k1 = c->K - k0 < c->k_step ? c->K : k0 + c->k_step;
        for (size_t j = 0; j < cols; j += nr) {
            const size_t nc = cols - j < nr ? cols - j : nr;
            if (direct) {
                blocks[c->G == 64][rows - 1][nc - 1](c, m0, n0 + j, k0, k1, acc + j, cols);
                continue;
            }
            expands[nc - 1](c, n0 + j, k0, k1, scratch);
            for (size_t i = 0; i < rows; i += mr) {
                const size_t ni = rows - i < mr ? rows - i : mr;
                panels[ni - 1][nc - 1](c, scratch, m0 + i, k0, k1, acc + i * cols + j, cols);
            }
        }
    }
}

/* Scratch bytes of a tile: one panel of panel_cols outputs x k_step. */
static size_t panel_bytes(const fireq_gemm *c)
{
    const size_t kc = c->k_step < c->K ? c->k_step : c->K;
    return (size_t)panel_cols(c->block_rows) * kc * sizeof(uint16_t);
}

/* bf16 of each E4M3 code (exact: the upper half of its f32). */
static void e4m3_bf16_table(uint16_t out[256])
{
    for (int b = 0; b < 256; b++) {
        const float f = qkv_e4m3_to_f32((uint8_t)b);
        uint32_t u;
        memcpy(&u, &f, sizeof u);
        out[b] = (uint16_t)(u >> 16);
    }
}

/* xb[m, :] of xq[m, :] (M x K e4m3): each 128-k block (and a 64-k tail)
 * as 4 sub-vectors, sub-vector r lane i = x[k0 + 4i + r]. */
static void layout_activations(const uint8_t *xq, size_t M, size_t K, uint16_t *xb)
{
    uint16_t bf[256];
    e4m3_bf16_table(bf);
#pragma omp parallel for num_threads(cpu_team_size()) schedule(static)
    for (size_t m = 0; m < M; m++)
        for (size_t k0 = 0; k0 < K; k0 += 128) {
            const size_t lanes = K - k0 >= 128 ? 32 : 16;
            for (size_t r = 0; r < 4; r++)
                for (size_t i = 0; i < lanes; i++)
                    xb[m * K + k0 + r * lanes + i] = bf[xq[m * K + k0 + 4 * i + r]];
        }
}

/* The variant's run: the activations in bf16, then the tiles. */
static qkv_status bf16_w4a8_gemm(qkv_context *ctx, const void *params,
                                 const qkv_tile_params *tile)
{
    (void)ctx;
    const qkv_w4a8_gemm_params *p = params;
    const size_t M = p->m, K = p->k;
    size_t xb_bytes;
    uint16_t *xb = qkv_mul_sizes(&xb_bytes, 3, (const size_t[]){M, K, sizeof *xb})
                       ? malloc(xb_bytes)
                       : NULL;
    if (!xb)
        return qkv_fail(QKV_ERR_NO_MEMORY, "w4a8_gemm: out of host memory");
    layout_activations(p->xq->host, M, K, xb);
    const fireq_gemm c = {.xb = xb, .wq = p->wq->host, .ws = p->ws->host,
                          .table_bf16 = fireq_gemm_table_bf16(p->mode), .M = M, .N = p->n,
                          .K = K, .G = (size_t)p->group,
                          .g_shift = (unsigned)__builtin_ctz((unsigned)p->group),
                          .k_step = (size_t)tile->value[K_STEP],
                          .block_rows = tile->value[BLOCK_ROWS]};
    const qkv_status st = fireq_gemm_run_tiles(p, &c, bf16_tile, (size_t)tile->value[ROWS],
                                               (size_t)tile->value[COLS], panel_bytes(&c));
    free(xb);
    return st;
}

#else

/* Never run: bf16_supports is false without the compiler's BF16 support. */
static qkv_status bf16_w4a8_gemm(qkv_context *ctx, const void *params,
                                 const qkv_tile_params *tile)
{
    (void)ctx;
    (void)params;
    (void)tile;
    return qkv_fail(QKV_ERR_UNSUPPORTED, "w4a8_gemm: avx512bf16 not built");
}

#endif /* FIREQ_BF16 */

/* An avx512 context on a CPU with AVX-512 BF16 (every call). */
static bool bf16_supports(const qkv_context *ctx, const void *params)
{
    (void)params;
    return FIREQ_BF16 && ctx->cpu_isa >= QKV_CPU_ISA_AVX512 &&
           qkv_cpu_has(QKV_CPU_AVX512_BF16);
}

const qkv_variant qkv_w4a8_gemm_avx512bf16 = {
    .name = "avx512bf16", .op = QKV_OP_W4A8_GEMM, .backends = QKV_ON(QKV_BACKEND_CPU),
    .run = bf16_w4a8_gemm, .supports = bf16_supports,
    .nparams = QKV_NPARAMS(w4a8_gemm_bf16_space), .params = w4a8_gemm_bf16_space};
