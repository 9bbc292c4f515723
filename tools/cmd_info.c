/* cmd_info.c - `qkv info`: backends, devices, limits and the op registry. */
#include "cli.h"
#include "op_case.h"
#include "tuning.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static void print_device(const qkv_device_info *d)
{
    printf("  %s:%d  %s\n", qkv_backend_name(d->backend), d->index, d->name);
    printf("      vendor %s | arch %s | microarch %s | %s\n", d->vendor, d->arch,
           d->microarch[0] ? d->microarch : "unknown", d->version);
    printf("      memory %.1f GiB | local/shared %zu KiB | max work-group %zu | units %d | "
           "align %zu B\n",
           (double)d->global_mem / (1 << 30), d->local_mem / 1024, d->max_work_group,
           d->compute_units, d->mem_align);
    if (d->backend == QKV_BACKEND_CUDA)
        printf("      compute capability %d.%d | shared memory opt-in %zu KiB | %d SMs\n",
               d->cc_major, d->cc_minor, d->local_mem_optin / 1024, d->compute_units);
}

/* Per op, per backend, each variant: the parameters a call of size 4096
 * would use with it on the backend's first device and their source
 * (override, device table, architecture table, default), marking the
 * variant the device runs by default with '*' and variants the device
 * cannot run with "(unsupported)". */
static void print_registry(void)
{
    qkv_context *ctx[QKV_BACKEND_COUNT] = {0};
    for (int b = 0; b < QKV_BACKEND_COUNT; b++)
        if (qkv_device_count((qkv_backend_kind)b) > 0 &&
            qkv_open(qkv_backend_name((qkv_backend_kind)b), &ctx[b]) != QKV_OK)
            ctx[b] = NULL;
    printf("\nops: backend, variant ('*' the one device 0 runs by default), the tile "
           "parameters\na call of size 4096 uses with it on device 0, and their source:\n");
    for (int o = 0; o < QKV_OP_COUNT; o++) {
        const qkv_op_info *op = qkv_ops[o];
        printf("  %-22s %s\n", op->name, op->summary);
        for (int b = 0; b < QKV_BACKEND_COUNT; b++) {
            const qkv_backend_kind kind = (qkv_backend_kind)b;
            const char *chosen = NULL;
            char params[256] = "";
            if (ctx[b])
                qkv_get_tile_params(ctx[b], op->name, 4096, params, sizeof params, &chosen,
                                    NULL);
            for (const qkv_variant *const *v = op->variants; *v; v++) {
                if (!((*v)->backends & QKV_ON(kind)))
                    continue;
                char name[96];
                const char *level = "(no device)";
                snprintf(name, sizeof name, "%s/%s", op->name, (*v)->name);
                if (ctx[b] && !qkv_variant_supports(*v, ctx[b], NULL))
                    level = "(unsupported)", params[0] = '\0';
                else if (ctx[b])
                    qkv_get_tile_params(ctx[b], name, 4096, params, sizeof params, NULL, &level);
                else
                    params[0] = '\0';
                printf("      %-7s %c%-8s %-44s %s%s\n", qkv_backend_name(kind),
                       chosen && strcmp(chosen, (*v)->name) == 0 ? '*' : ' ', (*v)->name,
                       (*v)->nparams && *params ? params : "-", level,
                       (*v)->fast_only ? ", fast-precision calls only" : "");
            }
        }
    }
    for (int b = 0; b < QKV_BACKEND_COUNT; b++)
        qkv_close(ctx[b]);
}

/* Candidates of parameter i of variant v. */
static int candidate_count(const qkv_variant *v, int i)
{
    int n = 0;
    while (n < QKV_MAX_CANDIDATES && v->params[i].candidates[n])
        n++;
    return n;
}

/* Every variant's search space: each parameter's candidates (the default in
 * brackets), the number of points, and how many of them the backend's
 * first device can run (its `valid` predicate). */
static void print_spaces(void)
{
    printf("\nsearch spaces (default in [brackets]; valid = points device 0 can run):\n");
    for (int o = 0; o < QKV_OP_COUNT; o++) {
        const qkv_op_info *op = qkv_ops[o];
        printf("  %s\n", op->name);
        for (const qkv_variant *const *vp = op->variants; *vp; vp++) {
            const qkv_variant *v = *vp;
            if (v->nparams == 0)
                continue;
            size_t total = 1;
            for (int i = 0; i < v->nparams; i++)
                total *= (size_t)candidate_count(v, i);
            for (int b = 0; b < QKV_BACKEND_COUNT; b++) {
                const qkv_backend_kind kind = (qkv_backend_kind)b;
                if (!(v->backends & QKV_ON(kind)) || !qkv_backend_compiled(kind))
                    continue;
                qkv_device_info dev;
                const bool have =
                    qkv_device_count(kind) > 0 && qkv_device_describe(kind, 0, &dev) == QKV_OK;
                size_t valid = 0;
                for (size_t k = 0; have && k < total; k++) {
                    qkv_tile_params tile;
                    size_t rest = k;
                    for (int i = 0; i < v->nparams; i++) {
                        const size_t n = (size_t)candidate_count(v, i);
                        tile.value[i] = v->params[i].candidates[rest % n];
                        rest /= n;
                    }
                    valid += !v->valid || v->valid(&tile, &dev);
                }
                printf("      %-7s %-8s %zu points", qkv_backend_name(kind), v->name, total);
                if (have)
                    printf(", %zu valid on %s", valid, dev.name);
                printf("\n");
            }
            for (int i = 0; i < v->nparams; i++) {
                const qkv_tile_param_def *d = &v->params[i];
                printf("          %-14s", d->name);
                for (int c = 0; c < candidate_count(v, i); c++)
                    printf(d->candidates[c] == d->default_value ? " [%d]" : " %d",
                           d->candidates[c]);
                printf("\n");
            }
        }
    }
}

int cmd_info(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        printf("usage: qkv info [--spaces]\n\nPrints each backend (compiled or not), its devices "
               "with name, architecture,\nruntime version and limits, then every op with its "
               "variants per backend\n('*' marks the one device 0 runs by default), the tile "
               "parameters a call\nuses with each and where they come from (override, device "
               "or architecture\ntable, default).  QKV_VARIANT and qkv_set_variant select "
               "another variant.\n\n"
               "  --spaces   also print every variant's search space: the candidates\n"
               "             of each parameter, the number of points and how many of them\n"
               "             the backend's first device can run\n");
        return 0;
    }
    const bool spaces = argc == 2 && strcmp(argv[1], "--spaces") == 0;
    if (argc > 1 && !spaces) {
        fprintf(stderr, "qkv info: unexpected argument '%s'\n", argv[1]);
        return 2;
    }
    printf("backends:\n");
    for (int b = 0; b < QKV_BACKEND_COUNT; b++) {
        const qkv_backend_kind kind = (qkv_backend_kind)b;
        if (!qkv_backend_compiled(kind)) {
            printf("  %s: not compiled into this build\n", qkv_backend_name(kind));
            continue;
        }
        const int n = qkv_device_count(kind);
        if (n == 0)
            printf("  %s: compiled, no device found%s\n", qkv_backend_name(kind),
                   kind == QKV_BACKEND_CUDA ? " (no driver libcuda.so.1 or no GPU)" : "");
        for (int i = 0; i < n; i++) {
            qkv_device_info d;
            if (qkv_device_describe(kind, i, &d) == QKV_OK)
                print_device(&d);
            else
                printf("  %s:%d: %s\n", qkv_backend_name(kind), i, qkv_last_error());
        }
    }
    print_registry();
    if (spaces)
        print_spaces();
    return 0;
}
