/* f32_gemm_cases.c - the test side of the f32 GEMM (f32_gemm), the
 * baseline the quantized GEMMs are measured beside: tensors, test data,
 * launch, shape inference, shape sets, bytes and flops.
 *
 * y is compared with the double reference by NMSE, bound 1e-10.  Every
 * variant accumulates in f32, in chains along K (the cpu tiles: 16 or 8
 * lanes per chain, a K block of at most 4096 at a time; OpenCL: one chain
 * per output).  A chain of length L of zero-mean terms has a relative
 * error of order eps * sqrt(L) (eps = 2^-24), so an NMSE of order
 * eps^2 * L / 3: about 6e-12 for one chain over all K = 14336, the largest
 * K the suite runs, and far less for split chains; 1e-10 leaves a margin
 * of 15 over that worst case and still catches a single wrong product in
 * a row of K = 14336 (an NMSE of about 1/K^2 ... 1/K). */
#include "gemm_bench_grid.h"
#include "op_case.h"

#include <stdio.h>
#include <string.h>

/* A call: y [m, n] = x [m, k] x w [n, k]^T. */
typedef struct f32_gemm_case {
    size_t m, n, k;
} f32_gemm_case;

QKV_CASE_TYPE_FITS(f32_gemm_case);

enum { F_X, F_W, F_Y, F_NTENSORS };

/* x f32 [M, K], w f32 [N, K]; output y f32 [M, N]. */
static void f32_gemm_describe(qkv_op_case *c)
{
    const f32_gemm_case *s = QKV_CARGS(f32_gemm_case, &c->shape);
    c->ntensors = F_NTENSORS;
    c->t[F_X] = (qkv_tensor_desc){"x", QKV_F32, 2, {s->m, s->k}, false, QKV_CMP_NONE, 0};
    c->t[F_W] = (qkv_tensor_desc){"w", QKV_F32, 2, {s->n, s->k}, false, QKV_CMP_NONE, 0};
    c->t[F_Y] = (qkv_tensor_desc){"y", QKV_F32, 2, {s->m, s->n}, true, QKV_CMP_FLOAT, 0};
}

/* n uniforms in [-1, 1) at v, 24 random bits each (cheap: the bench set's
 * weights run to 59 M elements). */
static void fill_uniform(float *v, size_t n, uint64_t *rng)
{
    for (size_t i = 0; i < n; i++)
        v[i] = (float)(qkv_rng_next(rng) >> 40) * 0x1p-23f - 1.0f;
}

static void f32_gemm_fill(qkv_op_case *c, uint64_t seed)
{
    fill_uniform(c->host[F_X], qkv_tensor_count(&c->t[F_X]), &seed);
    fill_uniform(c->host[F_W], qkv_tensor_count(&c->t[F_W]), &seed);
}

static qkv_status f32_gemm_launch(qkv_context *ctx, const qkv_op_shape *shape,
                                  qkv_buffer *const *b)
{
    const f32_gemm_case *s = QKV_CARGS(f32_gemm_case, shape);
    const qkv_f32_gemm_params p = {
        .m = s->m, .n = s->n, .k = s->k, .x = b[F_X], .w = b[F_W], .y = b[F_Y]};
    return qkv_f32_gemm(ctx, &p);
}

/* Sizes from x [M, K] and w [N, K]. */
static qkv_status f32_gemm_infer(const qkv_op_case *c, qkv_op_shape *shape)
{
    f32_gemm_case *s = QKV_ARGS(f32_gemm_case, shape);
    const qkv_tensor_desc *x = &c->t[F_X], *w = &c->t[F_W];
    if (x->ndim == 0 || w->ndim == 0)
        return qkv_fail(QKV_ERR_INVALID_ARG, "input '%s' is missing", x->ndim ? "w" : "x");
    if (x->ndim != 2 || w->ndim != 2 || x->shape[1] != w->shape[1])
        return qkv_fail(QKV_ERR_SHAPE, "x [M, K] and w [N, K] must be 2-d with the same K");
    s->m = x->shape[0];
    s->k = x->shape[1];
    s->n = w->shape[0];
    return QKV_OK;
}

