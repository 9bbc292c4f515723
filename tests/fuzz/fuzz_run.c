/* fuzz_run.c - libFuzzer target: `qkv run`'s argument parsing (cmd_run).
 *
 * The input is split at newlines into argv[1..] of `qkv run` (at most 32
 * arguments).  The target works inside a private temporary folder made at
 * start-up (removed at exit) that holds one valid .npy file per input tensor
 * of each op's example case, named OP.TENSOR.npy, so inputs such as
 *     kivi_quantize_keys\n--in\nk=kivi_quantize_keys.k.npy\n--out\nout
 * run the op for real.  To keep every read and write inside that folder, an
 * input with an argument holding '/' or ".." is skipped: paths are then bare
 * names relative to the folder (no /dev/zero, no FIFO, no way out of it).
 * The fuzz build has no OpenCL or CUDA backend, so --backend reaches only
 * ref and cpu.  Op options only take values from their allowed lists and
 * shapes come from the (small) files, so a call stays short. */
#define _XOPEN_SOURCE 700 /* nftw */
#include "cli.h"
#include "npy.h"
#include "op_case.h"

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_ARGS 32

static char dir[64];

static int remove_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void cleanup(void)
{
    if (chdir("/") == 0)
        nftw(dir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

static void write_inputs(void)
{
    for (int o = 0; o < QKV_OP_COUNT; o++) {
        const qkv_op_desc *op = qkv_op_descs[o];
        qkv_op_case c = {.shape = op->example()};
        op->describe(&c);
        for (int i = 0; i < c.ntensors; i++) {
            const qkv_tensor_desc *t = &c.t[i];
            if (t->output)
                continue;
            size_t sshape[QKV_CASE_MAX_DIMS], n = 1;
            qkv_npy_storage_shape(t->dtype, t->ndim, t->shape, sshape);
            for (int d = 0; d < t->ndim; d++)
                n *= sshape[d];
            const qkv_dtype sd = qkv_npy_storage_dtype(t->dtype);
            const size_t es = qkv_dtype_size(sd);
            uint8_t *buf = calloc(n ? n : 1, es);
            if (!buf)
                abort();
            for (size_t k = 0; k < n; k++) {
                if (t->dtype == QKV_F32) {
                    float v = 0.125f * (float)(k % 7) - 0.25f;
                    memcpy(buf + k * es, &v, 4);
                } else if (t->dtype == QKV_F16 || t->dtype == QKV_BF16) {
                    uint16_t h = t->dtype == QKV_F16 ? qkv_f32_to_f16(0.125f * (float)(k % 5))
                                                     : qkv_f32_to_bf16(0.125f * (float)(k % 5));
                    memcpy(buf + k * es, &h, 2);
                } else if (es == 1) {
                    buf[k] = (uint8_t)(k * 37u);
                } else {
                    buf[k * es] = (uint8_t)(k % 4); /* little-endian small integers */
                }
            }
            char name[160];
            snprintf(name, sizeof name, "%s.%s.npy", op->info->name, t->name);
            if (qkv_npy_save(name, t->dtype, t->ndim, t->shape, buf) != QKV_OK) {
                fprintf(stderr, "fuzz_run: cannot write %s: %s\n", name, qkv_last_error());
                exit(1);
            }
            free(buf);
        }
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/qkv-fuzz-run-XXXXXX", tmp && strlen(tmp) < 30 ? tmp : "/tmp");
    if (!mkdtemp(dir) || chdir(dir) != 0) {
        perror("fuzz_run: temporary folder");
        exit(1);
    }
    atexit(cleanup);
    setenv("QKV_QUIET", "1", 1);
    setenv("QKV_TUNING_ONLY_PATH", "1", 1);
    unsetenv("QKV_TUNING_PATH");
    unsetenv("QKV_TILE_PARAMS");
    unsetenv("QKV_VARIANT");
    write_inputs();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (memchr(data, '\0', size) || size > 4096)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    if (strchr(text, '/') || strstr(text, "..")) {
        free(text);
        return 0;
    }
    char *args[MAX_ARGS + 2];
    int argc = 0;
    args[argc++] = "run";
    for (char *p = text; p && argc <= MAX_ARGS;) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        args[argc++] = p;
        p = nl ? nl + 1 : NULL;
    }
    args[argc] = NULL;
    (void)cmd_run(argc, args);
    free(text);
    return 0;
}
