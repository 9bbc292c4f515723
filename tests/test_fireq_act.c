/* test_fireq_act.c - w4a8_quant_activations (FireQ's per-token E4M3
 * activation quantization): hand-worked vectors (ties to even at scale 1
 * and 2, E4M3 subnormals, the clamp at 448, zero rows), the encoder against
 * qkv_f32_to_e4m3 over many f32 patterns, NaN/Inf rejection and the
 * unchecked path, and bad arguments, on ref and every device and cpu
 * variant present. */
#include <math.h>
#include <string.h>

#include "test_util.h"

/* Contexts to run on: ref, then cpu (each of its variants in turn) and the
 * GPUs. */
static int contexts(char (*specs)[32])
{
    snprintf(specs[0], 32, "ref");
    return 1 + test_targets(specs + 1, TEST_MAX_TARGETS - 1);
}

/* The variants of the op to force on ctx: each cpu variant the context
 * supports, else the automatic choice (NULL). */
static int variants(qkv_context *ctx, const char **out)
{
    static const char *const cpu[] = {"scalar", "avx2", "avx512"};
    qkv_device_info info;
    ck_assert_int_eq(qkv_context_info(ctx, &info), QKV_OK);
    if (info.backend != QKV_BACKEND_CPU) {
        out[0] = NULL;
        return 1;
    }
    int n = 0;
    for (int i = 0; i < 3; i++)
        if (qkv_set_variant(ctx, "w4a8_quant_activations", cpu[i]) == QKV_OK)
            out[n++] = cpu[i];
    return n;
}

/* Quantize host x [m, k] of dtype on ctx into xq, sx (poisoned with 0xFF
 * first, read back whatever the status). */
static qkv_status quantize(qkv_context *ctx, qkv_dtype dtype, size_t m, size_t k,
                           const void *x, int unchecked, uint8_t *xq, uint16_t *sx)
{
    const size_t xb = m * k * qkv_dtype_size(dtype);
    qkv_buffer *bx, *bq, *bs;
    ck_assert_int_eq(qkv_buffer_create(ctx, xb, &bx), QKV_OK);
    ck_assert_int_eq(qkv_buffer_create(ctx, m * k, &bq), QKV_OK);
    ck_assert_int_eq(qkv_buffer_create(ctx, 2 * m, &bs), QKV_OK);
    memset(xq, 0xff, m * k);
    memset(sx, 0xff, 2 * m);
    ck_assert_int_eq(qkv_buffer_write(bx, 0, x, xb), QKV_OK);
    ck_assert_int_eq(qkv_buffer_write(bq, 0, xq, m * k), QKV_OK);
    ck_assert_int_eq(qkv_buffer_write(bs, 0, sx, 2 * m), QKV_OK);
    const qkv_w4a8_act_quant_params p = {.m = m, .k = k, .dtype = dtype,
                                         .unchecked = unchecked, .x = bx, .xq = bq, .sx = bs};
    const qkv_status st = qkv_w4a8_quant_activations(ctx, &p);
    ck_assert_int_eq(qkv_buffer_read(bq, 0, xq, m * k), QKV_OK);
    ck_assert_int_eq(qkv_buffer_read(bs, 0, sx, 2 * m), QKV_OK);
    qkv_buffer_destroy(bx);
    qkv_buffer_destroy(bq);
    qkv_buffer_destroy(bs);
    return st;
}

#define VEC_MAX 16

/* One hand-worked row: f32 values, the expected codes and bf16 scale. */
typedef struct act_vector {
    const char *what;
    size_t k;
    float x[VEC_MAX];
    uint8_t codes[VEC_MAX];
    uint16_t sx;
} act_vector;

