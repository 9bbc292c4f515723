/* test_formats.c - element formats: the dtype table (sizes, names, packed
 * int4 byte counts), bf16 and FP8 (E4M3FN, E5M2) conversions against values
 * computed here independently (sign/exponent/mantissa arithmetic in double,
 * nearest-value search with ties to the even code), and int4 packing. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "test_util.h"

/* ---- helpers ---------------------------------------------------------------- */

/* The binary32 bits of x. */
static uint32_t bits_of(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

/* The binary32 value of bits u. */
static float float_of(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* One FP8 format under test: its layout and its conversion functions. */
typedef struct fp8_case {
    const char *name;
    int exp_bits, mant_bits, bias;
    int has_inf;          /* E5M2: exponent all ones is Inf (mantissa 0) or NaN */
    uint8_t max_code;     /* largest finite magnitude code */
    double max_value;     /* its value */
    uint8_t nosat_code;   /* magnitude code of a non-saturated overflow */
    uint8_t (*encode)(float, qkv_fp8_overflow);
    float (*decode)(uint8_t);
} fp8_case;

static const fp8_case fp8_cases[] = {
    {"e4m3", 4, 3, 7, 0, 0x7e, 448.0, 0x7f, qkv_f32_to_e4m3, qkv_e4m3_to_f32},
    {"e5m2", 5, 2, 15, 1, 0x7b, 57344.0, 0x7c, qkv_f32_to_e5m2, qkv_e5m2_to_f32},
};
#define NFP8 (sizeof fp8_cases / sizeof fp8_cases[0])

static const qkv_fp8_overflow modes[2] = {QKV_FP8_SATFINITE, QKV_FP8_NOSAT};

/* Value of a magnitude code (0..0x7F) by the format's definition, as if the
 * exponent field had no special values (so max_code + 1 gives the value one
 * ulp above the largest finite one). */
static double fp8_magnitude(const fp8_case *f, unsigned code)
{
    const unsigned e = code >> f->mant_bits, m = code & ((1u << f->mant_bits) - 1u);
    const double frac = (double)m / (double)(1u << f->mant_bits);
    if (e == 0)
        return ldexp(frac, 1 - f->bias);
    return ldexp(1.0 + frac, (int)e - f->bias);
}

/* True if code (sign included) is a NaN of the format. */
static int fp8_is_nan_code(const fp8_case *f, unsigned code)
{
    const unsigned mag = code & 0x7fu;
    if (f->has_inf)
        return (mag >> f->mant_bits) == (0x7fu >> f->mant_bits) &&
               (mag & ((1u << f->mant_bits) - 1u));
    return mag == 0x7fu;
}

/* Magnitudes of codes 0..max_code + 1 (the last one virtual, see
 * fp8_magnitude) into mags. */
static void fp8_magnitudes(const fp8_case *f, double *mags)
{
    for (unsigned c = 0; c <= (unsigned)f->max_code + 1; c++)
        mags[c] = fp8_magnitude(f, c);
}

/* The encoding of finite x found by search: the magnitude code nearest to
 * |x| among 0..max_code and the virtual max_code + 1 (which stands for
 * overflow), ties to the even code; sign from x.  mags from fp8_magnitudes. */
static uint8_t fp8_oracle(const fp8_case *f, const double *mags, float x,
                          qkv_fp8_overflow mode)
{
    const uint8_t sign = signbit(x) ? 0x80 : 0;
    const double a = fabs((double)x);
    /* beyond twice the maximum, distances would round in double: overflow */
    const unsigned last = a > 2 * f->max_value ? 0 : (unsigned)f->max_code + 1;
    unsigned best = a > 2 * f->max_value ? (unsigned)f->max_code + 1 : 0;
    double best_dist = a;
    for (unsigned c = 1; c <= last; c++) {
        const double d = fabs(mags[c] - a);
        if (d < best_dist || (d == best_dist && c % 2 == 0)) {
            best = c;
            best_dist = d;
        }
    }
    if (best > f->max_code)
        best = mode == QKV_FP8_NOSAT ? f->nosat_code : f->max_code;
    return (uint8_t)(sign | best);
}

/* Check encode(x) in both modes against the oracle. */
static void expect_fp8_oracle(const fp8_case *f, const double *mags, float x)
{
    for (int m = 0; m < 2; m++) {
        const uint8_t got = f->encode(x, modes[m]), want = fp8_oracle(f, mags, x, modes[m]);
        ck_assert_msg(got == want, "%s(%a = 0x%08x, mode %d) = 0x%02x, want 0x%02x", f->name,
                      (double)x, bits_of(x), m, got, want);
    }
}

/* ---- dtype table ---------------------------------------------------------- */

/* New dtypes come after the old ones, which keep their numbers. */
START_TEST(test_dtype_enum)
{
    ck_assert_int_eq(QKV_F32, 0);
    ck_assert_int_eq(QKV_BF16, 2);
    ck_assert_int_eq(QKV_I64, 7);
    ck_assert_int_eq(QKV_E4M3, 8);
    ck_assert_int_eq(QKV_E5M2, 9);
    ck_assert_int_eq(QKV_I4, 10);
    ck_assert_int_eq(QKV_DTYPE_COUNT, 11);
}
END_TEST

/* Sizes, names and byte counts of every dtype, including packed int4. */
START_TEST(test_dtype_sizes)
{
    static const struct {
        qkv_dtype dtype;
        size_t size;
        const char *name;
    } want[] = {
        {QKV_F32, 4, "f32"},  {QKV_F16, 2, "f16"},   {QKV_BF16, 2, "bf16"},
        {QKV_U8, 1, "u8"},    {QKV_U16, 2, "u16"},   {QKV_I32, 4, "i32"},
        {QKV_U32, 4, "u32"},  {QKV_I64, 8, "i64"},   {QKV_E4M3, 1, "e4m3"},
        {QKV_E5M2, 1, "e5m2"}, {QKV_I4, 1, "i4"},
    };
    ck_assert_uint_eq(sizeof want / sizeof want[0], QKV_DTYPE_COUNT);
    for (size_t i = 0; i < QKV_DTYPE_COUNT; i++) {
        ck_assert_uint_eq(qkv_dtype_size(want[i].dtype), want[i].size);
        ck_assert_str_eq(qkv_dtype_name(want[i].dtype), want[i].name);
        ck_assert_uint_eq(qkv_dtype_bytes(want[i].dtype, 0), 0);
        if (want[i].dtype != QKV_I4) {
            ck_assert_uint_eq(qkv_dtype_bytes(want[i].dtype, 1), want[i].size);
            ck_assert_uint_eq(qkv_dtype_bytes(want[i].dtype, 1001), 1001 * want[i].size);
            ck_assert_uint_eq(qkv_dtype_bytes(want[i].dtype, SIZE_MAX / want[i].size),
                              SIZE_MAX / want[i].size * want[i].size);
        }
    }
    /* overflow and invalid dtypes give 0 */
    ck_assert_uint_eq(qkv_dtype_bytes(QKV_F32, SIZE_MAX / 4 + 1), 0);
    ck_assert_uint_eq(qkv_dtype_bytes(QKV_I64, SIZE_MAX), 0);
    ck_assert_uint_eq(qkv_dtype_bytes(QKV_U8, SIZE_MAX), SIZE_MAX);
    ck_assert_uint_eq(qkv_dtype_bytes(QKV_DTYPE_COUNT, 4), 0);
    ck_assert_uint_eq(qkv_dtype_bytes((qkv_dtype)-1, 4), 0);
    ck_assert_uint_eq(qkv_dtype_size(QKV_DTYPE_COUNT), 0);
    ck_assert_str_eq(qkv_dtype_name(QKV_DTYPE_COUNT), "invalid");
    /* int4: two per byte, rounded up, never overflowing */
    ck_assert_uint_eq(qkv_dtype_bytes(QKV_I4, 1), 1);
    ck_assert_uint_eq(qkv_dtype_bytes(QKV_I4, 2), 1);
    ck_assert_uint_eq(qkv_dtype_bytes(QKV_I4, 3), 2);
    ck_assert_uint_eq(qkv_dtype_bytes(QKV_I4, 4096), 2048);
    ck_assert_uint_eq(qkv_dtype_bytes(QKV_I4, SIZE_MAX), SIZE_MAX / 2 + 1);
}
END_TEST

/* ---- FP8 ------------------------------------------------------------------- */

/* Every one of the 256 codes decodes to its defined value. */
START_TEST(test_fp8_decode_all)
{
    const fp8_case *f = &fp8_cases[_i];
    for (unsigned code = 0; code < 256; code++) {
        const float got = f->decode((uint8_t)code);
        const int negative = code >= 0x80;
        const unsigned mag = code & 0x7fu, e = mag >> f->mant_bits;
        if (fp8_is_nan_code(f, code)) {
            ck_assert_msg(isnan(got), "%s 0x%02x: %a, want NaN", f->name, code, (double)got);
            ck_assert_int_eq(!!signbit(got), negative);
            continue;
        }
        double want;
        if (f->has_inf && e == (0x7fu >> f->mant_bits))
            want = INFINITY;
        else
            want = fp8_magnitude(f, mag);
        if (negative)
            want = -want;
        ck_assert_msg((double)got == want && !!signbit(got) == negative,
                      "%s 0x%02x: %a, want %a", f->name, code, (double)got, want);
    }
    /* landmarks of the spec */
    ck_assert(f->decode(f->max_code) == f->max_value);
    ck_assert(f->decode(1) == ldexp(1.0, 1 - f->bias - f->mant_bits)); /* min subnormal */
    ck_assert(f->decode((uint8_t)(1u << f->mant_bits)) == ldexp(1.0, 1 - f->bias));
}
END_TEST

/* The spec's named values and which codes are special. */
START_TEST(test_fp8_landmarks)
{
    ck_assert(qkv_e4m3_to_f32(0x7e) == 448.0f);
    ck_assert(qkv_e4m3_to_f32(0xfe) == -448.0f);
    ck_assert(qkv_e4m3_to_f32(0x01) == 0x1p-9f);
    ck_assert(qkv_e4m3_to_f32(0x08) == 0x1p-6f);
    ck_assert(qkv_e4m3_to_f32(0x78) == 256.0f); /* E = 15 is finite in E4M3FN */
    ck_assert(isnan(qkv_e4m3_to_f32(0x7f)) && isnan(qkv_e4m3_to_f32(0xff)));
    ck_assert(qkv_e5m2_to_f32(0x7b) == 57344.0f);
    ck_assert(qkv_e5m2_to_f32(0x01) == 0x1p-16f);
    ck_assert(qkv_e5m2_to_f32(0x04) == 0x1p-14f);
    ck_assert(qkv_e5m2_to_f32(0x7c) == INFINITY && qkv_e5m2_to_f32(0xfc) == -INFINITY);
    for (unsigned c = 0x7d; c <= 0x7f; c++)
        ck_assert(isnan(qkv_e5m2_to_f32((uint8_t)c)) &&
                  isnan(qkv_e5m2_to_f32((uint8_t)(c | 0x80))));
    /* every int4 value, and every integer -16..16, is exact in E4M3 */
    for (int v = -16; v <= 16; v++)
        ck_assert(qkv_e4m3_to_f32(qkv_f32_to_e4m3((float)v, QKV_FP8_SATFINITE)) == (float)v);
}
END_TEST

/* Every finite code survives decode then encode, in both modes (and -0
 * stays -0). */
START_TEST(test_fp8_round_trip)
{
    const fp8_case *f = &fp8_cases[_i];
    for (unsigned code = 0; code < 256; code++) {
        const float x = f->decode((uint8_t)code);
        if (!isfinite(x))
            continue;
        for (int m = 0; m < 2; m++)
            ck_assert_msg(f->encode(x, modes[m]) == code, "%s 0x%02x mode %d -> 0x%02x",
                          f->name, code, m, f->encode(x, modes[m]));
    }
}
END_TEST

/* Between every two neighbouring finite values: the midpoint goes to the
 * even code, one f32 ulp either side goes to the nearer one. */
START_TEST(test_fp8_midpoints)
{
    const fp8_case *f = &fp8_cases[_i];
    for (unsigned c = 0; c < f->max_code; c++) {
        const double lo = fp8_magnitude(f, c), hi = fp8_magnitude(f, c + 1);
        const float mid = (float)((lo + hi) / 2);
        ck_assert((double)mid == (lo + hi) / 2); /* exact in f32 */
        const float below = nextafterf(mid, 0.0f), above = nextafterf(mid, INFINITY);
        const unsigned even = c % 2 == 0 ? c : c + 1;
        for (int m = 0; m < 2; m++)
            for (unsigned sign = 0; sign <= 0x80; sign += 0x80) {
                const float s = sign ? -1.0f : 1.0f;
                ck_assert_msg(f->encode(s * mid, modes[m]) == (sign | even),
                              "%s mid of 0x%02x: 0x%02x", f->name, c,
                              f->encode(s * mid, modes[m]));
                ck_assert_uint_eq(f->encode(s * below, modes[m]), sign | c);
                ck_assert_uint_eq(f->encode(s * above, modes[m]), sign | (c + 1));
            }
    }
}
END_TEST

/* Overflow: up to max + half an ulp (E4M3: 464 included, tie to even 448;
 * E5M2: 61440 excluded, its tie goes to the even Inf code) stays finite;
 * beyond, and +-Inf, saturate or give NaN (E4M3) / Inf (E5M2). */
START_TEST(test_fp8_overflow)
{
    const fp8_case *f = &fp8_cases[_i];
    const double ulp = fp8_magnitude(f, f->max_code + 1u) - f->max_value;
    const float threshold = (float)(f->max_value + ulp / 2);
    const int tie_is_finite = f->max_code % 2 == 0;
    const float beyond[] = {nextafterf(threshold, INFINITY), (float)(f->max_value + ulp),
                            1e30f, 3.4028235e38f, INFINITY};
    for (unsigned sign = 0; sign <= 0x80; sign += 0x80) {
        const float s = sign ? -1.0f : 1.0f;
        for (int m = 0; m < 2; m++) {
            const uint8_t overflow = (uint8_t)(sign | (modes[m] == QKV_FP8_NOSAT ? f->nosat_code
                                                                               : f->max_code));
            ck_assert_uint_eq(f->encode(s * nextafterf(threshold, 0.0f), modes[m]),
                              sign | f->max_code);
            ck_assert_uint_eq(f->encode(s * threshold, modes[m]),
                              tie_is_finite ? (sign | f->max_code) : overflow);
            for (size_t k = 0; k < sizeof beyond / sizeof beyond[0]; k++)
                ck_assert_msg(f->encode(s * beyond[k], modes[m]) == overflow,
                              "%s(%a) mode %d: 0x%02x", f->name, (double)(s * beyond[k]), m,
                              f->encode(s * beyond[k], modes[m]));
        }
    }
    /* the spec's numbers */
    ck_assert_uint_eq(qkv_f32_to_e4m3(464.0f, QKV_FP8_NOSAT), 0x7e);
    ck_assert_uint_eq(qkv_f32_to_e4m3(464.5f, QKV_FP8_SATFINITE), 0x7e);
    ck_assert_uint_eq(qkv_f32_to_e4m3(464.5f, QKV_FP8_NOSAT), 0x7f);
    ck_assert_uint_eq(qkv_f32_to_e4m3(-INFINITY, QKV_FP8_NOSAT), 0xff);
    ck_assert_uint_eq(qkv_f32_to_e4m3(-INFINITY, QKV_FP8_SATFINITE), 0xfe);
    ck_assert_uint_eq(qkv_f32_to_e5m2(61440.0f, QKV_FP8_NOSAT), 0x7c);
    ck_assert_uint_eq(qkv_f32_to_e5m2(61440.0f, QKV_FP8_SATFINITE), 0x7b);
    ck_assert_uint_eq(qkv_f32_to_e5m2(61439.996f, QKV_FP8_NOSAT), 0x7b);
    ck_assert_uint_eq(qkv_f32_to_e5m2(-INFINITY, QKV_FP8_NOSAT), 0xfc);
}
END_TEST

/* NaN of any sign and payload encodes to 0x7F in both modes. */
START_TEST(test_fp8_nan)
{
    const fp8_case *f = &fp8_cases[_i];
    static const uint32_t nans[] = {0x7fc00000u, 0xffc00000u, 0x7f800001u, 0xff800001u,
                                    0x7fffffffu, 0xffffffffu, 0x7fa00000u, 0xff812345u};
    for (size_t k = 0; k < sizeof nans / sizeof nans[0]; k++)
        for (int m = 0; m < 2; m++)
            ck_assert_msg(f->encode(float_of(nans[k]), modes[m]) == 0x7f,
                          "%s(NaN 0x%08x) = 0x%02x", f->name, nans[k],
                          f->encode(float_of(nans[k]), modes[m]));
}
END_TEST

/* Zeros and tiny values: signed zero up to half the smallest subnormal (the
 * tie included), f32 subnormals too; just above it the smallest subnormal;
 * the subnormal/normal boundary rounds up into the smallest normal. */
START_TEST(test_fp8_subnormals)
{
    const fp8_case *f = &fp8_cases[_i];
    const float min_sub = (float)fp8_magnitude(f, 1);
    const float min_normal = (float)fp8_magnitude(f, 1u << f->mant_bits);
    const float zeros[] = {0.0f, 0x1p-149f, 0x1p-127f, 0x1.fffffcp-127f, 0x1p-126f, 1e-30f,
                           nextafterf(min_sub / 2, 0.0f), min_sub / 2};
    for (int m = 0; m < 2; m++) {
        for (size_t k = 0; k < sizeof zeros / sizeof zeros[0]; k++) {
            ck_assert_uint_eq(f->encode(zeros[k], modes[m]), 0x00);
            ck_assert_uint_eq(f->encode(-zeros[k], modes[m]), 0x80);
        }
        ck_assert_uint_eq(f->encode(nextafterf(min_sub / 2, 1.0f), modes[m]), 0x01);
        ck_assert_uint_eq(f->encode(-nextafterf(min_sub / 2, 1.0f), modes[m]), 0x81);
        ck_assert_uint_eq(f->encode(min_sub * 1.5f, modes[m]), 0x02); /* tie to even */
        ck_assert_uint_eq(f->encode(min_sub * 2.5f, modes[m]), 0x02);
        ck_assert_uint_eq(f->encode(nextafterf(min_normal, 0.0f), modes[m]),
                          1u << f->mant_bits);
        ck_assert_uint_eq(f->encode(min_normal, modes[m]), 1u << f->mant_bits);
    }
}
END_TEST

/* A sweep of f32 bit patterns (a stride through all 2^32 and every pattern
 * whose exponent lies in the format's range, mantissas strided) agrees with
 * the nearest-value search. */
START_TEST(test_fp8_sweep)
{
    const fp8_case *f = &fp8_cases[_i];
    double mags[0x81];
    fp8_magnitudes(f, mags);
    for (uint64_t u = 0; u < (1ull << 32); u += 40961) {
        const float x = float_of((uint32_t)u);
        if (isfinite(x))
            expect_fp8_oracle(f, mags, x);
    }
    const int lo_exp = 127 - f->bias - f->mant_bits - 2;
    const int hi_exp = 127 + (1 << f->exp_bits) - f->bias + 1;
    for (int e = lo_exp; e <= hi_exp; e++)
        for (uint32_t mant = 0; mant < (1u << 23); mant += 1021) {
            const uint32_t u = (uint32_t)e << 23 | mant;
            expect_fp8_oracle(f, mags, float_of(u));
            expect_fp8_oracle(f, mags, float_of(u | 0x80000000u));
        }
}
END_TEST

/* Every one of the 2^32 f32 inputs, in both modes, when $QKV_SLOW_TESTS is
 * set (about 2^33 encodes per format): walking the positive patterns upwards,
 * the expected code steps from c to c+1 at the midpoint of their values (at
 * the midpoint itself when c+1 is even, one ulp above otherwise); negative
 * inputs give the same code with the sign bit; NaN gives 0x7F. */
START_TEST(test_fp8_exhaustive)
{
    if (!getenv("QKV_SLOW_TESTS")) {
        fprintf(stderr, "note: exhaustive FP8 test SKIPPED (set QKV_SLOW_TESTS=1)\n");
        return;
    }
    const fp8_case *f = &fp8_cases[_i];
    const unsigned last = (unsigned)f->max_code + 1; /* virtual: overflow */
    uint32_t start[0x81]; /* first positive pattern encoding to code c */
    start[0] = 0;
    for (unsigned c = 1; c <= last; c++) {
        const float mid = (float)((fp8_magnitude(f, c - 1) + fp8_magnitude(f, c)) / 2);
        start[c] = bits_of(mid) + (c % 2 ? 1u : 0u);
    }
    for (int m = 0; m < 2; m++) {
        const unsigned overflow = modes[m] == QKV_FP8_NOSAT ? f->nosat_code : f->max_code;
        unsigned c = 0;
        for (uint32_t u = 0; u <= 0x7f800000u; u++) {
            while (c < last && u >= start[c + 1])
                c++;
            const unsigned want = c == last ? overflow : c;
            const uint8_t pos = f->encode(float_of(u), modes[m]);
            const uint8_t neg = f->encode(float_of(u | 0x80000000u), modes[m]);
            if (pos != want || neg != (0x80u | want))
                ck_abort_msg("%s(+-0x%08x) mode %d = 0x%02x/0x%02x, want 0x%02x", f->name, u,
                             m, pos, neg, want);
        }
        for (uint32_t u = 0x7f800001u; u != 0x80000000u; u++)
            if (f->encode(float_of(u), modes[m]) != 0x7f ||
                f->encode(float_of(u | 0x80000000u), modes[m]) != 0x7f)
                ck_abort_msg("%s(NaN 0x%08x) mode %d is not 0x7F", f->name, u, m);
    }
}
END_TEST

/* ---- bf16 -------------------------------------------------------------------- */

/* Value of bf16 magnitude bits by the definition, the exponent field read as
 * ordinary even at 0xFF (so 0x7F80 is the value one ulp above the maximum). */
static double bf16_magnitude(uint32_t mag)
{
    const uint32_t e = mag >> 7, m = mag & 0x7fu;
    if (e == 0)
        return ldexp((double)m, -126 - 7);
    return ldexp(1.0 + m / 128.0, (int)e - 127);
}

/* bf16 of finite x by search between the two neighbours, ties to even. */
static uint16_t bf16_oracle(float x)
{
    const uint32_t u = bits_of(x), sign = u >> 16 & 0x8000u, lo = (u & 0x7fffffffu) >> 16;
    const double a = fabs((double)x);
    const double d_lo = a - bf16_magnitude(lo), d_hi = bf16_magnitude(lo + 1) - a;
    const uint32_t pick = d_lo < d_hi || (d_lo == d_hi && lo % 2 == 0) ? lo : lo + 1;
    return (uint16_t)(sign | pick);
}

/* Ties, overflow, subnormals and NaN by example. */
START_TEST(test_bf16_cases)
{
    static const struct {
        uint32_t in;
        uint16_t out;
    } cases[] = {
        {0x3f800000u, 0x3f80}, {0x3f808000u, 0x3f80}, /* tie, even below */
        {0x3f818000u, 0x3f82}, /* tie, odd below: up */
        {0x3f807fffu, 0x3f80}, {0x3f808001u, 0x3f81}, {0xbf818000u, 0xbf82},
        {0x3fff8000u, 0x4000}, /* carry into the exponent */
        {0x7f7f7fffu, 0x7f7f}, {0x7f7f8000u, 0x7f80}, /* max, tie to Inf (even) */
        {0x7f7fffffu, 0x7f80}, {0xff7fffffu, 0xff80},
        {0x7f800000u, 0x7f80}, {0xff800000u, 0xff80},
        {0x00000000u, 0x0000}, {0x80000000u, 0x8000}, {0x00008000u, 0x0000},
        {0x00018000u, 0x0002}, {0x80008001u, 0x8001}, {0x007fffffu, 0x0080},
        {0x7fc00000u, 0x7fc0}, {0xffc00000u, 0xffc0}, /* NaN stays NaN and quiet */
        {0x7f800001u, 0x7fc0}, {0xff800001u, 0xffc0}, {0x7fa00000u, 0x7fe0},
        {0x7fbfffffu, 0x7fff}, {0x7fc12345u, 0x7fc1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        ck_assert_msg(qkv_f32_to_bf16(float_of(cases[k].in)) == cases[k].out,
                      "bf16(0x%08x) = 0x%04x, want 0x%04x", cases[k].in,
                      qkv_f32_to_bf16(float_of(cases[k].in)), cases[k].out);
    ck_assert(qkv_bf16_to_f32(0x3f80) == 1.0f);
    ck_assert(qkv_bf16_to_f32(0xc040) == -3.0f);
    ck_assert(qkv_bf16_to_f32(0x0001) == 0x1p-133f);
    ck_assert(qkv_bf16_to_f32(0xff80) == -INFINITY);
}
END_TEST

/* All 65536 codes: decode is the top half of binary32, and encode gives the
 * code back (a signalling NaN comes back quiet). */
START_TEST(test_bf16_all_codes)
{
    for (uint32_t code = 0; code < 65536; code++) {
        const float x = qkv_bf16_to_f32((uint16_t)code);
        ck_assert_uint_eq(bits_of(x), code << 16);
        const uint16_t back = qkv_f32_to_bf16(x);
        if (isnan(x))
            ck_assert_uint_eq(back, code | 0x40u);
        else
            ck_assert_uint_eq(back, code);
    }
}
END_TEST

/* A stride through all 2^32 f32 patterns agrees with the search. */
START_TEST(test_bf16_sweep)
{
    for (uint64_t u = 0; u < (1ull << 32); u += 4099) {
        const float x = float_of((uint32_t)u);
        if (!isfinite(x))
            continue;
        ck_assert_msg(qkv_f32_to_bf16(x) == bf16_oracle(x),
                      "bf16(0x%08x) = 0x%04x, want 0x%04x", (uint32_t)u, qkv_f32_to_bf16(x),
                      bf16_oracle(x));
    }
}
END_TEST

/* ---- int4 ------------------------------------------------------------------ */

/* Nibble order, sign extension and the odd tail. */
START_TEST(test_i4_pack)
{
    const int8_t values[5] = {1, -2, 7, -8, -1};
    uint8_t packed[3] = {0xaa, 0xaa, 0xaa};
    qkv_i4_pack(values, 5, packed);
    ck_assert_uint_eq(packed[0], 0xe1); /* element 0 low, element 1 high */
    ck_assert_uint_eq(packed[1], 0x87);
    ck_assert_uint_eq(packed[2], 0x0f); /* odd count: high nibble 0 */
    int8_t back[5];
    qkv_i4_unpack(packed, 5, back);
    ck_assert_mem_eq(back, values, sizeof values);

    /* every pair of values */
    for (int a = -8; a <= 7; a++)
        for (int b = -8; b <= 7; b++) {
            const int8_t pair[2] = {(int8_t)a, (int8_t)b};
            uint8_t byte;
            qkv_i4_pack(pair, 2, &byte);
            ck_assert_uint_eq(byte, (unsigned)(a & 15) | (unsigned)(b & 15) << 4);
            int8_t out[2];
            qkv_i4_unpack(&byte, 2, out);
            ck_assert_int_eq(out[0], a);
            ck_assert_int_eq(out[1], b);
        }
    /* count 0 touches nothing */
    qkv_i4_pack(values, 0, packed);
    ck_assert_uint_eq(packed[0], 0xe1);
}
END_TEST

static Suite *formats_suite(void)
{
    Suite *s = suite_create("formats");
    TCase *tc = tcase_create("formats");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_dtype_enum);
    tcase_add_test(tc, test_dtype_sizes);
    tcase_add_loop_test(tc, test_fp8_decode_all, 0, NFP8);
    tcase_add_test(tc, test_fp8_landmarks);
    tcase_add_loop_test(tc, test_fp8_round_trip, 0, NFP8);
    tcase_add_loop_test(tc, test_fp8_midpoints, 0, NFP8);
    tcase_add_loop_test(tc, test_fp8_overflow, 0, NFP8);
    tcase_add_loop_test(tc, test_fp8_nan, 0, NFP8);
    tcase_add_loop_test(tc, test_fp8_subnormals, 0, NFP8);
    tcase_add_loop_test(tc, test_fp8_sweep, 0, NFP8);
    tcase_add_loop_test(tc, test_fp8_exhaustive, 0, NFP8);
    tcase_add_test(tc, test_bf16_cases);
    tcase_add_test(tc, test_bf16_all_codes);
    tcase_add_test(tc, test_bf16_sweep);
    tcase_add_test(tc, test_i4_pack);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(formats_suite());
}
