/* common.cuh - helpers of the native CUDA programs (kernels/cuda/*.cu),
 * which include it (tools/embed_kernels.sh inlines it): f16 conversions,
 * 16-byte loads, warp reductions.  CUDA C++17 compiled by NVRTC with the
 * toolkit's include folder. */
#ifndef QKV_CUDA_COMMON_CUH
#define QKV_CUDA_COMMON_CUH

#include <cuda_fp16.h>

typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned long long u64;
typedef long long i64;

#define FULL_MASK 0xffffffffu
#define NEG_INFINITY __int_as_float(0xff800000)

/* IEEE f16 bits -> f32 (exact). */
static __device__ __forceinline__ float h2f(u16 h) { return __half2float(__ushort_as_half(h)); }

/* f32 -> IEEE f16 bits, round to nearest even (as the host's qkv_f32_to_f16). */
static __device__ __forceinline__ u16 f2h(float x) { return __half_as_ushort(__float2half_rn(x)); }

/* The 8 f16 values of one 16-byte word, as f32. */
static __device__ __forceinline__ void unpack_f16x8(uint4 w, float *x)
{
    const u32 v[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
        x[2 * i] = h2f((u16)(v[i] & 0xffffu));
        x[2 * i + 1] = h2f((u16)(v[i] >> 16));
    }
}

/* Sum / max of x over the 32 lanes of a warp (every lane gets it). */
static __device__ __forceinline__ float warp_sum(float x)
{
#pragma unroll
    for (int off = 16; off > 0; off /= 2)
        x += __shfl_xor_sync(FULL_MASK, x, off);
    return x;
}

static __device__ __forceinline__ float warp_max(float x)
{
#pragma unroll
    for (int off = 16; off > 0; off /= 2)
        x = fmaxf(x, __shfl_xor_sync(FULL_MASK, x, off));
    return x;
}

/* Lane mask of the team of LANES consecutive lanes (a power of two <= 32)
 * that lane `lane` belongs to. */
template <int LANES> static __device__ __forceinline__ u32 team_mask(int lane)
{
    if constexpr (LANES == 32)
        return FULL_MASK;
    else
        return ((1u << LANES) - 1u) << (lane & ~(LANES - 1));
}

/* Values each lane keeps after team_reduce_scatter<N, LANES>. */
template <int N, int LANES> struct reduce_scatter_kept {
    static constexpr int value = N >= LANES ? N / LANES : 1;
};

/* One step of team_reduce_scatter: lanes tl and tl ^ OFF add the COUNT
 * values acc[0 .. COUNT) they hold, the lower lane keeping the lower half;
 * a single value is added whole.  Then the steps below OFF. */
template <int N, int OFF, int COUNT>
static __device__ __forceinline__ void reduce_scatter_step(float (&acc)[N], u32 mask, int tl,
                                                           int *base)
{
    if constexpr (OFF > 0) {
        if constexpr (COUNT > 1) {
            const bool upper = (tl & OFF) != 0;
#pragma unroll
            for (int i = 0; i < COUNT / 2; i++) {
                const float send = upper ? acc[i] : acc[i + COUNT / 2];
                const float keep = upper ? acc[i + COUNT / 2] : acc[i];
                acc[i] = keep + __shfl_xor_sync(mask, send, OFF);
            }
            if (upper)
                *base += COUNT / 2;
            reduce_scatter_step<N, OFF / 2, COUNT / 2>(acc, mask, tl, base);
        } else {
            acc[0] += __shfl_xor_sync(mask, acc[0], OFF);
            reduce_scatter_step<N, OFF / 2, 1>(acc, mask, tl, base);
        }
    }
}

/* Recursive halving over a team of LANES lanes (tl = lane % LANES, `mask`
 * the team's lanes): afterwards acc[0 .. kept) hold the sums over the team
 * of the N values acc[*base + 0 .. kept) had on each lane (N a power of
 * two; kept = reduce_scatter_kept).  Where N < LANES, several lanes hold
 * the same sums: only reduce_scatter_writer ones should write them. */
template <int N, int LANES>
static __device__ __forceinline__ void team_reduce_scatter(float (&acc)[N], u32 mask, int tl,
                                                           int *base)
{
    *base = 0;
    reduce_scatter_step<N, LANES / 2, N>(acc, mask, tl, base);
}

/* Whether team lane tl writes its sums after team_reduce_scatter<N, LANES>. */
template <int N, int LANES> static __device__ __forceinline__ bool reduce_scatter_writer(int tl)
{
    if constexpr (N >= LANES)
        return true;
    else
        return tl % (LANES / N) == 0;
}

#endif
