/* test_fireq_weights.c - FireQ's offline weight quantization
 * (qkv_w4a8_quantize_weights, spec w4a8-gemm.md) against vectors worked by
 * hand, the arithmetic written beside each expectation, and against a
 * restatement of the spec on random odd shapes; f16/bf16 inputs; bad
 * arguments.  u = 2^-9 is the smallest E4M3 subnormal and the scale floor;
 * the underflow bound 7u = 0.013671875. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "op_case.h"
#include "test_util.h"

#define U 0x1p-9f

/* Quantize f32 weights [N, K] in groups of G; the call must succeed. */
static void quantize_f32(const float *w, size_t N, size_t K, int G, uint8_t *codes,
                         uint8_t *scales, int *prescale_exp)
{
    const qkv_w4a8_weight_quant_params p = {.n = N, .k = K, .group = G, .dtype = QKV_F32,
                                            .weights = w, .codes = codes, .scales = scales,
                                            .prescale_exp = prescale_exp};
    const qkv_status st = qkv_w4a8_quantize_weights(&p);
    ck_assert_msg(st == QKV_OK, "%s: %s", qkv_status_name(st), qkv_last_error());
}

/* Code k of a row packed as the spec's Wq (low nibble first). */
static int code_at(const uint8_t *row, size_t k)
{
    int8_t pair[2];
    qkv_i4_unpack(row + k / 2, 2, pair);
    return pair[k % 2];
}

/* ---- hand-worked cases ------------------------------------------------------- */

/* i = 0 (300 * 2 > 448).  Group 0: a = 300, 300/7 = 42.86 -> E4M3 44 (step 4
 * in [32, 64)) = 1.375 * 2^5 = 0x63; 300/44 = 6.82 -> 7.  Group 1: a = 0.005,
 * 0.005/7 = 7.1e-4 <= 2^-10 encodes to 0 -> floor u = 0x01; 0.005/u = 2.56
 * -> 3, -3; 0.0025/u = 1.28 -> 1.  Group 2: a = 1e-6 < 1e-5: 1e-5/7 -> 0 ->
 * floor; 1e-6/u = 0.0005 -> 0. */
START_TEST(test_scale_floor)
{
    float w[192] = {0};
    w[0] = 300.0f;
    w[64] = 0.005f, w[65] = -0.005f, w[66] = 0.0025f;
    w[128] = 1e-6f;
    uint8_t codes[96], scales[3];
    int i = -1;
    quantize_f32(w, 1, 192, 64, codes, scales, &i);
    ck_assert_int_eq(i, 0);
    ck_assert_uint_eq(scales[0], 0x63);
    ck_assert_uint_eq(scales[1], 0x01);
    ck_assert_uint_eq(scales[2], 0x01);
    ck_assert_uint_eq(codes[0], 0x07);
    ck_assert_uint_eq(codes[32], 0xd3); /* 3 low, -3 = 0xD high */
    ck_assert_uint_eq(codes[33], 0x01);
    for (int b = 0; b < 96; b++)
        if (b != 0 && b != 32 && b != 33)
            ck_assert_uint_eq(codes[b], 0);
}
END_TEST

/* The search stops at i = 3 (100 * 8 = 800 > 448); row 1's group
 * (a = 2^-14 * 2^i < 7u) has slack 1 - 2^(i-5)/7 falling with i, so i = 2,
 * the last before the stop.  Row 0: a = 400, 400/7 = 57.1 -> 56 =
 * 1.75 * 2^5 = 0x66, 400/56 = 7.1 -> 7.  Row 1: a = 2^-12, 2^-12/7 -> 0 ->
 * floor 0x01; 2^-12/u = 0.125 -> 0. */
START_TEST(test_prescale_stops)
{
    float w[128] = {0};
    w[0] = 100.0f;
    w[64] = 0x1p-14f;
    uint8_t codes[64], scales[2];
    int i = -1;
    quantize_f32(w, 2, 64, 64, codes, scales, &i);
    ck_assert_int_eq(i, 2);
    ck_assert_uint_eq(scales[0], 0x66);
    ck_assert_uint_eq(scales[1], 0x01);
    ck_assert_uint_eq(codes[0], 0x07);
    ck_assert_uint_eq(codes[32], 0x00);
}
END_TEST

