/* cpu_features.c - run-time CPU identity and instruction-set levels (CPUID
 * and XGETBV on x86; everything scalar elsewhere). */
#include "cpu_features.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#if defined(__x86_64__) || defined(__i386__)
#define QKV_X86 1
#include <cpuid.h>
#else
#define QKV_X86 0
#endif

#if QKV_X86
/* The OS-enabled state components (XCR0), 0 if XGETBV is unavailable. */
static uint64_t enabled_state(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) /* OSXSAVE */
        return 0;
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/* CPUID leaf 7 sub-leaf `sub` registers; false if the leaf is absent. */
static bool leaf7(unsigned sub, unsigned r[4])
{
    if (__get_cpuid_max(0, NULL) < 7)
        return false;
    __cpuid_count(7, sub, r[0], r[1], r[2], r[3]);
    return true;
}
#endif

qkv_cpu_isa qkv_cpu_isa_detected(void)
{
#if QKV_X86
    unsigned a, b, c, d, r[4];
    if (!__get_cpuid(1, &a, &b, &c, &d) || !leaf7(0, r))
        return QKV_CPU_ISA_SCALAR;
    const uint64_t xcr0 = enabled_state();
    const bool avx_state = (xcr0 & 0x6) == 0x6;      /* xmm, ymm */
    const bool zmm_state = (xcr0 & 0xe6) == 0xe6;    /* plus opmask, zmm */
    const bool fma = c & (1u << 12), avx = c & (1u << 28), f16c = c & (1u << 29);
    const bool avx2 = r[1] & (1u << 5);
    if (!(avx_state && avx && fma && f16c && avx2))
        return QKV_CPU_ISA_SCALAR;
    const unsigned f = 1u << 16, dq = 1u << 17, bw = 1u << 30, vl = 1u << 31;
    if (zmm_state && (r[1] & (f | dq | bw | vl)) == (f | dq | bw | vl))
        return QKV_CPU_ISA_AVX512;
    return QKV_CPU_ISA_AVX2;
#else
    return QKV_CPU_ISA_SCALAR;
#endif
}

/* The answer of CPUID for `feature` (see qkv_cpu_has). */
static bool ask_cpu(qkv_cpu_feature feature)
{
#if QKV_X86
    unsigned r[4];
    if (qkv_cpu_isa_detected() < QKV_CPU_ISA_AVX512 || !leaf7(0, r))
        return false;
    switch (feature) {
    case QKV_CPU_AVX512_VNNI:
        return r[2] & (1u << 11);
    case QKV_CPU_AVX512_VBMI:
        return r[2] & (1u << 1);
    case QKV_CPU_AVX512_BF16:
        return r[0] >= 1 && leaf7(1, r) && (r[0] & (1u << 5));
    }
#else
    (void)feature;
#endif
    return false;
}

bool qkv_cpu_has(qkv_cpu_feature feature)
{
    /* CPUID traps to the hypervisor in a VM: ask once per feature */
    static _Atomic int known[QKV_CPU_AVX512_VBMI + 1]; /* 0 not asked, 1 no, 2 yes */
    int v = atomic_load_explicit(&known[feature], memory_order_relaxed);
    if (!v) {
        v = ask_cpu(feature) ? 2 : 1;
        atomic_store_explicit(&known[feature], v, memory_order_relaxed);
    }
    return v == 2;
}

const char *qkv_cpu_isa_name(qkv_cpu_isa isa)
{
    static const char *const names[] = {"scalar", "avx2", "avx512"};
    return names[isa];
}

qkv_status qkv_cpu_isa_select(qkv_cpu_isa *isa)
{
    const qkv_cpu_isa detected = qkv_cpu_isa_detected();
    *isa = detected;
    const char *asked = getenv("QKV_CPU_ISA");
    if (!asked || !*asked)
        return QKV_OK;
    for (int level = QKV_CPU_ISA_SCALAR; level <= QKV_CPU_ISA_AVX512; level++) {
        if (strcmp(asked, qkv_cpu_isa_name((qkv_cpu_isa)level)) != 0)
            continue;
        if (level > (int)detected)
            return qkv_fail(QKV_ERR_INVALID_ARG,
                            "QKV_CPU_ISA=%s: this CPU offers at most %s", asked,
                            qkv_cpu_isa_name(detected));
        *isa = (qkv_cpu_isa)level;
        return QKV_OK;
    }
    return qkv_fail(QKV_ERR_INVALID_ARG,
                    "QKV_CPU_ISA=%s: expected scalar, avx2 or avx512", asked);
}

bool qkv_cpu_avx2_supports(const qkv_context *ctx, const void *params)
{
    (void)params;
    return ctx->cpu_isa >= QKV_CPU_ISA_AVX2;
}

bool qkv_cpu_avx512_supports(const qkv_context *ctx, const void *params)
{
    (void)params;
    return ctx->cpu_isa >= QKV_CPU_ISA_AVX512;
}

void qkv_cpu_model_name(char *out, size_t size)
{
    snprintf(out, size, "cpu");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            const char *colon = strchr(line, ':');
            if (colon) {
                colon++;
                while (*colon == ' ')
                    colon++;
                snprintf(out, size, "%s", colon);
                out[strcspn(out, "\n")] = '\0';
            }
            break;
        }
    }
    fclose(f);
}

#if QKV_X86
/* AMD's Zen generation of family/model (0 if unknown). */
static int amd_zen_generation(unsigned family, unsigned model)
{
    switch (family) {
    case 0x17:
        return model < 0x30 ? 1 : 2;
    case 0x19: /* Zen 4: Genoa 1x, Raphael/Phoenix 6x-7x, Bergamo/Siena ax */
        return (model >= 0x10 && model <= 0x1f) || (model >= 0x60 && model <= 0x7f) ||
                       (model >= 0xa0 && model <= 0xaf)
                   ? 4
                   : 3;
    case 0x1a:
        return 5;
    default:
        return 0;
    }
}
#endif

void qkv_cpu_microarch(char *out, size_t size)
{
#if QKV_X86
    unsigned a, b, c, d, vendor[4] = {0};
    if (!__get_cpuid(0, &a, &vendor[0], &vendor[2], &vendor[1]) ||
        !__get_cpuid(1, &a, &b, &c, &d)) {
        snprintf(out, size, "x86");
        return;
    }
    char id[13];
    memcpy(id, vendor, 12);
    id[12] = '\0';
    const unsigned base_family = (a >> 8) & 0xf, base_model = (a >> 4) & 0xf;
    const unsigned family = base_family == 0xf ? base_family + ((a >> 20) & 0xff) : base_family;
    const unsigned model = base_family == 0x6 || base_family == 0xf
                               ? base_model | (((a >> 16) & 0xf) << 4)
                               : base_model;
    const bool amd = strcmp(id, "AuthenticAMD") == 0;
    const int zen = amd ? amd_zen_generation(family, model) : 0;
    if (zen)
        snprintf(out, size, "amd-zen%d", zen);
    else
        snprintf(out, size, "%s-f%u-m%u",
                 amd ? "amd" : strcmp(id, "GenuineIntel") == 0 ? "intel" : id, family, model);
#else
    struct utsname u;
    snprintf(out, size, "%s", uname(&u) == 0 ? u.machine : "cpu");
#endif
}
