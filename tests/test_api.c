/* test_api.c - bad input to every public function: each gets a clear
 * status and a message, and no output buffer is written. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "test_util.h"

#define SENTINEL 0x5c
#define BUF_BYTES (1 << 16)

static char targets[TEST_MAX_TARGETS][32];
static int ntargets;

/* Buffers of one context for a small quantize call (B=1, H=2, T=64, D=64). */
typedef struct fixture {
    qkv_context *ctx;
    qkv_buffer *input, *codes, *scale, *min, *output;
} fixture;

static void fixture_open(fixture *f, const char *spec)
{
    ck_assert_msg(qkv_open(spec, &f->ctx) == QKV_OK, "open %s: %s", spec, qkv_last_error());
    qkv_buffer **bufs[] = {&f->input, &f->codes, &f->scale, &f->min, &f->output};
    uint8_t *fill = malloc(BUF_BYTES);
    memset(fill, SENTINEL, BUF_BYTES);
    for (size_t i = 0; i < 5; i++) {
        ck_assert(qkv_buffer_create(f->ctx, BUF_BYTES, bufs[i]) == QKV_OK);
        ck_assert(qkv_buffer_write(*bufs[i], 0, fill, BUF_BYTES) == QKV_OK);
    }
    free(fill);
}

/* Outputs still hold the sentinel everywhere. */
static void assert_untouched(const fixture *f)
{
    uint8_t *back = malloc(BUF_BYTES);
    const qkv_buffer *outs[] = {f->codes, f->scale, f->min, f->output};
    for (size_t i = 0; i < 4; i++) {
        ck_assert(qkv_buffer_read(outs[i], 0, back, BUF_BYTES) == QKV_OK);
        for (size_t k = 0; k < BUF_BYTES; k++)
            ck_assert_msg(back[k] == SENTINEL, "output %zu byte %zu was written", i, k);
    }
    free(back);
}

static void fixture_close(fixture *f)
{
    qkv_buffer *bufs[] = {f->input, f->codes, f->scale, f->min, f->output};
    for (size_t i = 0; i < 5; i++)
        qkv_buffer_destroy(bufs[i]);
    qkv_close(f->ctx);
}

static qkv_kivi_quant_params good_quant(const fixture *f)
{
    return (qkv_kivi_quant_params){.batch = 1, .heads = 2, .tokens = 64, .head_dim = 64,
                                   .bits = 2, .group = 32, .dtype = QKV_F32, .input = f->input,
                                   .codes = f->codes, .scale = f->scale, .min = f->min};
}

/* Expect status `want` with a non-empty message and untouched outputs. */
#define EXPECT_FAIL(f, call, want)                                                           \
    do {                                                                                     \
        const qkv_status got_ = (call);                                                      \
        ck_assert_msg(got_ == (want), "%s: got %s (%s), want %s", #call,                     \
                      qkv_status_name(got_), qkv_last_error(), qkv_status_name(want));       \
        ck_assert_msg(strlen(qkv_last_error()) > 0, "%s: no error message", #call);          \
        assert_untouched(f);                                                                 \
    } while (0)

START_TEST(test_open_errors)
{
    qkv_context *ctx = (qkv_context *)1;
    ck_assert_int_eq(qkv_open(NULL, &ctx), QKV_ERR_INVALID_ARG);
    ck_assert_int_eq(qkv_open("cpu", NULL), QKV_ERR_INVALID_ARG);
    ck_assert_int_eq(qkv_open("tpu", &ctx), QKV_ERR_INVALID_ARG);
    ck_assert_ptr_null(ctx);
    ck_assert_int_eq(qkv_open("cpu:x", &ctx), QKV_ERR_INVALID_ARG);
    ck_assert_int_eq(qkv_open("cpu:7", &ctx), QKV_ERR_NO_DEVICE);
    ck_assert_int_eq(qkv_open("cpu:1023", &ctx), QKV_ERR_NO_DEVICE);
    const char *accepted[] = {"cpu", "cpu:0", "ref", "ref:0"};
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
        ck_assert_msg(qkv_open(accepted[i], &ctx) == QKV_OK, "%s: %s", accepted[i],
                      qkv_last_error());
        qkv_close(ctx);
    }
    const char *rejected[] = {"cpu:-0", "cpu: 0", "cpu:+0", "cpu:0 ", "cpu:", "cpu:00",
                              "cpu:01", "cpu:1024", "cpu:99999999999999999999", "cpu:0x1",
                              "cpu:0:0", " cpu", "cpu ", ":0", "", "CPU"};
    for (size_t i = 0; i < sizeof rejected / sizeof rejected[0]; i++) {
        ctx = (qkv_context *)1;
        ck_assert_msg(qkv_open(rejected[i], &ctx) == QKV_ERR_INVALID_ARG, "'%s' accepted",
                      rejected[i]);
        ck_assert_ptr_null(ctx);
        ck_assert_msg(strstr(qkv_last_error(), rejected[i]) != NULL,
                      "message for '%s' does not name it: %s", rejected[i], qkv_last_error());
    }
    ck_assert_int_eq(qkv_open("opencl:99", &ctx),
                     qkv_backend_compiled(QKV_BACKEND_OPENCL) ? QKV_ERR_NO_DEVICE
                                                              : QKV_ERR_NO_BACKEND);
    const qkv_status cuda = qkv_open("cuda", &ctx);
    if (qkv_device_count(QKV_BACKEND_CUDA) == 0) {
        ck_assert_int_eq(cuda, qkv_backend_compiled(QKV_BACKEND_CUDA) ? QKV_ERR_NO_DEVICE
                                                                      : QKV_ERR_NO_BACKEND);
        fprintf(stderr, "note: qkv_open(\"cuda\"): %s\n", qkv_last_error());
    } else {
        ck_assert_int_eq(cuda, QKV_OK);
        qkv_close(ctx);
    }
    qkv_device_info info;
    ck_assert_int_eq(qkv_context_info(NULL, &info), QKV_ERR_INVALID_ARG);
    ck_assert_int_eq(qkv_finish(NULL), QKV_ERR_INVALID_ARG);
    ck_assert_int_eq(qkv_device_describe(QKV_BACKEND_CPU, 0, NULL), QKV_ERR_INVALID_ARG);
    ck_assert_int_eq(qkv_device_describe((qkv_backend_kind)42, 0, &info), QKV_ERR_INVALID_ARG);
    ck_assert_int_eq(qkv_device_describe(QKV_BACKEND_CPU, 3, &info), QKV_ERR_NO_DEVICE);
    ck_assert_int_eq(qkv_kivi_cache_state_get(NULL, &(qkv_kivi_cache_state){0}),
                     QKV_ERR_INVALID_ARG);
    ck_assert_int_eq(qkv_kivi_cache_tensors_get(NULL, &(qkv_kivi_cache_tensors){0}),
                     QKV_ERR_INVALID_ARG);
    ck_assert_int_eq(qkv_kivi_cache_prefill(NULL, QKV_F16, 1, NULL, NULL), QKV_ERR_INVALID_ARG);
    qkv_kivi_cache_destroy(NULL);
    ck_assert_str_eq(qkv_status_name(QKV_ERR_NONFINITE), "QKV_ERR_NONFINITE");
    ck_assert_str_eq(qkv_status_name((qkv_status)999), "QKV_ERR_UNKNOWN");
    qkv_close(NULL);
}
END_TEST

