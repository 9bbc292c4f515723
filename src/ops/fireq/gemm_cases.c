/* gemm_cases.c - the test side of FireQ's INT4 x FP8 GEMM (w4a8_gemm, spec
 * w4a8-gemm.md): tensors, test data, launch, the check of the bf16 output
 * against the backend's own accumulator, shape inference, shape sets,
 * bytes and flops.
 *
 * How a run is compared (the spec's tolerances): acc, the f32 accumulator,
 * by NMSE against the double reference (1e-12); an f32 Y (exact mode) the
 * same way; a bf16 Y within 1 bf16 ulp of the value the spec's epilogue
 * gives from the backend's own acc (check_y).  The reference's Y cannot
 * stand in for the backend's: where acc lies near a bf16 rounding boundary
 * an accumulator correct to 1e-7 rounds the other way, and the lut mode's
 * second rounding (times sx) can widen that to 2 ulps.  So validation
 * always asks for acc; shapes without it (the bench set, which times the
 * op as a model calls it) compare Y with the reference's Y within 2 ulps. */
#include "gemm_bench_grid.h"
#include "op_case.h"

#include "harness.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A call: Y [m, n] = Xq [m, k] x W^T, groups of `group` along k. */
typedef struct w4a8_gemm_case {
    size_t m, n, k;
    int group;
    int mode;     /* qkv_w4a8_mode */
    int y_f32;    /* Y dtype: 0 bf16, 1 f32 (exact mode only) */
    int prescale; /* ps = 2^prescale_exp: 1, 2, 4 ... 16384 */
    int with_acc; /* 1: acc [m, n] is an output too */
    int edge;     /* 1: every weight scale a random code (see fill_weights) */
} w4a8_gemm_case;

QKV_CASE_TYPE_FITS(w4a8_gemm_case);

enum { G_XQ, G_SX, G_WQ, G_WS, G_Y, G_ACC, G_NTENSORS };

/* xq e4m3 [M, K], sx bf16 [M], wq int4 [N, K], ws e4m3 [N, K/G]; outputs
 * y [M, N] (bf16 or f32) and acc f32 [M, N] (empty without with_acc). */
static void gemm_describe(qkv_op_case *c)
{
    const w4a8_gemm_case *s = QKV_CARGS(w4a8_gemm_case, &c->shape);
    const size_t M = s->m, N = s->n, K = s->k, G = s->group > 0 ? (size_t)s->group : 1;
    c->ntensors = G_NTENSORS;
    c->t[G_XQ] = (qkv_tensor_desc){"xq", QKV_E4M3, 2, {M, K}, false, QKV_CMP_NONE, 0};
    c->t[G_SX] = (qkv_tensor_desc){"sx", QKV_BF16, 1, {M}, false, QKV_CMP_NONE, 0};
    c->t[G_WQ] = (qkv_tensor_desc){"wq", QKV_I4, 2, {N, K}, false, QKV_CMP_NONE, 0};
    c->t[G_WS] = (qkv_tensor_desc){"ws", QKV_E4M3, 2, {N, K / G}, false, QKV_CMP_NONE, 0};
    /* a bf16 y is compared by check_y, against acc */
    c->t[G_Y] = s->y_f32 ? (qkv_tensor_desc){"y", QKV_F32, 2, {M, N}, true, QKV_CMP_FLOAT, 0}
                         : (qkv_tensor_desc){"y", QKV_BF16, 2, {M, N}, true, QKV_CMP_NONE, 0};
    c->t[G_ACC] = (qkv_tensor_desc){"acc", QKV_F32, 2, {s->with_acc ? M : 0, N}, true,
                                    QKV_CMP_FLOAT, 0};
}

/* A random E4M3 code other than NaN (0x7F, 0xFF). */
static uint8_t random_e4m3(uint64_t *rng)
{
    const uint8_t b = (uint8_t)(qkv_rng_next(rng) % 254);
    return b < 0x7F ? b : (uint8_t)(b + 1);
}

/* An approximate standard normal, cheap enough for the bench set's 59 M
 * weights: the sum of four 16-bit uniforms of one draw, centred and scaled
 * to unit variance (Irwin-Hall, |value| < 3.47). */
