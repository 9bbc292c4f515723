/* cpu_features.c - run-time CPU feature detection. */
#include "cpu_features.h"

#include <stdlib.h>
#include <string.h>

bool qkv_cpu_has_avx2(void)
{
    const char *force = getenv("QKV_CPU_SCALAR");
    if (force && strcmp(force, "1") == 0)
        return false;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
#if defined(__clang__) /* clang's builtin knows no "f16c"; every AVX2 CPU has it */
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("f16c");
#endif
#else
    return false;
#endif
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

bool qkv_cpu_avx2_supports(const qkv_context *ctx, const void *params)
{
    (void)ctx;
    (void)params;
    return qkv_cpu_has_avx2();
}