START_TEST(test_buffer_errors)
{
    fixture f;
    fixture_open(&f, targets[_i]);
    qkv_buffer *b = NULL;
    uint8_t byte = 0;
    ck_assert_int_eq(qkv_buffer_create(f.ctx, 0, &b), QKV_ERR_SHAPE);
    ck_assert_int_eq(qkv_buffer_create(NULL, 16, &b), QKV_ERR_INVALID_ARG);
    ck_assert_int_eq(qkv_buffer_create(f.ctx, 16, NULL), QKV_ERR_INVALID_ARG);
    ck_assert_int_eq(qkv_buffer_create(f.ctx, SIZE_MAX, &b), QKV_ERR_NO_MEMORY);
    EXPECT_FAIL(&f, qkv_buffer_write(f.output, BUF_BYTES - 1, "ab", 2), QKV_ERR_SHAPE);
    EXPECT_FAIL(&f, qkv_buffer_write(f.output, SIZE_MAX, "a", 1), QKV_ERR_SHAPE);
    EXPECT_FAIL(&f, qkv_buffer_write(f.output, 0, NULL, 1), QKV_ERR_INVALID_ARG);
    ck_assert_int_eq(qkv_buffer_read(f.output, BUF_BYTES, &byte, 1), QKV_ERR_SHAPE);
    ck_assert_int_eq(qkv_buffer_read(NULL, 0, &byte, 1), QKV_ERR_INVALID_ARG);
    EXPECT_FAIL(&f, qkv_buffer_copy(f.output, 1, f.input, BUF_BYTES - 4, 8), QKV_ERR_SHAPE);
    ck_assert_int_eq(qkv_buffer_view(f.output, 8, 8, &b), QKV_ERR_INVALID_ARG); /* misaligned */
    ck_assert_int_eq(qkv_buffer_view(f.output, 0, BUF_BYTES + 1, &b), QKV_ERR_SHAPE);
    ck_assert_int_eq(qkv_buffer_view(f.output, 4096, 0, &b), QKV_ERR_SHAPE);
    ck_assert_uint_eq(qkv_buffer_size(NULL), 0);
    fixture_close(&f);
}
END_TEST

/* Spec of loop index i: the targets, then "ref". */
static const char *target_or_ref(int i) { return i < ntargets ? targets[i] : "ref"; }

/* Copy expecting `want`; on success the host mirror of the parent follows. */
static void copy_expect(qkv_buffer *dst, size_t dst_offset, const qkv_buffer *src,
                        size_t src_offset, size_t bytes, qkv_status want)
{
    const qkv_status got = qkv_buffer_copy(dst, dst_offset, src, src_offset, bytes);
    ck_assert_msg(got == want, "copy dst+%zu <- src+%zu (%zu bytes): got %s (%s), want %s",
                  dst_offset, src_offset, bytes, qkv_status_name(got), qkv_last_error(),
                  qkv_status_name(want));
    if (want != QKV_OK)
        ck_assert(strlen(qkv_last_error()) > 0);
}

/* Overlapping ranges of one allocation (one buffer, a view and its parent,
 * two views of one parent) are rejected on every backend before anything is
 * written; touching and disjoint ranges copy. */