static double fast_normal(uint64_t *rng)
{
    const uint64_t r = qkv_rng_next(rng);
    const double sum = (double)((r & 0xFFFF) + (r >> 16 & 0xFFFF) + (r >> 32 & 0xFFFF) + (r >> 48));
    return (sum * 0x1p-16 - 2.0) * 1.7320508075688772;
}

/* Activations: approximate normals with outlier channels (x20), quantized
 * per token as the spec's activation quantizer does; every 61st code then
 * replaced by a random one (subnormals, +-448, -0 among them). */
static void fill_activations(const w4a8_gemm_case *s, uint8_t *xq, uint16_t *sx, uint64_t *rng)
{
    float *x = malloc(s->k * sizeof *x);
    if (!x)
        return;
    for (size_t m = 0; m < s->m; m++) {
        float amax = 0.0f;
        for (size_t k = 0; k < s->k; k++) {
            x[k] = (float)(fast_normal(rng) * (k % 53 == 7 ? 20.0 : 1.0));
            amax = fmaxf(amax, fabsf(x[k]));
        }
        const float scale = amax > 0.0f ? amax / 448.0f : 1.0f;
        sx[m] = qkv_f32_to_bf16(scale);
        for (size_t k = 0; k < s->k; k++) {
            const float v = fminf(fmaxf(x[k] / scale, -448.0f), 448.0f);
            xq[m * s->k + k] = (m * s->k + k) % 61 == 13 ? random_e4m3(rng)
                                                           : qkv_f32_to_e4m3(v, QKV_FP8_SATFINITE);
        }
    }
    free(x);
}

/* Weights (the pre-scaled W' of the spec): approximate normals, output rows
 * n % 11 == 4 and input channels k % 37 == 5 x8 (outliers), quantized per
 * group as the spec's weight quantizer's steps 2-3 do (the case picks ps);
 * then each group with (n + g) % 7 == 3 gets a scale code up to 8 codes
 * (a factor 2) off, so that every scale's table is met.  With s->edge every
 * group instead gets a random positive scale code: subnormal scales, and
 * products q * s past 448 that the lut mode saturates (magnitudes then
 * differ by up to 2^17 between elements, which NMSE weighs accordingly: the
 * other shapes keep them alike). */
static void fill_weights(const w4a8_gemm_case *s, uint8_t *wq, uint8_t *ws, uint64_t *rng)
{
    const size_t K = s->k, G = (size_t)s->group;
    float *w = malloc(G * sizeof *w);
    int8_t *q = malloc(K);
    if (!w || !q) {
        free(w);
        free(q);
        return;
    }
    for (size_t n = 0; n < s->n; n++) {
        for (size_t g = 0; g < K / G; g++) {
            float amax = 0.0f;
            for (size_t i = 0; i < G; i++) {
                const size_t k = g * G + i;
                w[i] = (float)(fast_normal(rng) * (n % 11 == 4 ? 8 : 1) * (k % 37 == 5 ? 8 : 1));
                amax = fmaxf(amax, fabsf(w[i]));
            }
            uint8_t code = qkv_f32_to_e4m3(fmaxf(amax, 1e-5f) / 7.0f, QKV_FP8_SATFINITE);
            if (qkv_e4m3_to_f32(code) < 0x1p-9f)
                code = 0x01;
            const float scale = qkv_e4m3_to_f32(code);
            for (size_t i = 0; i < G; i++)
                q[g * G + i] = (int8_t)fminf(fmaxf(rintf(w[i] / scale), -8.0f), 7.0f);
            if (s->edge) {
                code = (uint8_t)(1 + qkv_rng_next(rng) % 0x7E);
            } else if ((n + g) % 7 == 3) {
                const int moved = code + (int)(qkv_rng_next(rng) % 17) - 8;
                code = (uint8_t)(moved < 0x01 ? 0x01 : moved > 0x7E ? 0x7E : moved);
            }
            ws[n * (K / G) + g] = code;
        }
        qkv_i4_pack(q, K, wq + n * (K / 2));
    }
    free(w);
    free(q);
}

static void gemm_fill(qkv_op_case *c, uint64_t seed)
{
    const w4a8_gemm_case *s = QKV_CARGS(w4a8_gemm_case, &c->shape);
    fill_activations(s, c->host[G_XQ], c->host[G_SX], &seed);
    fill_weights(s, c->host[G_WQ], c->host[G_WS], &seed);
}

