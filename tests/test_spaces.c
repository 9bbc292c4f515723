/* test_spaces.c - every op's tile space on every backend: the points the
 * tuner may pick are forced one by one and checked against the reference
 * on the op's odd ("small") shapes with guard regions.  Spaces of up to
 * full_points(backend) points are covered whole; larger ones by a fixed
 * sample of that many valid points in which every candidate of every
 * parameter is tried at least once, then seeded random points. */
#include <string.h>

#include "harness.h"
#include "qkv_internal.h"
#include "test_util.h"
#include "tuning.h"

#define MAX_SHAPES 32
#define SEED 4321u

static char targets[TEST_MAX_TARGETS][32];
static int ntargets;

/* Points checked whole per backend kind (GPU points each cost a program
 * build). */
static size_t full_points(qkv_backend_kind kind)
{
    return kind == QKV_BACKEND_CPU ? 120 : 16;
}

/* Number of candidates of parameter i. */
static int candidates(const qkv_variant *v, int i)
{
    int n = 0;
    while (n < QKV_MAX_CANDIDATES && v->params[i].candidates[n])
        n++;
    return n;
}

/* Tile of configuration number `k` of the space (mixed radix over the
 * parameters' candidate counts). */
static void point_of(const qkv_variant *v, size_t k, qkv_tile_params *tile)
{
    qkv_tile_defaults(v, tile);
    for (int i = 0; i < v->nparams; i++) {
        const size_t n = (size_t)candidates(v, i);
        tile->value[i] = v->params[i].candidates[k % n];
        k /= n;
    }
}

/* Tile of the sample's point j: for j < widest, candidate j (mod its count)
 * of every parameter, shifted per parameter so pairs vary; then an LCG. */
static void sample_point(const qkv_variant *v, size_t j, int widest, uint64_t *lcg,
                         qkv_tile_params *tile)
{
    qkv_tile_defaults(v, tile);
    for (int i = 0; i < v->nparams; i++) {
        const int n = candidates(v, i);
        size_t c;
        if (j < (size_t)widest) {
            c = (j + (size_t)i) % (size_t)n;
        } else {
            *lcg = *lcg * 6364136223846793005ull + 1442695040888963407ull;
            c = (size_t)(*lcg >> 33) % (size_t)n;
        }
        tile->value[i] = v->params[i].candidates[c];
    }
}

/* Check one forced tile on every prepared case if the device can run it;
 * counts the points checked. */
static void check_point(qkv_context *ctx, const qkv_op_desc *op, const qkv_variant *v,
                        const qkv_tile_params *tile, qkv_op_case *cases, int ncases,
                        size_t *checked)
{
    if (v->valid && !v->valid(tile, &ctx->info))
        return;
    char text[256];
    qkv_tile_format(v, tile, text, sizeof text);
    qkv_tile_force(ctx, v, tile);
    for (int k = 0; k < ncases; k++) {
        qkv_check_result r;
        qkv_case_check(op, &cases[k], ctx, &r);
        ck_assert_msg(r.pass || r.status == QKV_ERR_UNSUPPORTED, "%s/%s on %s with %s, shape %s: %s",
                      op->info->name, v->name, qkv_backend_name(ctx->backend->kind), text,
                      cases[k].shape.label, r.message);
    }
    qkv_tile_force(ctx, v, NULL);
    (*checked)++;
}

/* Every point (or a seeded sample covering every candidate) of variant
 * v's space on ctx, checked on the prepared cases. */
static void check_space(qkv_context *ctx, const qkv_op_desc *op, const qkv_variant *v,
                        qkv_op_case *cases, int ncases, const char *target)
{
    if (v->nparams == 0)
        return;
    size_t total = 1;
    int widest = 1;
    for (int i = 0; i < v->nparams; i++) {
        total *= (size_t)candidates(v, i);
        widest = candidates(v, i) > widest ? candidates(v, i) : widest;
    }
    const size_t budget = full_points(ctx->backend->kind);
    size_t checked = 0;
    uint64_t lcg = SEED;
    for (size_t k = 0; total <= budget ? k < total : checked < budget && k < 8 * budget; k++) {
        qkv_tile_params tile;
        if (total <= budget)
            point_of(v, k, &tile);
        else
            sample_point(v, k, widest, &lcg, &tile);
        check_point(ctx, op, v, &tile, cases, ncases, &checked);
    }
    fprintf(stderr, "%-22s %-10s %-8s %zu of %zu points checked%s\n", op->info->name, target,
            v->name, checked, total, total <= budget ? " (all valid ones)" : " (sample)");
    ck_assert_msg(checked > 0, "%s/%s on %s: no valid point", op->info->name, v->name,
                  target);
}

START_TEST(test_every_point)
{
    const qkv_op_desc *op = qkv_op_descs[_i];
    qkv_op_shape shapes[MAX_SHAPES];
    const int ns = op->shapes("small", shapes, MAX_SHAPES);
    ck_assert_int_gt(ns, 0);
    qkv_op_case cases[MAX_SHAPES];
    for (int k = 0; k < ns; k++)
        ck_assert_msg(qkv_case_prepare(op, &shapes[k], SEED + (uint64_t)k, &cases[k]) == QKV_OK,
                      "%s %s: reference failed: %s", op->info->name, shapes[k].label,
                      qkv_last_error());
    for (int t = 0; t < ntargets; t++) {
        qkv_context *ctx;
        ck_assert_msg(qkv_open(targets[t], &ctx) == QKV_OK, "open %s: %s", targets[t],
                      qkv_last_error());
        const qkv_variant *v;
        for (int j = 0; (v = qkv_variant_nth(op->info->id, ctx, j)); j++)
            check_space(ctx, op, v, cases, ns, targets[t]);
        qkv_close(ctx);
    }
    for (int k = 0; k < ns; k++)
        qkv_case_free(&cases[k]);
}
END_TEST

int main(void)
{
    setenv("QKV_QUIET", "1", 1);
    ntargets = test_targets(targets, TEST_MAX_TARGETS);
    Suite *s = suite_create("spaces");
    TCase *tc = tcase_create("every point");
    tcase_set_timeout(tc, 1200);
    tcase_add_loop_test(tc, test_every_point, 0, QKV_OP_COUNT);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
