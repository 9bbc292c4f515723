/* cmd_quantize_weights.c - `qkv quantize-weights`: FireQ's offline weight
 * quantization (qkv_w4a8_quantize_weights) from a .npy file to the .npy
 * inputs of `qkv run w4a8_gemm`. */
#include "cli.h"
#include "npy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: qkv quantize-weights --in W.npy --out DIR [--group 64|128|256]\n"
            "\n"
            "FireQ's offline weight quantization (docs/fireq.md): weights W [N, K] of\n"
            "f32 (<f4), f16 (<f2) or bf16 (raw bits in <u2) become INT4 codes with one\n"
            "E4M3 scale per group of G along K (default 128; K %% G == 0) and a\n"
            "power-of-two pre-scale 2^i.  Writes DIR/wq.npy (|u1 [N, K/2], packed int4),\n"
            "DIR/ws.npy (|u1 [N, K/G], e4m3) and DIR/prescale_exp.npy (<i4, 0-d: i), and\n"
            "prints the --prescale 2^i that `qkv run w4a8_gemm` takes with them.\n");
}

/* The qkv dtype weights stored as `file_dtype` carry: <u2 is bf16. */
static qkv_dtype weights_dtype(qkv_dtype file_dtype)
{
    return file_dtype == QKV_U16 ? QKV_BF16 : file_dtype;
}

/* Write one output to DIR/NAME.npy and say so; 0, else 1. */
static int save(const char *dir, const char *name, qkv_dtype dtype, int ndim,
                const size_t *shape, const void *data)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    if (qkv_npy_save(path, dtype, ndim, shape, data) != QKV_OK) {
        fprintf(stderr, "qkv quantize-weights: %s\n", qkv_last_error());
        return 1;
    }
    printf("wrote %s\n", path);
    return 0;
}

/* Quantize the loaded weights w in groups of `group` and write the three
 * outputs into dir. */
static int quantize(const qkv_npy *w, int group, const char *dir)
{
    if (w->ndim != 2) {
        fprintf(stderr, "qkv quantize-weights: W must be 2-d [N, K]\n");
        return 2;
    }
    const size_t n = w->shape[0], k = w->shape[1];
    uint8_t *codes = malloc(n * ((k + 1) / 2) + 1), *scales = malloc(n * (k / group) + 1);
    int exp = 0, rc = 0;
    const qkv_w4a8_weight_quant_params p = {
        .n = n, .k = k, .group = group, .dtype = weights_dtype(w->dtype), .weights = w->data,
        .codes = codes, .scales = scales, .prescale_exp = &exp};
    const qkv_status st = codes && scales ? qkv_w4a8_quantize_weights(&p) : QKV_ERR_NO_MEMORY;
    if (st != QKV_OK) {
        fprintf(stderr, "qkv quantize-weights: %s: %s\n", qkv_status_name(st),
                st == QKV_ERR_NO_MEMORY ? "out of memory" : qkv_last_error());
        rc = 1;
    } else if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "qkv quantize-weights: cannot create %s: %s\n", dir, strerror(errno));
        rc = 1;
    } else {
        const size_t wq_shape[2] = {n, k}, ws_shape[2] = {n, k / group};
        const int32_t exp32 = exp;
        rc = save(dir, "wq", QKV_I4, 2, wq_shape, codes) ||
             save(dir, "ws", QKV_E4M3, 2, ws_shape, scales) ||
             save(dir, "prescale_exp", QKV_I32, 0, NULL, &exp32);
        if (!rc)
            printf("prescale_exp %d: run w4a8_gemm with --prescale %d\n", exp, 1 << exp);
    }
    free(codes);
    free(scales);
    return rc;
}

int cmd_quantize_weights(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    const char *in = NULL, *dir = NULL;
    int group = 128;
    for (int i = 1; i < argc; i++) {
        const bool has_value = i + 1 < argc;
        if (strcmp(argv[i], "--in") == 0 && has_value) {
            in = argv[++i];
        } else if (strcmp(argv[i], "--out") == 0 && has_value) {
            dir = argv[++i];
        } else if (strcmp(argv[i], "--group") == 0 && has_value) {
            char *end;
            const long g = strtol(argv[++i], &end, 10);
            if (*end || (g != 64 && g != 128 && g != 256)) {
                fprintf(stderr, "qkv quantize-weights: bad --group '%s' (64, 128 or 256)\n",
                        argv[i]);
                return 2;
            }
            group = (int)g;
        } else {
            fprintf(stderr, "qkv quantize-weights: bad argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!in || !dir) {
        fprintf(stderr, "qkv quantize-weights: --in W.npy and --out DIR are required\n");
        return 2;
    }
    qkv_npy w;
    if (qkv_npy_load(in, &w) != QKV_OK) {
        fprintf(stderr, "qkv quantize-weights: %s\n", qkv_last_error());
        return 2;
    }
    const int rc = quantize(&w, group, dir);
    qkv_npy_free(&w);
    return rc;
}
