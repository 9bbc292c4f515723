/* cmd_tune.c - `qkv tune`: search tile parameters per op on one device and
 * record the winners in the device's table. */
#include "cli.h"
#include "tuner.h"

#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: qkv tune [--backend B] [--op OP]... [--variant V] [--strategy S]\n"
            "                [--fraction F | --count N]\n"
            "                [--max-evals N] [--max-seconds S] [--shape llm|small|LABEL]\n"
            "                [--repeats N] [--warmup N] [--cache FILE] [--out DIR] [--seed N]\n"
            "\n"
            "Searches the tile parameters of each op's variants on one device (every\n"
            "variant the device can run; the fastest tuned one is what calls then run).\n"
            "Every candidate is checked\n"
            "against the reference on the tuning shape and on an odd shape (guard regions\n"
            "around outputs); a failing one is logged and never recorded.  Time is the median\n"
            "of --repeats runs after --warmup runs, each run timed with device events on\n"
            "OpenCL (profiling markers) and CUDA (cuEvents), with the host clock around the\n"
            "launch and qkv_finish on cpu; a new winner must beat the incumbent (the\n"
            "defaults, measured first) by more than 2%%.  Winners are written to\n"
            "DIR/<device-key>.txt, one line per op, variant and shape class, with\n"
            "provenance.\n"
            "\n"
            "  --backend B      device to tune: cpu, opencl[:N], cuda[:N] (default cpu)\n"
            "  --op OP          only this op (repeatable; default: every op with a tile space)\n"
            "  --variant V      only this variant (e.g. avx2, scalar, generic; see qkv info)\n"
            "  --strategy S     exhaustive | random | anneal (simulated annealing; default)\n"
            "  --fraction F     random: evaluate this share (0 < F <= 1) of the valid points\n"
            "  --count N        random: evaluate N points (instead of --fraction)\n"
            "  --max-evals N    budget in evaluations per op (default 40; 0 = none)\n"
            "  --max-seconds S  budget in seconds per op (default 0 = none)\n"
            "  --shape S        tuning shape: the first of an op's 'llm' (default) or 'small'\n"
            "                   validation shapes that the variant runs (a fast-precision\n"
            "                   variant: a '-fast' one), or a shape label from qkv validate\n"
            "                   or from the benchmarks (e.g. bench-n14336-k4096-m512)\n"
            "  --cache FILE     resumable cache of every measurement (default\n"
            "                   DIR/cache-<device-key>.log); a rerun skips measured points\n"
            "  --out DIR        table directory (default results/tuning)\n"
            "  --repeats N      timed runs per point (default 7); --warmup N (default 2)\n"
            "  --seed N         seed of random and anneal (default 1)\n");
}

/* The tuning shape of variant v of op named by `which` (a set: its first
 * shape v runs on ctx; or a label), or false. */
static bool find_shape(const qkv_op_desc *op, const qkv_variant *v, const qkv_context *ctx,
                       const char *which, qkv_op_shape *out)
{
    qkv_op_shape shapes[64];
    const char *sets[] = {"llm", "small", "bench"};
    for (int s = 0; s < 3; s++) {
        const int n = op->shapes(sets[s], shapes, 64);
        const bool set = strcmp(which, sets[s]) == 0;
        for (int k = 0; k < n; k++)
            if (set ? qkv_case_variant_runs(op, v, ctx, &shapes[k])
                    : strcmp(which, shapes[k].label) == 0) {
                *out = shapes[k];
                return true;
            }
    }
    return false;
}

/* Tune variant v of op and write its table line; 0 on success. */
static int tune_one(qkv_context *ctx, const qkv_op_desc *op, const qkv_variant *v,
                    const char *shape_name, const char *out_dir, qkv_tune_options *opt)
{
    qkv_op_shape shape;
    if (!find_shape(op, v, ctx, shape_name, &shape)) {
        fprintf(stderr, "qkv tune: %s has no shape '%s'\n", op->info->name, shape_name);
        return 2;
    }
    printf("%s/%s on %s, shape %s, strategy %s\n", op->info->name, v->name, ctx->info.name,
           shape.label, qkv_tune_strategy_name(opt->strategy));
    qkv_tune_result res;
    if (qkv_tune_op(ctx, op, v, &shape, opt, &res) != QKV_OK) {
        fprintf(stderr, "qkv tune: %s/%s: %s\n", op->info->name, v->name, qkv_last_error());
        return 1;
    }
    char best[256], def[256];
    qkv_tile_format(v, &res.best, best, sizeof best);
    qkv_tile_format(v, &res.defaults, def, sizeof def);
    printf("  %d of %d valid points evaluated, %d failed verification\n", res.evals, res.space,
           res.failed);
    printf("  default %-40s %10.1f us\n  tuned   %-40s %10.1f us  (%.2fx)\n", def,
           res.default_us, best, res.best_us, res.default_us / res.best_us);
    if (qkv_tune_write_table(out_dir, ctx, op, v, &shape, opt, &res) != QKV_OK) {
        fprintf(stderr, "qkv tune: %s\n", qkv_last_error());
        return 1;
    }
    return 0;
}

