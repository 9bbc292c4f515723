/* tuning.c - tuning tables at run time (format: docs/tuning.md).
 *
 * A table file holds one device:
 *     device <backend> <device-key>
 *     arch <backend> <arch-key>
 *     entry op=<name> variant=<name> class=<bound> params=<k=v,...>
 *           [tuned_us=<time>] [provenance key=value ...]
 * A context keeps the entries of files whose device key (level "device") or
 * arch key (level "arch") match its own; an entry whose variant is unknown
 * or cannot run on the device, or whose parameters are not in the variant's
 * space or do not fit the device, is dropped with a warning at load; one
 * that fails verification (the hook the tools install) on first use is
 * dropped then. */
#include "tuning.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const size_t qkv_size_class_bound[QKV_SIZE_CLASSES] = {1, 16, 128, 1024, 4096, 16384, SIZE_MAX};

typedef struct tuning_entry {
    qkv_op_id op;
    const qkv_variant *variant;
    double tuned_us; /* its measured time (HUGE_VAL when not recorded) */
    int size_class;
    qkv_tile_level level;
    int verified; /* 0 not yet, 1 passed, -1 failed */
    qkv_tile_params tile;
    char source[256]; /* file:line, for warnings */
} tuning_entry;

typedef struct qkv_tuning {
    int n, cap;
    tuning_entry *entries;
    const qkv_variant *variant_override[QKV_OP_COUNT]; /* qkv_set_variant */
    const qkv_variant *tile_override_variant[QKV_OP_COUNT]; /* qkv_set_tile_params */
    qkv_tile_params tile_override[QKV_OP_COUNT];
} qkv_tuning;

/* What qkv_tile_force set in this thread, for calls of this thread on
 * `ctx` only (a thread forces on one context at a time). */
static _Thread_local struct {
    const qkv_context *ctx;
    const qkv_variant *variant[QKV_OP_COUNT];
    const qkv_tile_params *tile[QKV_OP_COUNT];
} forced;

static qkv_tile_verifier verifier;

const char *qkv_tile_level_name(qkv_tile_level level)
{
    static const char *const names[] = {"default", "arch", "device", "override"};
    return names[level];
}

int qkv_size_class(size_t size)
{
    int c = 0;
    while (size > qkv_size_class_bound[c])
        c++;
    return c;
}

/* A warning on stderr, unless QKV_QUIET=1. */
static void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warn(const char *fmt, ...)
{
    const char *quiet = getenv("QKV_QUIET");
    if (quiet && strcmp(quiet, "1") == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

FILE *qkv_open_regular(const char *path, long long max_bytes, long long *size, char *why,
                       size_t why_size)
{
    const int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, why_size, "%s", strerror(errno));
        return NULL;
    }
    struct stat st;
    FILE *f = NULL;
    if (fstat(fd, &st) != 0)
        snprintf(why, why_size, "%s", strerror(errno));
    else if (!S_ISREG(st.st_mode))
        snprintf(why, why_size, "not a regular file");
    else if (max_bytes > 0 && (long long)st.st_size > max_bytes)
        snprintf(why, why_size, "%lld bytes, more than the %lld allowed",
                 (long long)st.st_size, max_bytes);
    else if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0 ||
             !(f = fdopen(fd, "rb")))
        snprintf(why, why_size, "%s", strerror(errno));
    if (!f) {
        close(fd);
        return NULL;
    }
    if (size)
        *size = (long long)st.st_size;
    return f;
}

/* Lower-case `text` with runs of other characters folded to '-'. */
static void normalise(const char *prefix, const char *text, char *out, size_t size)
{
    size_t n = (size_t)snprintf(out, size, "%s", prefix);
    bool dash = true;
    for (const char *p = text; *p && n + 1 < size; p++) {
        if (isalnum((unsigned char)*p)) {
            out[n++] = (char)tolower((unsigned char)*p);
            dash = false;
        } else if (!dash) {
            out[n++] = '-';
            dash = true;
        }
    }
    while (n > 0 && out[n - 1] == '-')
        n--;
    out[n < size ? n : size - 1] = '\0';
}