/* A group max of exactly 448 does not stop the search: 56 * 2^3 = 448 is
 * allowed, 56 * 2^4 stops; group 1 (2^-13 * 2^i) underflows through i = 3,
 * so i = 3.  Group 0: 448/7 = 64 = 2^6 = 0x68, code 7.  Group 1: a = 2^-10,
 * 2^-10/7 -> 0 -> floor; 2^-10/u = 0.5 -> 0 (tie to even). */
START_TEST(test_prescale_448_allowed)
{
    float w[128] = {0};
    w[0] = 56.0f;
    w[64] = 0x1p-13f;
    uint8_t codes[64], scales[2];
    int i = -1;
    quantize_f32(w, 1, 128, 64, codes, scales, &i);
    ck_assert_int_eq(i, 3);
    ck_assert_uint_eq(scales[0], 0x68);
    ck_assert_uint_eq(scales[1], 0x01);
    ck_assert_uint_eq(codes[0], 0x07);
    ck_assert_uint_eq(codes[32], 0x00);
}
END_TEST

/* The smallest i with the least slack, not the last allowed one: the
 * search would run to i = 8 (1.0 * 2^9 > 448), but row 1 (2^-12 * 2^i)
 * stops underflowing at i = 6 (2^-6 = 0.015625 >= 7u; 2^-7 < 7u), so i = 6.
 * Row 0: a = 64, 64/7 = 9.14 -> 9 = 1.125 * 2^3 = 0x51, 64/9 = 7.1 -> 7.
 * Row 1: a = 2^-6, 2^-6/7 = 1.14u -> u = 0x01 (rounded, not floored);
 * 2^-6/u = 8 -> clamped to 7. */
START_TEST(test_prescale_least_slack)
{
    float w[128] = {0};
    w[0] = 1.0f;
    w[64] = 0x1p-12f;
    uint8_t codes[64], scales[2];
    int i = -1;
    quantize_f32(w, 2, 64, 64, codes, scales, &i);
    ck_assert_int_eq(i, 6);
    ck_assert_uint_eq(scales[0], 0x51);
    ck_assert_uint_eq(scales[1], 0x01);
    ck_assert_uint_eq(codes[0], 0x07);
    ck_assert_uint_eq(codes[32], 0x07);
}
END_TEST

/* All-zero weights: no i stops the search and the slack (one per group) is
 * the same for every i, so i = 0; scales 1e-5/7 -> 0 -> floor 0x01, codes 0.
 * Zero groups beside one small group do not pin i to 0 (the slack is summed
 * in double): 3 + slack of 2^-12 * 2^i is least from i = 6 on. */
START_TEST(test_prescale_zero_groups)
{
    float w[3 * 128] = {0};
    uint8_t codes[3 * 64], scales[6];
    int i = -1;
    quantize_f32(w, 3, 128, 64, codes, scales, &i);
    ck_assert_int_eq(i, 0);
    for (int g = 0; g < 6; g++)
        ck_assert_uint_eq(scales[g], 0x01);
    for (int b = 0; b < 3 * 64; b++)
        ck_assert_uint_eq(codes[b], 0);

    w[3 * 64] = 0x1p-12f; /* group 3 of row 0 (K = 256) */
    quantize_f32(w, 1, 256, 64, codes, scales, &i);
    ck_assert_int_eq(i, 6);
    ck_assert_uint_eq(scales[3], 0x01);
    ck_assert_uint_eq(codes[3 * 32], 0x07); /* 2^-6/u = 8 -> 7 */
}
END_TEST

/* Scale 1.0: a = 7, 7/7 = 1 = 0x38; i = 0 (448 at i = 6 is allowed, but the
 * slack is 0 from i = 0).  w/1 at .5 rounds to even: 2.5 -> 2, 3.5 -> 4,
 * -2.5 -> -2, -3.5 -> -4, 0.5 -> 0, -0.5 -> 0, 1.5 -> 2, 6.5 -> 6,
 * -6.5 -> -6. */
START_TEST(test_codes_ties_to_even)
{
    float w[128] = {7.0f, 2.5f, 3.5f, -2.5f, -3.5f, 0.5f, -0.5f, 1.5f, 6.5f, -6.5f};
    uint8_t codes[64], scales[2];
    int i = -1;
    quantize_f32(w, 1, 128, 128, codes, scales, &i);
    ck_assert_int_eq(i, 0);
    ck_assert_uint_eq(scales[0], 0x38);
    ck_assert_uint_eq(codes[0], 0x27); /* 7, 2 */
    ck_assert_uint_eq(codes[1], 0xe4); /* 4, -2 */
    ck_assert_uint_eq(codes[2], 0x0c); /* -4, 0 */
    ck_assert_uint_eq(codes[3], 0x20); /* 0, 2 */
    ck_assert_uint_eq(codes[4], 0xa6); /* 6, -6 */
}
END_TEST

