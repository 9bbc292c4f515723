/* tuner.c - search strategies, verified measurements and the table writer
 * (see tuner.h; the table format is in docs/tuning.md). */
#include "tuner.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TIE_MARGIN 0.02 /* a new winner must be this much faster */

const char *qkv_tune_strategy_name(qkv_tune_strategy s)
{
    static const char *const names[] = {"exhaustive", "random", "anneal"};
    return names[s];
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Everything one tuning run needs. */
typedef struct tuner {
    qkv_context *ctx;
    const qkv_op_desc *op;
    const qkv_variant *variant;
    const qkv_tune_options *opt;
    qkv_op_case tune_case, odd_case;
    qkv_buffer *bufs[QKV_CASE_MAX_TENSORS];
    char key_prefix[512]; /* device, op/variant, shape, clock, build of cache lines */
    bool cache_usable;    /* the build is known: cached times may be reused */
    int ncand[QKV_MAX_TILE_PARAMS];
    double start;
    qkv_tune_result *res;
} tuner;

/* Tile values of the configuration with candidate indices idx. */
static void tile_of(const tuner *t, const int *idx, qkv_tile_params *tile)
{
    qkv_tile_defaults(t->variant, tile);
    for (int i = 0; i < t->variant->nparams; i++)
        tile->value[i] = t->variant->params[i].candidates[idx[i]];
}

static bool tile_valid(const tuner *t, const qkv_tile_params *tile)
{
    return !t->variant->valid || t->variant->valid(tile, &t->ctx->info);
}

/* FNV-1a hash of the running executable, 0 if it cannot be read.  The
 * tuner lives in libqkv_dev, which links libqkv_core (every backend and
 * kernel source, embedded) statically, so this names the build of every
 * kernel a measurement timed. */
static uint64_t executable_hash(void)
{
    static uint64_t hash; /* computed once per process */
    if (hash)
        return hash;
    char why[160];
    FILE *f = qkv_open_regular("/proc/self/exe", 0, NULL, why, sizeof why);
    if (!f)
        return 0;
    uint64_t h = 14695981039346656037ULL;
    unsigned char chunk[65536];
    for (size_t n; (n = fread(chunk, 1, sizeof chunk, f)) > 0;)
        for (size_t i = 0; i < n; i++)
            h = (h ^ chunk[i]) * 1099511628211ULL;
    const bool complete = !ferror(f);
    fclose(f);
    return hash = complete ? h : 0;
}

/* Cached time of `params` (microseconds, or -1 for a failed check); false
 * if not in the cache, or the cache is unusable (unknown build, not a
 * regular file, larger than QKV_TUNE_CACHE_MAX_BYTES). */
static bool cache_lookup(const tuner *t, const char *params, double *us)
{
    char why[160];
    FILE *f = t->opt->cache_path && t->cache_usable
                  ? qkv_open_regular(t->opt->cache_path, QKV_TUNE_CACHE_MAX_BYTES, NULL, why,
                                     sizeof why)
                  : NULL;
    if (!f)
        return false;
    char line[1024], want[800];
    snprintf(want, sizeof want, "%s %s ", t->key_prefix, params);
    bool found = false;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, want, strlen(want)) == 0) {
            const char *v = line + strlen(want);
            *us = strncmp(v, "FAIL", 4) == 0 ? -1.0 : strtod(v, NULL);
            found = true; /* later lines win */
        }
    fclose(f);
    return found;
}

/* Append a measurement to the cache, if the cache is a regular file (or
 * absent: created); opened without blocking, so a FIFO is never waited on. */
static void cache_store(const tuner *t, const char *params, double us)
{
    if (!t->opt->cache_path)
        return;
    const int fd = open(t->opt->cache_path, O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC,
                        0644);
    struct stat st;
    FILE *f = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? fdopen(fd, "a") : NULL;
    if (!f) {
        if (fd >= 0)
            close(fd);
        return;
    }
    if (us < 0)
        fprintf(f, "%s %s FAIL\n", t->key_prefix, params);
    else
        fprintf(f, "%s %s %.3f\n", t->key_prefix, params, us);
    fclose(f);
}

/* One launch of the op on the tuning case's buffers (not waited for). */
static qkv_status launch_tune_case(void *arg)
{
    tuner *t = arg;
    return t->op->launch(t->ctx, &t->tune_case.shape, t->bufs);
}

/* Whether the op with `tile` forced matches the reference on the odd and
 * the tuning shape (guard regions included), or passes opt->check. */
