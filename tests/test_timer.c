/* test_timer.c - qkv_time_launch: ref and cpu time with the host clock;
 * OpenCL (PoCL here) and CUDA devices with device events, whose time of a
 * real op that enqueues several kernels and a blocking read in between
 * (the checked KIVI key quantizer: input scan, flag read, quantize) must be
 * positive and plausible against the host clock around the same call; the
 * tuner on those devices measures with device events.  No speed is
 * asserted beyond that sanity. */
#include <string.h>
#include <time.h>

#include "test_util.h"
#include "tuner.h"

#define SEED 99u
#define TIMED_RUNS 3
#define SLACK_US 50.0 /* device vs host clock: rounding, rate differences */

static char targets[TEST_MAX_TARGETS][32];
static int ntargets;
static char dir[] = "/tmp/qkv-test-timer-XXXXXX";

/* An op case uploaded to one context, launched by launch_case. */
typedef struct timed_case {
    const qkv_op_desc *op;
    qkv_context *ctx;
    qkv_op_case c;
    qkv_buffer *bufs[QKV_CASE_MAX_TENSORS];
} timed_case;

/* Open `spec` and upload the first shape of `set` of the KIVI key quantizer. */
static void case_open(timed_case *tc, const char *spec, const char *set)
{
    tc->op = qkv_op_descs[QKV_OP_KIVI_QUANT_KEYS];
    qkv_op_shape shapes[32];
    ck_assert_int_gt(tc->op->shapes(set, shapes, 32), 0);
    ck_assert_msg(qkv_open(spec, &tc->ctx) == QKV_OK, "open %s: %s", spec, qkv_last_error());
    ck_assert_msg(qkv_case_inputs(tc->op, &shapes[0], SEED, &tc->c) == QKV_OK, "inputs: %s",
                  qkv_last_error());
    ck_assert_msg(qkv_case_upload(&tc->c, tc->ctx, tc->bufs) == QKV_OK, "upload: %s",
                  qkv_last_error());
}

static void case_close(timed_case *tc)
{
    qkv_case_release(&tc->c, tc->bufs);
    qkv_case_free(&tc->c);
    qkv_close(tc->ctx);
}

/* One launch of the case (a timed_case). */
static qkv_status launch_case(void *arg)
{
    timed_case *tc = arg;
    return tc->op->launch(tc->ctx, &tc->c.shape, tc->bufs);
}

/* A launch that fails before enqueueing anything. */
static qkv_status launch_failing(void *arg)
{
    (void)arg;
    return QKV_ERR_INVALID_ARG;
}

/* The host's monotonic clock, in microseconds. */
static double host_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e6 * (double)ts.tv_sec + 1e-3 * (double)ts.tv_nsec;
}

/* Time the case TIMED_RUNS times after one warm-up run; every time must
 * lie in [0, host time around the same call + slack].  Returns the largest
 * ratio of the time to the host time. */
static double time_case(timed_case *tc, const char *spec)
{
    double us = 0.0, ratio = 0.0;
    ck_assert_msg(qkv_time_launch(tc->ctx, launch_case, tc, &us) == QKV_OK, "%s: %s", spec,
                  qkv_last_error());
    for (int i = 0; i < TIMED_RUNS; i++) {
        const double t0 = host_us();
        const qkv_status st = qkv_time_launch(tc->ctx, launch_case, tc, &us);
        const double host = host_us() - t0;
        ck_assert_msg(st == QKV_OK, "%s: %s", spec, qkv_last_error());
        ck_assert_msg(us >= 0.0 && us <= host * 1.01 + SLACK_US,
                      "%s: timed %.1f us, host clock around it %.1f us", spec, us, host);
        fprintf(stderr, "note: %s, %s: %s %.1f us, host clock around it %.1f us\n", spec,
                tc->c.shape.label, qkv_clock_name(qkv_timer_clock(tc->ctx)), us, host);
        if (us / host > ratio)
            ratio = us / host;
    }
    return ratio;
}

START_TEST(test_clock_names)
{
    ck_assert_str_eq(qkv_clock_name(QKV_CLOCK_HOST), "host clock");
    ck_assert_str_eq(qkv_clock_name(QKV_CLOCK_DEVICE), "device events");
    ck_assert_str_eq(qkv_clock_key(QKV_CLOCK_HOST), "host_clock");
    ck_assert_str_eq(qkv_clock_key(QKV_CLOCK_DEVICE), "device_events");
}
END_TEST

