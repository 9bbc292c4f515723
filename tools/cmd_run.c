/* cmd_run.c - `qkv run OP`: one op on tensors from .npy files, outputs
 * written as .npy files. */
#include "cli.h"
#include "harness.h"
#include "npy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_INPUTS QKV_CASE_MAX_TENSORS

typedef struct named_input {
    const char *name;
    qkv_npy npy;
} named_input;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: qkv run OP --in NAME=FILE.npy ... --out DIR [--backend B]\n"
            "               [--bits 2|4|8] [--group 32|64|128]\n"
            "\n"
            "Runs op OP once on the given tensors and writes each output to DIR/NAME.npy.\n"
            "Shapes are taken from the files; bits and group (default 2 and 32) say how\n"
            "codes are packed.  Tensors per op (inputs first, '*' = output):\n");
    for (int o = 0; o < QKV_OP_COUNT; o++) {
        qkv_op_case c = {.shape = {.batch = 1, .q_heads = 1, .kv_heads = 1, .tokens = 32,
                                   .head_dim = 32, .bits = 2, .group = 32, .dtype = QKV_F16}};
        qkv_op_table[o].describe(&c);
        fprintf(out, "  %-22s", qkv_op_table[o].name);
        for (int i = 0; i < c.ntensors; i++)
            fprintf(out, " %s%s", c.t[i].name, c.t[i].output ? "*" : "");
        fprintf(out, "\n");
    }
    fprintf(out,
            "Layouts are those of include/qkv.h: e.g. keys/values [B, H, T, D] f16 or f32,\n"
            "packed codes uint32, scales and minima f16, query/output [B, Hq, D] f32.\n"
            "For kivi_decode_attention an empty part (no quantized tokens, or no residual)\n"
            "may be omitted.  --backend defaults to cpu.\n");
}

static const named_input *find_input(const named_input *in, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(in[i].name, name) == 0)
            return &in[i];
    return NULL;
}

/* Fill c (shape set) from the named inputs; every non-empty input must be
 * given with exactly the described dtype and shape. */
static int bind_inputs(const qkv_op_desc *op, qkv_op_case *c, named_input *in, int nin)
{
    op->describe(c);
    for (int i = 0; i < nin; i++) {
        bool known = false;
        for (int k = 0; k < c->ntensors; k++)
            known |= !c->t[k].output && strcmp(c->t[k].name, in[i].name) == 0;
        if (!known) {
            fprintf(stderr, "qkv run: %s has no input named '%s'\n", op->name, in[i].name);
            return 2;
        }
    }
    for (int k = 0; k < c->ntensors; k++) {
        const qkv_tensor_desc *t = &c->t[k];
        if (t->output || qkv_tensor_count(t) == 0)
            continue;
        const named_input *ni = find_input(in, nin, t->name);
        if (!ni) {
            fprintf(stderr, "qkv run: input '%s' is missing\n", t->name);
            return 2;
        }
        bool same = ni->npy.dtype == t->dtype && ni->npy.ndim == t->ndim;
        for (int d = 0; same && d < t->ndim; d++)
            same = ni->npy.shape[d] == t->shape[d];
        if (!same) {
            fprintf(stderr, "qkv run: input '%s' must be %s of shape [", t->name,
                    qkv_dtype_name(t->dtype));
            for (int d = 0; d < t->ndim; d++)
                fprintf(stderr, "%s%zu", d ? ", " : "", t->shape[d]);
            fprintf(stderr, "] for this op, bits and group\n");
            return 2;
        }
        c->host[k] = ni->npy.data;
    }
    return 0;
}

/* Shape of the op from the inputs' file shapes. */
static int infer(const qkv_op_desc *op, qkv_op_case *c, const named_input *in, int nin)
{
    qkv_op_case probe = {.shape = c->shape};
    probe.shape.batch = probe.shape.q_heads = probe.shape.kv_heads = 1;
    op->describe(&probe);
    for (int k = 0; k < probe.ntensors; k++) {
        qkv_tensor_desc *t = &probe.t[k];
        const named_input *ni = t->output ? NULL : find_input(in, nin, t->name);
        memset(t->shape, 0, sizeof t->shape);
        if (ni) {
            t->ndim = ni->npy.ndim > QKV_CASE_MAX_DIMS ? QKV_CASE_MAX_DIMS : ni->npy.ndim;
            t->dtype = ni->npy.dtype;
            memcpy(t->shape, ni->npy.shape, (size_t)t->ndim * sizeof t->shape[0]);
        }
    }
    if (op->infer_shape(&probe, &c->shape) != QKV_OK) {
        fprintf(stderr, "qkv run: %s\n", qkv_last_error());
        return 2;
    }
    return 0;
}

