/* dense_cpu.h - the cpu backend's f16 dense decode attention
 * (dense_cpu.c), for its entry in qkv_cpu_kernels. */
#ifndef QKV_DENSE_CPU_H
#define QKV_DENSE_CPU_H

#include "qkv_internal.h"

extern const qkv_kernel_impl qkv_cpu_f16_decode_impl;

#endif