/* ref and cpu have no device timer: the host clock times them. */
START_TEST(test_host_backends)
{
    const char *specs[] = {"ref", "cpu"};
    timed_case tc;
    case_open(&tc, specs[_i], "small");
    ck_assert_ptr_null(tc.ctx->backend->timer_begin);
    ck_assert_int_eq(qkv_timer_clock(tc.ctx), QKV_CLOCK_HOST);
    time_case(&tc, specs[_i]);
    case_close(&tc);
}
END_TEST

/* Every OpenCL and CUDA device present times with device events, and the
 * device time of the LLM-sized quantize call is a good part of the host
 * time around it (markers timing only themselves would give ~1 us of a
 * call of milliseconds). */
START_TEST(test_device_timer)
{
    int gpus = 0;
    for (int t = 0; t < ntargets; t++) {
        if (strcmp(targets[t], "cpu") == 0)
            continue;
        gpus++;
        timed_case tc;
        case_open(&tc, targets[t], "llm");
        ck_assert_msg(qkv_timer_clock(tc.ctx) == QKV_CLOCK_DEVICE,
                      "%s has no working device timer (profiling queue or marker timestamps)",
                      targets[t]);
        const double ratio = time_case(&tc, targets[t]);
        ck_assert_msg(ratio > 0.05, "%s: device time only %.3f of the host time", targets[t],
                      ratio);
        case_close(&tc);
    }
    if (!gpus)
        fprintf(stderr, "note: no OpenCL or CUDA device: the device timer test is SKIPPED\n");
}
END_TEST

/* The tuner on each GPU device: its result and every line of its
 * measurement cache name device events. */
START_TEST(test_tuner_device_clock)
{
    const qkv_op_desc *op = qkv_op_by_name("kivi_dequant_values");
    qkv_op_shape shapes[32];
    ck_assert_int_gt(op->shapes("small", shapes, 32), 0);
    for (int t = 0; t < ntargets; t++) {
        if (strcmp(targets[t], "cpu") == 0)
            continue;
        char cache[400], line[1024];
        snprintf(cache, sizeof cache, "%s/cache-%d.log", dir, t);
        const qkv_tune_options opt = {.strategy = QKV_TUNE_RANDOM, .count = 1, .warmup = 1,
                                      .repeats = 3, .seed = 1, .cache_path = cache};
        qkv_context *ctx;
        ck_assert(qkv_open(targets[t], &ctx) == QKV_OK);
        qkv_tune_result r;
        ck_assert_msg(qkv_tune_op(ctx, op, qkv_variant_nth(op->info->id, ctx, 0), &shapes[0], &opt,
                                  &r) == QKV_OK,
                      "%s: %s",
                      targets[t], qkv_last_error());
        ck_assert_int_eq(r.clock, QKV_CLOCK_DEVICE);
        ck_assert(r.best_us > 0.0);
        qkv_close(ctx);
        FILE *f = fopen(cache, "r");
        ck_assert_ptr_nonnull(f);
        int lines = 0;
        for (; fgets(line, sizeof line, f); lines++)
            ck_assert_msg(strstr(line, " device_events ") != NULL, "cache line: %s", line);
        fclose(f);
        ck_assert_int_eq(lines, r.evals);
    }
}
END_TEST

/* A failing launch reports its error and leaves the timer usable. */
START_TEST(test_failed_launch)
{
    for (int t = 0; t < ntargets; t++) {
        timed_case tc;
        case_open(&tc, targets[t], "small");
        double us = -1.0;
        ck_assert_int_eq(qkv_time_launch(tc.ctx, launch_failing, NULL, &us),
                         QKV_ERR_INVALID_ARG);
        time_case(&tc, targets[t]);
        case_close(&tc);
    }
}
END_TEST

static Suite *timer_suite(void)
{
    Suite *s = suite_create("timer");
    TCase *tc = tcase_create("timer");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_clock_names);
    tcase_add_loop_test(tc, test_host_backends, 0, 2);
    tcase_add_test(tc, test_device_timer);
    tcase_add_test(tc, test_tuner_device_clock);
    tcase_add_test(tc, test_failed_launch);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    ntargets = test_targets(targets, TEST_MAX_TARGETS);
    return test_run_suite_in_temp_dir(timer_suite(), dir);
}
