/* cuda_fp16.h (host simulation) - stands in for the toolkit's header and
 * the CUDA built-ins when a native kernel program (kernels/cuda/NAME.cu) is
 * compiled as host C++20 by scripts/cuda-sim-check.sh: f16 conversions
 * through libqkv's, the thread and block indices, __syncthreads, warp
 * shuffles and reductions over a lane mask, atomics.  sim_runtime.cpp runs
 * each CUDA thread of a block as a host thread.  Not a CUDA emulator: it
 * checks the kernels' index math and results, not their speed or memory
 * model. */
#ifndef QKV_CUDA_SIM_FP16_H
#define QKV_CUDA_SIM_FP16_H

#include <algorithm>
#include <cmath>
#include <cstdint>
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
inline float4 make_float4(float a, float b, float c, float d) { return {a, b, c, d}; }

extern thread_local dim3 threadIdx;
extern dim3 blockIdx, blockDim, gridDim;

#define __CUDACC_RTC__ 1 /* kernels/cuda/kivi_args.cuh: the device side */
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

/* Run `kernel` over grid x block (1-D blocks), a block at a time, each of
 * its threads a host thread. */
void sim_launch(dim3 grid, dim3 block, const std::function<void()> &kernel);

#endif
