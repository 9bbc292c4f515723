/* bench_main.c - qkv-bench: Google Benchmark over the op table, one
 * benchmark per backend x op x representative shape, with each backend's
 * measured copy bandwidth and multiply-add throughput in the report context.
 *
 * Options besides Google Benchmark's --benchmark_*:
 *   --qkv_backends=LIST   comma-separated: cpu, opencl:N, cuda:N, ref (default:
 *                         cpu and every OpenCL and CUDA device present)
 *   --qkv_roof_trials=N   timed runs per roof probe, the best kept (default 5)
 *   --qkv_warm            keep each case's inputs in one copy (cached as far as
 *                         they fit) instead of rotating over copies larger than
 *                         the last-level cache (the default, a cold cache)
 *   --qkv_run_name        print a file name for this run (first backend and
 *                         its device, e.g. "cpu-amd-epyc-amd-zen4") and exit */
#include "bench.h"
#include "gbench_shim.h"
#include "harness.h"
#include "timer.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BACKENDS 16

typedef struct options {
    char backends[MAX_BACKENDS][32];
    int nbackends;
    int roof_trials;
    bool run_name;
    bool warm;
} options;

/* Split a comma-separated backend list into o->backends. */
static void parse_backends(const char *list, options *o)
{
    o->nbackends = 0;
    for (const char *p = list; *p && o->nbackends < MAX_BACKENDS;) {
        const size_t len = strcspn(p, ",");
        if (len)
            snprintf(o->backends[o->nbackends++], sizeof o->backends[0], "%.*s", (int)len, p);
        p += len + (p[len] == ',');
    }
}

/* cpu plus every device of the GPU backends. */
static void default_backends(options *o)
{
    o->nbackends = 0;
    snprintf(o->backends[o->nbackends++], sizeof o->backends[0], "cpu");
    const qkv_backend_kind gpus[] = {QKV_BACKEND_OPENCL, QKV_BACKEND_CUDA};
    for (int g = 0; g < 2; g++)
        for (int i = 0; i < qkv_device_count(gpus[g]) && o->nbackends < MAX_BACKENDS; i++)
            snprintf(o->backends[o->nbackends++], sizeof o->backends[0], "%s:%d",
                     qkv_backend_name(gpus[g]), i);
}

/* Our options (Google Benchmark's are already removed); false on an
 * unknown one. */
static bool parse_options(int argc, char **argv, options *o)
{
    default_backends(o);
    o->roof_trials = 5;
    o->run_name = false;
    o->warm = false;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--qkv_backends=", 15) == 0)
            parse_backends(argv[i] + 15, o);
        else if (strncmp(argv[i], "--qkv_roof_trials=", 18) == 0)
            o->roof_trials = atoi(argv[i] + 18) > 0 ? atoi(argv[i] + 18) : 1;
        else if (strcmp(argv[i], "--qkv_run_name") == 0)
            o->run_name = true;
        else if (strcmp(argv[i], "--qkv_warm") == 0)
            o->warm = true;
        else {
            fprintf(stderr, "qkv-bench: unknown option %s\n", argv[i]);
            return false;
        }
    }
    return true;
}

/* "<spec without ':'>-<device name>-<microarchitecture>" in lower case,
 * other characters as '-' (bench/summary.py names the device files by it),
 * so runs on two generations sold under one name keep separate files. */
static void device_slug(const bench_backend *b, char *out, size_t size)
{
    char raw[sizeof b->spec + sizeof b->info.name + sizeof b->info.microarch + 2];
    snprintf(raw, sizeof raw, "%s-%s-%s", b->spec, b->info.name, b->info.microarch);
    size_t n = 0;
    for (const char *p = raw; *p && n + 1 < size; p++) {
        if (*p == ':')
            continue;
        const char c = isalnum((unsigned char)*p) ? (char)tolower((unsigned char)*p) : '-';
        if (c != '-' || (n && out[n - 1] != '-'))
            out[n++] = c;
    }
    while (n && out[n - 1] == '-')
        n--;
    out[n] = '\0';
}

/* Roofs of b and the report context entries "qkv/<spec>/...". */
static void measure_roofs(bench_backend *b, int trials)
{
    fprintf(stderr, "qkv-bench: measuring the roofs of %s (%s) ...\n", b->spec, b->info.name);
    if (bench_roof_measure(b->ctx, trials, &b->roof) != QKV_OK) {
        fprintf(stderr, "qkv-bench: %s: roofs not measured: %s\n", b->spec, qkv_last_error());
        b->roof = (bench_roof){0.0, 0.0, 0.0};
    }
    fprintf(stderr, "qkv-bench: %s: copy %.1f GB/s, read %.1f GB/s, multiply-add %.1f GFLOP/s\n",
            b->spec, b->roof.copy_bytes_per_s / 1e9, b->roof.read_bytes_per_s / 1e9,
            b->roof.fma_flops_per_s / 1e9);
    const struct {
        const char *key;
        double value;
    } nums[] = {{"copy_GBps", b->roof.copy_bytes_per_s / 1e9},
                {"read_GBps", b->roof.read_bytes_per_s / 1e9},
                {"fma_GFLOPs", b->roof.fma_flops_per_s / 1e9},
                {"roof_trials", trials}};
    char key[96], value[192];
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        snprintf(key, sizeof key, "qkv/%s/%s", b->spec, nums[i].key);
        snprintf(value, sizeof value, "%.6g", nums[i].value);
        qkv_bench_add_context(key, value);
    }
    const char *texts[][2] = {{"device", b->info.name}, {"arch", b->info.arch},
                              {"version", b->info.version},
                              {"clock", qkv_clock_name(qkv_timer_clock(b->ctx))}};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        snprintf(key, sizeof key, "qkv/%s/%s", b->spec, texts[i][0]);
        qkv_bench_add_context(key, texts[i][1]);
    }
    device_slug(b, value, sizeof value);
    snprintf(key, sizeof key, "qkv/%s/slug", b->spec);
    qkv_bench_add_context(key, value);
}