/* Codes clamp at -8 and 7 where the scale rounds down a lot: group 0
 * (300) fixes i = 0; group 1: a = 0.0185, 0.0185/7 = 1.35u -> u = 0x01;
 * 0.0185/u = 9.47 -> 9 -> 7, -9.47 -> -9 -> -8; 8.5u -> 8 -> 7; -8.5u -> -8
 * (tie to even, in range); -8u -> -8; 7u -> 7; -7.5u -> -8 (tie to even);
 * 7.5u -> 8 -> 7. */
START_TEST(test_codes_clamp)
{
    float w[128] = {300.0f};
    const float g1[8] = {0.0185f, -0.0185f, 8.5f * U, -8.5f * U,
                         -8.0f * U, 7.0f * U, -7.5f * U, 7.5f * U};
    memcpy(w + 64, g1, sizeof g1);
    uint8_t codes[64], scales[2];
    int i = -1;
    quantize_f32(w, 1, 128, 64, codes, scales, &i);
    ck_assert_int_eq(i, 0);
    ck_assert_uint_eq(scales[1], 0x01);
    const int want[8] = {7, -8, 7, -8, -8, 7, -8, 7};
    for (int k = 0; k < 8; k++)
        ck_assert_int_eq(code_at(codes, 64 + (size_t)k), want[k]);
}
END_TEST

/* A huge finite weight is accepted (no clamp of the weights): i = 0, the
 * scale saturates at 448 = 0x7E, 1e30/448 -> 7, -1 / 448 -> 0. */
START_TEST(test_huge_weight)
{
    float w[64] = {1e30f, -1.0f};
    uint8_t codes[32], scales[1];
    int i = -1;
    quantize_f32(w, 1, 64, 64, codes, scales, &i);
    ck_assert_int_eq(i, 0);
    ck_assert_uint_eq(scales[0], 0x7e);
    ck_assert_uint_eq(codes[0], 0x07);
}
END_TEST

/* ---- random odd shapes against a restatement of the spec -------------------- */

/* Weights [N, K] with a magnitude per group spread over 2^-22 .. 2^4 (so
 * that some groups underflow and the search has work), some groups zero. */
static void random_weights(float *w, size_t N, size_t K, size_t G, uint64_t *rng)
{
    for (size_t first = 0; first < N * K; first += G) {
        const int e = (int)(qkv_rng_uniform(rng) * 27.0) - 22;
        const int zero = qkv_rng_uniform(rng) < 0.1;
        for (size_t k = 0; k < G; k++)
            w[first + k] = zero ? 0.0f : ldexpf((float)qkv_rng_normal(rng), e);
    }
}

/* The spec's steps for weights [N, K], written per row and group: i, then
 * each group's scale code and each weight's code (in f32). */
static void expect_spec(const float *w, size_t N, size_t K, size_t G, const uint8_t *codes,
                        const uint8_t *scales, int i_got)
{
    const size_t groups = K / G;
    int i_want = 0;
    double best = 0;
    for (int i = 0; i <= 14; i++) {
        double slack = 0;
        int over = 0;
        for (size_t n = 0; n < N; n++)
            for (size_t g = 0; g < groups; g++) {
                double a = 0;
                for (size_t k = g * G; k < (g + 1) * G; k++)
                    a = fmax(a, fabs((double)w[n * K + k] * ldexp(1.0, i)));
                over |= a > 448.0;
                if (a < 7.0 / 512)
                    slack += (7.0 / 512 - a) / (7.0 / 512);
            }
        if (over)
            break;
        if (i == 0 || slack < best) {
            i_want = i;
            best = slack;
        }
    }
    ck_assert_int_eq(i_got, i_want);
    const float ps = ldexpf(1.0f, i_want);
    for (size_t n = 0; n < N; n++)
        for (size_t g = 0; g < groups; g++) {
            float a = 0;
            for (size_t k = g * G; k < (g + 1) * G; k++)
                a = fmaxf(a, fabsf(w[n * K + k] * ps));
            uint8_t s = qkv_f32_to_e4m3(fmaxf(a, 1e-5f) / 7.0f, QKV_FP8_SATFINITE);
            s = s ? s : 0x01;
            ck_assert_uint_eq(scales[n * groups + g], s);
            const float scale = qkv_e4m3_to_f32(s);
            for (size_t k = g * G; k < (g + 1) * G; k++) {
                const float q = fminf(fmaxf(rintf(w[n * K + k] * ps / scale), -8.0f), 7.0f);
                ck_assert_msg(code_at(codes + n * (K / 2), k) == (int)q,
                              "[%zu, %zu]: code %d, want %d", n, k,
                              code_at(codes + n * (K / 2), k), (int)q);
            }
        }
}

