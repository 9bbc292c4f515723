/* test_backends.c - every op x backend x variant x shape (odd and
 * LLM-like) against the reference through the validation harness (guard
 * regions, poisoned outputs); the harness itself is shown to catch corrupt
 * outputs. */
#include <string.h>

#include "gpu.h"
#include "harness.h"
#include "test_util.h"

#define MAX_SHAPES 32
#define SEED 1234u

static char targets[TEST_MAX_TARGETS][32];
static int ntargets;

/* Check case c of op on ctx with every variant the device supports
 * (a shape a variant does not support must be refused, not run; one that
 * qkv_case_variant_runs says it does not run is).  An op with no variant
 * on the device is skipped there, as qkv validate does. */
static void check_variants(const qkv_op_desc *op, const qkv_op_case *c, qkv_context *ctx,
                           const char *target)
{
    const qkv_variant *v;
    if (!qkv_variant_nth(op->info->id, ctx, 0))
        return;
    for (int j = 0; (v = qkv_variant_nth(op->info->id, ctx, j)); j++) {
        ck_assert(qkv_set_variant(ctx, op->info->name, v->name) == QKV_OK);
        qkv_check_result r;
        qkv_case_check(op, c, ctx, &r);
        ck_assert_msg(r.pass || r.status == QKV_ERR_UNSUPPORTED, "%s/%s on %s, shape %s: %s",
                      op->info->name, v->name, target, c->shape.label, r.message);
        ck_assert_msg(qkv_case_variant_runs(op, v, ctx, &c->shape) ||
                          r.status == QKV_ERR_UNSUPPORTED,
                      "%s/%s on %s ran shape %s, which it does not run by variant_runs",
                      op->info->name, v->name, target, c->shape.label);
    }
    ck_assert(qkv_set_variant(ctx, op->info->name, NULL) == QKV_OK);
}

/* Check every shape of `set` of op `o` on every target. */
static void check_op_set(int o, const char *set)
{
    const qkv_op_desc *op = qkv_op_descs[o];
    qkv_op_shape shapes[MAX_SHAPES];
    const int ns = op->shapes(set, shapes, MAX_SHAPES);
    ck_assert_int_gt(ns, 0);
    for (int k = 0; k < ns; k++) {
        qkv_op_case c;
        ck_assert_msg(qkv_case_prepare(op, &shapes[k], SEED + (uint64_t)k, &c) == QKV_OK,
                      "%s %s: reference failed: %s", op->info->name, shapes[k].label,
                      qkv_last_error());
        for (int t = 0; t < ntargets; t++) {
            qkv_context *ctx;
            ck_assert_msg(qkv_open(targets[t], &ctx) == QKV_OK, "open %s: %s", targets[t],
                          qkv_last_error());
            check_variants(op, &c, ctx, targets[t]);
            qkv_close(ctx);
        }
        qkv_case_free(&c);
    }
}

START_TEST(test_small_shapes) { check_op_set(_i, "small"); }
END_TEST

START_TEST(test_llm_shapes) { check_op_set(_i, "llm"); }
END_TEST

/* ---- the harness must fail on wrong outputs -------------------------------- */

typedef enum { CORRUPT_CODE, CORRUPT_GUARD, CORRUPT_SKIP_WRITE, CORRUPT_FLOAT } corruption;
static corruption current;

/* Run the real op, then damage its result as `current` says. */
static qkv_status corrupting_launch(qkv_context *ctx, const qkv_op_shape *s,
                                    qkv_buffer *const *b)
{
    const qkv_op_desc *real = qkv_op_descs[current == CORRUPT_FLOAT
                                               ? QKV_OP_KIVI_DEQUANT_VALUES
                                               : QKV_OP_KIVI_QUANT_VALUES];
    qkv_status st = real->launch(ctx, s, b);
    const uint8_t bad = 0x5a;
    const float wrong = 1e3f;
    switch (current) {
    case CORRUPT_CODE: { /* flip the low bit of one code word */
        uint32_t w;
        qkv_buffer_read(b[1], 4, &w, 4);
        w ^= 1u;
        qkv_buffer_write(b[1], 4, &w, 4);
        break;
    }
    case CORRUPT_GUARD: /* one byte just past the codes */
        qkv_buffer_write(b[1]->parent, 4096 + qkv_buffer_size(b[1]), &bad, 1);
        break;
    case CORRUPT_SKIP_WRITE: /* put back the poison the harness wrote */
        qkv_buffer_write(b[2], 0, "\xff\xff", 2);
        break;
    case CORRUPT_FLOAT:
        qkv_buffer_write(b[3], 0, &wrong, sizeof wrong);
        break;
    }
    return st;
}