void qkv_device_key(const qkv_device_info *dev, char *out, size_t size)
{
    char prefix[32], identity[sizeof dev->name + sizeof dev->microarch + 1];
    snprintf(prefix, sizeof prefix, "%s-", qkv_backend_name(dev->backend));
    snprintf(identity, sizeof identity, "%s %s", dev->name, dev->microarch);
    normalise(prefix, identity, out, size);
}

void qkv_arch_key(const qkv_device_info *dev, char *out, size_t size)
{
    char prefix[32];
    snprintf(prefix, sizeof prefix, "%s-", qkv_backend_name(dev->backend));
    normalise(prefix, dev->microarch[0] ? dev->microarch : dev->arch, out, size);
}

/* Index of parameter `name` in v's space, or -1. */
static int param_index(const qkv_variant *v, const char *name, size_t len)
{
    for (int i = 0; i < v->nparams; i++)
        if (strlen(v->params[i].name) == len && strncmp(v->params[i].name, name, len) == 0)
            return i;
    return -1;
}

static bool is_candidate(const qkv_tile_param_def *def, long v)
{
    for (int k = 0; k < QKV_MAX_CANDIDATES && def->candidates[k]; k++)
        if (def->candidates[k] == v)
            return true;
    return false;
}

/* Value of the plain decimal digits in [text, end) (no sign, no spaces, at
 * most 9 digits) in *value; false otherwise. */
static bool plain_decimal(const char *text, const char *end, long *value)
{
    if (end <= text || end - text > 9)
        return false;
    *value = 0;
    for (const char *p = text; p < end; p++) {
        if (*p < '0' || *p > '9')
            return false;
        *value = 10 * *value + (*p - '0');
    }
    return true;
}

bool qkv_tile_parse(const qkv_variant *v, const qkv_device_info *dev, const char *text,
                    qkv_tile_params *tile, char *why, size_t why_size)
{
    qkv_tile_defaults(v, tile);
    bool given[QKV_MAX_TILE_PARAMS] = {false};
    const char *p = text;
    while (*p) {
        const char *end = p + strcspn(p, ","), *eq = strchr(p, '=');
        if (!eq || eq > end) {
            snprintf(why, why_size, "'%.*s' is not name=value", (int)(end - p), p);
            return false;
        }
        const int i = param_index(v, p, (size_t)(eq - p));
        long value;
        if (i < 0) {
            snprintf(why, why_size, "no tile parameter '%.*s'", (int)(eq - p), p);
            return false;
        }
        if (given[i]) {
            snprintf(why, why_size, "%s is given twice", v->params[i].name);
            return false;
        }
        if (!plain_decimal(eq + 1, end, &value) || !is_candidate(&v->params[i], value)) {
            snprintf(why, why_size, "%s=%.*s is not among its candidate values",
                     v->params[i].name, (int)(end - eq - 1), eq + 1);
            return false;
        }
        if (end[0] == ',' && end[1] == '\0') {
            snprintf(why, why_size, "a trailing comma");
            return false;
        }
        given[i] = true;
        tile->value[i] = (int)value;
        p = *end ? end + 1 : end;
    }
    if (v->valid && dev && !v->valid(tile, dev)) {
        snprintf(why, why_size, "the configuration does not fit the device's limits");
        return false;
    }
    return true;
}

void qkv_tile_format(const qkv_variant *v, const qkv_tile_params *tile, char *out,
                     size_t size)
{
    size_t n = 0;
    out[0] = '\0';
    for (int i = 0; i < v->nparams && n < size; i++)
        n += (size_t)snprintf(out + n, size - n, "%s%s=%d", i ? "," : "", v->params[i].name,
                              tile->value[i]);
}

