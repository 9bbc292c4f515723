/* cuda_compile.h - NVRTC compilation of the embedded OpenCL C kernel programs
 * to PTX through the qkv_cuda_prelude macro header.  Needs only libnvrtc
 * (loaded at run time), no CUDA driver or device: compile-only tests use it. */
#ifndef QKV_CUDA_COMPILE_H
#define QKV_CUDA_COMPILE_H

#include "qkv_internal.h"

/* Compile embedded program `program` ("kivi", ...) with `defines` (space-
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

#endif
