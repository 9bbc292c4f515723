/* cmd_validate.c - `qkv validate`: every op x backend x variant x shape
 * against the reference, printed as a conformance table (and optionally
 * markdown). */
#include "cli.h"
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_TARGETS 16
#define MAX_SHAPES 32
#define SEED 20240601u

typedef struct target {
    char spec[32];
    qkv_context *ctx; /* NULL: unavailable, see why */
    char why[160];
} target;

typedef struct totals {
    int pass, fail, skipped;
} totals;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: qkv validate [--backend B]... [--op OP]... [--shapes small|llm|all]\n"
            "                    [--report FILE.md] [--seed N]\n"
            "\n"
            "Runs every op x backend x variant x shape against the scalar reference and\n"
            "prints one row per case: max abs error and NMSE of float outputs, code/f16\n"
            "mismatches, tolerated rounding-tie cases, changed guard bytes, PASS or FAIL.\n"
            "Every variant the device can run is checked (backend column 'cpu/avx2',\n"
            "'cpu/scalar', ...); a shape a variant does not support is SKIP.\n"
            "\n"
            "  --backend B   cpu, opencl, opencl:N, cuda, cuda:N or ref (repeatable;\n"
            "                default: cpu and every OpenCL and CUDA device present).\n"
            "                A named backend that is unavailable counts as a failure.\n"
            "  --op OP       only this op (repeatable); see 'qkv info' for names\n"
            "  --shapes S    small (odd edge shapes, default), llm (LLM-like), all\n"
            "  --report F    also write the table as markdown to F\n"
            "  --seed N      seed of the test data (default %u)\n"
            "\n"
            "Exit status: 0 all PASS, 1 any FAIL (or a named backend unavailable), 2 usage.\n",
            SEED);
}

/* Default targets: cpu plus every device of the GPU backends. */
static int default_targets(target *t)
{
    int n = 0;
    snprintf(t[n++].spec, sizeof t->spec, "cpu");
    const qkv_backend_kind gpus[] = {QKV_BACKEND_OPENCL, QKV_BACKEND_CUDA};
    for (int g = 0; g < 2; g++) {
        const int count = qkv_device_count(gpus[g]);
        for (int i = 0; i < count && n < MAX_TARGETS; i++)
            snprintf(t[n++].spec, sizeof t->spec, "%s:%d", qkv_backend_name(gpus[g]), i);
        if (!count) { /* listed so the table says why it is absent */
            t[n].ctx = NULL;
            snprintf(t[n++].spec, sizeof t->spec, "%s", qkv_backend_name(gpus[g]));
        }
    }
    return n;
}

static void open_targets(target *t, int n)
{
    for (int i = 0; i < n; i++)
        if (qkv_open(t[i].spec, &t[i].ctx) != QKV_OK) {
            t[i].ctx = NULL;
            snprintf(t[i].why, sizeof t[i].why, "%s", qkv_last_error());
        }
}

static void row(FILE *md, const char *op, const char *backend, const char *shape,
                const qkv_check_result *r)
{
    char err[32] = "-", nmse[32] = "-";
    if (r->status == QKV_OK && (r->max_abs_err > 0 || r->nmse > 0)) {
        snprintf(err, sizeof err, "%.2e", r->max_abs_err);
        snprintf(nmse, sizeof nmse, "%.2e", r->nmse);
    }
    const char *verdict = r->status == QKV_ERR_UNSUPPORTED ? "SKIP" : r->pass ? "PASS" : "FAIL";
    printf("%-22s %-16s %-16s %9s %9s %6zu %5zu %5zu  %s%s%s\n", op, backend, shape, err, nmse,
           r->mismatches, r->ties, r->guard_violations, verdict, r->pass ? "" : "  ",
           r->message);
    if (md)
        fprintf(md, "| %s | %s | %s | %s | %s | %zu | %zu | %zu | %s%s%s |\n", op, backend,
                shape, err, nmse, r->mismatches, r->ties, r->guard_violations, verdict,
                r->pass ? "" : ": ", r->message);
    fflush(stdout);
}

static bool op_selected(const qkv_op_desc *op, char **ops, int nops)
{
    if (!nops)
        return true;
    for (int i = 0; i < nops; i++)
        if (strcmp(ops[i], op->info->name) == 0)
            return true;
    return false;
}

/* Check case c of op on target t with variant v: one row. */
static void check_variant(const qkv_op_desc *op, const qkv_op_case *c, target *t,
                          const qkv_variant *v, FILE *md, totals *tot)
{
    char where[128];
    snprintf(where, sizeof where, "%.31s/%.63s", t->spec, v->name);
    qkv_check_result r;
    if (qkv_set_variant(t->ctx, op->info->name, v->name) != QKV_OK) {
        r = (qkv_check_result){.status = QKV_ERR_BACKEND};
        snprintf(r.message, sizeof r.message, "%.200s", qkv_last_error());
    } else {
        qkv_case_check(op, c, t->ctx, &r);
    }
    (void)qkv_set_variant(t->ctx, op->info->name, NULL);
    row(md, op->info->name, where, c->shape.label, &r);
    if (r.status == QKV_ERR_UNSUPPORTED)
        tot->skipped++;
    else
        r.pass ? tot->pass++ : tot->fail++;
}

