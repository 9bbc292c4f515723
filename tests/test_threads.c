/* test_threads.c - one context shared by 4 threads (qkv.h, "Threads"):
 * every op on every backend, each thread's outputs byte-identical to a
 * single-threaded run on the same context; a tile parameter forced by one
 * thread (the tuner, the check of a table entry) is seen by that thread
 * only. */
#include <pthread.h>
#include <string.h>

#include "harness.h"
#include "test_util.h"
#include "tuning.h"

#define THREADS 4
#define ROUNDS 3
#define MAX_SHAPES 8
#define SEED 777u

static char targets[TEST_MAX_TARGETS][32];
static int ntargets;

/* Every op's small cases with the outputs of one single-threaded run. */
typedef struct shared_cases {
    qkv_context *ctx;
    int n;
    const qkv_op_desc *op[QKV_OP_COUNT * MAX_SHAPES];
    qkv_op_case c[QKV_OP_COUNT * MAX_SHAPES];
    void *want[QKV_OP_COUNT * MAX_SHAPES][QKV_CASE_MAX_TENSORS];
} shared_cases;

/* Output buffers of case c (NULL for inputs); false if out of memory. */
static bool alloc_outputs(const qkv_op_case *c, void **out)
{
    bool ok = true;
    for (int k = 0; k < QKV_CASE_MAX_TENSORS; k++) {
        out[k] = NULL;
        if (k < c->ntensors && c->t[k].output)
            ok &= (out[k] = calloc(1, qkv_tensor_bytes(&c->t[k]) + 1)) != NULL;
    }
    return ok;
}

static void free_outputs(void **out)
{
    for (int k = 0; k < QKV_CASE_MAX_TENSORS; k++)
        free(out[k]);
}

/* A thread: ROUNDS passes over every case, in an order shifted by its
 * index; the count of calls that failed or differ from the
 * single-threaded outputs. */
static void *worker(void *arg)
{
    const shared_cases *sc = ((void **)arg)[0];
    const int index = *(const int *)((void **)arg)[1];
    size_t bad = 0;
    for (int r = 0; r < ROUNDS; r++)
        for (int j = 0; j < sc->n; j++) {
            const int i = (j + index * 5 + r) % sc->n;
            void *out[QKV_CASE_MAX_TENSORS];
            if (!alloc_outputs(&sc->c[i], out) ||
                qkv_case_run(sc->op[i], &sc->c[i], sc->ctx, out) != QKV_OK) {
                bad++;
            } else {
                for (int k = 0; k < sc->c[i].ntensors; k++)
                    if (out[k] && memcmp(out[k], sc->want[i][k],
                                         qkv_tensor_bytes(&sc->c[i].t[k])) != 0) {
                        bad++;
                        break;
                    }
            }
            free_outputs(out);
        }
    return (void *)bad;
}

START_TEST(test_shared_context)
{
    static shared_cases sc;
    memset(&sc, 0, sizeof sc);
    ck_assert_msg(qkv_open(targets[_i], &sc.ctx) == QKV_OK, "open %s", targets[_i]);
    for (int o = 0; o < QKV_OP_COUNT; o++) {
        if (!qkv_variant_nth((qkv_op_id)o, sc.ctx, 0))
            continue; /* the op has no variant on this device (qkv validate lists none) */
        qkv_op_shape shapes[32];
        const int ns = qkv_op_descs[o]->shapes("small", shapes, 32);
        for (int k = 0; k < ns && k < MAX_SHAPES; k++) {
            const int i = sc.n++;
            sc.op[i] = qkv_op_descs[o];
            ck_assert(qkv_case_inputs(sc.op[i], &shapes[k], SEED + (uint64_t)k, &sc.c[i]) ==
                      QKV_OK);
            ck_assert(alloc_outputs(&sc.c[i], sc.want[i]));
            ck_assert_msg(qkv_case_run(sc.op[i], &sc.c[i], sc.ctx, sc.want[i]) == QKV_OK,
                          "%s %s on %s: %s", sc.op[i]->info->name, shapes[k].label, targets[_i],
                          qkv_last_error());
        }
    }
    pthread_t th[THREADS];
    int index[THREADS];
    void *args[THREADS][2];
    for (int t = 0; t < THREADS; t++) {
        index[t] = t;
        args[t][0] = &sc;
        args[t][1] = &index[t];
        ck_assert(pthread_create(&th[t], NULL, worker, args[t]) == 0);
    }
    size_t bad = 0;
    for (int t = 0; t < THREADS; t++) {
        void *r;
        pthread_join(th[t], &r);
        bad += (size_t)r;
    }
    fprintf(stderr, "%s: %d threads x %d rounds x %d cases, %zu wrong or failed\n", targets[_i],
            THREADS, ROUNDS, sc.n, bad);
    ck_assert_uint_eq(bad, 0);
    for (int i = 0; i < sc.n; i++) {
        free_outputs(sc.want[i]);
        qkv_case_free(&sc.c[i]);
    }
    qkv_close(sc.ctx);
}
END_TEST

/* What another thread sees of op's parameters on ctx. */
static void *other_thread_level(void *ctx)
{
    char p[256];
    const char *level = "error";
    if (qkv_get_tile_params(ctx, "kivi_decode_attention", 4096, p, sizeof p, NULL, &level) !=
        QKV_OK)
        level = "error";
    return (void *)level;
}

START_TEST(test_forcing_stays_in_its_thread)
{
    qkv_context *ctx;
    ck_assert(qkv_open("cpu", &ctx) == QKV_OK);
    const qkv_variant *v = qkv_variant_nth(QKV_OP_KIVI_DECODE_ATTENTION, ctx, 0);
    qkv_tile_params tile;
    qkv_tile_defaults(v, &tile);
    qkv_tile_force(ctx, v, &tile);
    char p[256];
    const char *level;
    ck_assert(qkv_get_tile_params(ctx, "kivi_decode_attention", 4096, p, sizeof p, NULL,
                                  &level) == QKV_OK);
    ck_assert_str_eq(level, "override"); /* this thread sees what it forced */
    pthread_t th;
    void *seen;
    ck_assert(pthread_create(&th, NULL, other_thread_level, ctx) == 0);
    pthread_join(th, &seen);
    ck_assert_str_ne((const char *)seen, "override");
    ck_assert_str_ne((const char *)seen, "error");
    qkv_tile_force(ctx, v, NULL);
    qkv_close(ctx);
}
END_TEST

int main(void)
{
    setenv("QKV_QUIET", "1", 1);
    ntargets = test_targets(targets, TEST_MAX_TARGETS - 1);
    snprintf(targets[ntargets++], 32, "ref");
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("shared-context");
    tcase_set_timeout(tc, 900);
    tcase_add_loop_test(tc, test_shared_context, 0, ntargets);
    tcase_add_test(tc, test_forcing_stays_in_its_thread);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