static qkv_tuning *tuning_of(qkv_context *ctx)
{
    if (!ctx->tuning)
        ctx->tuning = calloc(1, sizeof *ctx->tuning);
    return ctx->tuning;
}

/* Value of `key=` in a whitespace-separated line, copied into out: 1 if
 * found once, 0 if absent, -1 if repeated or longer than out holds. */
static int field(const char *line, const char *key, char *out, size_t size)
{
    const size_t klen = strlen(key);
    int found = 0;
    for (const char *p = line; (p = strstr(p, key)); p += klen) {
        if ((p == line || isspace((unsigned char)p[-1])) && p[klen] == '=') {
            const size_t len = strcspn(p + klen + 1, " \t\r\n");
            if (found || len >= size)
                return -1;
            snprintf(out, size, "%.*s", (int)len, p + klen + 1);
            found = 1;
        }
    }
    return found;
}

/* Shape class whose bound is written exactly as `text` ("16", ..., "max");
 * -1 for anything else (signs, leading zeros, other numbers). */
static int class_of(const char *text)
{
    if (strcmp(text, "max") == 0)
        return QKV_SIZE_CLASSES - 1;
    for (int c = 0; c < QKV_SIZE_CLASSES - 1; c++) {
        char bound[24];
        snprintf(bound, sizeof bound, "%zu", qkv_size_class_bound[c]);
        if (strcmp(text, bound) == 0)
            return c;
    }
    return -1;
}

/* Parse one "entry" line into t; warns and returns false when unusable. */
static bool parse_entry(qkv_context *ctx, const char *line, const char *where,
                        tuning_entry *t)
{
    char op[64], variant[64], cls[32], params[256], why[160], us[32] = "";
    if (field(line, "op", op, sizeof op) != 1 ||
        field(line, "variant", variant, sizeof variant) != 1 ||
        field(line, "class", cls, sizeof cls) != 1 ||
        field(line, "params", params, sizeof params) != 1) {
        warn("qkv: warning: %s: malformed entry (needs op=, variant=, class=, params= once "
             "each, of bounded length): line ignored\n",
             where);
        return false;
    }
    const qkv_op_info *info = qkv_op_find(op);
    if (!info || !qkv_op_on_backend(info->id, ctx->backend->kind)) {
        warn("qkv: warning: %s: op '%s' unknown on this backend: line ignored\n", where, op);
        return false;
    }
    const qkv_variant *v = qkv_variant_find(info->id, ctx->backend->kind, variant);
    if (!v) {
        warn("qkv: warning: %s: %s has no variant '%s' on this backend: line ignored\n", where,
             op, variant);
        return false;
    }
    if (!qkv_variant_supports(v, ctx, NULL)) /* e.g. avx512 with QKV_CPU_ISA=avx2 */
        return false;
    const int size_class = class_of(cls);
    if (size_class < 0) {
        warn("qkv: warning: %s: class '%s' is not a class bound (1, 16, 128, 1024, 4096, "
             "16384 or max): line ignored\n",
             where, cls);
        return false;
    }
    if (!qkv_tile_parse(v, &ctx->info, params, &t->tile, why, sizeof why)) {
        warn("qkv: warning: %s: parameters %s (%s): line ignored\n", where, params, why);
        return false;
    }
    t->tuned_us = HUGE_VAL;
    const int has_us = field(line, "tuned_us", us, sizeof us);
    char *us_end = us;
    if (has_us == 1)
        t->tuned_us = strtod(us, &us_end);
    if (has_us < 0 || *us_end != '\0' || !(t->tuned_us > 0)) {
        warn("qkv: warning: %s: tuned_us is not one positive number: line ignored\n", where);
        return false;
    }
    t->op = info->id;
    t->variant = v;
    t->size_class = size_class;
    snprintf(t->source, sizeof t->source, "%s", where);
    return true;
}