START_TEST(test_overlapping_copies)
{
    const char *spec = target_or_ref(_i);
    qkv_context *ctx;
    ck_assert_msg(qkv_open(spec, &ctx) == QKV_OK, "open %s: %s", spec, qkv_last_error());
    qkv_device_info info;
    ck_assert(qkv_context_info(ctx, &info) == QKV_OK);
    const size_t A = info.mem_align > 256 ? info.mem_align : 256, total = 4 * A;
    uint8_t *mirror = malloc(total), *back = malloc(total);
    for (size_t k = 0; k < total; k++)
        mirror[k] = (uint8_t)(k * 7 + 1);
    qkv_buffer *whole, *first, *second;
    ck_assert(qkv_buffer_create(ctx, total, &whole) == QKV_OK);
    ck_assert(qkv_buffer_write(whole, 0, mirror, total) == QKV_OK);
    ck_assert(qkv_buffer_view(whole, 0, 2 * A, &first) == QKV_OK);  /* [0, 2A) */
    ck_assert(qkv_buffer_view(whole, A, 2 * A, &second) == QKV_OK); /* [A, 3A) */
    copy_expect(whole, 0, whole, 1, 8, QKV_ERR_INVALID_ARG);
    copy_expect(whole, 16, whole, 16, 8, QKV_ERR_INVALID_ARG);
    copy_expect(second, 0, first, 0, 2 * A, QKV_ERR_INVALID_ARG);
    copy_expect(first, A + 8, second, 0, 16, QKV_ERR_INVALID_ARG);
    copy_expect(second, 0, whole, A + 4, 8, QKV_ERR_INVALID_ARG);
    copy_expect(whole, A - 1, second, 0, 2, QKV_ERR_INVALID_ARG); /* [A, A+2) -> [A-1, A+1) */
    ck_assert(qkv_buffer_read(whole, 0, back, total) == QKV_OK);
    ck_assert_msg(memcmp(back, mirror, total) == 0, "%s: a rejected copy wrote", spec);
    copy_expect(whole, A, whole, 0, A, QKV_OK); /* touching: [0, A) -> [A, 2A) */
    memcpy(mirror + A, mirror, A);
    copy_expect(second, A, first, 0, A, QKV_OK); /* [0, A) -> [2A, 3A) */
    memcpy(mirror + 2 * A, mirror, A);
    copy_expect(whole, 3 * A, second, 8, 64, QKV_OK); /* [A+8, +64) -> [3A, +64) */
    memcpy(mirror + 3 * A, mirror + A + 8, 64);
    ck_assert(qkv_buffer_read(whole, 0, back, total) == QKV_OK);
    ck_assert_msg(memcmp(back, mirror, total) == 0, "%s: wrong result of a copy", spec);
    qkv_buffer_destroy(second);
    qkv_buffer_destroy(first);
    qkv_buffer_destroy(whole);
    free(back);
    free(mirror);
    qkv_close(ctx);
}
END_TEST

/* Buffers, views and a cache outlive their context's close as orphaned
 * handles: using them fails cleanly, destroying them (in any order) frees
 * them.  Run under valgrind to see no invalid read or write. */
START_TEST(test_buffers_after_close)
{
    const char *spec = target_or_ref(_i);
    qkv_context *ctx, *live;
    ck_assert_msg(qkv_open(spec, &ctx) == QKV_OK, "open %s: %s", spec, qkv_last_error());
    ck_assert(qkv_open("ref", &live) == QKV_OK);
    qkv_buffer *whole, *view, *other;
    ck_assert(qkv_buffer_create(ctx, BUF_BYTES, &whole) == QKV_OK);
    ck_assert(qkv_buffer_view(whole, 0, 256, &view) == QKV_OK);
    ck_assert(qkv_buffer_create(live, BUF_BYTES, &other) == QKV_OK);
    qkv_kivi_cache *cache;
    const qkv_kivi_cache_config cfg = {.batch = 1, .kv_heads = 1, .head_dim = 32,
                                       .max_tokens = 64, .residual = 32, .bits = 2,
                                       .group = 32};
    ck_assert(qkv_kivi_cache_create(ctx, &cfg, &cache) == QKV_OK);
    qkv_close(ctx);
    uint8_t byte = 0;
    qkv_buffer *sub = NULL;
    const qkv_status got[] = {
        qkv_buffer_write(whole, 0, &byte, 1),
        qkv_buffer_read(view, 0, &byte, 1),
        qkv_buffer_copy(other, 0, whole, 0, 16),
        qkv_buffer_copy(view, 0, other, 0, 16),
        qkv_buffer_view(whole, 0, 64, &sub),
        qkv_kivi_cache_prefill(cache, QKV_F32, 32, other, other),
        qkv_kivi_cache_decode(cache, QKV_F32, other, other, 1, other, other),
    };
    for (size_t i = 0; i < sizeof got / sizeof got[0]; i++)
        ck_assert_msg(got[i] == QKV_ERR_INVALID_ARG, "%s: call %zu after close: %s", spec, i,
                      qkv_status_name(got[i]));
    ck_assert_ptr_null(sub);
    ck_assert_ptr_nonnull(strstr(qkv_last_error(), "closed"));
    ck_assert_uint_eq(qkv_buffer_size(whole), BUF_BYTES);
    qkv_kivi_cache_state st;
    ck_assert(qkv_kivi_cache_state_get(cache, &st) == QKV_OK);
    qkv_kivi_cache_destroy(cache);
    qkv_buffer_destroy(whole); /* the parent first: both are orphans now */
    qkv_buffer_destroy(view);
    qkv_buffer_destroy(other);
    qkv_close(live);
}
END_TEST

