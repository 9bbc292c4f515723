/*
 * ggml_matmul.c - a same-run CPU peer for qkv's w4a8_gemm: times ggml's
 * matmul (ggml_mul_mat on the CPU backend) at the w4a8_gemm bench grid.
 *
 * Weights W are N x K (ggml: a tensor of ne = [K, N], one row per output),
 * activations X are M x K f32 (ne = [K, M]); Y = mul_mat(W, X) is M x N f32,
 * i.e. y[m][n] = sum_k W[n][k] * X[m][k], 2 M N K flops.  Weights are drawn
 * from N(0, 1) in f32 and converted with ggml_quantize_chunk (f16, q8_0,
 * q4_0, q4_K, or any other ggml type that needs no importance matrix).
 * ggml converts X to the weight type's dot type (q8_0, q8_K, f16) inside
 * the op, so that cost is in every time, as it is in llama.cpp.
 *
 * Cold weights: each (type, shape) keeps C copies of the weights, C the
 * least number whose bytes reach --rotate-mib (default 128 MiB, four times
 * the 32 MiB L3 of the 2-core Zen VMs), at least 2.  The graph (one
 * MUL_MAT node) and its plan are built once per M; before each compute the
 * weight tensor's data pointer moves to the next copy, so every run streams
 * weights that have left the caches since their last use.  One warm-up
 * compute, then --reps timed ones; the median is reported.
 *
 * --repack puts the weights in ggml's CPU_REPACK buffer type where ggml's
 * CPU device accepts the op (as llama.cpp does with its weights by default:
 * q4_0 -> 8x8 interleaved blocks, q4_K -> q4_K_8x8, ... on AVX2/AVX-512);
 * other types stay in the plain layout.  The line says which was used.
 *
 * Output: '#' lines (ggml version, CPU features, settings), then one line
 * per (type, shape, M) with the median time in us, GFLOP/s = 2 M N K / t
 * and GB/s = weight bytes of one copy / t, and "err": the largest error of
 * 16 sampled outputs of the last compute against a double-precision sum
 * over the dequantized weights, relative to sum |w x| (a sanity check).
 *
 * Only ggml's public headers are used: ggml.h, ggml-cpu.h, ggml-backend.h,
 * ggml-alloc.h (the last two for --repack).
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ggml.h"
#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"

#define MAX_LIST 32

/* The run's settings, from argv. */
struct opts {
    enum ggml_type types[MAX_LIST];
    int ntypes;
    int64_t shapes_n[MAX_LIST], shapes_k[MAX_LIST];
    int nshapes;
    int64_t ms[MAX_LIST];
    int nm;
    int threads;
    int reps;
    double rotate_mib;
    int repack;
};

/* Print the usage and exit with status code. */
static void usage(const char *argv0, int code)
{
    fprintf(code ? stderr : stdout,
        "usage: %s [--types T,...] [--shapes NxK,...] [--m M,...] [--large]\n"
        "          [--threads T] [--reps R] [--rotate-mib MIB] [--repack]\n"
        "  --types      ggml type names (default f16,q8_0,q4_0,q4_K)\n"
        "  --shapes     weights N x K (default 14336x4096,4096x4096,4096x14336)\n"
        "  --m          tokens (default 1,4,16,64)\n"
        "  --large      add M = 256,512,1024 to the default (slow)\n"
        "  --threads    ggml threads (default 2)\n"
        "  --reps       timed computes per case, median reported (default 5)\n"
        "  --rotate-mib weight copies per case total at least this (default 128)\n"
        "  --repack     weights in ggml's CPU_REPACK buffer where supported\n",
        argv0);
    exit(code);
}

/* Find a ggml type by its name (ggml_type_name), case-insensitive; -1 if none. */
static int type_by_name(const char *name)
{
    for (int t = 0; t < GGML_TYPE_COUNT; t++) {
        const char *tn = ggml_type_name((enum ggml_type) t);
        if (!tn || ggml_blck_size((enum ggml_type) t) == 0)
            continue;
        size_t i = 0;
        while (tn[i] && name[i] && (tn[i] | 32) == (name[i] | 32))
            i++;
        if (!tn[i] && !name[i])
            return t;
    }
    return -1;
}

