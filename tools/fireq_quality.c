/* fireq_quality.c - the FireQ quality report (docs/fireq.md, "Quality"):
 * relative Frobenius error of Y = X W^T against the double product for the
 * w4a8_gemm's lut and exact modes, plain INT4 weights with f32
 * activations and E4M3 activations with f32 weights, at G = 64, 128, 256;
 * then the pre-scale's effect on weights of small magnitude.  Fixed seeds:
 * the tables are the same on every run.
 *
 * usage: fireq-quality [--backend B]   (default cpu; the ops' backend) */
#include "op_case.h"
#include "qkv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Outlier channels scale their column by this (1: no outliers). */
#define OUTLIER_FACTOR 20.0f
/* One outlier channel per this many input channels (at least one). */
#define OUTLIER_EVERY 512
#define SEED_WEIGHTS 1u
#define SEED_ACTIVATIONS 2u

/* The operands of one GEMM: f32 X [m, k], W [n, k] and their double
 * product y_ref [m, n]. */
typedef struct problem {
    size_t m, n, k;
    float *x, *w;
    double *y_ref;
} problem;

/* Quantized weights: codes [n, k/2] int4, scales [n, k/g] e4m3, exponent i. */
typedef struct quant_weights {
    int group, prescale_exp;
    uint8_t *codes, *scales;
} quant_weights;

/* malloc that exits on failure. */
static void *xmalloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "fireq-quality: out of memory\n");
        exit(1);
    }
    return p;
}

/* Exit with the library's message unless st is QKV_OK. */
static void check(qkv_status st, const char *what)
{
    if (st != QKV_OK) {
        fprintf(stderr, "fireq-quality: %s: %s: %s\n", what, qkv_status_name(st),
                qkv_last_error());
        exit(1);
    }
}

/* a [rows, cols] standard normals from `seed`, with cols / OUTLIER_EVERY
 * (at least 1) random columns multiplied by `factor`. */
static float *gaussian_with_outliers(size_t rows, size_t cols, uint64_t seed, float factor)
{
    float *a = xmalloc(rows * cols * sizeof *a);
    uint64_t rng = seed;
    for (size_t i = 0; i < rows * cols; i++)
        a[i] = (float)qkv_rng_normal(&rng);
    const size_t outliers = cols / OUTLIER_EVERY ? cols / OUTLIER_EVERY : 1;
    for (size_t o = 0; o < outliers; o++) {
        const size_t col = (size_t)(qkv_rng_next(&rng) % cols);
        for (size_t r = 0; r < rows; r++)
            a[r * cols + col] *= factor;
    }
    return a;
}

/* y [m, n] = x [m, k] . w [n, k]^T, every product and sum in double. */
static void matmul_nt_double(const float *x, const float *w, size_t m, size_t n, size_t k,
                             double *y)
{
    for (size_t r = 0; r < m; r++)
        for (size_t c = 0; c < n; c++) {
            const float *xr = x + r * k, *wc = w + c * k;
            double s[4] = {0, 0, 0, 0};
            size_t j = 0;
            for (; j + 4 <= k; j += 4)
                for (int u = 0; u < 4; u++)
                    s[u] += (double)xr[j + u] * wc[j + u];
            for (; j < k; j++)
                s[0] += (double)xr[j] * wc[j];
            y[r * n + c] = (s[0] + s[1]) + (s[2] + s[3]);
        }
}

/* ||y - ref||_F / ||ref||_F over count elements. */
static double rel_error(const double *y, const double *ref, size_t count)
{
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < count; i++) {
        num += (y[i] - ref[i]) * (y[i] - ref[i]);
        den += ref[i] * ref[i];
    }
    return sqrt(num / den);
}

/* The spec's weight quantization steps 2-3 with the pre-scale exponent i
 * given instead of searched: w [n, k] f32 -> q->codes, q->scales. */
static void quantize_weights_with_exp(const float *w, size_t n, size_t k, int group, int i,
                                      quant_weights *q)
{
    int8_t values[256];
    q->group = group;
    q->prescale_exp = i;
    for (size_t first = 0; first < n * k; first += (size_t)group) {
        float amax = 0.0f;
        for (int j = 0; j < group; j++)
            amax = fmaxf(amax, fabsf(ldexpf(w[first + j], i)));
        uint8_t s = qkv_f32_to_e4m3(fmaxf(amax, 1e-5f) / 7.0f, QKV_FP8_SATFINITE);
        if (qkv_e4m3_to_f32(s) < 0x1p-9f)
            s = 0x01; /* the floor, 2^-9 */
        q->scales[first / (size_t)group] = s;
        const float scale = qkv_e4m3_to_f32(s);
        for (int j = 0; j < group; j++) {
            const float r = rintf(ldexpf(w[first + j], i) / scale);
            values[j] = (int8_t)fminf(fmaxf(r, -8.0f), 7.0f);
        }
        qkv_i4_pack(values, (size_t)group, q->codes + first / 2);
    }
}