START_TEST(test_quant_argument_errors)
{
    fixture f;
    fixture_open(&f, targets[_i]);
    qkv_kivi_quant_params p = good_quant(&f);
    EXPECT_FAIL(&f, qkv_kivi_quant_keys(NULL, &p), QKV_ERR_INVALID_ARG);
    EXPECT_FAIL(&f, qkv_kivi_quant_keys(f.ctx, NULL), QKV_ERR_INVALID_ARG);
    p.codes = NULL;
    EXPECT_FAIL(&f, qkv_kivi_quant_values(f.ctx, &p), QKV_ERR_INVALID_ARG);
    p = good_quant(&f), p.tokens = 0;
    EXPECT_FAIL(&f, qkv_kivi_quant_keys(f.ctx, &p), QKV_ERR_SHAPE);
    p = good_quant(&f), p.head_dim = 48; /* D % G != 0 */
    EXPECT_FAIL(&f, qkv_kivi_quant_values(f.ctx, &p), QKV_ERR_SHAPE);
    p = good_quant(&f), p.tokens = 40; /* keys: T % G != 0 */
    EXPECT_FAIL(&f, qkv_kivi_quant_keys(f.ctx, &p), QKV_ERR_SHAPE);
    p = good_quant(&f), p.bits = 3;
    EXPECT_FAIL(&f, qkv_kivi_quant_keys(f.ctx, &p), QKV_ERR_INVALID_ARG);
    p = good_quant(&f), p.group = 48;
    EXPECT_FAIL(&f, qkv_kivi_quant_keys(f.ctx, &p), QKV_ERR_INVALID_ARG);
    p = good_quant(&f), p.dtype = QKV_I32;
    EXPECT_FAIL(&f, qkv_kivi_quant_keys(f.ctx, &p), QKV_ERR_INVALID_ARG);
    p = good_quant(&f), p.batch = SIZE_MAX / 2, p.heads = 4; /* product overflows */
    EXPECT_FAIL(&f, qkv_kivi_quant_values(f.ctx, &p), QKV_ERR_OVERFLOW);
    p = good_quant(&f), p.tokens = 1024; /* input buffer too small */
    EXPECT_FAIL(&f, qkv_kivi_quant_values(f.ctx, &p), QKV_ERR_SHAPE);
    p = good_quant(&f), p.in_capacity = 32; /* capacity below tokens */
    EXPECT_FAIL(&f, qkv_kivi_quant_values(f.ctx, &p), QKV_ERR_SHAPE);
    p = good_quant(&f), p.out_offset = SIZE_MAX - 10;
    EXPECT_FAIL(&f, qkv_kivi_quant_values(f.ctx, &p), QKV_ERR_OVERFLOW);
    qkv_context *other;
    ck_assert(qkv_open("ref", &other) == QKV_OK);
    qkv_buffer *foreign;
    ck_assert(qkv_buffer_create(other, BUF_BYTES, &foreign) == QKV_OK);
    p = good_quant(&f), p.input = foreign;
    EXPECT_FAIL(&f, qkv_kivi_quant_keys(f.ctx, &p), QKV_ERR_INVALID_ARG);
    qkv_buffer_destroy(foreign);
    qkv_close(other);
    fixture_close(&f);
}
END_TEST

/* Input of 2 heads x 64 tokens x 64 channels, one bad value at `at`. */
static void write_input(fixture *f, qkv_dtype dtype, size_t at, float bad)
{
    const size_t n = 2 * 64 * 64;
    if (dtype == QKV_F32) {
        float *x = malloc(n * sizeof *x);
        for (size_t i = 0; i < n; i++)
            x[i] = (float)(i % 13) * 0.25f;
        x[at] = bad;
        ck_assert(qkv_buffer_write(f->input, 0, x, n * sizeof *x) == QKV_OK);
        free(x);
    } else {
        uint16_t *x = malloc(n * sizeof *x);
        for (size_t i = 0; i < n; i++)
            x[i] = qkv_f32_to_f16((float)(i % 13) * 0.25f);
        x[at] = qkv_f32_to_f16(bad);
        ck_assert(qkv_buffer_write(f->input, 0, x, n * sizeof *x) == QKV_OK);
        free(x);
    }
}

/* After a quantizer rejected the input of write_input (2 heads x 64 tokens
 * x 64 channels, 2-bit, G 32, bad value at `at`): the group holding it has
 * no code, scale or min written, and nothing past the output range is
 * written (groups without bad values may hold their codes). */
static void assert_rejected_group_untouched(const fixture *f, bool keys, size_t at)
{
    const size_t h = at / 4096, t = at / 64 % 64, d = at % 64;
    /* scale/min index and first code word of the group; 2 words per group */
    const size_t sidx = keys ? (h * 64 + d) * 2 + t / 32 : (h * 64 + t) * 2 + d / 32;
    const size_t widx = keys ? (h * 64 + d) * 4 + t / 32 * 2 : (h * 64 + t) * 4 + d / 32 * 2;
    const size_t code_bytes = 2 * 64 * 64 / 4, param_bytes = 2 * 64 * 2 * 2;
    uint8_t *back = malloc(BUF_BYTES);
    const struct {
        const qkv_buffer *buf;
        size_t first, count, used;
    } outs[] = {{f->codes, widx * 4, 8, code_bytes},
                {f->scale, sidx * 2, 2, param_bytes},
                {f->min, sidx * 2, 2, param_bytes}};
    for (size_t i = 0; i < 3; i++) {
        ck_assert(qkv_buffer_read(outs[i].buf, 0, back, BUF_BYTES) == QKV_OK);
        for (size_t k = 0; k < outs[i].count; k++)
            ck_assert_msg(back[outs[i].first + k] == SENTINEL,
                          "output %zu: byte %zu of the rejected group was written", i,
                          outs[i].first + k);
        for (size_t k = outs[i].used; k < BUF_BYTES; k++)
            ck_assert_msg(back[k] == SENTINEL, "output %zu byte %zu past the range written", i,
                          k);
    }
    free(back);
}

/* Restore the sentinel in every output of the fixture. */
static void refill_outputs(fixture *f)
{
    uint8_t *fill = malloc(BUF_BYTES);
    memset(fill, SENTINEL, BUF_BYTES);
    qkv_buffer *outs[] = {f->codes, f->scale, f->min, f->output};
    for (size_t i = 0; i < 4; i++)
        ck_assert(qkv_buffer_write(outs[i], 0, fill, BUF_BYTES) == QKV_OK);
    free(fill);
}

