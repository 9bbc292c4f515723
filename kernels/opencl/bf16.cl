/* bf16.cl - bf16 rounding for the kernel programs, which include it
 * (tools/embed_kernels.sh inlines it), OpenCL C 1.2; the CUDA backend
 * compiles the same text after kernels/cuda/cl2cuda.h.  Integer operations
 * on the f32 bits, so no flushed denormal changes a result. */
#ifndef QKV_FN
#define QKV_FN static inline
#endif

/* bf16 bits of x, round to nearest even (qkv_f32_to_bf16); a NaN stays a
 * NaN, made quiet. */
QKV_FN ushort f32_to_bf16_bits(float x)
{
    const uint u = as_uint(x);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (ushort)((u >> 16) | 0x40u);
    const uint kept = u >> 16, rest = u & 0xffffu;
    return (ushort)(kept + (rest > 0x8000u || (rest == 0x8000u && (kept & 1u)) ? 1u : 0u));
}