/* Split a comma-separated list in place; returns the number of items. */
static int split(char *s, char **items)
{
    int n = 0;
    for (char *tok = strtok(s, ","); tok && n < MAX_LIST; tok = strtok(NULL, ","))
        items[n++] = tok;
    return n;
}

/* Parse a positive integer or exit with a message. */
static int64_t parse_pos(const char *s, const char *what)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v <= 0) {
        fprintf(stderr, "bad %s: '%s'\n", what, s);
        exit(2);
    }
    return v;
}

/* Fill o from argv (defaults first). */
static void parse_args(int argc, char **argv, struct opts *o)
{
    static const char *def_types[] = {"f16", "q8_0", "q4_0", "q4_K"};
    static const int64_t def_n[] = {14336, 4096, 4096}, def_k[] = {4096, 4096, 14336};
    static const int64_t def_m[] = {1, 4, 16, 64}, large_m[] = {256, 512, 1024};
    int large = 0, have_m = 0;
    memset(o, 0, sizeof *o);
    o->threads = 2;
    o->reps = 5;
    o->rotate_mib = 128.0;
    for (int i = 0; i < 4; i++)
        o->types[o->ntypes++] = (enum ggml_type) type_by_name(def_types[i]);
    for (int i = 0; i < 3; i++) {
        o->shapes_n[i] = def_n[i];
        o->shapes_k[i] = def_k[i];
    }
    o->nshapes = 3;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char *v = (i + 1 < argc) ? argv[i + 1] : NULL;
        char *items[MAX_LIST];
        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            usage(argv[0], 0);
        else if (!strcmp(a, "--large"))
            large = 1;
        else if (!strcmp(a, "--repack"))
            o->repack = 1;
        else if (!v)
            usage(argv[0], 2);
        else if (!strcmp(a, "--types")) {
            int n = split(v, items);
            o->ntypes = 0;
            for (int j = 0; j < n; j++) {
                int t = type_by_name(items[j]);
                if (t < 0) {
                    fprintf(stderr, "unknown ggml type '%s'\n", items[j]);
                    exit(2);
                }
                if (ggml_quantize_requires_imatrix((enum ggml_type) t)) {
                    fprintf(stderr, "type %s needs an importance matrix\n", items[j]);
                    exit(2);
                }
                o->types[o->ntypes++] = (enum ggml_type) t;
            }
            i++;
        } else if (!strcmp(a, "--shapes")) {
            int n = split(v, items);
            o->nshapes = 0;
            for (int j = 0; j < n; j++) {
                char *x = strchr(items[j], 'x');
                if (!x) {
                    fprintf(stderr, "bad shape '%s' (want NxK)\n", items[j]);
                    exit(2);
                }
                *x = '\0';
                o->shapes_n[o->nshapes] = parse_pos(items[j], "N");
                o->shapes_k[o->nshapes++] = parse_pos(x + 1, "K");
            }
            i++;
        } else if (!strcmp(a, "--m")) {
            int n = split(v, items);
            for (int j = 0; j < n; j++)
                o->ms[j] = parse_pos(items[j], "M");
            o->nm = n;
            have_m = 1;
            i++;
        } else if (!strcmp(a, "--threads")) {
            o->threads = (int) parse_pos(v, "thread count");
            i++;
        } else if (!strcmp(a, "--reps")) {
            o->reps = (int) parse_pos(v, "repetition count");
            i++;
        } else if (!strcmp(a, "--rotate-mib")) {
            o->rotate_mib = (double) parse_pos(v, "rotation MiB");
            i++;
        } else
            usage(argv[0], 2);
    }
    if (!have_m) {
        for (int j = 0; j < 4; j++)
            o->ms[o->nm++] = def_m[j];
        if (large)
            for (int j = 0; j < 3; j++)
                o->ms[o->nm++] = large_m[j];
    }
}

