/* act_quant_cases.c - the test side of w4a8_quant_activations (spec
 * w4a8-gemm.md, "Activation quantization"): tensors, test data, launch,
 * shape inference, shape sets, bytes and flops.  Codes and scales are
 * compared exactly (every backend divides in f32 and rounds the same way).
 * The data puts every kind of row in most shapes (kind = (row + k) % 5):
 * ordinary activations with outlier channels, all-zero rows (scale 1),
 * rows of exact E4M3 rounding ties at scale 1 and at scales 2^j, and rows
 * whose largest element lands above 448 after the division (clamped) with
 * values that become E4M3 subnormals or flush to zero. */
#include "op_case.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* A call: x [m, k] of dtype; whether the input check is skipped. */
typedef struct act_quant_case {
    size_t m, k;
    qkv_dtype dtype;
    int unchecked;
} act_quant_case;
QKV_CASE_TYPE_FITS(act_quant_case);

enum { A_X, A_XQ, A_SX, A_NTENSORS };

/* x [m, k] of dtype; xq [m, k] E4M3 and sx [m] bf16, compared exactly. */
static void act_describe(qkv_op_case *c)
{
    const act_quant_case *s = QKV_CARGS(act_quant_case, &c->shape);
    c->ntensors = A_NTENSORS;
    c->t[A_X] = (qkv_tensor_desc){"x", s->dtype, 2, {s->m, s->k}, false, QKV_CMP_NONE, 0};
    c->t[A_XQ] = (qkv_tensor_desc){"xq", QKV_E4M3, 2, {s->m, s->k}, true, QKV_CMP_EXACT, 0};
    c->t[A_SX] = (qkv_tensor_desc){"sx", QKV_BF16, 1, {s->m}, true, QKV_CMP_EXACT, 0};
}

/* Store v as element i of x in its dtype (f16, bf16 rounded to nearest
 * even; every tie value below is exact in both). */
static void put(void *x, qkv_dtype dtype, size_t i, float v)
{
    if (dtype == QKV_F16)
        ((uint16_t *)x)[i] = qkv_f32_to_f16(v);
    else if (dtype == QKV_BF16)
        ((uint16_t *)x)[i] = qkv_f32_to_bf16(v);
    else
        ((float *)x)[i] = v;
}

#define TIE_MIDPOINTS 126 /* between the 127 finite E4M3 magnitudes 0 .. 448 */

/* Tie value j of a scale-1 row: the midpoints between neighbouring E4M3
 * magnitudes (2^-10, the tie to zero, first; 464 is out of range), and for
 * f32 input also the floats just below and above each; signs alternate. */
static float tie_value(size_t j, qkv_dtype dtype)
{
    const size_t per = dtype == QKV_F32 ? 3 : 1, n = TIE_MIDPOINTS * per;
    const bool negative = j % 2;
    j %= n;
    const size_t c = j / per;
    float v = 0.5f * (qkv_e4m3_to_f32((uint8_t)c) + qkv_e4m3_to_f32((uint8_t)(c + 1)));
    if (per == 3 && j % 3 != 0)
        v = nextafterf(v, j % 3 == 1 ? 0.0f : 1000.0f);
    return negative ? -v : v;
}

/* Row r of x (k elements from index r*k) of the row kind (r + k) % 5. */
static void fill_row(void *x, qkv_dtype dtype, size_t r, size_t k, uint64_t *rng)
{
    const size_t first = r * k, peak = (r * 13) % k;
    const int kind = (int)((r + k) % 5);
    if (kind == 2 || kind == 3) { /* ties at scale 2^j (j = 0 for kind 2) */
        const float scale = kind == 2 ? 1.0f : ldexpf(1.0f, (int)(r % 9) - 4);
        for (size_t i = 0; i < k; i++)
            put(x, dtype, first + i, scale * tie_value(i + r, dtype));
        put(x, dtype, first + peak, scale * (r % 2 ? -448.0f : 448.0f));
        return;
    }
    if (kind == 1) { /* all zero, both signs: scale 1 */
        for (size_t i = 0; i < k; i++)
            put(x, dtype, first + i, i % 2 ? -0.0f : 0.0f);
        return;
    }
    const float row_scale = ldexpf(1.0f, (int)((r * 7) % 17) - 8);
    for (size_t i = 0; i < k; i++) {
        float v = (float)qkv_rng_normal(rng) * row_scale;
        if (kind == 0 && i % 31 == 7)
            v *= 50.0f; /* outlier channels */
        if (kind == 4 && i % 4 == 1) /* far below the peak: E4M3 subnormals, zeros */
            v = ldexpf(v, -12 - (int)(i % 11));
        put(x, dtype, first + i, v);
    }
    if (kind == 4) /* a peak whose quotient rounds above 448 about half the time */
        put(x, dtype, first + peak, (r % 2 ? -3.0f : 3.0f) * row_scale +
                                        (float)qkv_rng_uniform(rng) * row_scale);
}

static void act_fill(qkv_op_case *c, uint64_t seed)
{
    const act_quant_case *s = QKV_CARGS(act_quant_case, &c->shape);
    for (size_t r = 0; r < s->m; r++)
        fill_row(c->host[A_X], s->dtype, r, s->k, &seed);
}

