/* float_formats.c - IEEE binary16, bf16 and the two OCP FP8 formats
 * (E4M3FN, E5M2) to and from IEEE binary32, by integer bit manipulation only (no reliance on
 * hardware or denormal handling).  Rounding is to nearest, ties to even; the
 * FP8 encoders follow spec w4a8-gemm.md, which follows NVIDIA's
 * __nv_cvt_float_to_fp8 (checked by tests/test_formats.c). */
#include "qkv.h"

#include <string.h>

#define F32_SIGN 0x80000000u
#define F32_ABS 0x7fffffffu
#define F32_INF 0x7f800000u
#define F32_QUIET_NAN 0x7fc00000u
#define F32_MANT_BITS 23
#define F32_BIAS 127

/* The binary32 bits of x. */
static uint32_t f32_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

/* The binary32 value of bits u. */
static float f32_from_bits(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* ---- f16 (IEEE binary16) ----------------------------------------------------- */

/* Round to nearest even; NaN stays quiet with the top payload bits. */
uint16_t qkv_f32_to_f16(float x)
{
    const uint32_t u = f32_bits(x);
    const uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    const uint32_t exp = (u >> 23) & 0xffu;
    uint32_t mant = u & 0x7fffffu;
    if (exp == 0xff) /* Inf, NaN (kept quiet, payload top bits) */
        return (uint16_t)(sign | 0x7c00u | (mant ? 0x200u | (mant >> 13) : 0));
    const int e = (int)exp - 127 + 15; /* f16 biased exponent */
    if (e >= 31)
        return (uint16_t)(sign | 0x7c00u);
    if (e <= 0) { /* subnormal f16 or zero */
        if (e < -10)
            return sign;
        mant |= 0x800000u; /* implicit bit */
        const int shift = 14 - e; /* 14..24 */
        uint32_t h = mant >> shift;
        const uint32_t rem = mant & ((1u << shift) - 1u), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1u)))
            h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)e << 10) | (mant >> 13);
    const uint32_t rem = mant & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u)))
        h++; /* may carry into the exponent, up to Inf: correct */
    return (uint16_t)(sign | h);
}