/* log2 of the case's pre-scale. */
static int prescale_exp(const w4a8_gemm_case *s)
{
    int i = 0;
    while (i < 30 && (1 << i) < s->prescale)
        i++;
    return i;
}

static qkv_status gemm_launch(qkv_context *ctx, const qkv_op_shape *shape,
                              qkv_buffer *const *b)
{
    const w4a8_gemm_case *s = QKV_CARGS(w4a8_gemm_case, shape);
    const qkv_w4a8_gemm_params p = {
        .m = s->m, .n = s->n, .k = s->k, .group = s->group, .prescale_exp = prescale_exp(s),
        .mode = (qkv_w4a8_mode)s->mode, .y_dtype = s->y_f32 ? QKV_F32 : QKV_BF16,
        .xq = b[G_XQ], .sx = b[G_SX], .wq = b[G_WQ], .ws = b[G_WS], .y = b[G_Y],
        .acc = s->with_acc ? b[G_ACC] : NULL,
    };
    return qkv_w4a8_gemm(ctx, &p);
}

/* bf16 bits as an integer that orders like the values (+0 and -0 both 0),
 * so that values 1 ulp apart differ by 1. */
static int32_t bf16_order(uint16_t b)
{
    return b & 0x8000u ? -(int32_t)(b & 0x7FFFu) : (int32_t)b;
}

/* The bf16 Y the spec's epilogue gives from accumulator a and token scale
 * sx (the same f32 steps as the cpu kernel's, so that 0 ulps is the rule
 * and 1 ulp the tolerance). */
static uint16_t y_from_acc(const w4a8_gemm_case *s, float a, float sx)
{
    const float inv_ps = 1.0f / (float)s->prescale;
    if (s->mode == QKV_W4A8_EXACT)
        return qkv_f32_to_bf16(a * sx * inv_ps);
    uint16_t y = qkv_f32_to_bf16(qkv_bf16_to_f32(qkv_f32_to_bf16(a)) * sx);
    return s->prescale > 1 ? qkv_f32_to_bf16(qkv_bf16_to_f32(y) * inv_ps) : y;
}

/* Count bf16 y against the expected bits: equal passes, ulps apart (at
 * most `tolerance`) counts as a tie, more as a mismatch; NaN where the
 * expected value has none as a NaN mismatch. */
static void count_bf16(uint16_t got, uint16_t want, int tolerance, qkv_check_result *r)
{
    const bool got_nan = isnan(qkv_bf16_to_f32(got)), want_nan = isnan(qkv_bf16_to_f32(want));
    if (got_nan || want_nan) {
        if (got_nan && !want_nan)
            r->nan_mismatches++;
        else if (!got_nan)
            r->mismatches++;
        return;
    }
    const int32_t d = abs(bf16_order(got) - bf16_order(want));
    if (d > tolerance)
        r->mismatches++;
    else if (d > 0)
        r->ties++;
}

/* check_outputs: a bf16 y within 1 ulp of the epilogue of the backend's
 * own acc; without acc, within 2 ulps of the reference's y (see the top of
 * this file). */
static void check_y(const qkv_op_case *c, const void *const *got, qkv_check_result *r)
{
    const w4a8_gemm_case *s = QKV_CARGS(w4a8_gemm_case, &c->shape);
    if (s->y_f32 || !got[G_Y])
        return;
    const uint16_t *y = got[G_Y], *sx = c->host[G_SX], *y_ref = c->host[G_Y];
    const float *acc = got[G_ACC];
    for (size_t m = 0; m < s->m; m++)
        for (size_t n = 0; n < s->n; n++) {
            const size_t i = m * s->n + n;
            if (acc)
                count_bf16(y[i], y_from_acc(s, acc[i], qkv_bf16_to_f32(sx[m])), 1, r);
            else
                count_bf16(y[i], y_ref[i], 2, r);
        }
}

/* Sizes from xq [M, K], wq [N, K/2 bytes] and ws [N, K/G]; acc is an
 * output. */