/* Validate one op on every open target over the chosen shape sets. */
static void validate_op(const qkv_op_desc *op, const char *sets, target *t, int nt,
                        uint64_t seed, FILE *md, totals *tot)
{
    const char *names[2] = {"small", "llm"};
    for (int s = 0; s < 2; s++) {
        if (strcmp(sets, "all") != 0 && strcmp(sets, names[s]) != 0)
            continue;
        qkv_op_shape shapes[MAX_SHAPES];
        const int ns = op->shapes(names[s], shapes, MAX_SHAPES);
        for (int k = 0; k < ns; k++) {
            qkv_op_case c;
            if (qkv_case_prepare(op, &shapes[k], seed + (uint64_t)k, &c) != QKV_OK) {
                qkv_check_result r = {.status = QKV_ERR_BACKEND};
                snprintf(r.message, sizeof r.message, "reference failed: %s", qkv_last_error());
                row(md, op->info->name, "ref", shapes[k].label, &r);
                tot->fail++;
                continue;
            }
            for (int i = 0; i < nt; i++) {
                const qkv_variant *v;
                for (int j = 0; t[i].ctx && (v = qkv_variant_nth(op->info->id, t[i].ctx, j)); j++)
                    check_variant(op, &c, &t[i], v, md, tot);
            }
            qkv_case_free(&c);
        }
    }
}

int cmd_validate(int argc, char **argv)
{
    target t[MAX_TARGETS] = {0};
    int nt = 0, nops = 0;
    char *ops[QKV_OP_COUNT + 8];
    const char *sets = "small", *report = NULL;
    uint64_t seed = SEED;
    for (int i = 1; i < argc; i++) {
        const bool has_value = i + 1 < argc;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--backend") == 0 && has_value && nt < MAX_TARGETS) {
            snprintf(t[nt++].spec, sizeof t->spec, "%s", argv[++i]);
        } else if (strcmp(argv[i], "--op") == 0 && has_value && nops < QKV_OP_COUNT + 8) {
            ops[nops] = argv[++i];
            if (!qkv_op_by_name(ops[nops])) {
                fprintf(stderr, "qkv validate: unknown op '%s' (see qkv info)\n", ops[nops]);
                return 2;
            }
            nops++;
        } else if (strcmp(argv[i], "--shapes") == 0 && has_value) {
            sets = argv[++i];
            if (strcmp(sets, "small") && strcmp(sets, "llm") && strcmp(sets, "all")) {
                fprintf(stderr, "qkv validate: --shapes takes small, llm or all\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--report") == 0 && has_value) {
            report = argv[++i];
        } else if (strcmp(argv[i], "--seed") == 0 && has_value) {
            seed = strtoull(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "qkv validate: bad argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    const bool named = nt > 0;
    if (!named)
        nt = default_targets(t);
    open_targets(t, nt);
    FILE *md = NULL;
    if (report && !(md = fopen(report, "w"))) {
        fprintf(stderr, "qkv validate: cannot write %s\n", report);
        return 2;
    }
    int unavailable = 0;
    for (int i = 0; i < nt; i++) {
        if (t[i].ctx) {
            qkv_device_info d;
            qkv_context_info(t[i].ctx, &d);
            printf("backend %-9s %s (%s)\n", t[i].spec, d.name, d.arch);
        } else {
            printf("backend %-9s unavailable: %s%s\n", t[i].spec, t[i].why,
                   named ? "" : " (skipped)");
            unavailable += named;
        }
    }
    if (md) {
        const time_t now = time(NULL);
        fprintf(md, "# qkv validate, shapes %s, %s\n\n", sets, ctime(&now));
        fprintf(md, "| op | backend | shape | max abs err | NMSE | mismatches | ties | guard |"
                    " result |\n|---|---|---|---|---|---|---|---|---|\n");
    }
    printf("\n%-22s %-16s %-16s %9s %9s %6s %5s %5s  %s\n", "op", "backend", "shape",
           "max_abs", "nmse", "mism", "ties", "guard", "result");
    totals tot = {0, 0, 0};
    for (int o = 0; o < QKV_OP_COUNT; o++)
        if (op_selected(qkv_op_descs[o], ops, nops))
            validate_op(qkv_op_descs[o], sets, t, nt, seed, md, &tot);
    printf("\n%d passed, %d failed", tot.pass, tot.fail);
    if (tot.skipped)
        printf(", %d skipped", tot.skipped);
    if (unavailable)
        printf(", %d named backend(s) unavailable", unavailable);
    printf("\n");
    if (md) {
        fprintf(md, "\n%d passed, %d failed, %d skipped\n", tot.pass, tot.fail, tot.skipped);
        fclose(md);
    }
    for (int i = 0; i < nt; i++)
        qkv_close(t[i].ctx);
    return tot.fail || unavailable || tot.pass == 0 ? 1 : 0;
}