START_TEST(test_harness_catches_errors)
{
    current = (corruption)_i;
    const bool dequant = current == CORRUPT_FLOAT;
    qkv_op_desc op = *qkv_op_descs[dequant ? QKV_OP_KIVI_DEQUANT_VALUES : QKV_OP_KIVI_QUANT_VALUES];
    qkv_op_shape shapes[MAX_SHAPES];
    op.shapes("small", shapes, MAX_SHAPES);
    qkv_op_case c;
    ck_assert(qkv_case_prepare(&op, &shapes[1], SEED, &c) == QKV_OK);
    op.launch = corrupting_launch;
    qkv_context *ctx;
    ck_assert(qkv_open("cpu", &ctx) == QKV_OK);
    qkv_check_result r;
    qkv_case_check(&op, &c, ctx, &r);
    ck_assert_msg(!r.pass, "corruption %d went unnoticed", _i);
    ck_assert(r.mismatches + r.guard_violations + r.nan_mismatches > 0 || r.nmse > 0);
    qkv_close(ctx);
    qkv_case_free(&c);
}
END_TEST

/* ---- w4a8_gemm: the bf16 y against the backend's own acc --------------------- */

enum { W4A8_Y = 4, W4A8_ACC = 5 }; /* tensor indices of gemm_cases.c */
static int w4a8_damage;

/* Run the real op, then (w4a8_damage) 1: y[0] one bf16 ulp up in
 * magnitude, 2: two ulps, 3: acc[0] scaled by 1 + 2^-10 (else nothing). */
static qkv_status w4a8_damaging_launch(qkv_context *ctx, const qkv_op_shape *s,
                                       qkv_buffer *const *b)
{
    const qkv_status st = qkv_op_descs[QKV_OP_W4A8_GEMM]->launch(ctx, s, b);
    if (w4a8_damage == 1 || w4a8_damage == 2) {
        uint16_t y;
        qkv_buffer_read(b[W4A8_Y], 0, &y, sizeof y);
        y = (uint16_t)(y + w4a8_damage);
        qkv_buffer_write(b[W4A8_Y], 0, &y, sizeof y);
    } else if (w4a8_damage == 3) {
        float a;
        qkv_buffer_read(b[W4A8_ACC], 0, &a, sizeof a);
        a *= 1.0f + 0x1p-10f;
        qkv_buffer_write(b[W4A8_ACC], 0, &a, sizeof a);
    }
    return st;
}

/* The check passes y as written (no ties on cpu, whose epilogue is the
 * check's), tolerates 1 ulp as a tie, fails 2 ulps and a wrong acc; and
 * (_i 4) the reference's own y agrees with its acc (each bf16 rounding
 * of its epilogue made once from the double value). */
START_TEST(test_w4a8_y_check)
{
    w4a8_damage = _i;
    qkv_op_desc op = *qkv_op_descs[QKV_OP_W4A8_GEMM];
    qkv_op_shape shapes[MAX_SHAPES];
    op.shapes("small", shapes, MAX_SHAPES);
    qkv_op_case c;
    ck_assert(qkv_case_prepare(&op, &shapes[1], SEED, &c) == QKV_OK);
    op.launch = w4a8_damaging_launch;
    qkv_context *ctx;
    ck_assert(qkv_open(_i == 4 ? "ref" : "cpu", &ctx) == QKV_OK);
    qkv_check_result r;
    qkv_case_check(&op, &c, ctx, &r);
    if (_i == 4)
        ck_assert_msg(r.pass, "%s", r.message);
    else if (_i == 0)
        ck_assert_msg(r.pass && r.ties == 0, "%s (ties %zu)", r.message, r.ties);
    else if (_i == 1)
        ck_assert_msg(r.pass && r.ties == 1, "%s (ties %zu)", r.message, r.ties);
    else
        ck_assert_msg(!r.pass, "damage %d went unnoticed", _i);
    qkv_close(ctx);
    qkv_case_free(&c);
}
END_TEST

/* ---- signed zeros: every backend's bytes equal the reference's ------------- */

#define SZ_G 32        /* group */
#define SZ_D 64        /* head dim: two value groups per token */
#define SZ_T 64        /* tokens: two key groups per channel */
#define SZ_PATTERNS 16 /* group patterns, below */

/* Element i (< SZ_G) of group pattern k: zeros of both signs in several
 * orders (all +0, all -0, alternating, halves, one odd zero at the start,
 * in the middle or at the end), and mixed zeros with one nonzero value
 * (the group's max or its min). */
