/* roof.cl - roofline probes of the benchmarks (bench/roof_gpu.c), OpenCL C
 * 1.2; the CUDA backend compiles the same text after kernels/cuda/cl2cuda.h.
 * No build-time macros. */

/* dst[i] = src[i] for i < n; 16-byte elements, one per work-item. */
__kernel void roof_copy(__global const uint4 *restrict src, __global uint4 *restrict dst, int n)
{
    const size_t i = get_global_id(0);
    if (i < (size_t)n)
        dst[i] = src[i];
}

/* Eight independent chains x = fma(x, a, b): one round, 16 flops. */
#define ROOF_ROUND                                                                          \
    x0 = fma(x0, a, b);                                                                     \
    x1 = fma(x1, a, b);                                                                     \
    x2 = fma(x2, a, b);                                                                     \
    x3 = fma(x3, a, b);                                                                     \
    x4 = fma(x4, a, b);                                                                     \
    x5 = fma(x5, a, b);                                                                     \
    x6 = fma(x6, a, b);                                                                     \
    x7 = fma(x7, a, b);
#define ROOF_ROUNDS_8 ROOF_ROUND ROOF_ROUND ROOF_ROUND ROOF_ROUND \
    ROOF_ROUND ROOF_ROUND ROOF_ROUND ROOF_ROUND
#define ROOF_ROUNDS_64 ROOF_ROUNDS_8 ROOF_ROUNDS_8 ROOF_ROUNDS_8 ROOF_ROUNDS_8 \
    ROOF_ROUNDS_8 ROOF_ROUNDS_8 ROOF_ROUNDS_8 ROOF_ROUNDS_8

/* Per work-item: 256 rounds (4096 flops) written out without a loop, so
 * CPU OpenCL runtimes can vectorize across work-items; the chains' sum goes
 * to out[i] so none is dropped.  With 0 < a < 1 the chains converge to
 * b / (1 - a): no overflow. */
__kernel void roof_fma(__global float *restrict out, float a, float b)
{
    const size_t i = get_global_id(0);
    float x0 = (float)(i & 255u) * 1e-3f, x1 = x0 + 1.0f, x2 = x0 + 2.0f, x3 = x0 + 3.0f;
    float x4 = x0 + 4.0f, x5 = x0 + 5.0f, x6 = x0 + 6.0f, x7 = x0 + 7.0f;
    ROOF_ROUNDS_64
    ROOF_ROUNDS_64
    ROOF_ROUNDS_64
    ROOF_ROUNDS_64
    out[i] = ((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7));
}