static void add_entry(qkv_tuning *tu, const tuning_entry *t)
{
    if (tu->n == tu->cap) {
        const int cap = tu->cap ? 2 * tu->cap : 16;
        tuning_entry *e = realloc(tu->entries, (size_t)cap * sizeof *e);
        if (!e)
            return;
        tu->entries = e;
        tu->cap = cap;
    }
    tu->entries[tu->n++] = *t;
}

/* Longest table line (bytes, newline included). */
#define TABLE_LINE_MAX 1024

/* Read the next line of f into line (TABLE_LINE_MAX bytes); false at the
 * end.  A longer line is consumed whole and *too_long is set. */
static bool next_line(FILE *f, char *line, bool *too_long)
{
    if (!fgets(line, TABLE_LINE_MAX, f))
        return false;
    const size_t len = strlen(line);
    *too_long = len == TABLE_LINE_MAX - 1 && line[len - 1] != '\n' && !feof(f);
    if (*too_long) {
        int c;
        while ((c = getc(f)) != EOF && c != '\n')
            continue;
    }
    return true;
}

/* Load one table file: its entries join ctx's at device or arch level
 * when the file's keys match the context's device.  A bad entry line is
 * ignored (with a warning naming file:line); a file whose structure is
 * broken (a malformed device or arch line, an entry before the device
 * line, an unknown line, a read error) is ignored whole: entries read from
 * it before the bad line are dropped again. */
static void load_file(qkv_context *ctx, const char *path)
{
    char why[160];
    FILE *f = qkv_open_regular(path, QKV_TABLE_MAX_BYTES, NULL, why, sizeof why);
    if (!f) {
        warn("qkv: warning: %s: tuning table not read: %s\n", path, why);
        return;
    }
    char dev_key[160], arch_key[160], line[TABLE_LINE_MAX], problem[200] = "";
    qkv_device_key(&ctx->info, dev_key, sizeof dev_key);
    qkv_arch_key(&ctx->info, arch_key, sizeof arch_key);
    qkv_tile_level level = QKV_LEVEL_DEFAULT;
    bool device_seen = false, too_long;
    const int kept_before = ctx->tuning ? ctx->tuning->n : 0;
    int lineno = 1;
    for (; !problem[0] && next_line(f, line, &too_long); lineno++) {
        char kind[16] = "", backend[32] = "", key[160] = "", where[200];
        snprintf(where, sizeof where, "%s:%d", path, lineno);
        if (too_long) {
            warn("qkv: warning: %s: line longer than %d bytes: line ignored\n", where,
                 TABLE_LINE_MAX - 1);
            continue;
        }
        if (line[0] == '#' || sscanf(line, "%15s", kind) != 1)
            continue;
        if (strcmp(kind, "device") == 0 || strcmp(kind, "arch") == 0) {
            if (sscanf(line, "%*s %31s %159s", backend, key) != 2) {
                snprintf(problem, sizeof problem, "malformed %s line", kind);
                continue;
            }
            const bool match = strcmp(kind[0] == 'd' ? dev_key : arch_key, key) == 0;
            if (kind[0] == 'd') {
                device_seen = true;
                level = match ? QKV_LEVEL_DEVICE : QKV_LEVEL_DEFAULT;
            } else if (level == QKV_LEVEL_DEFAULT && match) {
                level = QKV_LEVEL_ARCH;
            }
        } else if (strcmp(kind, "entry") == 0) {
            tuning_entry t = {.level = level};
            if (!device_seen)
                snprintf(problem, sizeof problem, "entry before the device line");
            else if (level != QKV_LEVEL_DEFAULT && parse_entry(ctx, line, where, &t))
                add_entry(tuning_of(ctx), &t);
        } else {
            snprintf(problem, sizeof problem, "unknown line '%s'", kind);
        }
    }
    if (!problem[0] && ferror(f))
        snprintf(problem, sizeof problem, "read error");
    fclose(f);
    if (problem[0]) {
        warn("qkv: warning: %s:%d: %s: file ignored (none of its entries are used)\n", path,
             lineno - 1, problem);
        if (ctx->tuning)
            ctx->tuning->n = kept_before;
    }
}

