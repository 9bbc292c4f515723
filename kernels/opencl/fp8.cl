/* fp8.cl - FP8 E4M3 (OCP E4M3FN, NVIDIA __nv_fp8_e4m3; spec w4a8-gemm.md)
 * encode and decode for the kernel programs, which include it
 * (tools/embed_kernels.sh inlines it), OpenCL C 1.2; the CUDA backend
 * compiles the same text after kernels/cuda/cl2cuda.h.  Integer operations
 * only, never a denormal float (OpenCL devices may flush them), so every
 * device agrees with the host's qkv_f32_to_e4m3 / qkv_e4m3_to_f32 bit for
 * bit. */
#ifndef QKV_FN
#define QKV_FN static inline
#endif
/* These helpers a program may leave unused: on CUDA inline with external
 * linkage as the prelude's own (so NVRTC does not warn), else QKV_FN. */
#ifdef QKV_CL_FN
#define FP8_FN QKV_CL_FN
#else
#define FP8_FN QKV_FN
#endif

/* E4M3 byte of the f32 with bits u, saturating (qkv_f32_to_e4m3 with
 * QKV_FP8_SATFINITE): round to nearest even, |x| > 464 and +-Inf give
 * +-448, |x| <= 2^-10 a signed zero, NaN 0x7F.  With the f32 biased
 * exponent e, the magnitude bits are shifted right by 20 for E4M3 normals
 * (e >= 121), by 141 - e for subnormals (up to 25, which leaves 0); the
 * value shifted is the magnitude with its exponent rebased to E4M3's
 * (normals) or the significand with its implicit bit (subnormals; e = 0
 * gives less than 2^24, so 0).  Adding half - 1 plus the lowest kept bit
 * before the shift rounds half to even; a carry steps the exponent. */
FP8_FN uchar fp8_e4m3_from_bits(uint u)
{
    const uint a = u & 0x7fffffffu, e = a >> 23;
    if (a > 0x7f800000u)
        return (uchar)0x7fu;
    const uint shift = e >= 121u ? 20u : e <= 116u ? 25u : 141u - e;
    const uint v = a - (((e < 121u ? e : 121u) - 1u) << 23);
    const uint code = (v + (1u << (shift - 1u)) - 1u + ((v >> shift) & 1u)) >> shift;
    return (uchar)(((u >> 24) & 0x80u) | (code < 0x7eu ? code : 0x7eu));
}

/* f32 value of E4M3 byte b, exact; 0x7F and 0xFF give a quiet NaN with
 * that sign.  Subnormals (M * 2^-9) are formed as a product of normal f32. */
FP8_FN float fp8_e4m3_to_f32(uchar b)
{
    const uint sign = ((uint)b & 0x80u) << 24, mag = (uint)b & 0x7fu;
    if (mag == 0x7fu)
        return as_float(sign | 0x7fc00000u);
    if (mag < 8u) /* E = 0: M * 2^-9 (0 for M = 0, with the sign) */
        return as_float(sign | as_uint((float)mag * 0.001953125f));
    return as_float(sign | ((mag + (120u << 3)) << 20));
}
