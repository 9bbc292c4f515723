/* fuzz_tuning.c - libFuzzer target: the tuning-table parser.  The input is
 * written to a temporary file that QKV_TUNING_PATH names (with
 * QKV_TUNING_ONLY_PATH=1, so no installed table is read); a cpu context is
 * opened, which loads it, and qkv_get_tile_params is asked for every op at a
 * few sizes. */
#include "qkv_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[64];

static void cleanup(void) { unlink(path); }

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/qkv-fuzz-tuning-XXXXXX", tmp && strlen(tmp) < 30 ? tmp : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) {
        perror("mkstemp");
        exit(1);
    }
    close(fd);
    atexit(cleanup);
    setenv("QKV_TUNING_PATH", path, 1);
    setenv("QKV_TUNING_ONLY_PATH", "1", 1);
    setenv("QKV_QUIET", "1", 1);
    unsetenv("QKV_TILE_PARAMS");
    unsetenv("QKV_VARIANT");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    if (fclose(f) != 0)
        abort();
    qkv_context *ctx = NULL;
    if (qkv_open("cpu", &ctx) != QKV_OK)
        return 0;
    static const size_t sizes[] = {0, 1, 64, 1000, 4096, 1u << 20, SIZE_MAX};
    for (int op = 0; op < QKV_OP_COUNT; op++)
        for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
            char params[256];
            const char *variant = NULL, *level = NULL;
            if (qkv_get_tile_params(ctx, qkv_ops[op]->name, sizes[s], params, sizeof params,
                                    &variant, &level) == QKV_OK &&
                (!memchr(params, '\0', sizeof params) || !level))
                abort();
        }
    qkv_close(ctx);
    return 0;
}