/* Odd N, K = 3G, for each G. */
START_TEST(test_random_odd_shapes)
{
    static const int groups[3] = {64, 128, 256};
    const size_t G = (size_t)groups[_i], N = 5, K = 3 * G;
    uint64_t rng = 1234 + (uint64_t)_i;
    float *w = calloc(N * K, sizeof *w);
    uint8_t *codes = malloc(N * K / 2), *scales = malloc(N * 3);
    ck_assert(w && codes && scales);
    random_weights(w, N, K, G, &rng);
    int i = -1;
    quantize_f32(w, N, K, (int)G, codes, scales, &i);
    expect_spec(w, N, K, G, codes, scales, i);
    /* with the largest group scaled down, the search runs further */
    for (size_t k = 0; k < N * K; k++)
        w[k] = fminf(fmaxf(w[k], -0.5f), 0.5f) * 0x1p-10f;
    quantize_f32(w, N, K, (int)G, codes, scales, &i);
    ck_assert_int_gt(i, 0);
    expect_spec(w, N, K, G, codes, scales, i);
    free(w);
    free(codes);
    free(scales);
}
END_TEST

/* f16 and bf16 weights give the bytes their exact f32 values give. */
START_TEST(test_half_inputs)
{
    const size_t N = 3, K = 384, G = 128;
    uint64_t rng = 77;
    float w[3 * 384], wf[3 * 384];
    uint16_t h[3 * 384];
    random_weights(w, N, K, G, &rng);
    for (int dt = 0; dt < 2; dt++) {
        const qkv_dtype dtype = dt ? QKV_BF16 : QKV_F16;
        for (size_t k = 0; k < N * K; k++) {
            h[k] = dt ? qkv_f32_to_bf16(w[k]) : qkv_f32_to_f16(w[k]);
            wf[k] = dt ? qkv_bf16_to_f32(h[k]) : qkv_f16_to_f32(h[k]);
        }
        uint8_t codes[2][3 * 192], scales[2][9];
        int i[2] = {-1, -1};
        quantize_f32(wf, N, K, (int)G, codes[0], scales[0], &i[0]);
        const qkv_w4a8_weight_quant_params p = {.n = N, .k = K, .group = (int)G, .dtype = dtype,
                                                .weights = h, .codes = codes[1],
                                                .scales = scales[1], .prescale_exp = &i[1]};
        ck_assert_int_eq(qkv_w4a8_quantize_weights(&p), QKV_OK);
        ck_assert_int_eq(i[1], i[0]);
        ck_assert_mem_eq(scales[1], scales[0], sizeof scales[0]);
        ck_assert_mem_eq(codes[1], codes[0], sizeof codes[0]);
    }
}
END_TEST

/* ---- bad arguments -------------------------------------------------------- */

/* Expect `status` from p and no output written (the outputs hold 0xAB and
 * prescale_exp -1 beforehand). */
static void expect_rejected(const qkv_w4a8_weight_quant_params *p, qkv_status status)
{
    uint8_t codes[256], scales[16];
    int i = -1;
    memset(codes, 0xab, sizeof codes);
    memset(scales, 0xab, sizeof scales);
    qkv_w4a8_weight_quant_params q = *p;
    q.codes = p->codes ? codes : NULL;
    q.scales = p->scales ? scales : NULL;
    q.prescale_exp = p->prescale_exp ? &i : NULL;
    const qkv_status st = qkv_w4a8_quantize_weights(&q);
    ck_assert_msg(st == status, "got %s, want %s (%s)", qkv_status_name(st),
                  qkv_status_name(status), qkv_last_error());
    ck_assert_str_ne(qkv_last_error(), "");
    ck_assert_int_eq(i, -1);
    for (size_t b = 0; b < sizeof codes; b++)
        ck_assert_uint_eq(codes[b], 0xab);
    for (size_t b = 0; b < sizeof scales; b++)
        ck_assert_uint_eq(scales[b], 0xab);
}

