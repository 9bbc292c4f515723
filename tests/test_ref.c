/* test_ref.c - the scalar reference against vectors worked by hand, with
 * the arithmetic written beside each expectation (KIVI, FireQ's GEMM). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "f32_gemm_ref.h"
#include "fireq_gemm_ref.h"
#include "kivi_ref.h"
#include "qkv.h"
#include "test_util.h"

#define G 32

/* Quantize one group of 32 values as values (per token), D = G. */
static void quant_one_group(const float *x, int bits, uint32_t *codes, uint16_t *scale,
                            uint16_t *mn)
{
    const qkv_kivi_quant_params p = {.batch = 1, .heads = 1, .tokens = 1, .head_dim = G,
                                     .in_capacity = 1, .out_capacity = 1, .bits = bits,
                                     .group = G, .dtype = QKV_F32};
    kivi_ref_quant_values(&p, x, codes, scale, mn);
}

START_TEST(test_f16_conversions)
{
    /* 1.0 = 0x3c00, -2.0 = 0xc000, 65504 = 0x7bff (f16 max), 2^-24 = 0x0001 (min subnormal) */
    ck_assert_uint_eq(qkv_f32_to_f16(1.0f), 0x3c00);
    ck_assert_uint_eq(qkv_f32_to_f16(-2.0f), 0xc000);
    ck_assert_uint_eq(qkv_f32_to_f16(65504.0f), 0x7bff);
    ck_assert_uint_eq(qkv_f32_to_f16(5.9604644775390625e-8f), 0x0001);
    /* 65520 is halfway between 65504 and 65536 (=Inf): ties to even -> Inf 0x7c00 */
    ck_assert_uint_eq(qkv_f32_to_f16(65520.0f), 0x7c00);
    /* 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even -> 1.0 */
    ck_assert_uint_eq(qkv_f32_to_f16(1.00048828125f), 0x3c00);
    /* 1 + 3*2^-11 is halfway between 1+2^-10 (odd) and 1+2^-9: -> 1+2^-9 = 0x3c02 */
    ck_assert_uint_eq(qkv_f32_to_f16(1.00146484375f), 0x3c02);
    ck_assert(isnan(qkv_f16_to_f32(qkv_f32_to_f16(NAN))));
    for (uint32_t h = 0; h < 0x7c00; h++) /* every finite positive f16 round-trips */
        ck_assert_uint_eq(qkv_f32_to_f16(qkv_f16_to_f32((uint16_t)h)), h);
}
END_TEST

/* x = 0, 1, ..., 31 at 2 bits: mn = 0, mx = 31, scale = f16(31/3) where
 * 31/3 = 10.3333 lies between f16 neighbours 10.328125 and 10.3359375
 * (ulp 2^-7 in [8, 16)); 10.3333 - 10.328125 = 0.0052 > 0.0039, so it rounds up
 * to 10.3359375 = 0x492b (exponent 18 << 10 = 0x4800, mantissa 299 = 0x12b).
 * Codes rint(x / 10.3359375): boundaries 0.5s = 5.168, 1.5s = 15.504,
 * 2.5s = 25.840, so 0..5 -> 0, 6..15 -> 1, 16..25 -> 2, 26..31 -> 3.
 * Word 0 (codes 0-15, 2 bits each LSB first): code 1 at i = 6..15 sets bits
 * 12, 14, ..., 30 = 0x55555000.  Word 1 (codes 16-31): code 2 at j = 0..9 sets
 * bits 1, 3, ..., 19 = 0x000aaaaa; code 3 at j = 10..15 sets bits 20..31 =
 * 0xfff00000; together 0xfffaaaaa. */
