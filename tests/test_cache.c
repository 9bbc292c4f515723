/* test_cache.c - the KIVI cache object: the prefill split and decode flush
 * rules of the spec step by step, and every backend's cache against the
 * reference backend's over a prefill and many decode steps. */
#include <math.h>
#include <string.h>

#include "kivi_ref.h"
#include "op_case.h"
#include "test_util.h"

#define B 2
#define HKV 2
#define HQ 6
#define D 64
#define R 32
#define MAX_TOKENS 200

static char targets[TEST_MAX_TARGETS][32];
static int ntargets;

/* Random f16 tensor of n elements written to a new buffer. */
static qkv_buffer *random_f16(qkv_context *ctx, size_t n, uint64_t *rng)
{
    uint16_t *h = malloc(n * 2);
    for (size_t i = 0; i < n; i++)
        h[i] = qkv_f32_to_f16((float)qkv_rng_normal(rng));
    qkv_buffer *b;
    ck_assert(qkv_buffer_create(ctx, n * 2, &b) == QKV_OK);
    ck_assert(qkv_buffer_write(b, 0, h, n * 2) == QKV_OK);
    free(h);
    return b;
}

static qkv_buffer *random_f32(qkv_context *ctx, size_t n, uint64_t *rng)
{
    float *h = malloc(n * 4);
    for (size_t i = 0; i < n; i++)
        h[i] = (float)qkv_rng_normal(rng);
    qkv_buffer *b;
    ck_assert(qkv_buffer_create(ctx, n * 4, &b) == QKV_OK);
    ck_assert(qkv_buffer_write(b, 0, h, n * 4) == QKV_OK);
    free(h);
    return b;
}

static void assert_state(const qkv_kivi_cache *c, size_t kq, size_t kr, size_t vq, size_t vr)
{
    qkv_kivi_cache_state st;
    ck_assert(qkv_kivi_cache_state_get(c, &st) == QKV_OK);
    ck_assert_uint_eq(st.k_quant, kq);
    ck_assert_uint_eq(st.k_resid, kr);
    ck_assert_uint_eq(st.v_quant, vq);
    ck_assert_uint_eq(st.v_resid, vr);
    ck_assert_uint_eq(st.tokens, kq + kr);
}

static qkv_kivi_cache *new_cache(qkv_context *ctx, int bits)
{
    const qkv_kivi_cache_config cfg = {B, HKV, D, MAX_TOKENS, R, bits, 32};
    qkv_kivi_cache *c;
    ck_assert_msg(qkv_kivi_cache_create(ctx, &cfg, &c) == QKV_OK, "%s", qkv_last_error());
    return c;
}

/* Prefill T = 70 with R = 32: keys 70 - 70 % 32 = 64 quantized, 6 residual;
 * values 70 - 32 = 38 quantized, 32 residual.  Each decode step adds a key
 * to the residual (flushed as a block when it reaches 32) and slides the
 * value window (the oldest of 33 is quantized). */
START_TEST(test_flush_rules)
{
    qkv_context *ctx;
    ck_assert(qkv_open("ref", &ctx) == QKV_OK);
    uint64_t rng = 7;
    qkv_kivi_cache *c = new_cache(ctx, 2);
    qkv_buffer *kv = random_f16(ctx, B * HKV * 70 * D, &rng);
    qkv_buffer *q = random_f32(ctx, B * HQ * D, &rng), *out;
    ck_assert(qkv_buffer_create(ctx, B * HQ * D * 4, &out) == QKV_OK);
    ck_assert(qkv_kivi_cache_prefill(c, QKV_F16, 70, kv, kv) == QKV_OK);
    assert_state(c, 64, 6, 38, 32);
    for (int step = 1; step <= 26; step++) {
        ck_assert(qkv_kivi_cache_decode(c, QKV_F16, kv, kv, HQ, q, out) == QKV_OK);
        if (step < 26)
            assert_state(c, 64, 6 + (size_t)step, 38 + (size_t)step, 32);
    }
    assert_state(c, 96, 0, 64, 32); /* 6 + 26 = 32 keys flushed */
    qkv_kivi_cache_destroy(c);

    /* a short prompt stays in the residual windows */
    c = new_cache(ctx, 4);
    ck_assert(qkv_kivi_cache_prefill(c, QKV_F16, 5, kv, kv) == QKV_OK);
    assert_state(c, 0, 5, 0, 5);
    for (int step = 1; step <= 28; step++)
        ck_assert(qkv_kivi_cache_decode(c, QKV_F16, kv, kv, HQ, q, out) == QKV_OK);
    /* keys: 5 + 27 = 32 flushed at step 27, step 28 leaves 1; values: the
     * 33rd (step 28) pushes the oldest out of the window */
    assert_state(c, 32, 1, 1, 32);
    qkv_kivi_cache_destroy(c);
    qkv_buffer_destroy(kv);
    qkv_buffer_destroy(q);
    qkv_buffer_destroy(out);
    qkv_close(ctx);
}
END_TEST

/* The prefill's quantized keys are exactly kivi_quant_keys of the first
 * 64 tokens, at the cache's capacity stride. */