START_TEST(test_bad_arguments)
{
    float w[2 * 128] = {0};
    uint8_t dummy = 0;
    int dummy_i = 0;
    const qkv_w4a8_weight_quant_params good = {.n = 2, .k = 128, .group = 64,
                                               .dtype = QKV_F32, .weights = w,
                                               .codes = &dummy, .scales = &dummy,
                                               .prescale_exp = &dummy_i};
    ck_assert_int_eq(qkv_w4a8_quantize_weights(NULL), QKV_ERR_INVALID_ARG);
    qkv_w4a8_weight_quant_params p = good;
    p.weights = NULL;
    expect_rejected(&p, QKV_ERR_INVALID_ARG);
    p = good, p.codes = NULL;
    expect_rejected(&p, QKV_ERR_INVALID_ARG);
    p = good, p.scales = NULL;
    expect_rejected(&p, QKV_ERR_INVALID_ARG);
    p = good, p.prescale_exp = NULL;
    expect_rejected(&p, QKV_ERR_INVALID_ARG);
    p = good, p.n = 0;
    expect_rejected(&p, QKV_ERR_SHAPE);
    p = good, p.k = 0;
    expect_rejected(&p, QKV_ERR_SHAPE);
    const int bad_groups[4] = {0, 32, 100, 512};
    for (int g = 0; g < 4; g++) {
        p = good, p.group = bad_groups[g];
        expect_rejected(&p, QKV_ERR_INVALID_ARG);
    }
    p = good, p.k = 96; /* not a multiple of 64 */
    expect_rejected(&p, QKV_ERR_SHAPE);
    p = good, p.dtype = QKV_E4M3;
    expect_rejected(&p, QKV_ERR_INVALID_ARG);
    p = good, p.n = SIZE_MAX / 64, p.k = 128;
    expect_rejected(&p, QKV_ERR_OVERFLOW);

    /* NaN or Inf anywhere, f32, f16, bf16 */
    w[128 + 77] = NAN;
    expect_rejected(&good, QKV_ERR_NONFINITE);
    w[128 + 77] = -INFINITY;
    expect_rejected(&good, QKV_ERR_NONFINITE);
    uint16_t h[2 * 128] = {0};
    p = good, p.weights = h, p.dtype = QKV_F16;
    h[255] = 0x7c00; /* f16 +Inf */
    expect_rejected(&p, QKV_ERR_NONFINITE);
    h[255] = 0x7e00; /* f16 NaN */
    expect_rejected(&p, QKV_ERR_NONFINITE);
    p.dtype = QKV_BF16;
    h[255] = 0xff80; /* bf16 -Inf */
    expect_rejected(&p, QKV_ERR_NONFINITE);
    h[255] = 0x7fc0; /* bf16 NaN */
    expect_rejected(&p, QKV_ERR_NONFINITE);
    h[255] = 0x7f7f; /* bf16 finite (3.4e38): accepted */
    uint8_t codes[128], scales[4];
    p.codes = codes, p.scales = scales;
    ck_assert_int_eq(qkv_w4a8_quantize_weights(&p), QKV_OK);
}
END_TEST

static Suite *fireq_weights_suite(void)
{
    Suite *s = suite_create("fireq_weights");
    TCase *tc = tcase_create("quantize");
    tcase_add_test(tc, test_scale_floor);
    tcase_add_test(tc, test_prescale_stops);
    tcase_add_test(tc, test_prescale_448_allowed);
    tcase_add_test(tc, test_prescale_least_slack);
    tcase_add_test(tc, test_prescale_zero_groups);
    tcase_add_test(tc, test_codes_ties_to_even);
    tcase_add_test(tc, test_codes_clamp);
    tcase_add_test(tc, test_huge_weight);
    tcase_add_loop_test(tc, test_random_odd_shapes, 0, 3);
    tcase_add_test(tc, test_half_inputs);
    tcase_add_test(tc, test_bad_arguments);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(fireq_weights_suite());
}