START_TEST(test_quant_ramp_2bit)
{
    float x[G];
    for (int i = 0; i < G; i++)
        x[i] = (float)i;
    uint32_t codes[2];
    uint16_t scale, mn;
    quant_one_group(x, 2, codes, &scale, &mn);
    ck_assert_uint_eq(scale, 0x492b);
    ck_assert_float_eq(qkv_f16_to_f32(scale), 10.3359375f);
    ck_assert_uint_eq(mn, 0x0000);
    ck_assert_uint_eq(codes[0], 0x55555000u);
    ck_assert_uint_eq(codes[1], 0xfffaaaaau);
    /* dequantized: code 3 -> 3 * 10.3359375 + 0 = 31.0078125 */
    const qkv_kivi_dequant_params d = {.batch = 1, .heads = 1, .tokens = 1, .head_dim = G,
                                       .bits = 2, .group = G};
    float out[G];
    kivi_ref_dequant_values(&d, codes, &scale, &mn, out);
    ck_assert_float_eq(out[5], 0.0f);
    ck_assert_float_eq(out[6], 10.3359375f);
    ck_assert_float_eq(out[16], 20.671875f);
    ck_assert_float_eq(out[31], 31.0078125f);
}
END_TEST

/* mn = 0, mx = 3 at 2 bits: scale = f16(3/3) = 1 exactly.  x = 0.5, 1.5, 2.5
 * give t exactly on .5 boundaries: half to even gives 0, 2, 2 (roundf would
 * give 1, 2, 3).  Other elements are 1.0 -> code 1. */
START_TEST(test_quant_ties_to_even)
{
    float x[G];
    for (int i = 0; i < G; i++)
        x[i] = 1.0f;
    x[0] = 0.0f, x[1] = 3.0f, x[2] = 0.5f, x[3] = 1.5f, x[4] = 2.5f;
    uint32_t codes[2];
    uint16_t scale, mn;
    quant_one_group(x, 2, codes, &scale, &mn);
    ck_assert_uint_eq(scale, 0x3c00);
    ck_assert_uint_eq(kivi_code_get(codes, 0, 2), 0);
    ck_assert_uint_eq(kivi_code_get(codes, 1, 2), 3);
    ck_assert_uint_eq(kivi_code_get(codes, 2, 2), 0);
    ck_assert_uint_eq(kivi_code_get(codes, 3, 2), 2);
    ck_assert_uint_eq(kivi_code_get(codes, 4, 2), 2);
    ck_assert_uint_eq(kivi_code_get(codes, 5, 2), 1);
    /* and these are exactly the tie cases other backends may round apart */
    ck_assert(kivi_ref_code_is_tie(0.5f, scale, mn, 2));
    ck_assert(!kivi_ref_code_is_tie(1.0f, scale, mn, 2));
}
END_TEST

/* A constant group has mx == mn: scale 0, every code 0, and dequantization
 * gives back exactly mn (0.75 = 0x3a00). */
START_TEST(test_quant_constant_group)
{
    float x[G];
    for (int i = 0; i < G; i++)
        x[i] = 0.75f;
    uint32_t codes[8];
    uint16_t scale, mn;
    quant_one_group(x, 8, codes, &scale, &mn);
    ck_assert_uint_eq(scale, 0);
    ck_assert_uint_eq(mn, 0x3a00);
    for (int w = 0; w < 8; w++)
        ck_assert_uint_eq(codes[w], 0);
    const qkv_kivi_dequant_params d = {.batch = 1, .heads = 1, .tokens = 1, .head_dim = G,
                                       .bits = 8, .group = G};
    float out[G];
    kivi_ref_dequant_values(&d, codes, &scale, &mn, out);
    for (int i = 0; i < G; i++)
        ck_assert_float_eq(out[i], 0.75f);
}
END_TEST

/* The stored minimum can round above the true minimum: x_min = 1.0007 rounds
 * to f16 1.0009765625 (ulp 2^-10 near 1: 1.0007 is 0.72 ulp above 1).  With
 * mx = 4 at 4 bits: scale = f16(2.9993/15 = 0.19995) = 0.199951171875.
 * t = (1.0007 - 1.0009765625)/0.19995 = -0.0014 must clamp to 0, not wrap. */