static bool verifies(tuner *t, const qkv_tile_params *tile)
{
    if (t->opt->check)
        return t->opt->check(t->variant, tile);
    qkv_tile_force(t->ctx, t->variant, tile);
    qkv_check_result r_odd, r_tune;
    qkv_case_check(t->op, &t->odd_case, t->ctx, &r_odd);
    if (r_odd.pass)
        qkv_case_check(t->op, &t->tune_case, t->ctx, &r_tune);
    qkv_tile_force(t->ctx, t->variant, NULL);
    return r_odd.pass && r_tune.pass;
}

/* Median time of the op with `tile` forced, in microseconds, on the clock
 * of qkv_time_launch (device events or the host clock); warm-up runs go
 * through the same path untimed.  -1 if it does not verify. */
static double measure(tuner *t, const qkv_tile_params *tile)
{
    if (!verifies(t, tile))
        return -1.0;
    qkv_tile_force(t->ctx, t->variant, tile);
    double us = -1.0;
    const int reps = t->opt->repeats > 0 ? t->opt->repeats : 1;
    double *samples = malloc((size_t)reps * sizeof *samples);
    bool ok = samples != NULL;
    double warm_us;
    for (int i = 0; ok && i < t->opt->warmup; i++)
        ok = qkv_time_launch(t->ctx, launch_tune_case, t, &warm_us) == QKV_OK;
    for (int i = 0; ok && i < reps; i++)
        ok = qkv_time_launch(t->ctx, launch_tune_case, t, &samples[i]) == QKV_OK;
    if (ok) {
        qsort(samples, (size_t)reps, sizeof *samples, cmp_double);
        us = samples[reps / 2];
    }
    free(samples);
    qkv_tile_force(t->ctx, t->variant, NULL);
    return us;
}

/* Whether the budget in evaluations or seconds is spent. */
static bool budget_spent(const tuner *t)
{
    const qkv_tune_options *o = t->opt;
    return (o->max_evals > 0 && t->res->evals >= o->max_evals) ||
           (o->max_seconds > 0 && now_seconds() - t->start >= o->max_seconds);
}

/* Evaluate one configuration (cache first), update the winner; returns
 * its time (-1: failed verification). */
static double evaluate(tuner *t, const int *idx)
{
    qkv_tile_params tile;
    tile_of(t, idx, &tile);
    char params[256];
    qkv_tile_format(t->variant, &tile, params, sizeof params);
    double us;
    const bool cached = cache_lookup(t, params, &us);
    qkv_tune_result *r = t->res;
    /* a cached time that would win (or is the incumbent's) is verified now */
    const bool reverify = cached && us >= 0 && us < r->best_us * (1.0 - TIE_MARGIN);
    if (!cached) {
        us = measure(t, &tile);
        cache_store(t, params, us);
    } else if (reverify && !verifies(t, &tile)) {
        us = -1.0;
        cache_store(t, params, us);
    }
    r->evals++;
    if (us < 0)
        r->failed++;
    else if (us < r->best_us * (1.0 - TIE_MARGIN)) {
        r->best = tile;
        r->best_us = us;
    }
    if (t->opt->progress) {
        char time[32] = "FAIL";
        if (us >= 0)
            snprintf(time, sizeof time, "%.1f us", us);
        fprintf(t->opt->progress, "  [%3d] %-48s %12s%s   best %.1f us\n", r->evals, params,
                time, reverify ? " (cached, verified now)" : cached ? " (cached)" : "",
                r->best_us);
        fflush(t->opt->progress);
    }
    return us;
}

/* Candidate indices of the default configuration. */
static void default_indices(const tuner *t, int *idx)
{
    for (int i = 0; i < t->variant->nparams; i++) {
        idx[i] = 0;
        for (int k = 0; k < t->ncand[i]; k++)
            if (t->variant->params[i].candidates[k] == t->variant->params[i].default_value)
                idx[i] = k;
    }
}

/* Decode configuration number n (mixed radix) into indices. */
static void indices_of(const tuner *t, long n, int *idx)
{
    for (int i = t->variant->nparams - 1; i >= 0; i--) {
        idx[i] = (int)(n % t->ncand[i]);
        n /= t->ncand[i];
    }
}

/* Numbers of every configuration valid on the device; count in *n, size of
 * the whole space in *total. */