static const act_vector vectors[] = {
    /* scale 1 (amax 448): 2^-10 ties to 0, 3*2^-10 and 5*2^-10 to the even
     * subnormal 2, 7.5*2^-9 up to the smallest normal, 17 to 16, 19 to
     * 20; 0.1 rounds up to 1.625*2^-4; 2^-7 is subnormal 4; -0 keeps its
     * sign; 1e-30 flushes to zero */
    {"ties at scale 1", 13,
     {448.0f, 0x1p-10f, 0x3p-10f, 17.0f, -17.0f, 19.0f, 0.1f, -0.0f, 1e-30f, 0x1p-7f,
      0x5p-10f, 0xfp-10f, -0x7p-9f},
     {0x7e, 0x00, 0x02, 0x58, 0xd8, 0x5a, 0x1d, 0x80, 0x00, 0x04, 0x02, 0x08, 0x87},
     0x3f80},
    /* scale 2 (amax 896): quotients -448, 0.75, 2^-8 exactly */
    {"scale 2", 4, {-896.0f, 1.5f, 0x1p-7f, 0.0f}, {0xfe, 0x34, 0x02, 0x00}, 0x4000},
    /* all zero: scale 1, signed zero codes */
    {"zero row", 3, {0.0f, -0.0f, 0.0f}, {0x00, 0x80, 0x00}, 0x3f80},
    /* amax 464: s = RN(464/448) = 1.03571427 (bf16 0x3f85 rounded up);
     * 464/s lands at or above 448 and is clamped; -1/s = -0.9655 rounds to
     * -1.875*2^-1 */
    {"clamp", 2, {464.0f, -1.0f}, {0x7e, 0xb7}, 0x3f85},
    /* amax 448 * 2^-150: amax / 448 underflows to 0, so s = 1 (docs/fireq.md) */
    {"underflowing scale", 2, {0x7p-144f, -0x1p-149f}, {0x00, 0x80}, 0x3f80},
    /* one element: its own quotient is +-448 after the clamp */
    {"single", 1, {-3.0f}, {0xfe}, 0x3bdb},
};

/* f32 values of a vector in dtype (every value given exactly there). */
static void convert(const float *x, size_t n, qkv_dtype dtype, void *out)
{
    for (size_t i = 0; i < n; i++) {
        if (dtype == QKV_F32)
            ((float *)out)[i] = x[i];
        else if (dtype == QKV_F16)
            ((uint16_t *)out)[i] = qkv_f32_to_f16(x[i]);
        else
            ((uint16_t *)out)[i] = qkv_f32_to_bf16(x[i]);
    }
}

START_TEST(test_vectors)
{
    char specs[TEST_MAX_TARGETS][32];
    const int nctx = contexts(specs);
    for (int c = 0; c < nctx; c++) {
        qkv_context *ctx;
        ck_assert_int_eq(qkv_open(specs[c], &ctx), QKV_OK);
        const char *names[3];
        const int nv = variants(ctx, names);
        for (int v = 0; v < nv; v++) {
            if (names[v])
                ck_assert_int_eq(qkv_set_variant(ctx, "w4a8_quant_activations", names[v]),
                                 QKV_OK);
            for (size_t t = 0; t < sizeof vectors / sizeof vectors[0]; t++) {
                const act_vector *a = &vectors[t];
                uint8_t xq[VEC_MAX];
                uint16_t sx;
                ck_assert_int_eq(quantize(ctx, QKV_F32, 1, a->k, a->x, 0, xq, &sx), QKV_OK);
                for (size_t i = 0; i < a->k; i++)
                    ck_assert_msg(xq[i] == a->codes[i], "%s %s %s: code %zu is 0x%02x, not 0x%02x",
                                  specs[c], names[v] ? names[v] : "", a->what, i, xq[i],
                                  a->codes[i]);
                ck_assert_msg(sx == a->sx, "%s %s %s: sx 0x%04x, not 0x%04x", specs[c],
                              names[v] ? names[v] : "", a->what, sx, a->sx);
            }
            /* the scale-2 row is exact in f16 and bf16 too */
            for (int d = 0; d < 2; d++) {
                const qkv_dtype dt = d ? QKV_BF16 : QKV_F16;
                uint16_t x[4], sx;
                uint8_t xq[4];
                convert(vectors[1].x, 4, dt, x);
                ck_assert_int_eq(quantize(ctx, dt, 1, 4, x, 0, xq, &sx), QKV_OK);
                ck_assert_mem_eq(xq, vectors[1].codes, 4);
                ck_assert_uint_eq(sx, vectors[1].sx);
            }
        }
        qkv_close(ctx);
    }
}
END_TEST