START_TEST(test_quant_clamp_before_rounding)
{
    float x[G];
    for (int i = 0; i < G; i++)
        x[i] = 2.0f;
    x[0] = 1.0007f;
    x[1] = 4.0f;
    uint32_t codes[4];
    uint16_t scale, mn;
    quant_one_group(x, 4, codes, &scale, &mn);
    ck_assert_float_eq(qkv_f16_to_f32(mn), 1.0009765625f);
    ck_assert_uint_eq(kivi_code_get(codes, 0, 4), 0);
    /* x = 4: t = (4 - 1.0009765625)/0.199951171875 = 14.9988 -> 15 */
    ck_assert_uint_eq(kivi_code_get(codes, 1, 4), 15);
    /* x = 2: t = 0.9990234375/0.199951171875 = 4.9963 -> 5 */
    ck_assert_uint_eq(kivi_code_get(codes, 2, 4), 5);
}
END_TEST

/* Keys group per channel along tokens: 32 tokens x 32 channels where
 * channel d of token t holds t (channel 0) or 7 (other channels).  Channel 0
 * is the ramp of test_quant_ramp_2bit (same words); the constant channels
 * have scale 0 and codes 0.  Key codes layout [D, T/16]: row 0 = ramp. */
START_TEST(test_quant_keys_per_channel)
{
    float x[G * G];
    for (int t = 0; t < G; t++)
        for (int d = 0; d < G; d++)
            x[t * G + d] = d == 0 ? (float)t : 7.0f;
    const qkv_kivi_quant_params p = {.batch = 1, .heads = 1, .tokens = G, .head_dim = G,
                                     .in_capacity = G, .out_capacity = G, .bits = 2,
                                     .group = G, .dtype = QKV_F32};
    uint32_t codes[G * 2];
    uint16_t scale[G], mn[G];
    kivi_ref_quant_keys(&p, x, codes, scale, mn);
    ck_assert_uint_eq(codes[0], 0x55555000u);
    ck_assert_uint_eq(codes[1], 0xfffaaaaau);
    ck_assert_uint_eq(scale[0], 0x492b);
    ck_assert_uint_eq(scale[1], 0);
    ck_assert_float_eq(qkv_f16_to_f32(mn[1]), 7.0f);
    ck_assert_uint_eq(codes[2], 0);
}
END_TEST

/* Two residual tokens, D = 32, softmax_scale 1: q = e0, k0 = 0, k1 = e0, so
 * scores are 0 and 1; p1 = e/(1+e) = 0.7310585786, p0 = 0.2689414214.
 * v0 = 1 everywhere, v1 = 3 everywhere: o = p0 + 3 p1 = 1 + 2 p1 = 2.4621171573. */
START_TEST(test_decode_two_tokens)
{
    float q[G] = {1.0f};
    uint16_t k[2 * G] = {0}, v[2 * G];
    k[G] = qkv_f32_to_f16(1.0f);
    for (int d = 0; d < G; d++) {
        v[d] = qkv_f32_to_f16(1.0f);
        v[G + d] = qkv_f32_to_f16(3.0f);
    }
    float out[G];
    const qkv_kivi_decode_params p = {.batch = 1, .q_heads = 1, .kv_heads = 1, .head_dim = G,
                                      .k_resid = 2, .v_resid = 2, .k_resid_capacity = 2,
                                      .v_resid_capacity = 2, .bits = 2, .group = G,
                                      .softmax_scale = 1.0f};
    const kivi_decode_host h = {.query = q, .k_resid = k, .v_resid = v, .output = out};
    kivi_ref_decode_attention(&p, &h);
    for (int d = 0; d < G; d++)
        ck_assert_double_eq_tol(out[d], 2.4621171573, 1e-6);
}
END_TEST

/* One quantized value group plus one residual token: the quantized token's
 * value row is the ramp of test_quant_ramp_2bit (dequantized 0, 10.34, ...),
 * the residual value row is all 0.  Keys: both tokens 0 (residual), so the
 * scores tie and p = 1/2 each: o_d = v^_0[d] / 2, e.g. o_31 = 31.0078125/2. */