/* Load every *.txt table of a directory, or one file. */
static void load_path(qkv_context *ctx, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        load_file(ctx, path);
        return;
    }
    DIR *d = opendir(path);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        const size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".txt") == 0) {
            char file[4096];
            snprintf(file, sizeof file, "%s/%s", path, e->d_name);
            load_file(ctx, file);
        }
    }
    closedir(d);
}

/* $QKV_TILE_PARAMS = "[backend.]op[/variant]:k=v,k=v;..." (no prefix: every
 * backend) */
static void load_env_overrides(qkv_context *ctx)
{
    const char *env = getenv("QKV_TILE_PARAMS");
    if (!env)
        return;
    char *copy = strdup(env), *save = NULL;
    for (char *item = strtok_r(copy, ";", &save); item; item = strtok_r(NULL, ";", &save)) {
        char *colon = strchr(item, ':');
        if (!colon) {
            warn("qkv: warning: QKV_TILE_PARAMS item '%s' is not op:params: ignored\n", item);
            continue;
        }
        *colon = '\0';
        char *dot = strchr(item, '.'); /* optional backend prefix: "cpu.op" */
        if (dot) {
            *dot = '\0';
            if (strcmp(item, qkv_backend_name(ctx->backend->kind)) != 0)
                continue;
            item = dot + 1;
        }
        if (qkv_set_tile_params(ctx, item, colon + 1) != QKV_OK)
            warn("qkv: warning: QKV_TILE_PARAMS: %s: ignored\n", qkv_last_error());
    }
    free(copy);
}

/* $QKV_VARIANT = "[backend.]op=variant;..." (op "*": every op that has the
 * variant on this backend; no prefix: every backend). */
static void load_env_variants(qkv_context *ctx)
{
    const char *env = getenv("QKV_VARIANT");
    if (!env)
        return;
    char *copy = strdup(env), *save = NULL;
    for (char *item = strtok_r(copy, ";", &save); item; item = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(item, '=');
        if (!eq) {
            warn("qkv: warning: QKV_VARIANT item '%s' is not op=variant: ignored\n", item);
            continue;
        }
        *eq = '\0';
        char *dot = strchr(item, '.');
        if (dot) {
            *dot = '\0';
            if (strcmp(item, qkv_backend_name(ctx->backend->kind)) != 0)
                continue;
            item = dot + 1;
        }
        if (strcmp(item, "*") != 0) {
            if (qkv_set_variant(ctx, item, eq + 1) != QKV_OK)
                warn("qkv: warning: QKV_VARIANT: %s: ignored\n", qkv_last_error());
            continue;
        }
        for (int op = 0; op < QKV_OP_COUNT; op++)
            if (qkv_variant_find((qkv_op_id)op, ctx->backend->kind, eq + 1))
                (void)qkv_set_variant(ctx, qkv_ops[op]->name, eq + 1);
    }
    free(copy);
}

void qkv_tuning_load(qkv_context *ctx)
{
    const char *only = getenv("QKV_TUNING_ONLY_PATH"); /* 1: skip the built-in places */
    if (!only || strcmp(only, "1") != 0) {
#ifdef QKV_DATADIR
        load_path(ctx, QKV_DATADIR "/tuning");
#endif
#ifdef QKV_SRCDIR
        load_path(ctx, QKV_SRCDIR "/results/tuning");
#endif
    }
    const char *env = getenv("QKV_TUNING_PATH");
    if (env)
        load_path(ctx, env);
    load_env_variants(ctx);
    load_env_overrides(ctx);
}

void qkv_tuning_free(qkv_context *ctx)
{
    if (ctx->tuning)
        free(ctx->tuning->entries);
    free(ctx->tuning);
    ctx->tuning = NULL;
}

