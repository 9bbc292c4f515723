/* cuda_fp16.h (host simulation) - stands in for the toolkit's header and
 * the CUDA built-ins when a native kernel program (kernels/cuda/NAME.cu) is
 * compiled as host C++20 by scripts/cuda-sim-check.sh: f16 conversions
 * through libqkv's, the thread and block indices, __syncthreads, warp
 * shuffles and reductions over a lane mask, atomics, byte permutes, the
 * FP8 MMA of fireq_gemm.cu.  sim_runtime.cpp runs
 * each CUDA thread of a block as a host thread.  Not a CUDA emulator: it
 * checks the kernels' index math and results, not their speed or memory
 * model. */
#ifndef QKV_CUDA_SIM_FP16_H
#define QKV_CUDA_SIM_FP16_H

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>

using std::max;
using std::min;

extern "C" uint16_t qkv_f32_to_f16(float x);
extern "C" float qkv_f16_to_f32(uint16_t h);

struct __half {
    unsigned short bits;
};
inline __half __ushort_as_half(unsigned short b) { return __half{b}; }
inline unsigned short __half_as_ushort(__half h) { return h.bits; }
inline float __half2float(__half h) { return qkv_f16_to_f32(h.bits); }
inline __half __float2half_rn(float x) { return __half{qkv_f32_to_f16(x)}; }

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};
struct uint4 {
    unsigned x, y, z, w;
};
struct uint2 {
    unsigned x, y;
};
struct float4 {
    float x, y, z, w;
};
struct float2 {
    float x, y;
};
inline float4 make_float4(float a, float b, float c, float d) { return {a, b, c, d}; }
inline float2 make_float2(float a, float b) { return {a, b}; }
inline uint4 make_uint4(unsigned a, unsigned b, unsigned c, unsigned d) { return {a, b, c, d}; }

extern thread_local dim3 threadIdx;
extern dim3 blockIdx, blockDim, gridDim;

#define __CUDACC_RTC__ 1 /* kernels/cuda/kivi_args.cuh: the device side */
#define QKV_CUDA_SIM 1   /* kernels/cuda/fireq_gemm.cu: the MMA's stand-in */
#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__
#define __shared__ /* `extern float4 smem4[]`: sim_runtime.cpp's block memory */
#define __launch_bounds__(n)

/* Correctly rounded f32 operations (volatile: no contraction). */
inline float __fdiv_rn(float a, float b)
{
    volatile float r = a / b;
    return r;
}
inline float __fsub_rn(float a, float b)
{
    volatile float r = a - b;
    return r;
}
inline float __fadd_rn(float a, float b)
{
    volatile float r = a + b;
    return r;
}
inline int __float2int_rn(float x) { return (int)std::nearbyintf(x); }
inline float __uint_as_float(unsigned u)
{
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
inline float __int_as_float(int i)
{
    float f;
    std::memcpy(&f, &i, 4);
    return f;
}

void __syncthreads();
/* The 32-bit value of lane (lane ^ off) of the calling lane's mask group,
 * or (do_or) the OR over the group; every lane of `mask` must call it. */
unsigned sim_lane_exchange(unsigned mask, unsigned value, int off, bool do_or);

template <class T> T __shfl_xor_sync(unsigned mask, T v, int off)
{
    static_assert(sizeof(T) == 4, "32-bit shuffles only");
    unsigned u;
    std::memcpy(&u, &v, 4);
    u = sim_lane_exchange(mask, u, off, false);
    std::memcpy(&v, &u, 4);
    return v;
}
inline unsigned __reduce_or_sync(unsigned mask, unsigned v)
{
    return sim_lane_exchange(mask, v, 0, true);
}
inline int atomicOr(int *p, int v) { return __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST); }

/* Byte n of the result is byte (s >> 4n) & 7 of the 8 bytes y:x (x the
 * low four). */
inline unsigned __byte_perm(unsigned x, unsigned y, unsigned s)
{
    const unsigned long long v = (unsigned long long)y << 32 | x;
    unsigned r = 0;
    for (int n = 0; n < 4; n++)
        r |= (unsigned)(v >> (8 * ((s >> (4 * n)) & 7u)) & 0xffu) << (8 * n);
    return r;
}
inline void __trap() { std::abort(); }

/* mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 with C = D = c,
 * over the calling warp (all 32 lanes must call it): each lane's
 * fragments placed by the PTX ISA's layouts, products and sums in double,
 * rounded to f32 once per call (sim_runtime.cpp). */
void sim_mma_m16n8k32_e4m3(float (&c)[4], const unsigned (&a)[4], const unsigned (&b)[2]);

/* Run `kernel` over grid x block (1-D blocks), a block at a time, each of
 * its threads a host thread. */
void sim_launch(dim3 grid, dim3 block, const std::function<void()> &kernel);

#endif