/* Whether v is the variant a call of shape s runs on ctx by default (the
 * first in the op's list that runs it and needs no selection): its items
 * are named without "@variant". */
static bool default_for(const qkv_op_desc *op, const qkv_variant *v, const qkv_context *ctx,
                        const qkv_op_shape *s)
{
    const qkv_variant *w;
    for (int k = 0; (w = qkv_variant_nth(op->info->id, ctx, k)); k++)
        if (!w->needs_selection && qkv_case_variant_runs(op, w, ctx, s))
            return w == v;
    return false;
}

/* Items of every backend x op x variant the device supports x shape (the
 * op's "llm" and "bench" sets) that the variant runs, in that order: one
 * device at a time, so devices sharing the host (OpenMP cpu, a CPU OpenCL
 * runtime) do not disturb each other; an array of *n items (malloc'ed;
 * NULL when there are none).  Exits with a message when out of memory. */
static bench_item *make_items(bench_backend *backends, int nb, int *n)
{
    bench_item *items = NULL;
    int size = 0;
    *n = 0;
    for (int b = 0; b < nb; b++)
        for (int o = 0; o < QKV_OP_COUNT; o++) {
            const qkv_op_desc *op = qkv_op_descs[o];
            qkv_op_shape shapes[BENCH_MAX_SHAPES];
            int ns = 0;
            bench_add_shapes(op, "llm", shapes, &ns);
            bench_add_shapes(op, "bench", shapes, &ns);
            const qkv_variant *v;
            const qkv_context *ctx = backends[b].ctx;
            for (int k = 0; (v = qkv_variant_nth(op->info->id, ctx, k)); k++)
                for (int s = 0; s < ns; s++) {
                    if (!qkv_case_variant_runs(op, v, ctx, &shapes[s]))
                        continue;
                    if (*n == size) {
                        size = size ? 2 * size : 256;
                        bench_item *grown = realloc(items, (size_t)size * sizeof *items);
                        if (!grown) {
                            fprintf(stderr, "qkv-bench: out of memory for %d benchmarks\n",
                                    size);
                            exit(2);
                        }
                        items = grown;
                    }
                    items[(*n)++] = (bench_item){op, v, default_for(op, v, ctx, &shapes[s]),
                                                 shapes[s], &backends[b]};
                }
        }
    return items;
}

/* Open every listed backend; false (with a message) if one fails. */
static bool open_backends(const options *o, bench_backend *b)
{
    for (int i = 0; i < o->nbackends; i++) {
        snprintf(b[i].spec, sizeof b[i].spec, "%s", o->backends[i]);
        if (qkv_open(b[i].spec, &b[i].ctx) != QKV_OK ||
            qkv_context_info(b[i].ctx, &b[i].info) != QKV_OK) {
            fprintf(stderr, "qkv-bench: cannot open %s: %s\n", b[i].spec, qkv_last_error());
            return false;
        }
    }
    return true;
}

int main(int argc, char **argv)
{
    qkv_bench_init(&argc, argv);
    qkv_dev_install_verifier();
    options o;
    if (!parse_options(argc, argv, &o))
        return 2;
    static bench_backend backends[MAX_BACKENDS];
    int rc = 1;
    if (o.nbackends && open_backends(&o, backends)) {
        if (o.run_name) {
            char slug[192];
            device_slug(&backends[0], slug, sizeof slug);
            printf("%s\n", slug);
            rc = 0;
        } else {
            char list[MAX_BACKENDS * 33] = "";
            for (int i = 0; i < o.nbackends; i++) {
                measure_roofs(&backends[i], o.roof_trials);
                strcat(strcat(list, i ? "," : ""), backends[i].spec);
            }
            qkv_bench_add_context("qkv/backends", list);
            bench_case_set_cold(!o.warm);
            char llc[32];
            snprintf(llc, sizeof llc, "%.0f", bench_llc_bytes());
            qkv_bench_add_context("qkv/cache", o.warm ? "warm" : "cold");
            qkv_bench_add_context("qkv/host_llc_bytes", llc);
            int n = 0;
            bench_item *items = make_items(backends, o.nbackends, &n);
            for (int i = 0; i < n; i++)
                bench_case_register(&items[i]);
#ifdef QKV_HAVE_CUDA
            bench_peer_register(backends, o.nbackends);
#else
            fprintf(stderr, "qkv-bench: cublaslt_fp8 peer skipped: built without CUDA\n");
#endif
            rc = qkv_bench_run() > 0 ? 0 : 1;
            bench_case_release();
#ifdef QKV_HAVE_CUDA
            bench_peer_release();
#endif
            free(items);
        }
    }
    for (int i = 0; i < o.nbackends; i++)
        qkv_close(backends[i].ctx);
    qkv_bench_shutdown();
    return rc;
}