/* A quantizer call that must reject its input with `want`. */
#define EXPECT_REJECTED(f, call, want, keys, at)                                             \
    do {                                                                                     \
        const qkv_status got_ = (call);                                                      \
        ck_assert_msg(got_ == (want), "%s: got %s (%s), want %s", #call,                     \
                      qkv_status_name(got_), qkv_last_error(), qkv_status_name(want));       \
        ck_assert_msg(strlen(qkv_last_error()) > 0, "%s: no error message", #call);          \
        assert_rejected_group_untouched(f, keys, at);                                        \
        refill_outputs(f);                                                                   \
    } while (0)

START_TEST(test_quant_nonfinite_input)
{
    fixture f;
    fixture_open(&f, targets[_i]);
    const struct {
        qkv_dtype dtype;
        size_t at;
        float value;
        qkv_status want;
    } cases[] = {
        {QKV_F32, 0, NAN, QKV_ERR_NONFINITE},
        {QKV_F32, 2 * 64 * 64 - 1, INFINITY, QKV_ERR_NONFINITE},
        {QKV_F32, 777, -1e6f, QKV_ERR_RANGE},
        {QKV_F16, 4000, NAN, QKV_ERR_NONFINITE},
        {QKV_F16, 64 * 64, -INFINITY, QKV_ERR_NONFINITE},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        write_input(&f, cases[k].dtype, cases[k].at, cases[k].value);
        qkv_kivi_quant_params p = good_quant(&f);
        p.dtype = cases[k].dtype;
        EXPECT_REJECTED(&f, qkv_kivi_quant_keys(f.ctx, &p), cases[k].want, true, cases[k].at);
        EXPECT_REJECTED(&f, qkv_kivi_quant_values(f.ctx, &p), cases[k].want, false,
                        cases[k].at);
    }
    /* a NaN outside the tokens quantized (capacity padding) is not looked at */
    write_input(&f, QKV_F32, 64 * 64 - 1, NAN);
    qkv_kivi_quant_params p = good_quant(&f);
    p.tokens = 32, p.in_capacity = 64;
    ck_assert_int_eq(qkv_kivi_quant_values(f.ctx, &p), QKV_OK);
    fixture_close(&f);
}
END_TEST

START_TEST(test_dequant_and_decode_errors)
{
    fixture f;
    fixture_open(&f, targets[_i]);
    qkv_kivi_dequant_params d = {.batch = 1, .heads = 2, .tokens = 64, .head_dim = 64,
                                 .bits = 2, .group = 32, .codes = f.input, .scale = f.input,
                                 .min = f.input, .output = f.output};
    d.tokens = 33; /* keys need whole groups */
    EXPECT_FAIL(&f, qkv_kivi_dequant_keys(f.ctx, &d), QKV_ERR_SHAPE);
    d.tokens = 4096; /* output too small */
    EXPECT_FAIL(&f, qkv_kivi_dequant_values(f.ctx, &d), QKV_ERR_SHAPE);
    d.tokens = 64, d.output = NULL;
    EXPECT_FAIL(&f, qkv_kivi_dequant_values(f.ctx, &d), QKV_ERR_INVALID_ARG);
    EXPECT_FAIL(&f, qkv_kivi_dequant_values(f.ctx, NULL), QKV_ERR_INVALID_ARG);

    const qkv_kivi_decode_params good = {
        .batch = 1, .q_heads = 4, .kv_heads = 2, .head_dim = 64, .k_quant = 32, .k_resid = 8,
        .v_quant = 30, .v_resid = 10, .bits = 2, .group = 32, .query = f.input,
        .k_codes = f.input, .k_scale = f.input, .k_min = f.input, .k_resid_data = f.input,
        .v_codes = f.input, .v_scale = f.input, .v_min = f.input, .v_resid_data = f.input,
        .output = f.output};
    qkv_kivi_decode_params p = good;
    ck_assert_int_eq(qkv_kivi_decode_attention(f.ctx, &p), QKV_OK);
    p.precision = QKV_PRECISION_FAST;
    ck_assert_int_eq(qkv_kivi_decode_attention(f.ctx, &p), QKV_OK);
    uint8_t *fill = malloc(BUF_BYTES);
    memset(fill, SENTINEL, BUF_BYTES);
    ck_assert(qkv_buffer_write(f.output, 0, fill, BUF_BYTES) == QKV_OK);
    free(fill);
    p.v_resid = 11; /* keys 40 tokens, values 41 */
    EXPECT_FAIL(&f, qkv_kivi_decode_attention(f.ctx, &p), QKV_ERR_SHAPE);
    p = good, p.q_heads = 5;
    EXPECT_FAIL(&f, qkv_kivi_decode_attention(f.ctx, &p), QKV_ERR_SHAPE);
    p = good, p.k_quant = 31, p.k_resid = 9;
    EXPECT_FAIL(&f, qkv_kivi_decode_attention(f.ctx, &p), QKV_ERR_SHAPE);
    p = good, p.bits = 8;
    EXPECT_FAIL(&f, qkv_kivi_decode_attention(f.ctx, &p), QKV_ERR_UNSUPPORTED);
    p = good, p.k_quant = p.k_resid = p.v_quant = p.v_resid = 0;
    EXPECT_FAIL(&f, qkv_kivi_decode_attention(f.ctx, &p), QKV_ERR_SHAPE);
    p = good, p.k_resid_capacity = 4;
    EXPECT_FAIL(&f, qkv_kivi_decode_attention(f.ctx, &p), QKV_ERR_SHAPE);
    p = good, p.softmax_scale = NAN;
    EXPECT_FAIL(&f, qkv_kivi_decode_attention(f.ctx, &p), QKV_ERR_INVALID_ARG);
    p = good, p.precision = (qkv_precision)2;
    EXPECT_FAIL(&f, qkv_kivi_decode_attention(f.ctx, &p), QKV_ERR_INVALID_ARG);
    p = good, p.k_quant = SIZE_MAX - 4;
    EXPECT_FAIL(&f, qkv_kivi_decode_attention(f.ctx, &p), QKV_ERR_OVERFLOW);
    p = good, p.v_resid_data = NULL;
    EXPECT_FAIL(&f, qkv_kivi_decode_attention(f.ctx, &p), QKV_ERR_INVALID_ARG);
    p = good, p.head_dim = 4096; /* buffers too small */
    EXPECT_FAIL(&f, qkv_kivi_decode_attention(f.ctx, &p), QKV_ERR_SHAPE);
    fixture_close(&f);
}
END_TEST

START_TEST(test_f16_decode_errors)
{
    fixture f;
    fixture_open(&f, targets[_i]);
    const qkv_f16_decode_params good = {
        .batch = 1, .q_heads = 4, .kv_heads = 2, .head_dim = 64, .tokens = 40,
        .query = f.input, .keys = f.input, .values = f.input, .output = f.output};
    qkv_f16_decode_params p = good;
    ck_assert_int_eq(qkv_f16_decode_attention(f.ctx, &p), QKV_OK);
    uint8_t *fill = malloc(BUF_BYTES);
    memset(fill, SENTINEL, BUF_BYTES);
    ck_assert(qkv_buffer_write(f.output, 0, fill, BUF_BYTES) == QKV_OK);
    free(fill);
    p.q_heads = 5;
    EXPECT_FAIL(&f, qkv_f16_decode_attention(f.ctx, &p), QKV_ERR_SHAPE);
    p = good, p.tokens = 0;
    EXPECT_FAIL(&f, qkv_f16_decode_attention(f.ctx, &p), QKV_ERR_SHAPE);
    p = good, p.capacity = 39;
    EXPECT_FAIL(&f, qkv_f16_decode_attention(f.ctx, &p), QKV_ERR_SHAPE);
    p = good, p.softmax_scale = NAN;
    EXPECT_FAIL(&f, qkv_f16_decode_attention(f.ctx, &p), QKV_ERR_INVALID_ARG);
    p = good, p.capacity = SIZE_MAX / 2;
    EXPECT_FAIL(&f, qkv_f16_decode_attention(f.ctx, &p), QKV_ERR_OVERFLOW);
    p = good, p.keys = NULL;
    EXPECT_FAIL(&f, qkv_f16_decode_attention(f.ctx, &p), QKV_ERR_INVALID_ARG);
    p = good, p.head_dim = 4096; /* buffers too small */
    EXPECT_FAIL(&f, qkv_f16_decode_attention(f.ctx, &p), QKV_ERR_SHAPE);
    EXPECT_FAIL(&f, qkv_f16_decode_attention(f.ctx, NULL), QKV_ERR_INVALID_ARG);
    fixture_close(&f);
}
END_TEST

/* f32_gemm (M 4, N 8, K 16): a good call runs on every backend, and every
 * bad argument is refused before anything is written. */
START_TEST(test_f32_gemm_errors)
{
    fixture f;
    fixture_open(&f, targets[_i]);
    const qkv_f32_gemm_params good = {.m = 4, .n = 8, .k = 16, .x = f.input, .w = f.input,
                                      .y = f.output};
    qkv_f32_gemm_params p = good;
    ck_assert_msg(qkv_f32_gemm(f.ctx, &p) == QKV_OK, "%s: %s", targets[_i], qkv_last_error());
    uint8_t *fill = malloc(BUF_BYTES);
    memset(fill, SENTINEL, BUF_BYTES);
    ck_assert(qkv_buffer_write(f.output, 0, fill, BUF_BYTES) == QKV_OK);
    free(fill);
    p = good, p.m = 0;
    EXPECT_FAIL(&f, qkv_f32_gemm(f.ctx, &p), QKV_ERR_SHAPE);
    p = good, p.k = 0;
    EXPECT_FAIL(&f, qkv_f32_gemm(f.ctx, &p), QKV_ERR_SHAPE);
    p = good, p.n = SIZE_MAX / 2;
    EXPECT_FAIL(&f, qkv_f32_gemm(f.ctx, &p), QKV_ERR_OVERFLOW);
    p = good, p.w = NULL;
    EXPECT_FAIL(&f, qkv_f32_gemm(f.ctx, &p), QKV_ERR_INVALID_ARG);
    p = good, p.n = 4096; /* w and y too small */
    EXPECT_FAIL(&f, qkv_f32_gemm(f.ctx, &p), QKV_ERR_SHAPE);
    EXPECT_FAIL(&f, qkv_f32_gemm(f.ctx, NULL), QKV_ERR_INVALID_ARG);
    fixture_close(&f);
}
END_TEST

/* w4a8_gemm (M 4, N 8, K 128, G 64): a good call runs where the op has a
 * variant, gives the same y without the optional acc, and every bad
 * argument is refused before anything is written. */
START_TEST(test_w4a8_gemm_errors)
{
    fixture f;
    fixture_open(&f, targets[_i]);
    const qkv_w4a8_gemm_params good = {
        .m = 4, .n = 8, .k = 128, .group = 64, .mode = QKV_W4A8_LUT, .y_dtype = QKV_BF16,
        .xq = f.input, .sx = f.input, .wq = f.input, .ws = f.input, .y = f.output,
        .acc = f.codes};
    qkv_w4a8_gemm_params p = good;
    const qkv_status st = qkv_w4a8_gemm(f.ctx, &p);
    ck_assert_msg(st == QKV_OK || (st == QKV_ERR_UNSUPPORTED && strcmp(targets[_i], "cpu")),
                  "%s: %s", targets[_i], qkv_last_error());
    if (st == QKV_OK) {
        uint16_t with_acc[32], without[32];
        ck_assert(qkv_buffer_read(f.output, 0, with_acc, sizeof with_acc) == QKV_OK);
        p.acc = NULL;
        p.y = f.scale;
        ck_assert_int_eq(qkv_w4a8_gemm(f.ctx, &p), QKV_OK);
        ck_assert(qkv_buffer_read(f.scale, 0, without, sizeof without) == QKV_OK);
        ck_assert(memcmp(with_acc, without, sizeof with_acc) == 0);
    }
    uint8_t *fill = malloc(BUF_BYTES);
    memset(fill, SENTINEL, BUF_BYTES);
    qkv_buffer *outs[] = {f.output, f.codes, f.scale};
    for (int i = 0; i < 3; i++)
        ck_assert(qkv_buffer_write(outs[i], 0, fill, BUF_BYTES) == QKV_OK);
    free(fill);
    p = good, p.m = 0;
    EXPECT_FAIL(&f, qkv_w4a8_gemm(f.ctx, &p), QKV_ERR_SHAPE);
    p = good, p.group = 32;
    EXPECT_FAIL(&f, qkv_w4a8_gemm(f.ctx, &p), QKV_ERR_SHAPE);
    p = good, p.group = 128, p.k = 192;
    EXPECT_FAIL(&f, qkv_w4a8_gemm(f.ctx, &p), QKV_ERR_SHAPE);
    p = good, p.prescale_exp = 15;
    EXPECT_FAIL(&f, qkv_w4a8_gemm(f.ctx, &p), QKV_ERR_INVALID_ARG);
    p = good, p.prescale_exp = -1;
    EXPECT_FAIL(&f, qkv_w4a8_gemm(f.ctx, &p), QKV_ERR_INVALID_ARG);
    p = good, p.mode = (qkv_w4a8_mode)2;
    EXPECT_FAIL(&f, qkv_w4a8_gemm(f.ctx, &p), QKV_ERR_INVALID_ARG);
    p = good, p.y_dtype = QKV_F32; /* f32 y: exact mode only */
    EXPECT_FAIL(&f, qkv_w4a8_gemm(f.ctx, &p), QKV_ERR_INVALID_ARG);
    p = good, p.mode = QKV_W4A8_EXACT, p.y_dtype = QKV_F16;
    EXPECT_FAIL(&f, qkv_w4a8_gemm(f.ctx, &p), QKV_ERR_INVALID_ARG);
    p = good, p.m = SIZE_MAX / 2;
    EXPECT_FAIL(&f, qkv_w4a8_gemm(f.ctx, &p), QKV_ERR_OVERFLOW);
    p = good, p.ws = NULL;
    EXPECT_FAIL(&f, qkv_w4a8_gemm(f.ctx, &p), QKV_ERR_INVALID_ARG);
    p = good, p.n = 4096; /* y, acc and the weights too small */
    EXPECT_FAIL(&f, qkv_w4a8_gemm(f.ctx, &p), QKV_ERR_SHAPE);
    EXPECT_FAIL(&f, qkv_w4a8_gemm(f.ctx, NULL), QKV_ERR_INVALID_ARG);
    fixture_close(&f);
}
END_TEST

START_TEST(test_cache_errors)
{
    qkv_context *ctx;
    ck_assert(qkv_open(targets[_i], &ctx) == QKV_OK);
    qkv_kivi_cache *c = NULL;
    qkv_kivi_cache_config cfg = {.batch = 1, .kv_heads = 2, .head_dim = 64, .max_tokens = 100,
                                 .residual = 32, .bits = 2, .group = 32};
    qkv_kivi_cache_config bad = cfg;
    bad.residual = 48;
    ck_assert_int_eq(qkv_kivi_cache_create(ctx, &bad, &c), QKV_ERR_SHAPE);
    bad = cfg, bad.bits = 8;
    ck_assert_int_eq(qkv_kivi_cache_create(ctx, &bad, &c), QKV_ERR_INVALID_ARG);
    bad = cfg, bad.max_tokens = SIZE_MAX;
    ck_assert_int_eq(qkv_kivi_cache_create(ctx, &bad, &c), QKV_ERR_OVERFLOW);
    bad = cfg, bad.batch = SIZE_MAX / 2 + 2; /* 2^63+1: batch * kv_heads wraps to 2 */
    ck_assert_int_eq(qkv_kivi_cache_create(ctx, &bad, &c), QKV_ERR_OVERFLOW);
    ck_assert_ptr_null(c);
    /* the residual tensors overflow, the key codes before them would only be
     * too large: every size is checked before the first allocation */
    bad = cfg, bad.residual = (size_t)1 << 60;
    ck_assert_int_eq(qkv_kivi_cache_create(ctx, &bad, &c), QKV_ERR_OVERFLOW);
    bad = cfg, bad.residual = SIZE_MAX - 127; /* max_tokens rounded up to R wraps */
    ck_assert_int_eq(qkv_kivi_cache_create(ctx, &bad, &c), QKV_ERR_OVERFLOW);
    ck_assert_int_eq(qkv_kivi_cache_create(NULL, &cfg, &c), QKV_ERR_INVALID_ARG);
    ck_assert(qkv_kivi_cache_create(ctx, &cfg, &c) == QKV_OK);
    qkv_buffer *kv;
    ck_assert(qkv_buffer_create(ctx, 2 * 101 * 64 * 4, &kv) == QKV_OK);
    float *x = calloc(2 * 101 * 64, sizeof *x);
    x[5] = NAN;
    ck_assert(qkv_buffer_write(kv, 0, x, 2 * 101 * 64 * 4) == QKV_OK);
    ck_assert_int_eq(qkv_kivi_cache_prefill(c, QKV_F32, 101, kv, kv), QKV_ERR_SHAPE);
    ck_assert_int_eq(qkv_kivi_cache_prefill(c, QKV_F32, 40, kv, kv), QKV_ERR_NONFINITE);
    qkv_kivi_cache_state st;
    ck_assert(qkv_kivi_cache_state_get(c, &st) == QKV_OK);
    ck_assert_uint_eq(st.tokens, 0); /* a failed prefill leaves the cache empty */
    x[5] = 0.0f;
    ck_assert(qkv_buffer_write(kv, 0, x, 2 * 101 * 64 * 4) == QKV_OK);
    ck_assert_int_eq(qkv_kivi_cache_prefill(c, QKV_F32, 40, kv, kv), QKV_OK);
    ck_assert_int_eq(qkv_kivi_cache_prefill(c, QKV_F32, 40, kv, kv), QKV_ERR_INVALID_ARG);
    x[3] = INFINITY;
    ck_assert(qkv_buffer_write(kv, 0, x, 4 * 64) == QKV_OK);
    ck_assert_int_eq(qkv_kivi_cache_decode(c, QKV_F32, kv, kv, 4, kv, kv), QKV_ERR_NONFINITE);
    ck_assert(qkv_kivi_cache_state_get(c, &st) == QKV_OK);
    ck_assert_uint_eq(st.tokens, 40);
    ck_assert_int_eq(qkv_kivi_cache_decode(c, QKV_F32, kv, kv, 4, kv, NULL), QKV_ERR_INVALID_ARG);
    free(x);
    qkv_buffer_destroy(kv);
    qkv_kivi_cache_destroy(c);
    qkv_close(ctx);
}
END_TEST

/* QKV_CPU_ISA caps the cpu backend's instruction set per context: scalar
 * hides the avx2 variants, an unknown value or a level the CPU lacks fails
 * qkv_open; the microarchitecture is known on x86. */
START_TEST(test_cpu_isa_override)
{
    qkv_device_info info;
    ck_assert_int_eq(qkv_device_describe(QKV_BACKEND_CPU, 0, &info), QKV_OK);
#if defined(__x86_64__)
    ck_assert_msg(info.microarch[0] != '\0', "no microarchitecture for the cpu");
#endif
    const bool has_avx2 = strcmp(info.arch, "cpu:scalar") != 0;
    const bool has_avx512 = strcmp(info.arch, "cpu:avx512") == 0;
    qkv_context *ctx = NULL;
    if (has_avx2) {
        ck_assert_int_eq(qkv_open("cpu", &ctx), QKV_OK);
        ck_assert_int_eq(qkv_set_variant(ctx, "kivi_quant_keys", "avx2"), QKV_OK);
        qkv_close(ctx);
    }
    setenv("QKV_CPU_ISA", "scalar", 1);
    ck_assert_int_eq(qkv_device_describe(QKV_BACKEND_CPU, 0, &info), QKV_OK);
    ck_assert_str_eq(info.arch, "cpu:scalar");
    ck_assert_int_eq(qkv_open("cpu", &ctx), QKV_OK);
    ck_assert_int_eq(qkv_set_variant(ctx, "kivi_quant_keys", "avx2"), QKV_ERR_UNSUPPORTED);
    ck_assert_int_eq(qkv_set_variant(ctx, "kivi_quant_keys", "scalar"), QKV_OK);
    qkv_close(ctx);
    setenv("QKV_CPU_ISA", "avx1024", 1);
    ck_assert_int_eq(qkv_open("cpu", &ctx), QKV_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(qkv_last_error(), "QKV_CPU_ISA"));
    if (!has_avx512) {
        setenv("QKV_CPU_ISA", "avx512", 1);
        ck_assert_int_eq(qkv_open("cpu", &ctx), QKV_ERR_INVALID_ARG);
    }
    unsetenv("QKV_CPU_ISA");
}
END_TEST

/* Where the CPU has AVX-512, the cpu backend offers the avx512 variants
 * (so test_backends, test_spaces and validate run them) and prefers them
 * where no tuning table says otherwise; QKV_CPU_ISA=avx2 hides them. */
START_TEST(test_cpu_avx512_variants)
{
    static const char *const ops[] = {"kivi_quant_keys",     "kivi_quant_values",
                                      "kivi_dequant_keys",   "kivi_dequant_values",
                                      "kivi_decode_attention", "f16_decode_attention",
                                      "w4a8_gemm",           "f32_gemm"};
    qkv_device_info info;
    ck_assert_int_eq(qkv_device_describe(QKV_BACKEND_CPU, 0, &info), QKV_OK);
    if (strcmp(info.arch, "cpu:avx512") != 0) {
        fprintf(stderr, "note: no AVX-512: avx512 variant test SKIPPED\n");
        return;
    }
    qkv_context *ctx;
    char p[256];
    const char *variant, *level;
    ck_assert_int_eq(qkv_open("cpu", &ctx), QKV_OK);
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        ck_assert_int_eq(qkv_get_tile_params(ctx, ops[i], 4096, p, sizeof p, &variant, &level),
                         QKV_OK);
        if (strcmp(level, "default") == 0)
            ck_assert_str_eq(variant, "avx512");
        ck_assert_int_eq(qkv_set_variant(ctx, ops[i], "avx512"), QKV_OK);
    }
    qkv_close(ctx);
    setenv("QKV_CPU_ISA", "avx2", 1);
    ck_assert_int_eq(qkv_open("cpu", &ctx), QKV_OK);
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        ck_assert_int_eq(qkv_set_variant(ctx, ops[i], "avx512"), QKV_ERR_UNSUPPORTED);
        ck_assert_int_eq(qkv_get_tile_params(ctx, ops[i], 4096, p, sizeof p, &variant, NULL),
                         QKV_OK);
        ck_assert_str_ne(variant, "avx512");
    }
    qkv_close(ctx);
    unsetenv("QKV_CPU_ISA");
}
END_TEST