/* Exact (every f16 is a binary32). */
float qkv_f16_to_f32(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    if (exp == 0x1f)
        return f32_from_bits(sign | 0x7f800000u | (mant << 13));
    if (exp == 0) {
        if (mant == 0)
            return f32_from_bits(sign);
        int e = -1;
        do { /* normalize the subnormal */
            mant <<= 1;
            e++;
        } while (!(mant & 0x400u));
        return f32_from_bits(sign | ((uint32_t)(127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13));
    }
    return f32_from_bits(sign | ((exp - 15 + 127) << 23) | (mant << 13));
}

/* ---- bf16 ------------------------------------------------------------------ */

/* bf16 is the top half of binary32: round away the low 16 bits. */
uint16_t qkv_f32_to_bf16(float x)
{
    const uint32_t u = f32_bits(x);
    if ((u & F32_ABS) > F32_INF) /* NaN: keep sign and top payload, set quiet bit */
        return (uint16_t)((u >> 16) | 0x0040u);
    const uint32_t kept = u >> 16, rest = u & 0xffffu;
    /* a carry out of the mantissa steps the exponent, up to Inf: correct */
    return (uint16_t)(kept + (rest > 0x8000u || (rest == 0x8000u && (kept & 1u))));
}

/* The bf16 bits are the top 16 bits of the binary32 value. */
float qkv_bf16_to_f32(uint16_t b)
{
    return f32_from_bits((uint32_t)b << 16);
}

/* ---- FP8 --------------------------------------------------------------------- */

/* One FP8 format: 1 sign bit, exponent bits, mant_bits mantissa bits. */
typedef struct fp8_format {
    int mant_bits;      /* 3 (E4M3) or 2 (E5M2) */
    int bias;           /* 7 or 15 */
    uint32_t max_code;  /* magnitude code of the largest finite value */
    uint8_t nosat_code; /* magnitude code of an overflow when not saturating */
} fp8_format;

static const fp8_format e4m3_format = {3, 7, 0x7e, 0x7f};
static const fp8_format e5m2_format = {2, 15, 0x7b, 0x7c};

/* Code of a NaN input in both formats (NVIDIA's canonical NaN, no sign). */
#define FP8_NAN_CODE 0x7fu

/* Magnitude bits (sign excluded) of `value` >> shift rounded to nearest
 * even, for 0 < shift < 32. */
static uint32_t shift_round_even(uint32_t value, int shift)
{
    const uint32_t kept = value >> shift, rest = value & ((1u << shift) - 1u);
    const uint32_t half = 1u << (shift - 1);
    return kept + (rest > half || (rest == half && (kept & 1u)));
}

/* Encode x in format f: the rounded magnitude code is computed first; a code
 * beyond max_code (which includes the rounding carry into NaN/Inf codes)
 * is an overflow. */
static uint8_t f32_to_fp8(float x, const fp8_format *f, qkv_fp8_overflow overflow)
{
    const uint32_t u = f32_bits(x), abs_bits = u & F32_ABS;
    const uint8_t sign = (uint8_t)((u >> 24) & 0x80u);
    if (abs_bits > F32_INF)
        return FP8_NAN_CODE;
    const uint8_t overflow_code =
        (uint8_t)(sign | (overflow == QKV_FP8_NOSAT ? f->nosat_code : f->max_code));
    if (abs_bits == F32_INF)
        return overflow_code;
    const int f32_exp = (int)(abs_bits >> F32_MANT_BITS);
    if (f32_exp == 0) /* zero or f32 subnormal: far below half the FP8 minimum */
        return sign;
    const uint32_t mant = abs_bits & ((1u << F32_MANT_BITS) - 1u);
    const int exp = f32_exp - F32_BIAS + f->bias; /* FP8 biased exponent */
    const int drop = F32_MANT_BITS - f->mant_bits; /* mantissa bits rounded away */
    uint32_t code;
    if (exp >= 1) {
        /* normal: exponent and mantissa side by side, so that a rounding
         * carry out of the mantissa steps the exponent */
        code = shift_round_even(((uint32_t)exp << F32_MANT_BITS) | mant, drop);
    } else {
        /* subnormal: the significand with its implicit bit, shifted by the
         * further 1 - exp places the exponent lacks; a carry into bit
         * mant_bits gives the smallest normal, which is right */
        const int shift = drop + 1 - exp;
        if (shift >= 25) /* below half the smallest subnormal, or the tie there */
            return sign;
        code = shift_round_even(mant | (1u << F32_MANT_BITS), shift);
    }
    return code > f->max_code ? overflow_code : (uint8_t)(sign | code);
}

/* Decode code b of format f; E4M3 has no Inf and NaN only at 0x7F/0xFF,
 * E5M2 is IEEE-like (exponent all ones: Inf or NaN). */
static float fp8_to_f32(uint8_t b, const fp8_format *f, int has_inf)
{
    const uint32_t sign = (uint32_t)(b & 0x80u) << 24;
    const uint32_t mant_mask = (1u << f->mant_bits) - 1u;
    const uint32_t exp_max = 0x7fu >> f->mant_bits;
    const uint32_t exp = (b & 0x7fu) >> f->mant_bits;
    uint32_t mant = b & mant_mask;
    if (has_inf ? exp == exp_max : (b & 0x7fu) == 0x7fu)
        return f32_from_bits(sign | (has_inf && mant == 0 ? F32_INF : F32_QUIET_NAN));
    const int mant_shift = F32_MANT_BITS - f->mant_bits;
    if (exp != 0)
        return f32_from_bits(sign | ((exp - (uint32_t)f->bias + F32_BIAS) << F32_MANT_BITS) |
                             (mant << mant_shift));
    if (mant == 0)
        return f32_from_bits(sign);
    /* subnormal M * 2^(1-bias-mant_bits): normalize so that the leading one
     * becomes the implicit bit of a binary32 normal */
    int exp_f32 = 1 - f->bias + F32_BIAS;
    while (!(mant & (1u << f->mant_bits))) {
        mant <<= 1;
        exp_f32--;
    }
    return f32_from_bits(sign | ((uint32_t)exp_f32 << F32_MANT_BITS) |
                         ((mant & mant_mask) << mant_shift));
}

/* f32 -> E4M3FN byte (see qkv.h for the special cases). */
uint8_t qkv_f32_to_e4m3(float x, qkv_fp8_overflow overflow)
{
    return f32_to_fp8(x, &e4m3_format, overflow);
}

/* E4M3FN byte -> f32, exact. */
float qkv_e4m3_to_f32(uint8_t b)
{
    return fp8_to_f32(b, &e4m3_format, 0);
}

/* f32 -> E5M2 byte (see qkv.h for the special cases). */
uint8_t qkv_f32_to_e5m2(float x, qkv_fp8_overflow overflow)
{
    return f32_to_fp8(x, &e5m2_format, overflow);
}

/* E5M2 byte -> f32, exact. */
float qkv_e5m2_to_f32(uint8_t b)
{
    return fp8_to_f32(b, &e5m2_format, 1);
}
