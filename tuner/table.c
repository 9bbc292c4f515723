/* table.c - writes tuning results into a per-device table file, one
 * "entry" line per (op, variant, shape class), keeping the other entries. */
#include "tuner.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#ifndef QKV_GIT_COMMIT
#define QKV_GIT_COMMIT "unknown"
#endif

/* Spaces to '_' so the value stays one field. */
static void one_field(const char *in, char *out, size_t size)
{
    snprintf(out, size, "%s", in);
    for (char *p = out; *p; p++)
        if (*p == ' ' || *p == '\t')
            *p = '_';
}

/* Entry lines of an existing table except those of (op, variant, cls). */
static char *kept_entries(const char *path, const char *op, const char *variant,
                          const char *cls)
{
    FILE *f = fopen(path, "r");
    size_t len = 0, cap = 4096;
    char *kept = calloc(1, cap), line[2048], want_op[96], want_variant[96], want_cls[48];
    snprintf(want_op, sizeof want_op, " op=%s ", op);
    snprintf(want_variant, sizeof want_variant, " variant=%s ", variant);
    snprintf(want_cls, sizeof want_cls, " class=%s ", cls);
    while (f && kept && fgets(line, sizeof line, f)) {
        if (strncmp(line, "entry ", 6) != 0 ||
            (strstr(line, want_op) && strstr(line, want_variant) && strstr(line, want_cls)))
            continue;
        const size_t n = strlen(line);
        if (len + n + 1 > cap) {
            char *grown = realloc(kept, cap = 2 * (len + n + 1));
            if (!grown)
                break;
            kept = grown;
        }
        memcpy(kept + len, line, n + 1);
        len += n;
    }
    if (f)
        fclose(f);
    return kept;
}

qkv_status qkv_tune_write_table(const char *dir, const qkv_context *ctx, const qkv_op_desc *op,
                                const qkv_variant *v, const qkv_op_shape *shape,
                                const qkv_tune_options *opt, const qkv_tune_result *res)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return qkv_fail(QKV_ERR_IO, "cannot create %s: %s", dir, strerror(errno));
    char dev[160], arch[160], path[4096], cls[32], params[256], runtime[160], date[16];
    qkv_device_key(&ctx->info, dev, sizeof dev);
    qkv_arch_key(&ctx->info, arch, sizeof arch);
    snprintf(path, sizeof path, "%s/%s.txt", dir, dev);
    const size_t bound = qkv_size_class_bound[qkv_size_class(op->class_size(shape))];
    if (bound == SIZE_MAX)
        snprintf(cls, sizeof cls, "max");
    else
        snprintf(cls, sizeof cls, "%zu", bound);
    qkv_tile_format(v, &res->best, params, sizeof params);
    one_field(ctx->info.version, runtime, sizeof runtime);
    const time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d", gmtime(&now));
    char *kept = kept_entries(path, op->info->name, v->name, cls);
    FILE *f = fopen(path, "w");
    if (!f || !kept) {
        free(kept);
        if (f)
            fclose(f);
        return qkv_fail(QKV_ERR_IO, "cannot write %s", path);
    }
    fprintf(f, "# qkv tuning table of %s (%s). Written by qkv tune; see docs/tuning.md.\n",
            ctx->info.name, ctx->info.arch);
    fprintf(f, "device %s %s\narch %s %s\n", qkv_backend_name(ctx->backend->kind), dev,
            qkv_backend_name(ctx->backend->kind), arch);
    fputs(kept, f);
    fprintf(f,
            "entry op=%s variant=%s class=%s params=%s tuned_us=%.1f default_us=%.1f speedup=%.2f "
            "shape=%s strategy=%s evals=%d space=%d clock=%s date=%s commit=%s runtime=%s\n",
            op->info->name, v->name, cls, params, res->best_us, res->default_us, res->default_us / res->best_us,
            shape->label, qkv_tune_strategy_name(opt->strategy), res->evals, res->space,
            qkv_clock_key(res->clock), date, QKV_GIT_COMMIT, runtime);
    free(kept);
    return fclose(f) == 0 ? QKV_OK : qkv_fail(QKV_ERR_IO, "cannot write %s", path);
}