static qkv_status gemm_infer(const qkv_op_case *c, qkv_op_shape *shape)
{
    w4a8_gemm_case *s = QKV_ARGS(w4a8_gemm_case, shape);
    const qkv_tensor_desc *xq = &c->t[G_XQ], *wq = &c->t[G_WQ], *ws = &c->t[G_WS];
    for (int i = G_XQ; i <= G_WS; i++)
        if (c->t[i].ndim == 0)
            return qkv_fail(QKV_ERR_INVALID_ARG, "input '%s' is missing", c->t[i].name);
    if (xq->ndim != 2 || wq->ndim != 2 || ws->ndim != 2 || !ws->shape[1])
        return qkv_fail(QKV_ERR_SHAPE, "xq [M, K], wq [N, K/2] and ws [N, K/G] must be 2-d");
    s->m = xq->shape[0];
    s->k = xq->shape[1];
    s->n = wq->shape[0];
    s->group = (int)(s->k / ws->shape[1]);
    s->with_acc = 1;
    return QKV_OK;
}

/* A shape (prescale: ps, a power of two). */
static qkv_op_shape gemm_shape(const char *label, size_t M, size_t N, size_t K, int G,
                               qkv_w4a8_mode mode, bool y_f32, int prescale, bool with_acc)
{
    const w4a8_gemm_case s = {M, N, K, G, (int)mode, y_f32, prescale, with_acc, 0};
    return qkv_make_shape(label, &s, sizeof s);
}

/* The same with every weight scale a random code (fill_weights). */
static qkv_op_shape edge_shape(const char *label, size_t M, size_t N, size_t K, int G,
                               qkv_w4a8_mode mode, bool y_f32, int prescale)
{
    const w4a8_gemm_case s = {M, N, K, G, (int)mode, y_f32, prescale, 1, 1};
    return qkv_make_shape(label, &s, sizeof s);
}

/* small: M 1/3/17, N 1/5/33, K = G and 3G for each G, both modes, both
 * outputs, pre-scales 1 ... 2^14, two shapes with random scale codes;
 * llm: M 1/16/64 against 4096 x 4096 weights; bench: the grid,
 * weights 4096 x 4096, 14336 x 4096, 4096 x 14336 at M 1, 4, 16, 64, 256,
 * 512, 1024, G 128, lut mode, no acc (labels as f32_gemm's, so the two
 * compare row by row), and the exact mode (bf16 y) at 14336 x 4096 for M 1,
 * 16, 256, 1024.  With the llm set that is 30 shapes (bench/bench.h holds
 * 64 per op). */