/* Write every output of c from out[] to DIR/NAME.npy. */
static int write_outputs(const qkv_op_case *c, void *const *out, const char *dir)
{
    for (int k = 0; k < c->ntensors; k++) {
        if (!c->t[k].output)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.npy", dir, c->t[k].name);
        if (qkv_npy_save(path, c->t[k].dtype, c->t[k].ndim, c->t[k].shape, out[k]) != QKV_OK) {
            fprintf(stderr, "qkv run: %s\n", qkv_last_error());
            return 1;
        }
        printf("wrote %s\n", path);
    }
    return 0;
}

static int parse_int(const char *s, const char *what, int *out)
{
    char *end;
    const long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v <= 0 || v > 1024) {
        fprintf(stderr, "qkv run: bad %s '%s'\n", what, s);
        return 2;
    }
    *out = (int)v;
    return 0;
}

/* Run the bound case on the backend and write its outputs. */
static int execute(const qkv_op_desc *op, qkv_op_case *c, const char *backend, const char *dir)
{
    void *out[QKV_CASE_MAX_TENSORS] = {0};
    int rc = 0;
    for (int k = 0; k < c->ntensors && !rc; k++)
        if (c->t[k].output && !(out[k] = malloc(qkv_tensor_bytes(&c->t[k]) + 1)))
            rc = 1;
    qkv_context *ctx = NULL;
    qkv_status st = rc ? QKV_ERR_NO_MEMORY : qkv_open(backend, &ctx);
    if (st == QKV_OK)
        st = qkv_case_run(op, c, ctx, out);
    if (st != QKV_OK) {
        fprintf(stderr, "qkv run: %s: %s\n", qkv_status_name(st), qkv_last_error());
        rc = 1;
    } else if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "qkv run: cannot create %s: %s\n", dir, strerror(errno));
        rc = 1;
    } else {
        rc = write_outputs(c, out, dir);
    }
    qkv_close(ctx);
    for (int k = 0; k < QKV_CASE_MAX_TENSORS; k++)
        free(out[k]);
    return rc;
}

int cmd_run(int argc, char **argv)
{
    if (cli_wants_help(argc, argv) || argc < 2) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const qkv_op_desc *op = qkv_op_by_name(argv[1]);
    if (!op) {
        fprintf(stderr, "qkv run: unknown op '%s' (see qkv run --help)\n", argv[1]);
        return 2;
    }
    named_input in[MAX_INPUTS];
    int nin = 0, rc = 0;
    const char *dir = NULL, *backend = "cpu";
    qkv_op_case c = {.shape = {.bits = 2, .group = 32, .dtype = QKV_F16}};
    for (int i = 2; i < argc && !rc; i++) {
        const bool has_value = i + 1 < argc;
        if (strcmp(argv[i], "--in") == 0 && has_value && nin < MAX_INPUTS) {
            char *spec = argv[++i], *eq = strchr(spec, '=');
            if (!eq) {
                fprintf(stderr, "qkv run: --in takes NAME=FILE.npy, got '%s'\n", spec);
                rc = 2;
                break;
            }
            *eq = '\0';
            in[nin].name = spec;
            if (qkv_npy_load(eq + 1, &in[nin].npy) != QKV_OK) {
                fprintf(stderr, "qkv run: %s\n", qkv_last_error());
                rc = 2;
                break;
            }
            nin++;
        } else if (strcmp(argv[i], "--out") == 0 && has_value) {
            dir = argv[++i];
        } else if (strcmp(argv[i], "--backend") == 0 && has_value) {
            backend = argv[++i];
        } else if (strcmp(argv[i], "--bits") == 0 && has_value) {
            rc = parse_int(argv[++i], "--bits", &c.shape.bits);
        } else if (strcmp(argv[i], "--group") == 0 && has_value) {
            rc = parse_int(argv[++i], "--group", &c.shape.group);
        } else {
            fprintf(stderr, "qkv run: bad argument '%s'\n", argv[i]);
            rc = 2;
        }
    }
    if (!rc && !dir) {
        fprintf(stderr, "qkv run: --out DIR is required\n");
        rc = 2;
    }
    if (!rc && !nin) {
        fprintf(stderr, "qkv run: no --in NAME=FILE.npy given (see qkv run --help)\n");
        rc = 2;
    }
    if (!rc && (c.shape.bits != 2 && c.shape.bits != 4 && c.shape.bits != 8)) {
        fprintf(stderr, "qkv run: --bits must be 2, 4 or 8\n");
        rc = 2;
    }
    if (!rc)
        rc = infer(op, &c, in, nin);
    if (!rc)
        rc = bind_inputs(op, &c, in, nin);
    if (!rc)
        rc = execute(op, &c, backend, dir);
    for (int i = 0; i < nin; i++)
        qkv_npy_free(&in[i].npy);
    return rc;
}