void qkv_tuning_set_verifier(qkv_tile_verifier v) { verifier = v; }

void qkv_tile_force(qkv_context *ctx, const qkv_variant *v, const qkv_tile_params *tile)
{
    if (forced.ctx != ctx) {
        memset(&forced, 0, sizeof forced);
        forced.ctx = ctx;
    }
    forced.variant[v->op] = tile ? v : NULL;
    forced.tile[v->op] = tile;
}

/* Verify entry e on ctx once (when a verifier is installed); false, with a
 * warning, if it fails. */
static bool entry_usable(qkv_context *ctx, tuning_entry *e)
{
    if (e->verified == 0) {
        bool ok = true;
        if (verifier) {
            const qkv_tile_params tile = e->tile;
            qkv_tile_force(ctx, e->variant, &tile);
            ok = verifier(ctx, e->op);
            qkv_tile_force(ctx, e->variant, NULL);
        }
        e->verified = ok ? 1 : -1;
        if (!ok)
            warn("qkv: warning: %s: parameters fail verification against the reference on "
                 "this device: ignored\n",
                 e->source);
    }
    return e->verified > 0;
}

/* Whether v may answer the call (params NULL: a question about the
 * device's default, which a fast-only variant never is). */
static bool choosable(const qkv_variant *v, const qkv_context *ctx, const void *params)
{
    return qkv_variant_supports(v, ctx, params) && (params || !v->fast_only);
}

/* The table entry of op at `level` nearest to size class `want` whose
 * variant is `only` (NULL: any) and supports the call; among entries of
 * one class the fastest.  NULL if none. */
static tuning_entry *nearest_entry(qkv_context *ctx, qkv_op_id op, int level, int want,
                                   const qkv_variant *only, const void *params)
{
    qkv_tuning *tu = ctx->tuning;
    tuning_entry *best = NULL;
    for (int i = 0; i < tu->n; i++) {
        tuning_entry *e = &tu->entries[i];
        if (e->op != op || (int)e->level != level || e->verified < 0 ||
            (only && e->variant != only) || !choosable(e->variant, ctx, params))
            continue;
        const int d = abs(e->size_class - want), bd = best ? abs(best->size_class - want) : 99;
        if (d < bd || (best && d == bd && (e->size_class < best->size_class ||
                                           (e->size_class == best->size_class &&
                                            e->tuned_us < best->tuned_us))))
            best = e;
    }
    return best;
}

/* The first variant of op, in list order, that supports the call and may
 * be chosen without being asked for; NULL if none. */
static const qkv_variant *first_supporting(const qkv_context *ctx, qkv_op_id op,
                                           const void *params)
{
    for (const qkv_variant *const *v = qkv_ops[op]->variants; *v; v++)
        if (!(*v)->needs_selection && choosable(*v, ctx, params))
            return *v;
    return NULL;
}