/* Allocate codes and scales for [n, k] in groups of `group`. */
static quant_weights alloc_weights(size_t n, size_t k, int group)
{
    return (quant_weights){group, 0, xmalloc(n * k / 2), xmalloc(n * k / (size_t)group)};
}

/* Free what alloc_weights allocated. */
static void free_weights(quant_weights *q)
{
    free(q->codes);
    free(q->scales);
}

/* w_hat [n, k] = q * dec(s_g) * 2^-i (exact in f32): the INT4 weights as
 * the GEMM sees them, pre-scale undone. */
static void dequantize_weights(const quant_weights *q, size_t n, size_t k, float *w_hat)
{
    int8_t values[256];
    const size_t g = (size_t)q->group;
    for (size_t first = 0; first < n * k; first += g) {
        qkv_i4_unpack(q->codes + first / 2, g, values);
        const float scale = ldexpf(qkv_e4m3_to_f32(q->scales[first / g]), -q->prescale_exp);
        for (size_t j = 0; j < g; j++)
            w_hat[first + j] = (float)values[j] * scale;
    }
}

/* A buffer of `bytes` on ctx holding data (NULL: left unset). */
static qkv_buffer *upload(qkv_context *ctx, const void *data, size_t bytes)
{
    qkv_buffer *b;
    check(qkv_buffer_create(ctx, bytes, &b), "buffer");
    if (data)
        check(qkv_buffer_write(b, 0, data, bytes), "write");
    return b;
}

/* x [m, k] f32 -> xq [m, k] e4m3, sx [m] bf16 with the op on ctx. */
static void quant_activations(qkv_context *ctx, const float *x, size_t m, size_t k,
                              uint8_t *xq, uint16_t *sx)
{
    qkv_buffer *bx = upload(ctx, x, m * k * sizeof *x), *bq = upload(ctx, NULL, m * k),
               *bs = upload(ctx, NULL, m * sizeof *sx);
    const qkv_w4a8_act_quant_params p = {.m = m, .k = k, .dtype = QKV_F32, .x = bx, .xq = bq,
                                         .sx = bs};
    check(qkv_w4a8_quant_activations(ctx, &p), "w4a8_quant_activations");
    check(qkv_buffer_read(bq, 0, xq, m * k), "read");
    check(qkv_buffer_read(bs, 0, sx, m * sizeof *sx), "read");
    qkv_buffer_destroy(bx);
    qkv_buffer_destroy(bq);
    qkv_buffer_destroy(bs);
}

/* y [m, n] as double from qkv_w4a8_gemm on ctx: lut (bf16 y) or exact
 * (f32 y). */
static void gemm(qkv_context *ctx, const problem *pr, const uint8_t *xq, const uint16_t *sx,
                 const quant_weights *q, qkv_w4a8_mode mode, double *y)
{
    const size_t m = pr->m, n = pr->n, k = pr->k;
    const size_t y_size = mode == QKV_W4A8_LUT ? 2 : 4;
    qkv_buffer *bxq = upload(ctx, xq, m * k), *bsx = upload(ctx, sx, m * 2),
               *bwq = upload(ctx, q->codes, n * k / 2),
               *bws = upload(ctx, q->scales, n * k / (size_t)q->group),
               *by = upload(ctx, NULL, m * n * y_size);
    const qkv_w4a8_gemm_params p = {
        .m = m, .n = n, .k = k, .group = q->group, .prescale_exp = q->prescale_exp,
        .mode = mode, .y_dtype = mode == QKV_W4A8_LUT ? QKV_BF16 : QKV_F32,
        .xq = bxq, .sx = bsx, .wq = bwq, .ws = bws, .y = by};
    check(qkv_w4a8_gemm(ctx, &p), "w4a8_gemm");
    void *raw = xmalloc(m * n * y_size);
    check(qkv_buffer_read(by, 0, raw, m * n * y_size), "read");
    for (size_t i = 0; i < m * n; i++)
        y[i] = mode == QKV_W4A8_LUT ? qkv_bf16_to_f32(((const uint16_t *)raw)[i])
                                    : ((const float *)raw)[i];
    free(raw);
    qkv_buffer *all[] = {bxq, bsx, bwq, bws, by};
    for (int i = 0; i < 5; i++)
        qkv_buffer_destroy(all[i]);
}

/* Error of INT4 weights q (pre-scale undone) times the f32 activations, in
 * double. */