/* Seconds on the monotonic clock. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + 1e-9 * (double) ts.tv_nsec;
}

/* splitmix64: the next 64 random bits of the state. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Fill x[0..n) with N(0, 1) samples (Box-Muller). */
static void gaussian(float *x, int64_t n, uint64_t *s)
{
    for (int64_t i = 0; i < n; i += 2) {
        double u1 = ((double) (rng_next(s) >> 11) + 1.0) * 0x1p-53;
        double u2 = (double) (rng_next(s) >> 11) * 0x1p-53;
        double r = sqrt(-2.0 * log(u1));
        x[i] = (float) (r * cos(6.283185307179586 * u2));
        if (i + 1 < n)
            x[i + 1] = (float) (r * sin(6.283185307179586 * u2));
    }
}

/* Quantize N x K Gaussian weights into dst (ggml_row_size(type, K) * N
 * bytes), 64 rows at a time so no N x K f32 copy is held. */
static void make_weights(enum ggml_type type, int64_t n, int64_t k, void *dst, uint64_t seed)
{
    const int64_t chunk = 64;
    size_t row = ggml_row_size(type, k);
    float *f = malloc(sizeof(float) * (size_t) (chunk * k));
    if (!f) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (int64_t r0 = 0; r0 < n; r0 += chunk) {
        int64_t rows = n - r0 < chunk ? n - r0 : chunk;
        gaussian(f, rows * k, &seed);
        ggml_quantize_chunk(type, f, (char *) dst + (size_t) r0 * row, 0, rows, k, NULL);
    }
    free(f);
}

/* Compare doubles for qsort. */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

/* A sanity check of the last compute: 16 outputs y[m][n] against a double
 * sum over the dequantized weights (q, the plain layout) and X, the largest
 * |error| relative to sum_k |w x| of its output (a few 1e-3 is the
 * activations' conversion to q8_0 / q8_K / f16 inside ggml). */
static double check_outputs(enum ggml_type type, const void *q, int64_t n, int64_t k, int64_t m,
                            const float *x, const float *y)
{
    ggml_to_float_t deq = ggml_get_type_traits(type)->to_float;
    size_t row = ggml_row_size(type, k);
    float *wf = malloc(sizeof(float) * (size_t) k);
    double worst = 0.0;
    uint64_t s = 0x1234ull;
    if (!deq || !wf) {
        free(wf);
        return -1.0;
    }
    for (int i = 0; i < 16; i++) {
        int64_t nn = (int64_t) (rng_next(&s) % (uint64_t) n), mm = (int64_t) (rng_next(&s) % (uint64_t) m);
        deq((const char *) q + (size_t) nn * row, wf, k);
        double acc = 0.0, mag = 0.0;
        for (int64_t j = 0; j < k; j++) {
            acc += (double) wf[j] * x[mm * k + j];
            mag += fabs((double) wf[j] * x[mm * k + j]);
        }
        double e = fabs(y[mm * n + nn] - acc) / (mag > 0 ? mag : 1.0);
        if (e > worst)
            worst = e;
    }
    free(wf);
    return worst;
}

/* ggml's CPU_REPACK buffer type (through the CPU device's extra buffer
 * types), or NULL when this build has none. */
static ggml_backend_buffer_type_t repack_buft(ggml_backend_dev_t dev)
{
    ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(dev);
    void *p = ggml_backend_reg_get_proc_address(reg, "ggml_backend_dev_get_extra_bufts");
    ggml_backend_dev_get_extra_bufts_t get;
    if (!p)
        return NULL;
    memcpy(&get, &p, sizeof get); /* POSIX: object to function pointer */
    for (ggml_backend_buffer_type_t *b = get(dev); b && *b; b++)
        if (!strcmp(ggml_backend_buft_name(*b), "CPU_REPACK"))
            return *b;
    return NULL;
}

/* Whether the CPU device runs mul_mat with type x [K, N] weights held in
 * buft, asked the way llama.cpp asks (a dummy buffer on the weight). */