qkv_status qkv_choose(qkv_context *ctx, qkv_op_id op, const qkv_variant *asked,
                      const void *params, size_t size, qkv_choice *out)
{
    const qkv_op_info *info = qkv_ops[op];
    qkv_tuning *tu = ctx->tuning;
    if (forced.ctx == ctx && forced.tile[op]) {
        *out = (qkv_choice){forced.variant[op], *forced.tile[op], QKV_LEVEL_OVERRIDE};
        return qkv_variant_supports(out->variant, ctx, params)
                   ? QKV_OK
                   : qkv_fail(QKV_ERR_UNSUPPORTED, "%s: variant '%s' does not support this call",
                              info->name, out->variant->name);
    }
    const qkv_variant *only = asked ? asked : tu ? tu->variant_override[op] : NULL;
    if (only && !qkv_variant_supports(only, ctx, params))
        return qkv_fail(QKV_ERR_UNSUPPORTED, "%s: the selected variant '%s' does not support "
                        "this call on %s", info->name, only->name, ctx->info.name);
    const qkv_variant *tiled = tu ? tu->tile_override_variant[op] : NULL;
    if (tiled && (!only || only == tiled) && qkv_variant_supports(tiled, ctx, params)) {
        *out = (qkv_choice){tiled, tu->tile_override[op], QKV_LEVEL_OVERRIDE};
        return QKV_OK;
    }
    const int want = qkv_size_class(size);
    for (int level = QKV_LEVEL_DEVICE; tu && level >= QKV_LEVEL_ARCH; level--) {
        tuning_entry *e; /* an entry failing verification drops out: look again */
        while ((e = nearest_entry(ctx, op, level, want, only, params)))
            if (entry_usable(ctx, e)) {
                *out = (qkv_choice){e->variant, e->tile, (qkv_tile_level)level};
                return QKV_OK;
            }
    }
    const qkv_variant *v = only ? only : first_supporting(ctx, op, params);
    if (!v)
        return qkv_fail(QKV_ERR_UNSUPPORTED, "%s: no variant on %s supports this call",
                        info->name, qkv_backend_name(ctx->backend->kind));
    out->variant = v;
    out->level = QKV_LEVEL_DEFAULT;
    qkv_tile_defaults(v, &out->tile);
    return QKV_OK;
}

/* "op" or "op/variant": the op and the variant named (NULL if none);
 * fails with a message naming the caller `fn`. */
static qkv_status parse_op_name(const qkv_context *ctx, const char *fn, const char *text,
                                const qkv_op_info **info, const qkv_variant **v)
{
    char name[96];
    snprintf(name, sizeof name, "%s", text);
    char *slash = strchr(name, '/');
    if (slash)
        *slash = '\0';
    *info = qkv_op_find(name);
    *v = NULL;
    if (!*info)
        return qkv_fail(QKV_ERR_INVALID_ARG, "%s: unknown op '%s'", fn, name);
    if (!qkv_op_on_backend((*info)->id, ctx->backend->kind))
        return qkv_fail(QKV_ERR_UNSUPPORTED, "%s: %s has no %s kernel", fn, name,
                        qkv_backend_name(ctx->backend->kind));
    if (slash && !(*v = qkv_variant_find((*info)->id, ctx->backend->kind, slash + 1)))
        return qkv_fail(QKV_ERR_INVALID_ARG, "%s: %s has no variant '%s' on %s (see qkv info)",
                        fn, name, slash + 1, qkv_backend_name(ctx->backend->kind));
    return QKV_OK;
}

static qkv_status set_variant_locked(qkv_context *ctx, const char *op, const char *variant)
{
    if (!ctx || !op)
        return qkv_fail(QKV_ERR_INVALID_ARG, "qkv_set_variant: NULL argument");
    const qkv_op_info *info;
    const qkv_variant *v;
    qkv_status st = parse_op_name(ctx, "qkv_set_variant", op, &info, &v);
    if (st != QKV_OK)
        return st;
    qkv_tuning *tu = tuning_of(ctx);
    if (!tu)
        return qkv_fail(QKV_ERR_NO_MEMORY, "qkv_set_variant: out of host memory");
    if (variant) {
        v = qkv_variant_find(info->id, ctx->backend->kind, variant);
        if (!v)
            return qkv_fail(QKV_ERR_INVALID_ARG, "qkv_set_variant: %s has no variant '%s' on %s",
                            info->name, variant, qkv_backend_name(ctx->backend->kind));
        if (!qkv_variant_supports(v, ctx, NULL))
            return qkv_fail(QKV_ERR_UNSUPPORTED, "qkv_set_variant: %s variant '%s' cannot run on "
                            "%s", info->name, variant, ctx->info.name);
    }
    tu->variant_override[info->id] = variant ? v : NULL;
    return QKV_OK;
}