static double int4_f32_error(const problem *pr, const quant_weights *q, double *y)
{
    float *w_hat = xmalloc(pr->n * pr->k * sizeof *w_hat);
    dequantize_weights(q, pr->n, pr->k, w_hat);
    matmul_nt_double(pr->x, w_hat, pr->m, pr->n, pr->k, y);
    free(w_hat);
    return rel_error(y, pr->y_ref, pr->m * pr->n);
}

/* Quantize pr->w with the library (group G) and check that the spec's
 * steps restated here give the same codes and scales at its exponent. */
static quant_weights library_weights(const problem *pr, int group)
{
    quant_weights q = alloc_weights(pr->n, pr->k, group), mine = alloc_weights(pr->n, pr->k, group);
    const qkv_w4a8_weight_quant_params p = {
        .n = pr->n, .k = pr->k, .group = group, .dtype = QKV_F32, .weights = pr->w,
        .codes = q.codes, .scales = q.scales, .prescale_exp = &q.prescale_exp};
    check(qkv_w4a8_quantize_weights(&p), "w4a8_quantize_weights");
    quantize_weights_with_exp(pr->w, pr->n, pr->k, group, q.prescale_exp, &mine);
    if (memcmp(q.codes, mine.codes, pr->n * pr->k / 2) ||
        memcmp(q.scales, mine.scales, pr->n * pr->k / (size_t)group)) {
        fprintf(stderr, "fireq-quality: the restated steps 2-3 differ from the library\n");
        exit(1);
    }
    free_weights(&mine);
    return q;
}

/* Table 1 rows for one shape: every G, four errors each. */
static void quality_rows(qkv_context *ctx, const problem *pr, const char *outliers,
                         const uint8_t *xq, const uint16_t *sx, double fp8_only)
{
    static const int groups[] = {64, 128, 256};
    double *y = xmalloc(pr->m * pr->n * sizeof *y);
    for (int g = 0; g < 3; g++) {
        quant_weights q = library_weights(pr, groups[g]);
        gemm(ctx, pr, xq, sx, &q, QKV_W4A8_LUT, y);
        const double lut = rel_error(y, pr->y_ref, pr->m * pr->n);
        gemm(ctx, pr, xq, sx, &q, QKV_W4A8_EXACT, y);
        const double exact = rel_error(y, pr->y_ref, pr->m * pr->n);
        const double int4 = int4_f32_error(pr, &q, y);
        printf("| %zu x %zu x %zu | %s | %d | %d | %.4f | %.4f | %.4f | %.4f |\n", pr->m,
               pr->n, pr->k, outliers, groups[g], q.prescale_exp, lut, exact, int4, fp8_only);
        free_weights(&q);
    }
    free(y);
}

/* f32 activations as the GEMM sees them: dec(xq) * sx (exact in f32). */
static void dequantize_activations(const uint8_t *xq, const uint16_t *sx, size_t m, size_t k,
                                   float *x_hat)
{
    for (size_t r = 0; r < m; r++)
        for (size_t j = 0; j < k; j++)
            x_hat[r * k + j] = qkv_e4m3_to_f32(xq[r * k + j]) * qkv_bf16_to_f32(sx[r]);
}

/* Operands of [m, k] x [n, k]^T with the fixed seeds, outlier channels
 * scaled by x_factor and w_factor, W times 2^w_exp. */
static problem make_problem(size_t m, size_t n, size_t k, float x_factor, float w_factor,
                            int w_exp)
{
    problem pr = {m, n, k, gaussian_with_outliers(m, k, SEED_ACTIVATIONS, x_factor),
                  gaussian_with_outliers(n, k, SEED_WEIGHTS, w_factor),
                  xmalloc(m * n * sizeof(double))};
    for (size_t i = 0; i < n * k; i++)
        pr.w[i] = ldexpf(pr.w[i], w_exp);
    matmul_nt_double(pr.x, pr.w, m, n, k, pr.y_ref);
    return pr;
}

/* Free what make_problem allocated. */
static void free_problem(problem *pr)
{
    free(pr->x);
    free(pr->w);
    free(pr->y_ref);
}

/* One row set of table 1: shape, outlier factors of X and W, label. */
typedef struct quality_case {
    size_t m, n, k;
    float x_factor, w_factor;
    const char *outliers;
} quality_case;

