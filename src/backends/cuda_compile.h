/* cuda_compile.h - NVRTC compilation of the embedded kernel programs to PTX
 * or CUBIN (cuda_nvrtc.c): the OpenCL C programs through the qkv_cuda_prelude
 * macro header, the native CUDA programs ("x.cu", qkv_kernel_is_native_cuda)
 * as CUDA C++17 with the toolkit's include folder on the include path (the
 * configure-time toolkit, $CUDA_HOME, $CUDA_PATH, libnvrtc's ../include,
 * /usr/local/cuda/include: the first holding cuda_fp16.h; QKV_ERR_NO_BACKEND
 * naming them if none does).  Needs only libnvrtc, loaded at run time
 * ($QKV_NVRTC_LIBRARY, the sonames on the loader's path, then the toolkit's
 * library folder), no CUDA driver or device: compile-only tests use it. */
#ifndef QKV_CUDA_COMPILE_H
#define QKV_CUDA_COMPILE_H

#include "qkv_internal.h"

/* Compile embedded program `program` ("kivi", "kivi.cu", ...) with `defines` (space-
 * separated -DNAME=VALUE tokens, NULL or "" for none) to PTX for virtual
 * architecture `arch` (e.g. "compute_90").  On success *ptx is a
 * NUL-terminated malloc'd string (the caller frees it) and *ptx_size its size
 * including the NUL.  QKV_ERR_BACKEND with the head of the NVRTC log on a
 * compile error, QKV_ERR_NO_BACKEND if libnvrtc cannot be loaded. */
qkv_status qkv_cuda_compile_ptx(const char *program, const char *defines, const char *arch,
                                char **ptx, size_t *ptx_size);

/* The same for kernel source text `source` that is not embedded; `name`
 * names it in NVRTC's messages. */
qkv_status qkv_cuda_compile_source_ptx(const char *name, const char *source, const char *defines,
                                       const char *arch, char **ptx, size_t *ptx_size);

/* Compile `source` of program `program` with `defines` for device
 * architecture `arch` ("sm_XY", "sm_90a") into a malloc'd image for cuModuleLoadData:
 * a CUBIN where NVRTC can make one (NVRTC >= 11.1), else compute_XY PTX
 * (NUL-terminated); *size its bytes.  Errors as qkv_cuda_compile_ptx. */
qkv_status qkv_cuda_compile_image(const char *program, const char *source, const char *defines,
                                  const char *arch, char **image, size_t *size);

/* "NVRTC X.Y" of the loaded libnvrtc, or "NVRTC not loadable", into out[size]. */
void qkv_cuda_nvrtc_version(char *out, size_t size);

#endif