static long *valid_points(tuner *t, long *n, long *total_out)
{
    long total = 1;
    for (int i = 0; i < t->variant->nparams; i++)
        total *= t->ncand[i];
    *total_out = total;
    long *pts = malloc((size_t)total * sizeof *pts);
    *n = 0;
    for (long k = 0; pts && k < total; k++) {
        int idx[QKV_MAX_TILE_PARAMS];
        qkv_tile_params tile;
        indices_of(t, k, idx);
        tile_of(t, idx, &tile);
        if (tile_valid(t, &tile))
            pts[(*n)++] = k;
    }
    return pts;
}

/* Exhaustive, or random over a shuffled list of the valid points; the
 * default (already measured) is skipped. */
static void search_list(tuner *t, const long *pts, long n, long take, const int *def)
{
    for (long k = 0; k < n && take > 0 && !budget_spent(t); k++) {
        int idx[QKV_MAX_TILE_PARAMS];
        indices_of(t, pts[k], idx);
        if (memcmp(idx, def, (size_t)t->variant->nparams * sizeof *idx) == 0)
            continue;
        evaluate(t, idx);
        take--;
    }
}

static void shuffle(long *pts, long n, uint64_t *rng)
{
    for (long k = n - 1; k > 0; k--) {
        const long j = (long)(qkv_rng_next(rng) % (uint64_t)(k + 1));
        const long tmp = pts[k];
        pts[k] = pts[j];
        pts[j] = tmp;
    }
}

/* Mixed-radix number of the configuration with candidate indices idx. */
static long number_of(const tuner *t, const int *idx)
{
    long n = 0;
    for (int i = 0; i < t->variant->nparams; i++)
        n = n * t->ncand[i] + idx[i];
    return n;
}

/* A random valid point not measured yet (seen[k] is NaN), or -1. */
static long unvisited_point(const long *pts, long n, const double *seen, uint64_t *rng)
{
    for (int tries = 0; tries < 64 && n > 0; tries++) {
        const long k = pts[qkv_rng_next(rng) % (uint64_t)n];
        if (isnan(seen[k]))
            return k;
    }
    return -1;
}

/* Simulated annealing with restarts: from the default, move one parameter
 * one candidate up or down; accept worse moves with probability
 * exp(-relative loss / T).  Points are measured once (revisits reuse the
 * time); after 4 * nparams + 4 steps without a new best the walk restarts
 * at a random unmeasured point with the initial temperature. */
static void search_anneal(tuner *t, const int *start, double start_us, const long *pts,
                          long space, long total)
{
    uint64_t rng = t->opt->seed;
    double *seen = malloc((size_t)total * sizeof *seen);
    if (!seen)
        return;
    for (long k = 0; k < total; k++)
        seen[k] = NAN;
    int cur[QKV_MAX_TILE_PARAMS];
    memcpy(cur, start, sizeof cur);
    seen[number_of(t, cur)] = start_us;
    double cur_us = start_us < 0 ? 1e30 : start_us, best = cur_us, temp = 0.2;
    const int limit = t->opt->max_evals > 0 ? t->opt->max_evals : (int)(2 * space);
    const int patience = 4 * t->variant->nparams + 4;
    int stall = 0;
    for (int step = 0; step < 8 * limit && !budget_spent(t) && t->res->evals < space; step++) {
        int next[QKV_MAX_TILE_PARAMS];
        memcpy(next, cur, sizeof next);
        if (stall >= patience) { /* restart */
            const long k = unvisited_point(pts, space, seen, &rng);
            if (k < 0)
                break;
            indices_of(t, k, next);
            temp = 0.2;
            stall = 0;
            cur_us = 1e30; /* accept the restart point */
        } else {
            const int i = (int)(qkv_rng_next(&rng) % (uint64_t)t->variant->nparams);
            next[i] += (qkv_rng_next(&rng) & 1) ? 1 : -1;
            if (next[i] < 0 || next[i] >= t->ncand[i])
                continue;
        }
        qkv_tile_params tile;
        tile_of(t, next, &tile);
        if (!tile_valid(t, &tile))
            continue;
        const long k = number_of(t, next);
        double us = seen[k];
        stall++;
        if (isnan(us)) {
            us = seen[k] = evaluate(t, next);
            if (us >= 0 && us < best) {
                best = us;
                stall = 0;
            }
        }
        const double u = (double)(qkv_rng_next(&rng) >> 11) / 9007199254740992.0;
        if (us >= 0 && (us < cur_us || u < exp(-(us - cur_us) / cur_us / temp))) {
            memcpy(cur, next, sizeof cur);
            cur_us = us;
        }
        temp *= 0.93;
    }
    free(seen);
}