/* f32 bit patterns for the encoder check: around every E4M3 magnitude and
 * every midpoint (3 floats each side), then evenly spaced patterns up to
 * 448; signs alternate.  Element 0 is 448, so the row's scale is 1. */
static size_t encoder_patterns(float *x, size_t max)
{
    size_t n = 0;
    x[n++] = 448.0f;
    for (unsigned c = 0; c <= 0x7e; c++)
        for (int mid = 0; mid < 2 && !(mid && c == 0x7e); mid++) {
            float v = qkv_e4m3_to_f32((uint8_t)c);
            if (mid)
                v = 0.5f * (v + qkv_e4m3_to_f32((uint8_t)(c + 1)));
            for (int d = -3; d <= 3; d++) {
                uint32_t u;
                memcpy(&u, &v, sizeof u);
                u = (uint32_t)((int64_t)u + d);
                float f;
                memcpy(&f, &u, sizeof f);
                if (fabsf(f) <= 448.0f) {
                    x[n] = n % 2 ? -f : f;
                    n++;
                }
            }
        }
    const uint32_t step = 0x43e00000u / (uint32_t)(max - n); /* up to 448 */
    for (uint32_t u = 0; n < max; u += step) {
        float f;
        memcpy(&f, &u, sizeof f);
        x[n] = n % 2 ? -f : f;
        n++;
    }
    return n;
}

START_TEST(test_encoder_patterns)
{
    enum { K = 40000 };
    float *x = malloc(K * sizeof *x);
    uint8_t *xq = malloc(K);
    const size_t k = encoder_patterns(x, K);
    char specs[TEST_MAX_TARGETS][32];
    const int nctx = contexts(specs);
    for (int c = 0; c < nctx; c++) {
        qkv_context *ctx;
        ck_assert_int_eq(qkv_open(specs[c], &ctx), QKV_OK);
        const char *names[3];
        const int nv = variants(ctx, names);
        for (int v = 0; v < nv; v++) {
            if (names[v])
                ck_assert_int_eq(qkv_set_variant(ctx, "w4a8_quant_activations", names[v]),
                                 QKV_OK);
            uint16_t sx;
            ck_assert_int_eq(quantize(ctx, QKV_F32, 1, k, x, 0, xq, &sx), QKV_OK);
            ck_assert_uint_eq(sx, 0x3f80);
            for (size_t i = 0; i < k; i++)
                ck_assert_msg(xq[i] == qkv_f32_to_e4m3(x[i], QKV_FP8_SATFINITE),
                              "%s %s: %a gives 0x%02x", specs[c], names[v] ? names[v] : "",
                              (double)x[i], xq[i]);
        }
        qkv_close(ctx);
    }
    free(x);
    free(xq);
}
END_TEST

/* NaN or Inf anywhere, in each dtype, is rejected (the reference writes
 * nothing); unchecked calls succeed. */
START_TEST(test_nonfinite)
{
    enum { M = 3, K = 37 };
    static const struct {
        size_t at;
        float v;
    } bad[] = {{0, NAN}, {M * K - 1, INFINITY}, {K + 5, -INFINITY}, {2 * K, -NAN}};
    static const qkv_dtype dtypes[] = {QKV_F32, QKV_F16, QKV_BF16};
    char specs[TEST_MAX_TARGETS][32];
    const int nctx = contexts(specs);
    for (int c = 0; c < nctx; c++) {
        qkv_context *ctx;
        ck_assert_int_eq(qkv_open(specs[c], &ctx), QKV_OK);
        const char *names[3];
        const int nv = variants(ctx, names);
        for (int v = 0; v < nv; v++) {
            if (names[v])
                ck_assert_int_eq(qkv_set_variant(ctx, "w4a8_quant_activations", names[v]),
                                 QKV_OK);
            for (int d = 0; d < 3; d++)
                for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
                    float xf[M * K];
                    for (size_t i = 0; i < M * K; i++)
                        xf[i] = (float)((int)(i % 11) - 5) * 0.25f;
                    xf[bad[b].at] = bad[b].v;
                    float x[M * K];
                    convert(xf, M * K, dtypes[d], x);
                    uint8_t xq[M * K];
                    uint16_t sx[M];
                    ck_assert_msg(quantize(ctx, dtypes[d], M, K, x, 0, xq, sx) ==
                                      QKV_ERR_NONFINITE,
                                  "%s %s: %s with %g at %zu accepted", specs[c],
                                  names[v] ? names[v] : "", qkv_dtype_name(dtypes[d]),
                                  (double)bad[b].v, bad[b].at);
                    ck_assert_uint_eq(sx[bad[b].at / K], 0xffff); /* its row unwritten */
                    if (c == 0)
                        for (size_t i = 0; i < M * K; i++)
                            ck_assert_uint_eq(xq[i], 0xff);
                    ck_assert_int_eq(quantize(ctx, dtypes[d], M, K, x, 1, xq, sx), QKV_OK);
                }
        }
        qkv_close(ctx);
    }
}
END_TEST

