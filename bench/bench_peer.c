/* bench_peer.c - cuBLASLt's FP8 GEMM (peer_cublaslt.h) as benchmarks beside
 * w4a8_gemm on CUDA devices, "cublaslt_fp8/<shape>/<spec>" at the sizes of
 * w4a8_gemm's bench set (same labels), timed as the ops are (see bench.h):
 * random e4m3 operands (no NaN) uploaded once per shape, as several copies
 * on a cold cache, each iteration one cublasLtMatmul on the context's
 * stream between its device timer's events. */
#include "bench.h"
#include "gbench_shim.h"
#include "peer_cublaslt.h"
#include "timer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEED 20240601u

/* One benchmark: a product of M tokens, N outputs, K inputs on a backend. */
typedef struct peer_item {
    bench_backend *backend;
    size_t m, n, k;
    char label[sizeof(((qkv_op_shape *)0)->label)]; /* w4a8_gemm's shape label */
} peer_item;

static peer_item *items; /* every registered benchmark's argument */
static int nitems;

/* The product held now: its plan, `copies` uploads of W, X and Y, the one
 * the next iteration runs on, and the workspace. */
static struct {
    const peer_item *for_item;
    peer_cublaslt_gemm *plan;
    qkv_buffer *w[BENCH_MAX_COPIES], *x[BENCH_MAX_COPIES], *y[BENCH_MAX_COPIES];
    qkv_buffer *workspace;
    int copies, next;
} held;

static char message[512];

/* The last failure as a benchmark error message. */
static const char *failure(qkv_status st)
{
    snprintf(message, sizeof message, "%s: %s", qkv_status_name(st), qkv_last_error());
    return message;
}

/* Bytes of one product: W and X (one byte per element), Y (bf16). */
static double peer_bytes(const peer_item *it)
{
    return (double)(it->n * it->k + it->m * it->k) + 2.0 * (double)(it->m * it->n);
}

static void release_held(void)
{
    for (int c = 0; c < held.copies; c++) {
        qkv_buffer_destroy(held.w[c]);
        qkv_buffer_destroy(held.x[c]);
        qkv_buffer_destroy(held.y[c]);
    }
    qkv_buffer_destroy(held.workspace);
    peer_cublaslt_free(held.plan);
    memset(&held, 0, sizeof held);
}

void bench_peer_release(void)
{
    release_held();
    free(items);
    items = NULL;
    nitems = 0;
}

/* `bytes` random E4M3 codes other than NaN (0x7F, 0xFF); NULL if out of
 * memory. */
static uint8_t *random_e4m3(size_t bytes, uint64_t *rng)
{
    uint8_t *p = malloc(bytes ? bytes : 1);
    for (size_t i = 0; p && i < bytes; i++) {
        const uint8_t b = (uint8_t)(qkv_rng_next(rng) % 254);
        p[i] = b < 0x7F ? b : (uint8_t)(b + 1);
    }
    return p;
}

/* A buffer of ctx holding `bytes` of `host` (or uninitialised when host is
 * NULL) into *buf. */
static qkv_status upload(qkv_context *ctx, const void *host, size_t bytes, qkv_buffer **buf)
{
    qkv_status st = qkv_buffer_create(ctx, bytes, buf);
    if (st == QKV_OK && host)
        st = qkv_buffer_write(*buf, 0, host, bytes);
    return st;
}

/* Plan the item's product and upload its copies (W and X random, Y
 * uninitialised) and the workspace. */
static qkv_status prepare(const peer_item *it)
{
    qkv_context *ctx = it->backend->ctx;
    qkv_status st = peer_cublaslt_plan(ctx, it->m, it->n, it->k, &held.plan);
    if (st != QKV_OK)
        return st;
    uint64_t rng = SEED;
    uint8_t *w = random_e4m3(it->n * it->k, &rng), *x = random_e4m3(it->m * it->k, &rng);
    st = w && x ? upload(ctx, NULL, PEER_CUBLASLT_WORKSPACE, &held.workspace)
                : qkv_fail(QKV_ERR_NO_MEMORY, "out of host memory");
    const int copies = bench_cold_copies(peer_bytes(it));
    for (; st == QKV_OK && held.copies < copies; held.copies++) {
        st = upload(ctx, w, it->n * it->k, &held.w[held.copies]);
        if (st == QKV_OK)
            st = upload(ctx, x, it->m * it->k, &held.x[held.copies]);
        if (st == QKV_OK)
            st = upload(ctx, NULL, 2 * it->m * it->n, &held.y[held.copies]);
    } /* a copy that failed is counted too: release_held frees what it has */
    free(w);
    free(x);
    return st;
}

/* One product of the item (a peer_item) on the current copy (not waited
 * for). */
static qkv_status launch(void *arg)
{
    const peer_item *it = arg;
    const int c = held.next;
    return peer_cublaslt_run(it->backend->ctx, held.plan, held.w[c], held.x[c], held.y[c],
                             held.workspace);
}

/* Untimed: make the item's product current (the op cases' device data
 * released first) and warm it up with one call per copy. */
