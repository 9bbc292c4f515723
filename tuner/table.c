/* table.c - writes tuning results into a per-device table file, one
 * "entry" line per (op, variant, shape class), keeping the other entries. */
#include "tuner.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

/* Entry lines of the existing table at path except those of (op,
 * variant, cls), each ending in a newline, in *kept (malloc'd); an absent
 * table keeps nothing.  Fails when the table exists but cannot be read
 * whole (not a regular file, too large, a read error): rewriting it would
 * lose its entries. */
static qkv_status kept_entries(const char *path, const char *op, const char *variant,
                               const char *cls, char **kept)
{
    char want_op[96], want_variant[96], want_cls[48], why[160];
    snprintf(want_op, sizeof want_op, " op=%s ", op);
    snprintf(want_variant, sizeof want_variant, " variant=%s ", variant);
    snprintf(want_cls, sizeof want_cls, " class=%s ", cls);
    size_t len = 0, cap = 4096;
    if (!(*kept = calloc(1, cap)))
        return qkv_fail(QKV_ERR_NO_MEMORY, "out of memory reading %s", path);
    struct stat st;
    if (stat(path, &st) != 0 && errno == ENOENT)
        return QKV_OK;
    FILE *f = qkv_open_regular(path, QKV_TABLE_MAX_BYTES, NULL, why, sizeof why);
    if (!f) {
        free(*kept);
        return qkv_fail(QKV_ERR_IO, "cannot read the existing table %s: %s", path, why);
    }
    char *line = NULL;
    size_t line_cap = 0;
    qkv_status status = QKV_OK;
    for (ssize_t n; status == QKV_OK && (n = getline(&line, &line_cap, f)) > 0;) {
        if (strncmp(line, "entry ", 6) != 0 ||
            (strstr(line, want_op) && strstr(line, want_variant) && strstr(line, want_cls)))
            continue;
        const bool has_newline = line[n - 1] == '\n';
        if (len + (size_t)n + 2 > cap) {
            char *grown = realloc(*kept, cap = 2 * (len + (size_t)n + 2));
            if (!grown) {
                status = qkv_fail(QKV_ERR_NO_MEMORY, "out of memory reading %s", path);
                break;
            }
            *kept = grown;
        }
        memcpy(*kept + len, line, (size_t)n);
        len += (size_t)n;
        if (!has_newline) /* a last line without one must not swallow the next entry */
            (*kept)[len++] = '\n';
        (*kept)[len] = '\0';
    }
    if (status == QKV_OK && ferror(f))
        status = qkv_fail(QKV_ERR_IO, "cannot read the existing table %s", path);
    free(line);
    fclose(f);
    if (status != QKV_OK) {
        free(*kept);
        *kept = NULL;
    }
    return status;
}

qkv_status qkv_tune_check_output(const char *dir, const char *cache_path)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return qkv_fail(QKV_ERR_IO, "cannot create the table folder %s: %s", dir,
                        strerror(errno));
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/.qkv-tune-probe-XXXXXX", dir);
    const int fd = mkstemp(probe);
    if (fd < 0)
        return qkv_fail(QKV_ERR_IO, "cannot write in the table folder %s: %s", dir,
                        strerror(errno));
    close(fd);
    unlink(probe);
    struct stat st;
    if (cache_path && stat(cache_path, &st) == 0 && !S_ISREG(st.st_mode))
        return qkv_fail(QKV_ERR_IO, "cache %s: not a regular file", cache_path);
    return QKV_OK;
}

/* Write `text` (the whole table) to path atomically: a temporary file in
 * the same folder, every write checked, flushed and synced, then renamed
 * over path.  On failure path is unchanged and the temporary removed. */
static qkv_status write_atomically(const char *dir, const char *path, const char *text)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s/.qkv-table-XXXXXX", dir);
    const int fd = mkstemp(tmp);
    if (fd < 0)
        return qkv_fail(QKV_ERR_IO, "cannot write in %s: %s", dir, strerror(errno));
    FILE *f = fdopen(fd, "w");
    const size_t len = strlen(text);
    bool ok = f && fchmod(fd, 0644) == 0 && fwrite(text, 1, len, f) == len && fflush(f) == 0 &&
              fsync(fd) == 0;
    int err = errno;
    if ((f ? fclose(f) : close(fd)) != 0 && ok) {
        ok = false;
        err = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = false;
        err = errno;
    }
    if (ok)
        return QKV_OK;
    unlink(tmp);
    return qkv_fail(QKV_ERR_IO, "cannot write %s: %s (the table is unchanged)", path,
                    strerror(err));
}

qkv_status qkv_tune_write_table(const char *dir, const qkv_context *ctx, const qkv_op_desc *op,
                                const qkv_variant *v, const qkv_op_shape *shape,
                                const qkv_tune_options *opt, const qkv_tune_result *res)
{
    qkv_status st = qkv_tune_check_output(dir, NULL);
    if (st != QKV_OK)
        return st;
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
    char *kept;
    if ((st = kept_entries(path, op->info->name, v->name, cls, &kept)) != QKV_OK)
        return st;
    char *text = NULL;
    size_t text_size = 0;
    FILE *out = open_memstream(&text, &text_size);
    if (!out) {
        free(kept);
        return qkv_fail(QKV_ERR_NO_MEMORY, "out of memory writing %s", path);
    }
    fprintf(out, "# qkv tuning table of %s (%s, %s). Written by qkv tune; see docs/tuning.md.\n",
            ctx->info.name, ctx->info.microarch[0] ? ctx->info.microarch : "microarch unknown",
            ctx->info.arch);
    fprintf(out, "device %s %s\narch %s %s\n", qkv_backend_name(ctx->backend->kind), dev,
            qkv_backend_name(ctx->backend->kind), arch);
    fputs(kept, out);
    fprintf(out,
            "entry op=%s variant=%s class=%s params=%s tuned_us=%.1f default_us=%.1f speedup=%.2f "
            "shape=%s strategy=%s evals=%d space=%d clock=%s date=%s commit=%s runtime=%s\n",
            op->info->name, v->name, cls, params, res->best_us, res->default_us, res->default_us / res->best_us,
            shape->label, qkv_tune_strategy_name(opt->strategy), res->evals, res->space,
            qkv_clock_key(res->clock), date, QKV_GIT_COMMIT, runtime);
    free(kept);
    const bool built = !ferror(out);
    if (fclose(out) != 0 || !built) {
        free(text);
        return qkv_fail(QKV_ERR_NO_MEMORY, "out of memory writing %s", path);
    }
    st = write_atomically(dir, path, text);
    free(text);
    return st;
}
