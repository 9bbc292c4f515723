/* cpu_features.h - run-time CPU feature detection for the cpu backend. */
#ifndef QKV_CPU_FEATURES_H
#define QKV_CPU_FEATURES_H

#include "qkv_internal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* True if AVX2, FMA and F16C may be used, unless QKV_CPU_SCALAR=1 is set. */
bool qkv_cpu_has_avx2(void);
/* A variant's `supports` predicate: the CPU has AVX2, FMA and F16C. */
bool qkv_cpu_avx2_supports(const qkv_context *ctx, const void *params);
/* Model name from /proc/cpuinfo, or "cpu". */
void qkv_cpu_model_name(char *out, size_t size);

#endif
