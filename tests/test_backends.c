/* test_backends.c - every op x backend x shape (odd and LLM-like) against
 * the reference through the validation harness (guard regions, poisoned
 * outputs); the harness itself is shown to catch corrupt outputs. */
#include <string.h>

#include "gpu.h"
#include "harness.h"
#include "test_util.h"

#define MAX_SHAPES 32
#define SEED 1234u

static char targets[TEST_MAX_TARGETS][32];
static int ntargets;

/* Check every shape of `set` of op `o` on every target. */
static void check_op_set(int o, const char *set)
{
    const qkv_op_desc *op = &qkv_op_table[o];
    qkv_op_shape shapes[MAX_SHAPES];
    const int ns = op->shapes(set, shapes, MAX_SHAPES);
    ck_assert_int_gt(ns, 0);
    for (int k = 0; k < ns; k++) {
        qkv_op_case c;
        ck_assert_msg(qkv_case_prepare(op, &shapes[k], SEED + (uint64_t)k, &c) == QKV_OK,
                      "%s %s: reference failed: %s", op->name, shapes[k].label,
                      qkv_last_error());
        for (int t = 0; t < ntargets; t++) {
            qkv_context *ctx;
            ck_assert_msg(qkv_open(targets[t], &ctx) == QKV_OK, "open %s: %s", targets[t],
                          qkv_last_error());
            qkv_check_result r;
            qkv_case_check(op, &c, ctx, &r);
            ck_assert_msg(r.pass, "%s on %s, shape %s: %s", op->name, targets[t],
                          shapes[k].label, r.message);
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
    const qkv_op_desc *real = &qkv_op_table[current == CORRUPT_FLOAT
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
    qkv_op_desc op = qkv_op_table[dequant ? QKV_OP_KIVI_DEQUANT_VALUES : QKV_OP_KIVI_QUANT_VALUES];
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

#if defined(QKV_HAVE_OPENCL)
/* Every (program, defines) the GPU ops use builds on each OpenCL device. */
START_TEST(test_opencl_builds_every_kernel)
{
    static const char *const kernels[][2] = {
        {"kivi", "kivi_scan_input"},       {"kivi", "kivi_quant_keys"},
        {"kivi", "kivi_quant_values"},     {"kivi", "kivi_dequant_keys"},
        {"kivi", "kivi_dequant_values"},   {"kivi", "kivi_decode_partial"},
        {"kivi", "attention_decode_merge"},     {"dense", "dense_decode_partial"},
        {"dense", "attention_decode_merge"}, {"roof", "roof_copy"},
        {"roof", "roof_fma"},
    };
    qkv_gpu_build builds[64];
    const int nb = qkv_gpu_builds(builds, 64);
    ck_assert_int_gt(nb, 0);
    const int ndev = qkv_device_count(QKV_BACKEND_OPENCL);
    if (!ndev)
        fprintf(stderr, "note: no OpenCL device: kernel build test SKIPPED\n");
    for (int d = 0; d < ndev; d++) {
        char spec[32];
        snprintf(spec, sizeof spec, "opencl:%d", d);
        qkv_context *ctx;
        ck_assert(qkv_open(spec, &ctx) == QKV_OK);
        for (int b = 0; b < nb; b++)
            for (size_t k = 0; k < sizeof kernels / sizeof kernels[0]; k++) {
                if (strcmp(kernels[k][0], builds[b].program) != 0)
                    continue;
                qkv_gpu_kernel *kern;
                ck_assert_msg(qkv_gpu_ops_of(ctx)->get_kernel(ctx, builds[b].program,
                                                              kernels[k][1], builds[b].defines,
                                                              &kern) == QKV_OK,
                              "%s [%s] %s: %s", builds[b].program, builds[b].defines,
                              kernels[k][1], qkv_last_error());
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
    TCase *harness = tcase_create("harness");
    tcase_add_loop_test(harness, test_harness_catches_errors, 0, 4);
    suite_add_tcase(s, harness);
#if defined(QKV_HAVE_OPENCL)
    TCase *builds = tcase_create("opencl-builds");
    tcase_set_timeout(builds, 600);
    tcase_add_test(builds, test_opencl_builds_every_kernel);
    suite_add_tcase(s, builds);
#endif
    return test_run_suite(s);
}