START_TEST(test_decode_quantized_values)
{
    float x[G], q[G];
    for (int i = 0; i < G; i++) {
        x[i] = (float)i;
        q[i] = 1.0f;
    }
    uint32_t vcodes[2];
    uint16_t vscale, vmin, kres[2 * G] = {0}, vres[G] = {0};
    quant_one_group(x, 2, vcodes, &vscale, &vmin);
    float out[G];
    const qkv_kivi_decode_params p = {.batch = 1, .q_heads = 1, .kv_heads = 1, .head_dim = G,
                                      .k_resid = 2, .v_quant = 1, .v_resid = 1,
                                      .k_resid_capacity = 2, .v_quant_capacity = 1,
                                      .v_resid_capacity = 1, .bits = 2, .group = G};
    const kivi_decode_host h = {.query = q, .k_resid = kres, .v_codes = vcodes,
                                .v_scale = &vscale, .v_min = &vmin, .v_resid = vres,
                                .output = out};
    kivi_ref_decode_attention(&p, &h);
    ck_assert_double_eq_tol(out[0], 0.0, 1e-7);
    ck_assert_double_eq_tol(out[6], 10.3359375 / 2, 1e-6);
    ck_assert_double_eq_tol(out[31], 31.0078125 / 2, 1e-6);
}
END_TEST

/* ---- f32_gemm: M = 2, N = 3, K = 2 ----------------------------------------------
 * x = [[1, 2], [3, 4]], w = [[1, 0], [0.5, -1], [2^24, 1]]: y row 0 = (1,
 * -1.5, 2^24 + 2), row 1 = (3, -2.5, 3 * 2^24 + 4), every one an f32
 * value. */
START_TEST(test_f32_gemm_tiny)
{
    const float x[4] = {1, 2, 3, 4}, w[6] = {1, 0, 0.5f, -1, 0x1p24f, 1};
    float y[6];
    const qkv_f32_gemm_params p = {.m = 2, .n = 3, .k = 2};
    f32_gemm_ref(&p, x, w, y);
    const float want[6] = {1, -1.5f, 0x1p24f + 2, 3, -2.5f, 3 * 0x1p24f + 4};
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(y[i], want[i]);
}
END_TEST

/* ---- w4a8_gemm: M = 1, N = 2, K = G = 64 ----------------------------------------
 * x = (1, 1.5, -2, 0.5, 0 ...): E4M3 0x38, 0x3C, 0xC0, 0x30.
 * Row 0: scale 1.625 (0x3D), codes (3, -5, 7, 1, 0 ...).  Its lut table
 * rounds q * s to E4M3: 3 * 1.625 = 4.875 -> 5 (spacing 0.5 in [4, 8)),
 * -5 * 1.625 = -8.125 -> -8, 7 * 1.625 = 11.375 -> 11 (spacing 1 in
 * [8, 16)), 1.625 exact.  lut acc = 5 - 12 - 22 + 0.8125 = -28.1875;
 * exact acc = 1.625 * (3 - 7.5 - 14 + 0.5) = -29.25.
 * Row 1: scale 448 (0x7E), codes (-8, 2, 1, -1, 0 ...): the lut table
 * saturates -3584 and 896 to -448 and 448.  lut acc = -448 + 672 - 896 -
 * 224 = -896; exact acc = 448 * (-8 + 3 - 2 - 0.5) = -3360.
 * sx = 0.375, ps = 4 (prescale_exp 2). */
static void w4a8_tiny(qkv_w4a8_mode mode, qkv_dtype y_dtype, void *y, float *acc)
{
    uint8_t xq[64] = {0x38, 0x3C, 0xC0, 0x30}, wq[2 * 32] = {0}, ws[2] = {0x3D, 0x7E};
    const int8_t codes[2][4] = {{3, -5, 7, 1}, {-8, 2, 1, -1}};
    for (int n = 0; n < 2; n++)
        qkv_i4_pack(codes[n], 4, wq + 32 * n);
    const uint16_t sx = qkv_f32_to_bf16(0.375f);
    const qkv_w4a8_gemm_params p = {.m = 1, .n = 2, .k = 64, .group = 64, .prescale_exp = 2,
                                    .mode = mode, .y_dtype = y_dtype};
    ck_assert(fireq_ref_w4a8_gemm(&p, xq, &sx, wq, ws, y, acc) == QKV_OK);
}