START_TEST(test_bad_arguments)
{
    qkv_context *ctx;
    ck_assert_int_eq(qkv_open("cpu", &ctx), QKV_OK);
    qkv_buffer *x, *xq, *sx;
    ck_assert_int_eq(qkv_buffer_create(ctx, 4 * 37 * 3, &x), QKV_OK);
    ck_assert_int_eq(qkv_buffer_create(ctx, 37 * 3, &xq), QKV_OK);
    ck_assert_int_eq(qkv_buffer_create(ctx, 2 * 3, &sx), QKV_OK);
    static const float zeros[37 * 3];
    ck_assert_int_eq(qkv_buffer_write(x, 0, zeros, sizeof zeros), QKV_OK);
    const qkv_w4a8_act_quant_params good = {
        .m = 3, .k = 37, .dtype = QKV_F32, .x = x, .xq = xq, .sx = sx};
    ck_assert_int_eq(qkv_w4a8_quant_activations(NULL, &good), QKV_ERR_INVALID_ARG);
    ck_assert_int_eq(qkv_w4a8_quant_activations(ctx, NULL), QKV_ERR_INVALID_ARG);
    qkv_w4a8_act_quant_params p = good;
    p.m = 0;
    ck_assert_int_eq(qkv_w4a8_quant_activations(ctx, &p), QKV_ERR_SHAPE);
    p = good;
    p.k = 0;
    ck_assert_int_eq(qkv_w4a8_quant_activations(ctx, &p), QKV_ERR_SHAPE);
    p = good;
    p.dtype = QKV_E4M3;
    ck_assert_int_eq(qkv_w4a8_quant_activations(ctx, &p), QKV_ERR_INVALID_ARG);
    p = good;
    p.m = SIZE_MAX / 2;
    ck_assert_int_eq(qkv_w4a8_quant_activations(ctx, &p), QKV_ERR_OVERFLOW);
    p = good;
    p.k = 38; /* every buffer too small */
    ck_assert_int_eq(qkv_w4a8_quant_activations(ctx, &p), QKV_ERR_SHAPE);
    p = good;
    p.xq = NULL;
    ck_assert_int_eq(qkv_w4a8_quant_activations(ctx, &p), QKV_ERR_INVALID_ARG);
    p = good;
    p.sx = xq; /* large enough, fine */
    ck_assert_int_eq(qkv_w4a8_quant_activations(ctx, &p), QKV_OK);
    p = good;
    p.m = 4; /* sx holds 3 rows: x and xq too small as well */
    ck_assert_int_eq(qkv_w4a8_quant_activations(ctx, &p), QKV_ERR_SHAPE);
    qkv_context *other;
    ck_assert_int_eq(qkv_open("ref", &other), QKV_OK);
    ck_assert_int_eq(qkv_w4a8_quant_activations(other, &good), QKV_ERR_INVALID_ARG);
    qkv_close(other);
    ck_assert_int_eq(qkv_w4a8_quant_activations(ctx, &good), QKV_OK);
    qkv_buffer_destroy(x);
    qkv_buffer_destroy(xq);
    qkv_buffer_destroy(sx);
    qkv_close(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fireq_act");
    TCase *tc = tcase_create("quant_activations");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_vectors);
    tcase_add_test(tc, test_encoder_patterns);
    tcase_add_test(tc, test_nonfinite);
    tcase_add_test(tc, test_bad_arguments);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