static qkv_op_shape f32_gemm_shape(const char *label, size_t M, size_t N, size_t K)
{
    const f32_gemm_case s = {M, N, K};
    return qkv_make_shape(label, &s, sizeof s);
}

/* small: odd M, N, K around the tiles' edges (register blocks 4 x 6 and
 * 4 x 3, 16 and 8 lanes, K blocks of 512, work items of 64 x 96);
 * llm: M 1/16 against 4096 x 4096 weights, M 4 against the FFN's down
 * projection 4096 x 14336 (the longest K); kept few because validate runs
 * the double reference and PoCL on each; bench: the quantized GEMMs' grid, weights
 * 4096 x 4096, 14336 x 4096, 4096 x 14336 at M 1 ... 1024 (labels as
 * w4a8_gemm's, so the two compare row by row). */
static int f32_gemm_shapes(const char *set, qkv_op_shape *out, int max)
{
    int n = 0;
    if (strcmp(set, "small") == 0) {
        static const size_t small[][3] = {{1, 1, 1},     {3, 5, 7},     {5, 7, 33},
                                          {4, 6, 16},    {17, 13, 100}, {9, 33, 257},
                                          {2, 97, 1000}, {70, 101, 600}, {1, 200, 1},
                                          {130, 3, 19}};
        for (size_t i = 0; i < sizeof small / sizeof *small; i++) {
            char label[32];
            snprintf(label, sizeof label, "m%zu-n%zu-k%zu", small[i][0], small[i][1],
                     small[i][2]);
            qkv_shape_push(out, max, &n, f32_gemm_shape(label, small[i][0], small[i][1],
                                                        small[i][2]));
        }
    } else if (strcmp(set, "llm") == 0) {
        qkv_shape_push(out, max, &n, f32_gemm_shape("llm-m1", 1, 4096, 4096));
        qkv_shape_push(out, max, &n, f32_gemm_shape("llm-m16", 16, 4096, 4096));
        qkv_shape_push(out, max, &n, f32_gemm_shape("llm-ffn-down-m4", 4, 4096, 14336));
    } else if (strcmp(set, "bench") == 0) {
        for (int w = 0; w < GEMM_GRID_WEIGHTS; w++)
            for (int t = 0; t < GEMM_GRID_TOKENS; t++) {
                char label[32];
                gemm_grid_label(label, sizeof label, w, t);
                qkv_shape_push(out, max, &n,
                               f32_gemm_shape(label, gemm_grid_tokens[t], gemm_grid_weights[w][0],
                                              gemm_grid_weights[w][1]));
            }
    }
    return n;
}

/* Bytes: x, w and y once, 4 bytes each. */
static double f32_gemm_bytes(const qkv_op_shape *shape)
{
    const f32_gemm_case *s = QKV_CARGS(f32_gemm_case, shape);
    const double M = (double)s->m, N = (double)s->n, K = (double)s->k;
    return 4.0 * (M * K + N * K + M * N);
}

/* One multiply-add per (token, output, channel). */
static double f32_gemm_flops(const qkv_op_shape *shape)
{
    const f32_gemm_case *s = QKV_CARGS(f32_gemm_case, shape);
    return 2.0 * (double)s->m * (double)s->n * (double)s->k;
}

/* Tuning class: the tokens M. */
static size_t f32_gemm_class_size(const qkv_op_shape *shape)
{
    return QKV_CARGS(f32_gemm_case, shape)->m;
}

static qkv_op_shape f32_gemm_example(void) { return f32_gemm_shape("example", 4, 64, 256); }

const qkv_op_desc qkv_op_case_f32_gemm = {
    .info = &qkv_op_info_f32_gemm, .nmse_bound = 1e-10,
    .example = f32_gemm_example, .describe = f32_gemm_describe, .fill_inputs = f32_gemm_fill,
    .launch = f32_gemm_launch, .infer_shape = f32_gemm_infer, .shapes = f32_gemm_shapes,
    .bytes = f32_gemm_bytes, .flops = f32_gemm_flops, .class_size = f32_gemm_class_size};
