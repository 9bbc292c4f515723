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

/* The values option opt accepts, each after a space. */
static void print_values(FILE *out, const qkv_op_option *opt)
{
    for (int k = 0; opt->names[0] ? opt->names[k] != NULL : opt->allowed[k] != 0; k++) {
        if (opt->names[0])
            fprintf(out, " %s", opt->names[k]);
        else
            fprintf(out, " %d", opt->allowed[k]);
    }
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: qkv run OP --in NAME=FILE.npy ... --out DIR [--backend B] [op options]\n"
            "\n"
            "Runs op OP once on the given tensors and writes each output to DIR/NAME.npy.\n"
            "Shapes are taken from the files; each input is given once.  --backend\n"
            "defaults to cpu.  Per op: its tensors (inputs first, '*' = output) for an\n"
            "example shape, and its options with their defaults:\n");
    for (int o = 0; o < QKV_OP_COUNT; o++) {
        const qkv_op_desc *op = qkv_op_descs[o];
        qkv_op_case c = {.shape = op->example()};
        op->describe(&c);
        fprintf(out, "  %s\n     ", op->info->name);
        for (int i = 0; i < c.ntensors; i++) {
            fprintf(out, " %s%s %s[", c.t[i].name, c.t[i].output ? "*" : "",
                    qkv_dtype_name(c.t[i].dtype));
            for (int d = 0; d < c.t[i].ndim; d++)
                fprintf(out, "%s%zu", d ? "," : "", c.t[i].shape[d]);
            fprintf(out, "]");
        }
        fprintf(out, "\n");
        for (const qkv_op_option *opt = op->options; opt->name; opt++) {
            fprintf(out, "      --%-9s %s (default ", opt->name, opt->help);
            if (opt->names[0])
                fprintf(out, "%s", opt->names[opt->default_value]);
            else
                fprintf(out, "%d", opt->default_value);
            fprintf(out, "; one of");
            print_values(out, opt);
            fprintf(out, ")\n");
        }
    }
    fprintf(out,
            "Layouts are those of include/qkv.h.  For kivi_decode_attention a cache part\n"
            "that is empty (no quantized tokens: k_codes/k_scale/k_min or v_codes/...;\n"
            "no residual: k_resid or v_resid) may be left out.  w4a8_gemm takes xq and sx\n"
            "from run w4a8_quant_activations, wq, ws and --prescale from\n"
            "qkv quantize-weights (FireQ's offline weight quantization of f32, f16 or\n"
            "bf16 weights; docs/fireq.md).\n");
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
            fprintf(stderr, "qkv run: %s has no input named '%s'\n", op->info->name,
                    in[i].name);
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
        size_t want[QKV_CASE_MAX_DIMS];
        qkv_npy_storage_shape(t->dtype, t->ndim, t->shape, want);
        bool same = qkv_npy_storage_matches(ni->npy.dtype, t->dtype) && ni->npy.ndim == t->ndim;
        for (int d = 0; same && d < t->ndim; d++)
            same = ni->npy.shape[d] == want[d];
        if (!same) {
            fprintf(stderr, "qkv run: input '%s' must be %s (stored as %s) of shape [", t->name,
                    qkv_dtype_name(t->dtype), qkv_dtype_name(qkv_npy_storage_dtype(t->dtype)));
            for (int d = 0; d < t->ndim; d++)
                fprintf(stderr, "%s%zu", d ? ", " : "", want[d]);
            fprintf(stderr, "] for this op and its options (docs/tensors.md)\n");
            return 2;
        }
        c->host[k] = ni->npy.data;
    }
    return 0;
}

/* Shape of the op from the inputs' file shapes (an input not given has
 * ndim 0). */
static int infer(const qkv_op_desc *op, qkv_op_case *c, const named_input *in, int nin)
{
    qkv_op_case probe = {.shape = c->shape};
    op->describe(&probe);
    for (int k = 0; k < probe.ntensors; k++) {
        qkv_tensor_desc *t = &probe.t[k];
        const named_input *ni = t->output ? NULL : find_input(in, nin, t->name);
        memset(t->shape, 0, sizeof t->shape);
        t->ndim = 0;
        if (ni) { /* a file of the storage dtype carries the op's dtype */
            t->ndim = ni->npy.ndim > QKV_CASE_MAX_DIMS ? QKV_CASE_MAX_DIMS : ni->npy.ndim;
            if (!qkv_npy_storage_matches(ni->npy.dtype, t->dtype))
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

/* --NAME VALUE of one of op's options into shape; 0, else 2 (message
 * printed). */
static int parse_option(const qkv_op_desc *op, const char *flag, const char *value,
                        qkv_op_shape *shape)
{
    for (const qkv_op_option *opt = op->options; opt->name; opt++) {
        if (strncmp(flag, "--", 2) != 0 || strcmp(flag + 2, opt->name) != 0)
            continue;
        char *end;
        const long v = strtol(value, &end, 10);
        for (int k = 0; opt->names[0] ? opt->names[k] != NULL : opt->allowed[k] != 0; k++) {
            const bool match = opt->names[0] ? strcmp(value, opt->names[k]) == 0
                                             : *value && !*end && opt->allowed[k] == v;
            if (match) {
                const int stored = opt->names[0] ? k : opt->allowed[k];
                memcpy(shape->args.bytes + opt->offset, &stored, sizeof stored);
                return 0;
            }
        }
        fprintf(stderr, "qkv run: bad %s '%s' (one of", flag, value);
        print_values(stderr, opt);
        fprintf(stderr, ")\n");
        return 2;
    }
    fprintf(stderr, "qkv run: bad argument '%s' for %s (see qkv run --help)\n", flag,
            op->info->name);
    return 2;
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
    qkv_op_case c = {.shape = op->example()};
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
            if (find_input(in, nin, spec)) {
                fprintf(stderr, "qkv run: input '%s' is given more than once\n", spec);
                rc = 2;
                break;
            }
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
        } else if (has_value && strncmp(argv[i], "--", 2) == 0) {
            rc = parse_option(op, argv[i], argv[i + 1], &c.shape);
            i++;
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