/* Table 1: errors per shape, outliers and G. */
static void quality_table(qkv_context *ctx)
{
    static const quality_case cases[] = {
        {64, 1024, 1024, OUTLIER_FACTOR, OUTLIER_FACTOR, "X and W"},
        {64, 1024, 4096, OUTLIER_FACTOR, OUTLIER_FACTOR, "X and W"},
        {64, 1024, 14336, OUTLIER_FACTOR, OUTLIER_FACTOR, "X and W"},
        {64, 1024, 4096, OUTLIER_FACTOR, 1.0f, "X only"},
        {64, 1024, 4096, 1.0f, 1.0f, "none"}};
    printf("| M x N x K | outliers | G | i | lut (bf16 Y) | exact (f32 Y) | INT4 W x f32 X | "
           "E4M3 X x f32 W |\n|---|---|---|---|---|---|---|---|\n");
    for (size_t s = 0; s < sizeof cases / sizeof cases[0]; s++) {
        const quality_case *qc = &cases[s];
        problem pr = make_problem(qc->m, qc->n, qc->k, qc->x_factor, qc->w_factor, 0);
        uint8_t *xq = xmalloc(pr.m * pr.k);
        uint16_t *sx = xmalloc(pr.m * sizeof *sx);
        quant_activations(ctx, pr.x, pr.m, pr.k, xq, sx);
        float *x_hat = xmalloc(pr.m * pr.k * sizeof *x_hat);
        double *y = xmalloc(pr.m * pr.n * sizeof *y);
        dequantize_activations(xq, sx, pr.m, pr.k, x_hat);
        matmul_nt_double(x_hat, pr.w, pr.m, pr.n, pr.k, y);
        quality_rows(ctx, &pr, qc->outliers, xq, sx, rel_error(y, pr.y_ref, pr.m * pr.n));
        free(x_hat);
        free(y);
        free(xq);
        free(sx);
        free_problem(&pr);
    }
}

/* Percentage of the groups whose scale code is at most `max_code`: 0x07
 * the subnormals (below 2^-6), 0x01 the smallest, 2^-9 (the floor). */
static double scale_share(const quant_weights *q, size_t groups, uint8_t max_code)
{
    size_t count = 0;
    for (size_t g = 0; g < groups; g++)
        count += q->scales[g] <= max_code;
    return 100.0 * (double)count / (double)groups;
}

/* Table 2: weights times 2^-4 .. 2^-12 at one shape and G = 128, the
 * searched pre-scale against i forced to 0. */
static void prescale_table(qkv_context *ctx)
{
    enum { M = 64, N = 1024, K = 4096, G = 128 };
    printf("| W scale | i | subnormal scales, i / i = 0 | scales 2^-9, i / i = 0 | lut, i | "
           "lut, i = 0 | INT4 x f32, i | INT4 x f32, i = 0 |\n"
           "|---|---|---|---|---|---|---|---|\n");
    uint8_t *xq = xmalloc((size_t)M * K);
    uint16_t *sx = xmalloc(M * sizeof *sx);
    double *y = xmalloc((size_t)M * N * sizeof *y);
    for (int e = 4; e <= 12; e++) {
        problem pr = make_problem(M, N, K, OUTLIER_FACTOR, OUTLIER_FACTOR, -e);
        quant_activations(ctx, pr.x, M, K, xq, sx);
        quant_weights q = library_weights(&pr, G), q0 = alloc_weights(N, K, G);
        quantize_weights_with_exp(pr.w, N, K, G, 0, &q0);
        gemm(ctx, &pr, xq, sx, &q, QKV_W4A8_LUT, y);
        const double lut = rel_error(y, pr.y_ref, (size_t)M * N);
        gemm(ctx, &pr, xq, sx, &q0, QKV_W4A8_LUT, y);
        const double lut0 = rel_error(y, pr.y_ref, (size_t)M * N);
        const double int4 = int4_f32_error(&pr, &q, y), int40 = int4_f32_error(&pr, &q0, y);
        const size_t groups = (size_t)N * K / G;
        printf("| 2^-%d | %d | %.1f%% / %.1f%% | %.1f%% / %.1f%% | %.4f | %.4f | %.4f | %.4f |\n",
               e, q.prescale_exp, scale_share(&q, groups, 0x07), scale_share(&q0, groups, 0x07),
               scale_share(&q, groups, 0x01), scale_share(&q0, groups, 0x01), lut, lut0, int4,
               int40);
        free_weights(&q);
        free_weights(&q0);
        free_problem(&pr);
    }
    free(xq);
    free(sx);
    free(y);
}

int main(int argc, char **argv)
{
    const char *backend = "cpu";
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--backend") == 0 && a + 1 < argc) {
            backend = argv[++a];
        } else {
            fprintf(stderr, "usage: fireq-quality [--backend B]\n");
            return 2;
        }
    }
    qkv_context *ctx;
    check(qkv_open(backend, &ctx), backend);
    printf("Relative Frobenius error ||Y - Y_ref|| / ||Y_ref|| against the double product "
           "of the f32 operands (backend %s)\n\n",
           backend);
    quality_table(ctx);
    printf("\nPre-scale: W times 2^-e, M x N x K = 64 x 1024 x 4096, G = 128\n\n");
    prescale_table(ctx);
    qkv_close(ctx);
    return 0;
}
