/* cl2cuda.h - maps the OpenCL C subset used by the kernels/opencl programs to
 * CUDA C++, so NVRTC compiles the same kernel text (the CLBlast approach).  The
 * CUDA backend prepends this file (embedded as qkv_cuda_prelude) to every
 * program; NVRTC gets no include paths, so nothing here may #include.
 *
 * Supported: __kernel, __global/__constant pointer params, __local arrays in
 * kernel bodies, restrict, QKV_FN helpers, the work-item functions for dims
 * 0..2, barrier(), uint/ushort/uchar/ulong, half storage with vload_half and
 * vstore_half_rte, mad, native_exp, as_uint/as_int/as_float, atomic_or and
 * atomic_max on int/uint, INFINITY.  The rest (rint, fmin, fmax, exp, sqrt,
 * fabs, floor, isfinite, isnan, integer min/max) is CUDA's own. */
#ifndef QKV_CL2CUDA_H
#define QKV_CL2CUDA_H

/* Address spaces, qualifiers, function kinds. */
#define __kernel extern "C" __global__
#define __global
#define __constant
#define __local __shared__
#define restrict __restrict__
#define QKV_FN static __device__ __forceinline__
/* The prelude's own helpers: inline with external linkage, so NVRTC does
 * not warn about the ones a program leaves unused. */
#define QKV_CL_FN __device__ __forceinline__

/* OpenCL scalar type names (ulong is 64-bit as in OpenCL). */
typedef unsigned char uchar;
typedef unsigned short ushort;
typedef unsigned int uint;
typedef unsigned long long ulong;
/* half is a storage-only type in OpenCL C: keep its 16 bits. */
typedef unsigned short half;

#ifndef INFINITY
#define INFINITY __int_as_float(0x7f800000)
#endif

/* Component `dim` of (x, y, z); `other` for dims past 2, as OpenCL does. */
QKV_CL_FN size_t qkv_cl_pick(uint dim, uint x, uint y, uint z, uint other)
{
    return dim == 0u ? x : dim == 1u ? y : dim == 2u ? z : other;
}

/* Work-item functions (the NDRange has no global offset). */
QKV_CL_FN size_t get_local_id(uint dim)
{
    return qkv_cl_pick(dim, threadIdx.x, threadIdx.y, threadIdx.z, 0u);
}

QKV_CL_FN size_t get_group_id(uint dim)
{
    return qkv_cl_pick(dim, blockIdx.x, blockIdx.y, blockIdx.z, 0u);
}

QKV_CL_FN size_t get_local_size(uint dim)
{
    return qkv_cl_pick(dim, blockDim.x, blockDim.y, blockDim.z, 1u);
}

QKV_CL_FN size_t get_num_groups(uint dim)
{
    return qkv_cl_pick(dim, gridDim.x, gridDim.y, gridDim.z, 1u);
}

QKV_CL_FN size_t get_global_id(uint dim)
{
    return get_group_id(dim) * get_local_size(dim) + get_local_id(dim);
}

QKV_CL_FN size_t get_global_size(uint dim)
{
    return get_num_groups(dim) * get_local_size(dim);
}

/* __syncthreads() orders both shared and global memory within a block. */
#define CLK_LOCAL_MEM_FENCE 1
#define CLK_GLOBAL_MEM_FENCE 2
#define barrier(flags) __syncthreads()

/* f16 at p[i] -> f32 (exact). */
QKV_CL_FN float vload_half(size_t i, const half *p)
{
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(p[i]));
    return f;
}

/* f32 -> f16 rounded to nearest even, stored at p[i]. */
QKV_CL_FN void vstore_half_rte(float v, size_t i, half *p)
{
    unsigned short h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(v));
    p[i] = h;
}

/* Math built-ins without a CUDA function of the same name. */
#define mad(a, b, c) ((a) * (b) + (c))
QKV_CL_FN float native_exp(float x) { return expf(x); }

/* Reinterpretation of 32-bit values. */
QKV_CL_FN uint as_uint(float x) { return __float_as_uint(x); }
QKV_CL_FN uint as_uint(int x) { return (uint)x; }
QKV_CL_FN uint as_uint(uint x) { return x; }
QKV_CL_FN int as_int(float x) { return __float_as_int(x); }
QKV_CL_FN int as_int(uint x) { return (int)x; }
QKV_CL_FN int as_int(int x) { return x; }
QKV_CL_FN float as_float(uint x) { return __uint_as_float(x); }
QKV_CL_FN float as_float(int x) { return __int_as_float(x); }
QKV_CL_FN float as_float(float x) { return x; }

/* 32-bit atomics on global memory; return the old value. */
QKV_CL_FN int atomic_or(volatile int *p, int v) { return atomicOr((int *)p, v); }
QKV_CL_FN uint atomic_or(volatile uint *p, uint v) { return atomicOr((uint *)p, v); }
QKV_CL_FN int atomic_max(volatile int *p, int v) { return atomicMax((int *)p, v); }
QKV_CL_FN uint atomic_max(volatile uint *p, uint v) { return atomicMax((uint *)p, v); }

#endif /* QKV_CL2CUDA_H */