static float sz_pattern(int k, int i)
{
    const float pz = 0.0f, nz = -0.0f;
    switch (k) {
    case 0: return pz;
    case 1: return nz;
    case 2: return i % 2 ? nz : pz;
    case 3: return i % 2 ? pz : nz;
    case 4: return i < SZ_G / 2 ? pz : nz;
    case 5: return i < SZ_G / 2 ? nz : pz;
    case 6: return i == 0 ? nz : pz;
    case 7: return i == 0 ? pz : nz;
    case 8: return i == SZ_G - 1 ? nz : pz;
    case 9: return i == SZ_G - 1 ? pz : nz;
    case 10: return i == 13 ? nz : pz;
    case 11: return i == 13 ? pz : nz;
    case 12: return i == 7 ? 1.5f : i % 3 ? nz : pz;
    case 13: return i == 7 ? 1.5f : i % 3 ? pz : nz;
    case 14: return i == 20 ? -2.0f : i % 2 ? nz : pz;
    default: return i == 20 ? -2.0f : i % 2 ? pz : nz;
    }
}

/* Quantized keys or values of input x ([1, 1, SZ_T, SZ_D], f32 or f16 as
 * dtype) on ctx: codes, scale, min bytes into out (sizes as sz_sizes).
 * Fails the test on an error. */
static void sz_quantize(qkv_context *ctx, bool keys, qkv_dtype dtype, int bits, const void *x,
                        size_t xbytes, const size_t sizes[3], uint8_t *out)
{
    qkv_buffer *b[4];
    const size_t bytes[4] = {xbytes, sizes[0], sizes[1], sizes[2]};
    for (int i = 0; i < 4; i++)
        ck_assert(qkv_buffer_create(ctx, bytes[i], &b[i]) == QKV_OK);
    ck_assert(qkv_buffer_write(b[0], 0, x, xbytes) == QKV_OK);
    const qkv_kivi_quant_params p = {.batch = 1, .heads = 1, .tokens = SZ_T, .head_dim = SZ_D,
                                     .bits = bits, .group = SZ_G, .dtype = dtype,
                                     .input = b[0], .codes = b[1], .scale = b[2], .min = b[3]};
    const qkv_status st = keys ? qkv_kivi_quant_keys(ctx, &p) : qkv_kivi_quant_values(ctx, &p);
    ck_assert_msg(st == QKV_OK, "quantize: %s", qkv_last_error());
    for (int i = 1; i < 4; i++) {
        ck_assert(qkv_buffer_read(b[i], 0, out, sizes[i - 1]) == QKV_OK);
        out += sizes[i - 1];
    }
    for (int i = 0; i < 4; i++)
        qkv_buffer_destroy(b[i]);
}

/* Loop index _i: keys (bit 0), f16 input (bit 1), bits 2/4/8 (_i / 4).
 * Keys: channel d, token group g holds pattern (d + 5 g) % SZ_PATTERNS
 * along its tokens; values: token t, channel group g holds pattern
 * (2 t + g) % SZ_PATTERNS along its channels. */
START_TEST(test_signed_zero_groups)
{
    const bool keys = _i & 1;
    const qkv_dtype dtype = _i & 2 ? QKV_F16 : QKV_F32;
    const int bits = 2 << (_i / 4);
    float xf[SZ_T * SZ_D];
    uint16_t xh[SZ_T * SZ_D];
    for (int t = 0; t < SZ_T; t++)
        for (int d = 0; d < SZ_D; d++) {
            const int k = keys ? (d + 5 * (t / SZ_G)) % SZ_PATTERNS
                               : (2 * t + d / SZ_G) % SZ_PATTERNS;
            xf[t * SZ_D + d] = sz_pattern(k, keys ? t % SZ_G : d % SZ_G);
            xh[t * SZ_D + d] = qkv_f32_to_f16(xf[t * SZ_D + d]);
        }
    const void *x = dtype == QKV_F16 ? (const void *)xh : (const void *)xf;
    const size_t xbytes = dtype == QKV_F16 ? sizeof xh : sizeof xf;
    const size_t n = (size_t)SZ_T * SZ_D;
    const size_t sizes[3] = {n * (size_t)bits / 8, n / SZ_G * 2, n / SZ_G * 2};
    const size_t total = sizes[0] + sizes[1] + sizes[2];
    uint8_t want[SZ_T * SZ_D * 2], got[SZ_T * SZ_D * 2];
    qkv_context *ctx;
    ck_assert(qkv_open("ref", &ctx) == QKV_OK);
    sz_quantize(ctx, keys, dtype, bits, x, xbytes, sizes, want);
    qkv_close(ctx);
    const qkv_op_id op = keys ? QKV_OP_KIVI_QUANT_KEYS : QKV_OP_KIVI_QUANT_VALUES;
    for (int t = 0; t < ntargets; t++) {
        ck_assert_msg(qkv_open(targets[t], &ctx) == QKV_OK, "open %s", targets[t]);
        const qkv_variant *v;
        for (int j = 0; (v = qkv_variant_nth(op, ctx, j)); j++) {
            ck_assert(qkv_set_variant(ctx, qkv_ops[op]->name, v->name) == QKV_OK);
            sz_quantize(ctx, keys, dtype, bits, x, xbytes, sizes, got);
            for (size_t i = 0; i < total; i++) {
                const char *part =
                    i < sizes[0] ? "codes" : i < sizes[0] + sizes[1] ? "scale" : "min";
                ck_assert_msg(got[i] == want[i],
                              "%s/%s, %s %s, %d bits: %s byte %zu is 0x%02x, reference 0x%02x",
                              targets[t], v->name, keys ? "keys" : "values",
                              dtype == QKV_F16 ? "f16" : "f32", bits, part, i, got[i],
                              want[i]);
            }
        }
        qkv_close(ctx);
    }
}
END_TEST