START_TEST(test_prefill_matches_quantizer)
{
    qkv_context *ctx;
    ck_assert(qkv_open("ref", &ctx) == QKV_OK);
    uint64_t rng = 11;
    qkv_kivi_cache *c = new_cache(ctx, 2);
    qkv_buffer *keys = random_f32(ctx, B * HKV * 70 * D, &rng);
    ck_assert(qkv_kivi_cache_prefill(c, QKV_F32, 70, keys, keys) == QKV_OK);
    qkv_kivi_cache_tensors t;
    ck_assert(qkv_kivi_cache_tensors_get(c, &t) == QKV_OK);
    const size_t words = t.k_quant_capacity / 16;
    uint32_t *cached = malloc(B * HKV * D * words * 4), *direct = malloc(B * HKV * D * 4 * 4);
    ck_assert(qkv_buffer_read(t.k_codes, 0, cached, B * HKV * D * words * 4) == QKV_OK);
    float *host = malloc(B * HKV * 70 * D * 4);
    ck_assert(qkv_buffer_read(keys, 0, host, B * HKV * 70 * D * 4) == QKV_OK);
    uint16_t scale[B * HKV * D * 2], mn[B * HKV * D * 2];
    const qkv_kivi_quant_params p = {.batch = B, .heads = HKV, .tokens = 64, .head_dim = D,
                                     .in_capacity = 70, .out_capacity = 64, .bits = 2,
                                     .group = 32, .dtype = QKV_F32};
    kivi_ref_quant_keys(&p, host, direct, scale, mn);
    for (size_t row = 0; row < B * HKV * D; row++)
        for (size_t w = 0; w < 4; w++)
            ck_assert_uint_eq(cached[row * words + w], direct[row * 4 + w]);
    free(cached);
    free(direct);
    free(host);
    qkv_buffer_destroy(keys);
    qkv_kivi_cache_destroy(c);
    qkv_close(ctx);
}
END_TEST

/* Same prompt and steps on the reference and on target _i: outputs within
 * NMSE 1e-10 at every step, and identical packed caches at the end. */
START_TEST(test_backend_cache_matches_reference)
{
    qkv_context *ctx[2];
    ck_assert(qkv_open("ref", &ctx[0]) == QKV_OK);
    ck_assert(qkv_open(targets[_i], &ctx[1]) == QKV_OK);
    for (int bits = 2; bits <= 4; bits += 2) {
        qkv_kivi_cache *c[2];
        qkv_buffer *kv[2], *step_kv[2], *q[2], *out[2];
        for (int k = 0; k < 2; k++) {
            uint64_t rng = 99 + (uint64_t)bits; /* same data on both */
            c[k] = new_cache(ctx[k], bits);
            kv[k] = random_f32(ctx[k], B * HKV * 45 * D, &rng);
            step_kv[k] = random_f16(ctx[k], B * HKV * D, &rng);
            q[k] = random_f32(ctx[k], B * HQ * D, &rng);
            ck_assert(qkv_buffer_create(ctx[k], B * HQ * D * 4, &out[k]) == QKV_OK);
            ck_assert(qkv_kivi_cache_prefill(c[k], QKV_F32, 45, kv[k], kv[k]) == QKV_OK);
        }
        float got[2][B * HQ * D];
        for (int step = 0; step < 60; step++) {
            for (int k = 0; k < 2; k++) {
                ck_assert_msg(qkv_kivi_cache_decode(c[k], QKV_F16, step_kv[k], step_kv[k], HQ,
                                                    q[k], out[k]) == QKV_OK,
                              "%s step %d: %s", k ? targets[_i] : "ref", step, qkv_last_error());
                ck_assert(qkv_buffer_read(out[k], 0, got[k], sizeof got[k]) == QKV_OK);
            }
            double err = 0, norm = 0;
            for (size_t i = 0; i < B * HQ * D; i++) {
                err += (got[1][i] - got[0][i]) * (double)(got[1][i] - got[0][i]);
                norm += (double)got[0][i] * got[0][i];
            }
            ck_assert_msg(err / norm < 1e-10, "%s bits %d step %d: NMSE %g", targets[_i], bits,
                          step, err / norm);
        }
        qkv_kivi_cache_tensors t[2];
        for (int k = 0; k < 2; k++)
            ck_assert(qkv_kivi_cache_tensors_get(c[k], &t[k]) == QKV_OK);
        const size_t bytes = qkv_buffer_size(t[0].v_codes);
        uint32_t *a = malloc(bytes), *b = malloc(bytes);
        ck_assert(qkv_buffer_read(t[0].v_codes, 0, a, bytes) == QKV_OK);
        ck_assert(qkv_buffer_read(t[1].v_codes, 0, b, bytes) == QKV_OK);
        qkv_kivi_cache_state st;
        qkv_kivi_cache_state_get(c[0], &st);
        for (size_t h = 0; h < B * HKV; h++) /* the quantized value rows */
            ck_assert(memcmp(a + h * t[0].v_quant_capacity * D * bits / 32,
                             b + h * t[0].v_quant_capacity * D * bits / 32,
                             st.v_quant * D * (size_t)bits / 8) == 0);
        free(a);
        free(b);
        for (int k = 0; k < 2; k++) {
            qkv_kivi_cache_destroy(c[k]);
            qkv_buffer_destroy(kv[k]);
            qkv_buffer_destroy(step_kv[k]);
            qkv_buffer_destroy(q[k]);
            qkv_buffer_destroy(out[k]);
        }
    }
    qkv_close(ctx[0]);
    qkv_close(ctx[1]);
}
END_TEST

int main(void)
{
    ntargets = test_targets(targets, TEST_MAX_TARGETS);
    Suite *s = suite_create("cache");
    TCase *tc = tcase_create("kivi-cache");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_flush_rules);
    tcase_add_test(tc, test_prefill_matches_quantizer);
    tcase_add_loop_test(tc, test_backend_cache_matches_reference, 0, ntargets);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