/* lut: bf16(-28.1875) ties between -28.125 and -28.25 (8 significant bits)
 * and goes to the even -28.25; * 0.375 = -10.59375 ties between -10.5625
 * and -10.625 and goes to the even -10.625; / 4 = -2.65625.  Row 1:
 * -896 * 0.375 / 4 = -84. */
START_TEST(test_w4a8_lut_tiny)
{
    uint16_t y[2];
    float acc[2];
    w4a8_tiny(QKV_W4A8_LUT, QKV_BF16, y, acc);
    ck_assert_float_eq(acc[0], -28.1875f);
    ck_assert_float_eq(acc[1], -896.0f);
    ck_assert_float_eq(qkv_bf16_to_f32(y[0]), -2.65625f);
    ck_assert_float_eq(qkv_bf16_to_f32(y[1]), -84.0f);
}
END_TEST

/* exact: -29.25 * 0.375 / 4 = -2.7421875 and -3360 * 0.375 / 4 = -315,
 * both exact in f32.  In bf16 (8 significant bits) both are ties:
 * -2.7421875 = -10.1011111b lies between -10.101111b and -10.110000b and
 * goes to the even -2.75; -315 = -100111011b between -314 and -316 goes
 * to the even -316. */
START_TEST(test_w4a8_exact_tiny)
{
    float y[2], acc[2];
    uint16_t yb[2];
    w4a8_tiny(QKV_W4A8_EXACT, QKV_F32, y, acc);
    ck_assert_float_eq(acc[0], -29.25f);
    ck_assert_float_eq(acc[1], -3360.0f);
    ck_assert_float_eq(y[0], -2.7421875f);
    ck_assert_float_eq(y[1], -315.0f);
    w4a8_tiny(QKV_W4A8_EXACT, QKV_BF16, yb, NULL);
    ck_assert_float_eq(qkv_bf16_to_f32(yb[0]), -2.75f);
    ck_assert_float_eq(qkv_bf16_to_f32(yb[1]), -316.0f);
}
END_TEST

/* One rounding from double to bf16: ties to even, the smallest subnormal
 * 2^-133, overflow past the largest bf16 (0x7F7F = (2 - 2^-7) 2^127). */
START_TEST(test_w4a8_round_bf16)
{
    ck_assert_double_eq(fireq_ref_round_bf16(1.0 + 0x1p-8), 1.0);
    ck_assert_double_eq(fireq_ref_round_bf16(1.0 + 3 * 0x1p-8), 1.0 + 0x1p-6);
    ck_assert_double_eq(fireq_ref_round_bf16(1.0 + 0x1p-8 + 0x1p-40), 1.0 + 0x1p-7);
    ck_assert_double_eq(fireq_ref_round_bf16(0x1p-133 * 0.75), 0x1p-133);
    ck_assert_double_eq(fireq_ref_round_bf16(-0x1p-134), -0.0);
    ck_assert(signbit(fireq_ref_round_bf16(-0x1p-134)));
    ck_assert_double_eq(fireq_ref_round_bf16(0x1.fep127), 0x1.fep127);
    ck_assert(isinf(fireq_ref_round_bf16(0x1.ffp127)));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("reference");
    TCase *tc = tcase_create("kivi");
    tcase_add_test(tc, test_f16_conversions);
    tcase_add_test(tc, test_quant_ramp_2bit);
    tcase_add_test(tc, test_quant_ties_to_even);
    tcase_add_test(tc, test_quant_constant_group);
    tcase_add_test(tc, test_quant_clamp_before_rounding);
    tcase_add_test(tc, test_quant_keys_per_channel);
    tcase_add_test(tc, test_decode_two_tokens);
    tcase_add_test(tc, test_decode_quantized_values);
    suite_add_tcase(s, tc);
    TCase *gemm = tcase_create("w4a8_gemm");
    tcase_add_test(gemm, test_w4a8_lut_tiny);
    tcase_add_test(gemm, test_f32_gemm_tiny);
    tcase_add_test(gemm, test_w4a8_exact_tiny);
    tcase_add_test(gemm, test_w4a8_round_bf16);
    suite_add_tcase(s, gemm);
    return test_run_suite(s);
}