int main(void)
{
    ntargets = test_targets(targets, TEST_MAX_TARGETS);
    Suite *s = suite_create("api");
    TCase *tc = tcase_create("bad-input");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_open_errors);
    tcase_add_test(tc, test_cpu_isa_override);
    tcase_add_test(tc, test_cpu_avx512_variants);
    tcase_add_loop_test(tc, test_buffer_errors, 0, ntargets);
    tcase_add_loop_test(tc, test_overlapping_copies, 0, ntargets + 1);
    tcase_add_loop_test(tc, test_quant_argument_errors, 0, ntargets);
    tcase_add_loop_test(tc, test_quant_nonfinite_input, 0, ntargets);
    tcase_add_loop_test(tc, test_dequant_and_decode_errors, 0, ntargets);
    tcase_add_loop_test(tc, test_f16_decode_errors, 0, ntargets);
    tcase_add_loop_test(tc, test_w4a8_gemm_errors, 0, ntargets);
    tcase_add_loop_test(tc, test_f32_gemm_errors, 0, ntargets);
    tcase_add_loop_test(tc, test_cache_errors, 0, ntargets);
    suite_add_tcase(s, tc);
    TCase *closed = tcase_create("after-close"); /* alone, for valgrind */
    tcase_set_timeout(closed, 300);
    tcase_add_loop_test(closed, test_buffers_after_close, 0, ntargets + 1);
    suite_add_tcase(s, closed);
    return test_run_suite(s);
}