#if defined(QKV_HAVE_OPENCL)
/* Every build the GPU variants declare (qkv_gpu_builds) compiles on each
 * OpenCL device and has every kernel its host code gets. */
START_TEST(test_opencl_builds_every_kernel)
{
    static qkv_gpu_build builds[512];
    const int nb = qkv_gpu_builds(builds, 512);
    ck_assert_int_gt(nb, 0);
    ck_assert_int_lt(nb, 512);
    const int ndev = qkv_device_count(QKV_BACKEND_OPENCL);
    if (!ndev)
        fprintf(stderr, "note: no OpenCL device: kernel build test SKIPPED\n");
    for (int d = 0; d < ndev; d++) {
        char spec[32];
        snprintf(spec, sizeof spec, "opencl:%d", d);
        qkv_context *ctx;
        ck_assert(qkv_open(spec, &ctx) == QKV_OK);
        for (int b = 0; b < nb; b++) {
            ck_assert_msg(builds[b].kernels[0] != NULL, "%s [%s] names no kernel",
                          builds[b].program, builds[b].defines);
            for (int k = 0; k < QKV_GPU_BUILD_KERNELS && builds[b].kernels[k]; k++) {
                qkv_gpu_kernel *kern;
                ck_assert_msg(qkv_gpu_ops_of(ctx)->get_kernel(ctx, builds[b].program,
                                                              builds[b].kernels[k],
                                                              builds[b].defines, &kern) == QKV_OK,
                              "%s [%s] %s: %s", builds[b].program, builds[b].defines,
                              builds[b].kernels[k], qkv_last_error());
            }
        }
        qkv_close(ctx);
    }
}
END_TEST
#endif

int main(void)
{
    ntargets = test_targets(targets, TEST_MAX_TARGETS);
    for (int t = 0; t < ntargets; t++)
        fprintf(stderr, "backend under test: %s\n", targets[t]);
    Suite *s = suite_create("backends");
    TCase *small = tcase_create("small-shapes");
    tcase_set_timeout(small, 600);
    tcase_add_loop_test(small, test_small_shapes, 0, QKV_OP_COUNT);
    suite_add_tcase(s, small);
    TCase *llm = tcase_create("llm-shapes");
    tcase_set_timeout(llm, 1200);
    tcase_add_loop_test(llm, test_llm_shapes, 0, QKV_OP_COUNT);
    suite_add_tcase(s, llm);
    TCase *zeros = tcase_create("signed-zeros");
    tcase_set_timeout(zeros, 300);
    tcase_add_loop_test(zeros, test_signed_zero_groups, 0, 12);
    suite_add_tcase(s, zeros);
    TCase *harness = tcase_create("harness");
    tcase_add_loop_test(harness, test_harness_catches_errors, 0, 4);
    tcase_add_loop_test(harness, test_w4a8_y_check, 0, 5);
    suite_add_tcase(s, harness);
#if defined(QKV_HAVE_OPENCL)
    TCase *builds = tcase_create("opencl-builds");
    tcase_set_timeout(builds, 600);
    tcase_add_test(builds, test_opencl_builds_every_kernel);
    suite_add_tcase(s, builds);
#endif
    return test_run_suite(s);
}