static int gemm_shapes(const char *set, qkv_op_shape *out, int max)
{
    const qkv_w4a8_mode lut = QKV_W4A8_LUT, exact = QKV_W4A8_EXACT;
    int n = 0;
    if (strcmp(set, "small") == 0) {
        qkv_shape_push(out, max, &n, gemm_shape("m1-n1-k64", 1, 1, 64, 64, lut, 0, 1, 1));
        qkv_shape_push(out, max, &n, gemm_shape("m3-n5-k192-ps4", 3, 5, 192, 64, lut, 0, 4, 1));
        qkv_shape_push(out, max, &n, gemm_shape("m17-n33-k128", 17, 33, 128, 128, lut, 0, 1, 1));
        qkv_shape_push(out, max, &n,
                       gemm_shape("m17-n5-k256-ps16k", 17, 5, 256, 256, lut, 0, 16384, 1));
        qkv_shape_push(out, max, &n,
                       gemm_shape("exact-m17-n1-k192", 17, 1, 192, 64, exact, 0, 1, 1));
        qkv_shape_push(out, max, &n,
                       gemm_shape("exact-f32-m17-n33-k384", 17, 33, 384, 128, exact, 1, 2, 1));
        qkv_shape_push(out, max, &n,
                       gemm_shape("exact-m3-n33-k768-ps8", 3, 33, 768, 256, exact, 0, 8, 1));
        qkv_shape_push(out, max, &n,
                       gemm_shape("exact-f32-m1-n5-k256", 1, 5, 256, 256, exact, 1, 16384, 1));
        qkv_shape_push(out, max, &n, edge_shape("edge-m17-n33-k192", 17, 33, 192, 64, lut, 0, 2));
        qkv_shape_push(out, max, &n,
                       edge_shape("edge-exact-m3-n5-k384", 3, 5, 384, 128, exact, 0, 1));
    } else if (strcmp(set, "llm") == 0) {
        qkv_shape_push(out, max, &n, gemm_shape("llm-m1", 1, 4096, 4096, 128, lut, 0, 1, 1));
        qkv_shape_push(out, max, &n, gemm_shape("llm-m16-ps4", 16, 4096, 4096, 128, lut, 0, 4, 1));
        qkv_shape_push(out, max, &n, gemm_shape("llm-m64", 64, 4096, 4096, 128, lut, 0, 1, 1));
        qkv_shape_push(out, max, &n,
                       gemm_shape("llm-exact-m16-g256", 16, 4096, 4096, 256, exact, 0, 1, 1));
        qkv_shape_push(out, max, &n,
                       gemm_shape("llm-exact-f32-m64-g64", 64, 4096, 4096, 64, exact, 1, 2, 1));
    } else if (strcmp(set, "bench") == 0) {
        for (int w = 0; w < GEMM_GRID_WEIGHTS; w++)
            for (int t = 0; t < GEMM_GRID_TOKENS; t++) {
                char label[32];
                gemm_grid_label(label, sizeof label, w, t);
                qkv_shape_push(out, max, &n,
                               gemm_shape(label, gemm_grid_tokens[t], gemm_grid_weights[w][0],
                                          gemm_grid_weights[w][1], 128, lut, 0, 1, 0));
            }
        static const size_t exact_tokens[] = {1, 16, 256, 1024};
        for (int t = 0; t < 4; t++) {
            char label[32];
            snprintf(label, sizeof label, "bench-exact-n14336-k4096-m%zu", exact_tokens[t]);
            qkv_shape_push(out, max, &n,
                           gemm_shape(label, exact_tokens[t], 14336, 4096, 128, exact, 0, 1, 0));
        }
    }
    return n;
}

/* Bytes: the weights (K/2 code bytes and K/G scale bytes per row), the
 * activations and their scales, the output (and acc when asked for). */
static double gemm_bytes(const qkv_op_shape *shape)
{
    const w4a8_gemm_case *s = QKV_CARGS(w4a8_gemm_case, shape);
    const double M = (double)s->m, N = (double)s->n, K = (double)s->k;
    const double out = (s->y_f32 ? 4 : 2) + 4 * s->with_acc;
    return N * (K / 2 + K / s->group) + M * (K + 2) + M * N * out;
}

/* One multiply-add per (token, output, channel). */
static double gemm_flops(const qkv_op_shape *shape)
{
    const w4a8_gemm_case *s = QKV_CARGS(w4a8_gemm_case, shape);
    return 2.0 * (double)s->m * (double)s->n * (double)s->k;
}

/* Tuning class: the tokens M. */
static size_t gemm_class_size(const qkv_op_shape *shape)
{
    return QKV_CARGS(w4a8_gemm_case, shape)->m;
}

static qkv_op_shape gemm_example(void)
{
    return gemm_shape("example", 4, 64, 256, 128, QKV_W4A8_LUT, 0, 1, 1);
}

const qkv_op_desc qkv_op_case_w4a8_gemm = {
    .info = &qkv_op_info_w4a8_gemm, .nmse_bound = 1e-12,
    .options = {{.name = "mode", .help = "lut (FireQ's weight decode) or exact",
                 .offset = offsetof(w4a8_gemm_case, mode), .default_value = QKV_W4A8_LUT,
                 .names = {"lut", "exact"}},
                {.name = "y", .help = "dtype of y (f32: exact mode only)",
                 .offset = offsetof(w4a8_gemm_case, y_f32), .default_value = 0,
                 .names = {"bf16", "f32"}},
                {.name = "prescale", .help = "the weights' pre-scale ps (y is divided by it)",
                 .offset = offsetof(w4a8_gemm_case, prescale), .default_value = 1,
                 .allowed = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192,
                             16384}}},
    .example = gemm_example, .describe = gemm_describe, .fill_inputs = gemm_fill,
    .launch = gemm_launch, .infer_shape = gemm_infer, .shapes = gemm_shapes,
    .bytes = gemm_bytes, .flops = gemm_flops, .class_size = gemm_class_size,
    .check_outputs = check_y};