/* Prepare cases and device buffers; the default is measured first. */
static qkv_status tuner_setup(tuner *t, const qkv_op_shape *shape)
{
    qkv_op_shape small[32];
    const int ns = t->op->shapes("small", small, 32);
    if (!ns)
        return qkv_fail(QKV_ERR_UNSUPPORTED, "%s has no small validation shape", t->op->info->name);
    int odd = -1; /* the second small shape the variant runs, else the first */
    for (int k = 0; k < ns && odd < 0; k++) {
        const int i = k == 0 && ns > 1 ? 1 : k == 1 ? 0 : k;
        if (qkv_case_variant_runs(t->op, t->variant, t->ctx, &small[i]))
            odd = i;
    }
    if (odd < 0)
        return qkv_fail(QKV_ERR_UNSUPPORTED, "%s/%s runs none of its small validation shapes",
                        t->op->info->name, t->variant->name);
    qkv_status st = qkv_case_prepare(t->op, shape, 1, &t->tune_case);
    if (st != QKV_OK)
        return st;
    if ((st = qkv_case_prepare(t->op, &small[odd], 2, &t->odd_case)) != QKV_OK) {
        qkv_case_free(&t->tune_case);
        return st;
    }
    if ((st = qkv_case_upload(&t->tune_case, t->ctx, t->bufs)) != QKV_OK) {
        qkv_case_free(&t->tune_case);
        qkv_case_free(&t->odd_case);
    }
    return st;
}

qkv_status qkv_tune_op(qkv_context *ctx, const qkv_op_desc *op, const qkv_variant *v,
                       const qkv_op_shape *shape, const qkv_tune_options *opt,
                       qkv_tune_result *res)
{
    tuner t = {.ctx = ctx, .op = op, .variant = v, .opt = opt, .res = res, .start = now_seconds()};
    memset(res, 0, sizeof *res);
    if (v->nparams == 0 || !qkv_variant_supports(v, ctx, NULL))
        return qkv_fail(QKV_ERR_UNSUPPORTED, "%s: variant '%s' has no tile space on %s",
                        op->info->name, v->name, ctx->info.name);
    for (int i = 0; i < t.variant->nparams; i++)
        while (t.ncand[i] < QKV_MAX_CANDIDATES && t.variant->params[i].candidates[t.ncand[i]])
            t.ncand[i]++;
    res->clock = qkv_timer_clock(ctx);
    char dev[160], runtime[160];
    qkv_device_key(&ctx->info, dev, sizeof dev);
    snprintf(runtime, sizeof runtime, "%s", ctx->info.version);
    for (char *c = runtime; *c; c++) /* one field */
        if (*c == ' ' || *c == '\t')
            *c = '_';
    const uint64_t build = executable_hash();
    t.cache_usable = build != 0;
    snprintf(t.key_prefix, sizeof t.key_prefix, "%s %s/%s %s %s build=%016llx runtime=%s", dev,
             op->info->name, v->name, shape->label, qkv_clock_key(res->clock),
             (unsigned long long)build, runtime);
    if (opt->progress)
        fprintf(opt->progress, "  timing: median of %d runs after %d warm-up runs, %s\n",
                opt->repeats > 0 ? opt->repeats : 1, opt->warmup, qkv_clock_name(res->clock));
    qkv_status st = tuner_setup(&t, shape);
    if (st != QKV_OK)
        return st;
    long n = 0, total = 0;
    long *pts = valid_points(&t, &n, &total);
    res->space = (int)n;
    int idx[QKV_MAX_TILE_PARAMS];
    default_indices(&t, idx);
    qkv_tile_defaults(t.variant, &res->defaults);
    res->best = res->defaults;
    res->best_us = 1e30;
    res->default_us = evaluate(&t, idx); /* the incumbent */
    if (res->default_us < 0)
        st = qkv_fail(QKV_ERR_BACKEND, "%s/%s: the default configuration fails verification",
                      op->info->name, v->name);
    else if (pts) {
        uint64_t rng = opt->seed;
        switch (opt->strategy) {
        case QKV_TUNE_EXHAUSTIVE: search_list(&t, pts, n, n, idx); break;
        case QKV_TUNE_RANDOM:
            shuffle(pts, n, &rng);
            search_list(&t, pts, n,
                        opt->count > 0 ? opt->count : (long)ceil(opt->fraction * (double)n), idx);
            break;
        case QKV_TUNE_ANNEAL: search_anneal(&t, idx, res->default_us, pts, n, total); break;
        }
    }
    free(pts);
    qkv_case_release(&t.tune_case, t.bufs);
    qkv_case_free(&t.tune_case);
    qkv_case_free(&t.odd_case);
    return st;
}
