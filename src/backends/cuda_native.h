/* cuda_native.h - what the host code of the native CUDA variants
 * (src/ops/<technique>/cuda_*.c, kernels in kernels/cuda/NAME.cu) needs of the
 * CUDA backend beyond qkv_gpu_ops: a launch with an explicit grid, block
 * and dynamic shared memory, the device's shared-memory limit, and the
 * context's stream (for the benchmarks' cuBLASLt peer). */
#ifndef QKV_CUDA_NATIVE_H
#define QKV_CUDA_NATIVE_H

#include "gpu.h"

#include <cuda.h>

/* Shared memory a block may use without opting in, bytes. */
#define QKV_CUDA_DEFAULT_SMEM 49152

/* Queue kernel k (of a program got through qkv_gpu_ops_cuda.get_kernel) on
 * the context's stream: grid[3] blocks of block[3] threads, with
 * `smem_bytes` of dynamic shared memory (above QKV_CUDA_DEFAULT_SMEM the
 * kernel is opted in, up to the device's local_mem_optin) and nargs
 * arguments.  QKV_ERR_UNSUPPORTED beyond the device's limits. */
qkv_status qkv_cuda_launch(qkv_context *ctx, qkv_gpu_kernel *k, const unsigned grid[3],
                           const unsigned block[3], size_t smem_bytes, int nargs,
                           const qkv_gpu_arg *args);

/* For libraries that queue work themselves (the benchmarks' cuBLASLt
 * peer): make ctx's CUDA context current on the calling thread and give the
 * stream that carries the context's work, so their work is ordered with the
 * context's and timed by its device timer.  QKV_ERR_INVALID_ARG if ctx is
 * not a CUDA context. */
qkv_status qkv_cuda_stream(qkv_context *ctx, CUstream *stream);

/* Shared memory per block a native kernel may use on `dev`, bytes: the
 * opt-in limit where the device reports one, else local_mem. */
static inline size_t qkv_cuda_smem_limit(const qkv_device_info *dev)
{
    return dev->local_mem_optin > dev->local_mem ? dev->local_mem_optin : dev->local_mem;
}

#endif