static qkv_status set_tile_params_locked(qkv_context *ctx, const char *op, const char *params)
{
    if (!ctx || !op)
        return qkv_fail(QKV_ERR_INVALID_ARG, "qkv_set_tile_params: NULL argument");
    const qkv_op_info *info;
    const qkv_variant *v;
    qkv_status st = parse_op_name(ctx, "qkv_set_tile_params", op, &info, &v);
    if (st != QKV_OK)
        return st;
    qkv_tuning *tu = tuning_of(ctx);
    if (!tu)
        return qkv_fail(QKV_ERR_NO_MEMORY, "qkv_set_tile_params: out of host memory");
    if (!params) {
        tu->tile_override_variant[info->id] = NULL;
        return QKV_OK;
    }
    if (!v) /* the selected variant, else the device's first */
        v = tu->variant_override[info->id] ? tu->variant_override[info->id]
                                           : first_supporting(ctx, info->id, NULL);
    if (!v || !qkv_variant_supports(v, ctx, NULL))
        return qkv_fail(QKV_ERR_UNSUPPORTED, "qkv_set_tile_params: %s: no variant to set "
                        "parameters of on %s", info->name, ctx->info.name);
    qkv_tile_params tile;
    char why[160];
    if (!qkv_tile_parse(v, &ctx->info, params, &tile, why, sizeof why))
        return qkv_fail(QKV_ERR_INVALID_ARG, "qkv_set_tile_params: %s/%s: %s", info->name,
                        v->name, why);
    tu->tile_override[info->id] = tile;
    tu->tile_override_variant[info->id] = v;
    return QKV_OK;
}

static qkv_status get_tile_params_locked(qkv_context *ctx, const char *op, size_t size,
                                         char *params, size_t params_size,
                                         const char **variant, const char **level)
{
    if (!ctx || !op || !params || !params_size)
        return qkv_fail(QKV_ERR_INVALID_ARG, "qkv_get_tile_params: NULL argument");
    const qkv_op_info *info;
    const qkv_variant *v;
    qkv_status st = parse_op_name(ctx, "qkv_get_tile_params", op, &info, &v);
    if (st != QKV_OK)
        return st;
    qkv_choice ch;
    if ((st = qkv_choose(ctx, info->id, v, NULL, size, &ch)) != QKV_OK)
        return st;
    qkv_tile_format(ch.variant, &ch.tile, params, params_size);
    if (variant)
        *variant = ch.variant->name;
    if (level)
        *level = qkv_tile_level_name(ch.level);
    return QKV_OK;
}

/* The public entry points of the tuning state: under the context's lock,
 * so threads sharing a context see whole updates. */
qkv_status qkv_set_variant(qkv_context *ctx, const char *op, const char *variant)
{
    if (!ctx)
        return qkv_fail(QKV_ERR_INVALID_ARG, "qkv_set_variant: NULL argument");
    qkv_context_lock(ctx);
    const qkv_status st = set_variant_locked(ctx, op, variant);
    qkv_context_unlock(ctx);
    return st;
}

qkv_status qkv_set_tile_params(qkv_context *ctx, const char *op, const char *params)
{
    if (!ctx)
        return qkv_fail(QKV_ERR_INVALID_ARG, "qkv_set_tile_params: NULL argument");
    qkv_context_lock(ctx);
    const qkv_status st = set_tile_params_locked(ctx, op, params);
    qkv_context_unlock(ctx);
    return st;
}

qkv_status qkv_get_tile_params(qkv_context *ctx, const char *op, size_t size, char *params,
                               size_t params_size, const char **variant, const char **level)
{
    if (!ctx)
        return qkv_fail(QKV_ERR_INVALID_ARG, "qkv_get_tile_params: NULL argument");
    qkv_context_lock(ctx);
    const qkv_status st = get_tile_params_locked(ctx, op, size, params, params_size, variant,
                                                 level);
    qkv_context_unlock(ctx);
    return st;
}