static const char *setup(void *arg)
{
    const peer_item *it = arg;
    if (held.for_item == it)
        return NULL;
    release_held();
    bench_case_release();
    held.for_item = it;
    qkv_status st = prepare(it);
    if (st != QKV_OK) {
        const char *why = failure(st);
        release_held();
        return why;
    }
    fprintf(stderr, "qkv-bench: prepared cublaslt_fp8 %s (%d copies)\n", it->label, held.copies);
    for (held.next = 0; held.next < held.copies && st == QKV_OK; held.next++)
        st = launch(arg);
    held.next = 0;
    if (st == QKV_OK)
        st = qkv_finish(it->backend->ctx);
    return st == QKV_OK ? NULL : failure(st);
}

/* Timed: one product until it is done, in seconds on the backend's clock. */
static const char *iteration(void *arg, double *seconds)
{
    const peer_item *it = arg;
    double us = 0.0;
    held.next = (held.next + 1) % held.copies;
    const qkv_status st = qkv_time_launch(it->backend->ctx, launch, arg, &us);
    *seconds = us * 1e-6;
    return st == QKV_OK ? NULL : failure(st);
}

/* The tensor of case c named `name` (w4a8_gemm's xq, wq). */
static const qkv_tensor_desc *tensor(const qkv_op_case *c, const char *name)
{
    for (int i = 0; i < c->ntensors; i++)
        if (strcmp(c->t[i].name, name) == 0)
            return &c->t[i];
    return NULL;
}

/* w4a8_gemm's bench shapes as distinct (M, N, K) into out[BENCH_MAX_SHAPES]
 * (M from xq [M, K], N from wq [N, K]), with their labels; the count. */
static int gemm_sizes(peer_item *out)
{
    const qkv_op_desc *op = qkv_op_by_name("w4a8_gemm");
    qkv_op_shape shapes[BENCH_MAX_SHAPES];
    int ns = 0, n = 0;
    if (op)
        bench_add_shapes(op, "bench", shapes, &ns);
    for (int s = 0; s < ns; s++) {
        qkv_op_case c = {.shape = shapes[s]};
        op->describe(&c);
        const qkv_tensor_desc *xq = tensor(&c, "xq"), *wq = tensor(&c, "wq");
        if (!xq || !wq)
            continue;
        const peer_item it = {NULL, xq->shape[0], wq->shape[0], xq->shape[1], ""};
        bool seen = false;
        for (int i = 0; i < n && !seen; i++)
            seen = out[i].m == it.m && out[i].n == it.n && out[i].k == it.k;
        if (seen)
            continue;
        out[n] = it;
        memcpy(out[n++].label, shapes[s].label, sizeof it.label);
    }
    return n;
}

/* Register one benchmark of `it` (kept by pointer). */
static void register_item(peer_item *it, const char *label)
{
    const double bytes = peer_bytes(it);
    const double flops = 2.0 * (double)it->m * (double)it->n * (double)it->k;
    qkv_bench_counter counters[5] = {
        {"bytes", bytes, 0},
        {"flops", flops, 0},
        {"bytes_per_second", bytes, 1},
        {"flops_per_second", flops, 1},
    };
    int nc = 4;
    if (it->backend->roof.copy_bytes_per_s > 0.0) /* as bench_case_register's */
        counters[nc++] =
            (qkv_bench_counter){"copy_roof", bytes / it->backend->roof.copy_bytes_per_s, 1};
    char name[160];
    snprintf(name, sizeof name, "cublaslt_fp8/%s/%s", it->label, it->backend->spec);
    qkv_bench_register(name, label, setup, iteration, it, nc, counters);
}

/* Whether backend b can run the peer; if not, one line on stderr says why. */
static bool peer_runs_on(const bench_backend *b)
{
    if (b->info.cc_major * 10 + b->info.cc_minor >= 89)
        return true;
    fprintf(stderr, "qkv-bench: cublaslt_fp8 peer skipped on %s (%s): FP8 GEMM needs sm_89 or "
                    "later\n", b->spec, b->info.arch);
    return false;
}

void bench_peer_register(bench_backend *backends, int nb)
{
    int ncuda = 0;
    for (int b = 0; b < nb; b++)
        ncuda += backends[b].info.backend == QKV_BACKEND_CUDA;
    if (!ncuda) {
        fprintf(stderr, "qkv-bench: cublaslt_fp8 peer skipped: no CUDA device in this run\n");
        return;
    }
    size_t version = 0;
    const char *problem = peer_cublaslt_load(&version);
    if (problem) {
        fprintf(stderr, "qkv-bench: cublaslt_fp8 peer skipped: %s\n", problem);
        return;
    }
    peer_item sizes[BENCH_MAX_SHAPES];
    const int nsizes = gemm_sizes(sizes);
    items = calloc((size_t)(ncuda * nsizes) + 1, sizeof *items);
    if (!items) {
        fprintf(stderr, "qkv-bench: cublaslt_fp8 peer skipped: out of host memory\n");
        return;
    }
    char label[128];
    snprintf(label, sizeof label,
             "cuBLASLt %zu e4m3 x e4m3 -> bf16, f32 compute, first heuristic algorithm", version);
    for (int b = 0; b < nb; b++) {
        if (backends[b].info.backend != QKV_BACKEND_CUDA || !peer_runs_on(&backends[b]))
            continue;
        for (int s = 0; s < nsizes; s++) {
            items[nitems] = sizes[s];
            items[nitems].backend = &backends[b];
            register_item(&items[nitems++], label);
        }
    }
}
