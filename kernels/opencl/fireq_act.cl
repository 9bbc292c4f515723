/* fireq_act.cl - FireQ per-token activation quantization (spec
 * w4a8-gemm.md, "Activation quantization"), OpenCL C 1.2.  The CUDA backend
 * compiles this same text through NVRTC after kernels/cuda/cl2cuda.h.
 *
 * Build-time macros (the host passes them as -D options):
 *   WG      work-group size (work-items), a power of two
 *   ROWS    rows per work-group (a power of two dividing WG): WG / ROWS
 *           work-items share each row
 *   IN_TYPE_ID  input dtype: 0 f32, 1 f16, 2 bf16
 * Sizes are 32-bit ints checked by the host; offsets are computed in 64
 * bits. */
#include "bf16.cl"
#include "fp8.cl"

#ifndef WG
#define WG 256
#endif
#ifndef ROWS
#define ROWS 1
#endif
#ifndef IN_TYPE_ID
#define IN_TYPE_ID 0
#endif

#define LANES (WG / ROWS)

#if IN_TYPE_ID == 0
#define IN_TYPE float
#define LOAD_IN(p, i) ((p)[i])
#elif IN_TYPE_ID == 1
#define IN_TYPE half
#define LOAD_IN(p, i) vload_half((i), (p))
#else
#define IN_TYPE ushort
#define LOAD_IN(p, i) as_float((uint)(p)[i] << 16)
#endif

/* x [m, k] -> xq [m, k] E4M3 bytes, sx [m] bf16 bits.  Work-group g takes
 * rows g*ROWS .. g*ROWS+ROWS-1, LANES work-items per row: the largest
 * magnitude as the maximum of the f32 magnitude bits (integers order
 * finite floats; no float compare, so no flushed denormal), reduced in
 * local memory; a row whose maximum has an all-ones exponent (NaN, Inf)
 * is left unwritten and, with `check`, sets *flag.  Then s = amax / 448
 * (1 where 0; correctly rounded division where the host builds with
 * -cl-fp32-correctly-rounded-divide-sqrt, CUDA's default), codes of
 * clamp(x / s, -448, 448) and sx = bf16(s). */
__kernel void fireq_quant_activations(__global const IN_TYPE *restrict x,
                                      __global uchar *restrict xq,
                                      __global ushort *restrict sx, int m, int k, int check,
                                      __global int *flag)
{
    __local uint red[WG];
    /* unsigned: rows and columns up to INT_MAX plus a tile stay in range */
    const uint lid = (uint)get_local_id(0), i = lid % LANES, n = (uint)k;
    const uint row = (uint)get_group_id(0) * ROWS + lid / LANES;
    const bool live = row < (uint)m;
    const ulong base = (ulong)(live ? row : 0u) * (ulong)n;
    uint amax = 0u;
    if (live)
        for (uint j = i; j < n; j += LANES)
            amax = max(amax, as_uint(LOAD_IN(x, base + j)) & 0x7fffffffu);
    red[lid] = amax;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint w = LANES / 2; w > 0u; w /= 2u) {
        if (i < w)
            red[lid] = max(red[lid], red[lid + w]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    amax = red[lid - i];
    if (!live)
        return;
    if (check && amax >= 0x7f800000u) {
        if (i == 0)
            atomic_or(flag, 1);
        return;
    }
    const float q = as_float(amax) / 448.0f, s = q > 0.0f ? q : 1.0f;
    for (uint j = i; j < n; j += LANES) {
        const float v = fmin(fmax(LOAD_IN(x, base + j) / s, -448.0f), 448.0f);
        xq[base + j] = fp8_e4m3_from_bits(as_uint(v));
    }
    if (i == 0)
        sx[row] = f32_to_bf16_bits(s);
}
