/* cpu_features.h - run-time CPU identity and instruction-set levels for the
 * cpu backend.  Kernels are picked by the CPU found at run time, never by
 * the build machine: each cpu context fixes its ISA level once at open
 * (ctx->cpu_isa), and a variant's `supports` compares against it. */
#ifndef QKV_CPU_FEATURES_H
#define QKV_CPU_FEATURES_H

#include "qkv_internal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Instruction-set levels, each including the ones below it.
 *  avx2:   AVX2, FMA, F16C (x86-64-v3 less MOVBE/BMI, which no kernel needs)
 *  avx512: avx2 plus AVX-512 F, BW, DQ and VL with the OS saving zmm state */
typedef enum qkv_cpu_isa {
    QKV_CPU_ISA_SCALAR = 0,
    QKV_CPU_ISA_AVX2 = 1,
    QKV_CPU_ISA_AVX512 = 2,
} qkv_cpu_isa;

/* Optional features beyond a level (each implies the avx512 level). */
typedef enum qkv_cpu_feature {
    QKV_CPU_AVX512_VNNI, /* vpdpbusd: u8 x s8 dot products into int32 */
    QKV_CPU_AVX512_BF16, /* vdpbf16ps: bf16 pair dot products into f32 */
    QKV_CPU_AVX512_VBMI, /* vpermb: byte permutes across the register */
} qkv_cpu_feature;

/* The highest level this CPU and OS offer. */
qkv_cpu_isa qkv_cpu_isa_detected(void);
/* Whether the CPU offers `feature` (false off x86 or below avx512); CPUID
 * is asked once per feature and process. */
bool qkv_cpu_has(qkv_cpu_feature feature);
/* "scalar", "avx2", "avx512". */
const char *qkv_cpu_isa_name(qkv_cpu_isa isa);
/* The level the cpu backend uses: the detected one, lowered by
 * $QKV_CPU_ISA=scalar|avx2|avx512.  QKV_ERR_INVALID_ARG (with a message)
 * for another value or a level this CPU lacks. */
qkv_status qkv_cpu_isa_select(qkv_cpu_isa *isa);

/* A variant's `supports` predicates: ctx's ISA level is at least avx2 /
 * avx512. */
bool qkv_cpu_avx2_supports(const qkv_context *ctx, const void *params);
bool qkv_cpu_avx512_supports(const qkv_context *ctx, const void *params);

/* Model name from /proc/cpuinfo, or "cpu". */
void qkv_cpu_model_name(char *out, size_t size);
/* Microarchitecture from CPUID: "amd-zen3", "amd-zen4", "amd-zen5" where
 * known, else "<vendor>-f<family>-m<model>" (e.g. "intel-f6-m143"), or the
 * machine name off x86 ("aarch64"). */
void qkv_cpu_microarch(char *out, size_t size);

#endif