/* Parse a number option; false (with a message) when malformed. */
static bool number(const char *s, const char *what, double lo, double hi, double *out)
{
    char *end;
    *out = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || !(*out >= lo && *out <= hi)) {
        fprintf(stderr, "qkv tune: %s takes a number in [%g, %g], got '%s'\n", what, lo, hi, s);
        return false;
    }
    return true;
}

int cmd_tune(int argc, char **argv)
{
    qkv_tune_options opt = {QKV_TUNE_ANNEAL, 0.25, 0, 40, 0.0, 2, 7, 1, NULL, stdout, NULL};
    const char *backend = "cpu", *shape = "llm", *out_dir = "results/tuning", *variant = NULL;
    const char *ops[QKV_OP_COUNT + 8];
    int nops = 0;
    double v;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = val != NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (ok && strcmp(a, "--backend") == 0) {
            backend = val;
        } else if (ok && strcmp(a, "--variant") == 0) {
            variant = val;
        } else if (ok && strcmp(a, "--op") == 0 && nops < QKV_OP_COUNT + 8) {
            ops[nops++] = val;
        } else if (ok && strcmp(a, "--strategy") == 0) {
            opt.strategy = strcmp(val, "exhaustive") == 0 ? QKV_TUNE_EXHAUSTIVE
                           : strcmp(val, "random") == 0   ? QKV_TUNE_RANDOM
                           : strcmp(val, "anneal") == 0   ? QKV_TUNE_ANNEAL
                                                          : (qkv_tune_strategy)-1;
            ok = (int)opt.strategy >= 0;
        } else if (ok && strcmp(a, "--fraction") == 0) {
            ok = number(val, a, 1e-9, 1.0, &opt.fraction);
        } else if (ok && strcmp(a, "--count") == 0) {
            ok = number(val, a, 1, 1e6, &v), opt.count = (int)v;
        } else if (ok && strcmp(a, "--max-evals") == 0) {
            ok = number(val, a, 0, 1e6, &v), opt.max_evals = (int)v;
        } else if (ok && strcmp(a, "--max-seconds") == 0) {
            ok = number(val, a, 0, 1e6, &opt.max_seconds);
        } else if (ok && strcmp(a, "--repeats") == 0) {
            ok = number(val, a, 1, 1000, &v), opt.repeats = (int)v;
        } else if (ok && strcmp(a, "--warmup") == 0) {
            ok = number(val, a, 0, 1000, &v), opt.warmup = (int)v;
        } else if (ok && strcmp(a, "--seed") == 0) {
            ok = number(val, a, 0, 1e15, &v), opt.seed = (uint64_t)v;
        } else if (ok && strcmp(a, "--shape") == 0) {
            shape = val;
        } else if (ok && strcmp(a, "--cache") == 0) {
            opt.cache_path = val;
        } else if (ok && strcmp(a, "--out") == 0) {
            out_dir = val;
        } else {
            ok = false;
        }
        if (!ok) {
            fprintf(stderr, "qkv tune: bad argument '%s'%s\n", a, val ? "" : " (value missing)");
            usage(stderr);
            return 2;
        }
        i++;
    }
    for (int k = 0; k < nops; k++)
        if (!qkv_op_by_name(ops[k])) {
            fprintf(stderr, "qkv tune: unknown op '%s' (see qkv info)\n", ops[k]);
            return 2;
        }
    qkv_context *ctx;
    if (qkv_open(backend, &ctx) != QKV_OK) {
        fprintf(stderr, "qkv tune: %s\n", qkv_last_error());
        return 1;
    }
    char cache[4096], dev[160];
    if (!opt.cache_path) {
        qkv_device_key(&ctx->info, dev, sizeof dev);
        snprintf(cache, sizeof cache, "%s/cache-%s.log", out_dir, dev);
        opt.cache_path = cache;
    }
    if (qkv_tune_check_output(out_dir, opt.cache_path) != QKV_OK) {
        fprintf(stderr, "qkv tune: %s\n", qkv_last_error());
        qkv_close(ctx);
        return 1;
    }
    int rc = 0;
    for (int o = 0; o < QKV_OP_COUNT && rc != 2; o++) {
        const qkv_op_desc *op = qkv_op_descs[o];
        bool chosen = nops == 0;
        for (int k = 0; k < nops; k++)
            chosen |= strcmp(ops[k], op->info->name) == 0;
        const qkv_variant *v;
        for (int j = 0; chosen && rc != 2 && (v = qkv_variant_nth(op->info->id, ctx, j)); j++) {
            if (v->nparams == 0 || (variant && strcmp(variant, v->name) != 0))
                continue;
            const int r = tune_one(ctx, op, v, shape, out_dir, &opt);
            rc = r > rc ? r : rc;
        }
    }
    qkv_close(ctx);
    return rc;
}