static int buft_takes(ggml_backend_dev_t dev, ggml_backend_buffer_type_t buft,
                      enum ggml_type type, int64_t n, int64_t k)
{
    struct ggml_init_params ip = {3 * ggml_tensor_overhead(), NULL, true};
    struct ggml_context *ctx = ggml_init(ip);
    struct ggml_tensor *w = ggml_new_tensor_2d(ctx, type, k, n);
    struct ggml_tensor *x = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, k, 1);
    struct ggml_tensor *y = ggml_mul_mat(ctx, w, x);
    ggml_backend_buffer_t dummy = ggml_backend_buft_alloc_buffer(buft, 0);
    w->buffer = dummy;
    int ok = ggml_backend_dev_supports_op(dev, y);
    ggml_backend_buffer_free(dummy);
    ggml_free(ctx);
    return ok;
}

/* Time every M of one (type, shape): build C weight copies, then per M one
 * graph and plan, a warm-up and o->reps rotated computes; print a line per M. */
static void run_case(const struct opts *o, enum ggml_type type, int64_t n, int64_t k,
                     ggml_backend_dev_t dev, ggml_backend_buffer_type_t rbuft)
{
    const char *tname = ggml_type_name(type);
    if (k % ggml_blck_size(type) != 0) {
        printf("# skip %s %lldx%lld: K not a multiple of the block (%lld)\n", tname,
               (long long) n, (long long) k, (long long) ggml_blck_size(type));
        return;
    }
    size_t wbytes = ggml_row_size(type, k) * (size_t) n;
    int copies = (int) ceil(o->rotate_mib * 1048576.0 / (double) wbytes);
    if (copies < 2)
        copies = 2;
    int repack = o->repack && rbuft && buft_takes(dev, rbuft, type, n, k);

    /* The weights: copy 0 quantized from Gaussian f32, the others memcpy'd
     * (plain), or each uploaded through the repack buffer (repack). */
    struct ggml_init_params wp = {(size_t) copies * ggml_tensor_overhead(), NULL, true};
    struct ggml_context *wctx = ggml_init(wp);
    struct ggml_tensor **w = malloc(sizeof *w * (size_t) copies);
    void **data = malloc(sizeof *data * (size_t) copies);
    for (int c = 0; c < copies; c++)
        w[c] = ggml_new_tensor_2d(wctx, type, k, n);
    ggml_backend_buffer_t wbuf = ggml_backend_alloc_ctx_tensors_from_buft(
        wctx, repack ? rbuft : ggml_backend_cpu_buffer_type());
    if (!wbuf) {
        fprintf(stderr, "cannot allocate %d x %.1f MiB of %s weights\n", copies,
                wbytes / 1048576.0, tname);
        exit(1);
    }
    ggml_backend_buffer_set_usage(wbuf, GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
    void *q = malloc(wbytes);
    if (!q) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    make_weights(type, n, k, q, 0x5eedull + (uint64_t) type * 1000003ull + (uint64_t) (n * 31 + k));
    for (int c = 0; c < copies; c++) {
        ggml_backend_tensor_set(w[c], q, 0, wbytes);
        data[c] = w[c]->data;
    }

    uint64_t xseed = 0xacdcull;
    int next = 0;
    for (int mi = 0; mi < o->nm; mi++) {
        int64_t m = o->ms[mi];
        /* The activations, the output and the graph, in their own context. */
        size_t xbytes = sizeof(float) * (size_t) (k * m), ybytes = sizeof(float) * (size_t) (n * m);
        struct ggml_init_params ap = {xbytes + ybytes + 4 * ggml_tensor_overhead() +
                                          ggml_graph_overhead_custom(8, false) + 1024,
                                      NULL, false};
        struct ggml_context *actx = ggml_init(ap);
        struct ggml_tensor *x = ggml_new_tensor_2d(actx, GGML_TYPE_F32, k, m);
        gaussian((float *) x->data, k * m, &xseed);
        struct ggml_tensor *y = ggml_mul_mat(actx, w[0], x);
        struct ggml_cgraph *g = ggml_new_graph_custom(actx, 8, false);
        ggml_build_forward_expand(g, y);
        struct ggml_cplan plan = ggml_graph_plan(g, o->threads, NULL);
        void *work = plan.work_size ? malloc(plan.work_size) : NULL;
        plan.work_data = work;

        double *t = malloc(sizeof *t * (size_t) o->reps);
        for (int r = -1; r < o->reps; r++) {
            w[0]->data = data[next];
            next = (next + 1) % copies;
            double t0 = now_s();
            enum ggml_status st = ggml_graph_compute(g, &plan);
            double t1 = now_s();
            if (st != GGML_STATUS_SUCCESS) {
                fprintf(stderr, "ggml_graph_compute failed (%d)\n", (int) st);
                exit(1);
            }
            if (r >= 0)
                t[r] = t1 - t0;
        }
        double err = check_outputs(type, q, n, k, m, (const float *) x->data, (const float *) y->data);
        w[0]->data = data[0];
        qsort(t, (size_t) o->reps, sizeof *t, cmp_double);
        double med = (o->reps % 2) ? t[o->reps / 2] : 0.5 * (t[o->reps / 2 - 1] + t[o->reps / 2]);
        double flops = 2.0 * (double) m * (double) n * (double) k;
        printf("ggml %-5s %-6s N=%-5lld K=%-5lld M=%-4lld threads=%d copies=%d (%.0f MiB)"
               "  %10.1f us  %7.1f GFLOP/s  %6.1f GB/s  err %.1e\n",
               tname, repack ? "repack" : "plain", (long long) n, (long long) k, (long long) m,
               o->threads, copies, copies * wbytes / 1048576.0, med * 1e6, flops / med * 1e-9,
               (double) wbytes / med * 1e-9, err);
        fflush(stdout);
        free(t);
        free(work);
        ggml_free(actx);
    }
    free(q);
    ggml_backend_buffer_free(wbuf);
    ggml_free(wctx);
    free(data);
    free(w);
}

/* ggml's log messages of level WARN and above to stderr (drops the
 * per-tensor "repack: ..." info lines); GGML_LOG_LEVEL_CONT lines follow
 * the level of the message they continue. */
static void log_warnings(enum ggml_log_level level, const char *text, void *user)
{
    static int show = 0;
    (void) user;
    if (level != GGML_LOG_LEVEL_CONT)
        show = level >= GGML_LOG_LEVEL_WARN;
    if (show)
        fputs(text, stderr);
}

/* Parse the options, print the settings, run every type x shape. */
int main(int argc, char **argv)
{
    struct opts o;
    ggml_log_set(log_warnings, NULL);
    ggml_cpu_init();
    parse_args(argc, argv, &o);
    ggml_backend_t be = ggml_backend_cpu_init();
    ggml_backend_dev_t dev = ggml_backend_get_device(be);
    ggml_backend_buffer_type_t rbuft = o.repack ? repack_buft(dev) : NULL;
    printf("# ggml %s (%s); CPU: avx2 %d avx512 %d avx512_vnni %d avx512_bf16 %d "
           "avx_vnni %d f16c %d fma %d llamafile %d\n",
           ggml_version(), ggml_commit(), ggml_cpu_has_avx2(), ggml_cpu_has_avx512(),
           ggml_cpu_has_avx512_vnni(), ggml_cpu_has_avx512_bf16(), ggml_cpu_has_avx_vnni(),
           ggml_cpu_has_f16c(), ggml_cpu_has_fma(), ggml_cpu_has_llamafile());
    printf("# mul_mat(W[K,N], X[K,M]) -> Y[N,M] f32; X f32; threads %d; median of %d "
           "after 1 warm-up; weights rotated over copies >= %.0f MiB; repack %s\n",
           o.threads, o.reps, o.rotate_mib,
           o.repack ? (rbuft ? "where supported" : "requested, but no CPU_REPACK buffer")
                    : "off");
    fflush(stdout);
    for (int ti = 0; ti < o.ntypes; ti++)
        for (int si = 0; si < o.nshapes; si++)
            run_case(&o, o.types[ti], o.shapes_n[si], o.shapes_k[si], dev, rbuft);
    ggml_backend_free(be);
    return 0;
}