static qkv_status act_launch(qkv_context *ctx, const qkv_op_shape *shape, qkv_buffer *const *b)
{
    const act_quant_case *s = QKV_CARGS(act_quant_case, shape);
    const qkv_w4a8_act_quant_params p = {.m = s->m, .k = s->k, .dtype = s->dtype,
                                         .unchecked = s->unchecked, .x = b[A_X],
                                         .xq = b[A_XQ], .sx = b[A_SX]};
    return qkv_w4a8_quant_activations(ctx, &p);
}

/* x [m, k] gives the sizes; its dtype f32 (<f4), f16 (<f2) or bf16 (<u2). */
static qkv_status act_infer(const qkv_op_case *c, qkv_op_shape *shape)
{
    act_quant_case *s = QKV_ARGS(act_quant_case, shape);
    const qkv_tensor_desc *x = &c->t[A_X];
    if (x->ndim == 0)
        return qkv_fail(QKV_ERR_INVALID_ARG, "input 'x' is missing");
    if (x->ndim != 2)
        return qkv_fail(QKV_ERR_SHAPE, "x must be 2-d [m, k]");
    if (x->dtype != QKV_F32 && x->dtype != QKV_F16 && x->dtype != QKV_BF16 &&
        x->dtype != QKV_U16)
        return qkv_fail(QKV_ERR_SHAPE, "x must be f32, f16 or bf16 (raw bits in <u2)");
    s->m = x->shape[0];
    s->k = x->shape[1];
    s->dtype = x->dtype == QKV_U16 ? QKV_BF16 : x->dtype;
    return QKV_OK;
}

static qkv_op_shape act_shape(const char *label, size_t m, size_t k, qkv_dtype dtype)
{
    const act_quant_case s = {m, k, dtype, 0};
    return qkv_make_shape(label, &s, sizeof s);
}

/* Odd shapes over the three dtypes, tie-rich ones, LLM-like token counts
 * at K = 4096 and 14336 (Llama-3-8B's hidden and FFN sizes), a prefill for
 * the benchmarks. */
static int act_shapes(const char *set, qkv_op_shape *out, int max)
{
    static const qkv_dtype dtypes[] = {QKV_F32, QKV_F16, QKV_BF16};
    int n = 0;
    char label[32];
    if (strcmp(set, "small") == 0) {
        static const size_t ms[] = {1, 3, 7}, ks[] = {1, 37, 129, 4095};
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 4; j++) {
                const qkv_dtype dt = dtypes[(i + j) % 3];
                snprintf(label, sizeof label, "m%zu-k%zu-%s", ms[i], ks[j], qkv_dtype_name(dt));
                qkv_shape_push(out, max, &n, act_shape(label, ms[i], ks[j], dt));
            }
        for (int d = 0; d < 3; d++) {
            snprintf(label, sizeof label, "ties-%s", qkv_dtype_name(dtypes[d]));
            qkv_shape_push(out, max, &n, act_shape(label, 10, 384, dtypes[d]));
        }
    } else if (strcmp(set, "llm") == 0) {
        qkv_shape_push(out, max, &n, act_shape("m1-k4096-f16", 1, 4096, QKV_F16));
        qkv_shape_push(out, max, &n, act_shape("m16-k4096-bf16", 16, 4096, QKV_BF16));
        qkv_shape_push(out, max, &n, act_shape("m512-k4096-bf16", 512, 4096, QKV_BF16));
        qkv_shape_push(out, max, &n, act_shape("m7-k14336-f32", 7, 14336, QKV_F32));
        qkv_shape_push(out, max, &n, act_shape("m128-k14336-f16", 128, 14336, QKV_F16));
    } else if (strcmp(set, "bench") == 0) {
        qkv_shape_push(out, max, &n, act_shape("prefill-4096x4096", 4096, 4096, QKV_BF16));
    }
    return n;
}

/* Bytes: x read once, codes and scales written once. */
static double act_bytes(const qkv_op_shape *shape)
{
    const act_quant_case *s = QKV_CARGS(act_quant_case, shape);
    const double n = (double)s->m * (double)s->k;
    return n * (double)qkv_dtype_size(s->dtype) + n + 2.0 * (double)s->m;
}

/* ~4 flops per element: magnitude maximum, divide, clamp, round. */
static double act_flops(const qkv_op_shape *shape)
{
    const act_quant_case *s = QKV_CARGS(act_quant_case, shape);
    return 4.0 * (double)s->m * (double)s->k;
}

/* Tuning class: tokens (rows). */
static size_t act_class_size(const qkv_op_shape *shape)
{
    return QKV_CARGS(act_quant_case, shape)->m;
}

static qkv_op_shape act_example(void) { return act_shape("example", 8, 4096, QKV_BF16); }

const qkv_op_desc qkv_op_case_w4a8_quant_activations = {
    .info = &qkv_op_info_w4a8_quant_activations, .nmse_bound = 0.0,
    .example = act_example, .describe = act_describe, .fill_inputs = act_fill,
    .launch = act_launch, .infer_shape = act_infer, .shapes = act_shapes, .bytes = act_bytes,
    .flops = act_flops, .class_size = act_class_size};
