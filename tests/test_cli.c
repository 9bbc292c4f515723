/* test_cli.c - the qkv command end to end: `qkv run` on .npy files against
 * the reference, and the exit status and messages of bad invocations. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fireq_act_ref.h"
#include "fireq_gemm_ref.h"
#include "kivi_ref.h"
#include "npy.h"
#include "test_util.h"

#ifndef QKV_BINARY
#error "QKV_BINARY (path of the qkv command) must be defined"
#endif

static char dir[] = "/tmp/qkv-test-cli-XXXXXX";

/* Run `qkv ARGS` (killed after 60 s: a hang fails), stdout and stderr into
 * dir/out.txt; its exit status. */
static int run_qkv(const char *args)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "timeout 60 %s %s >%s/out.txt 2>&1", QKV_BINARY, args, dir);
    const int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Whether dir/out.txt contains `text`. */
static bool output_has(const char *text)
{
    char path[256], buf[8192] = "";
    snprintf(path, sizeof path, "%s/out.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    const size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return strstr(buf, text) != NULL;
}

/* Values [1, 2, 3, 64] f32 quantized by `qkv run` on each backend equal the
 * reference's codes, scales and minima. */
START_TEST(test_run_quant_values)
{
    enum { T = 3, D = 64 };
    const size_t shape[4] = {1, 2, T, D};
    float x[2 * T * D];
    for (int i = 0; i < 2 * T * D; i++)
        x[i] = sinf((float)i * 0.37f) * 3.0f;
    char path[256], args[1024];
    snprintf(path, sizeof path, "%s/v.npy", dir);
    ck_assert(qkv_npy_save(path, QKV_F32, 4, shape, x) == QKV_OK);
    const qkv_kivi_quant_params p = {.batch = 1, .heads = 2, .tokens = T, .head_dim = D,
                                     .in_capacity = T, .out_capacity = T, .bits = 4,
                                     .group = 32, .dtype = QKV_F32};
    uint32_t codes[2 * T * D / 8];
    uint16_t scale[2 * T * 2], mn[2 * T * 2];
    kivi_ref_quant_values(&p, x, codes, scale, mn);
    const char *backends[] = {"ref", "cpu", "opencl"};
    for (int b = 0; b < 3; b++) {
        if (b == 2 && qkv_device_count(QKV_BACKEND_OPENCL) == 0)
            continue;
        snprintf(args, sizeof args,
                 "run kivi_quant_values --in input=%s --out %s/o%d --bits 4 --group 32 "
                 "--backend %s",
                 path, dir, b, backends[b]);
        ck_assert_msg(run_qkv(args) == 0, "qkv %s failed", args);
        qkv_npy t;
        snprintf(path, sizeof path, "%s/o%d/codes.npy", dir, b);
        ck_assert(qkv_npy_load(path, &t) == QKV_OK);
        ck_assert_int_eq(t.dtype, QKV_U32);
        ck_assert_int_eq(t.ndim, 4);
        ck_assert_uint_eq(t.shape[3], D / 8);
        ck_assert(memcmp(t.data, codes, sizeof codes) == 0);
        qkv_npy_free(&t);
        snprintf(path, sizeof path, "%s/o%d/scale.npy", dir, b);
        ck_assert(qkv_npy_load(path, &t) == QKV_OK);
        ck_assert_int_eq(t.dtype, QKV_F16);
        ck_assert(memcmp(t.data, scale, sizeof scale) == 0);
        qkv_npy_free(&t);
        snprintf(path, sizeof path, "%s/v.npy", dir);
    }
}
END_TEST

/* w4a8_gemm [M 2, K 128] x [N 3, K 128]^T, G 64, through `qkv run` with its
 * options (--mode exact --y f32 --prescale 4) on ref and cpu: y within
 * 1e-6 of the reference's, acc written beside it; then the defaults (lut,
 * bf16 y). */
START_TEST(test_run_w4a8_gemm)
{
    enum { M = 2, N = 3, K = 128, G = 64 };
    uint8_t xq[M * K], wq[N * K / 2], ws[N * K / G];
    uint16_t sx[M] = {0x3F80, 0x3E40}; /* 1, 0.1875 */
    int8_t codes[N * K];
    for (int i = 0; i < M * K; i++)
        xq[i] = (uint8_t)((i * 37) % 0x7F);
    for (int i = 0; i < N * K; i++)
        codes[i] = (int8_t)((i * 5) % 16 - 8);
    qkv_i4_pack(codes, N * K, wq);
    for (int i = 0; i < N * K / G; i++)
        ws[i] = (uint8_t)(0x28 + 3 * i);
    const char *names[4] = {"xq", "sx", "wq", "ws"};
    const qkv_dtype dtypes[4] = {QKV_E4M3, QKV_BF16, QKV_I4, QKV_E4M3};
    const size_t shapes[4][2] = {{M, K}, {M, 1}, {N, K}, {N, K / G}};
    const void *data[4] = {xq, sx, wq, ws};
    char in[1024] = "", path[256], args[2048];
    for (int t = 0; t < 4; t++) {
        snprintf(path, sizeof path, "%s/%s.npy", dir, names[t]);
        ck_assert(qkv_npy_save(path, dtypes[t], t == 1 ? 1 : 2, shapes[t], data[t]) == QKV_OK);
        snprintf(in + strlen(in), sizeof in - strlen(in), " --in %s=%s", names[t], path);
    }
    const qkv_w4a8_gemm_params p = {.m = M, .n = N, .k = K, .group = G, .prescale_exp = 2,
                                    .mode = QKV_W4A8_EXACT, .y_dtype = QKV_F32};
    float want[M * N];
    ck_assert(fireq_ref_w4a8_gemm(&p, xq, sx, wq, ws, want, NULL) == QKV_OK);
    const char *backends[] = {"ref", "cpu"};
    for (int b = 0; b < 2; b++) {
        snprintf(args, sizeof args,
                 "run w4a8_gemm%s --out %s/g%d --mode exact --y f32 --prescale 4 --backend %s",
                 in, dir, b, backends[b]);
        ck_assert_msg(run_qkv(args) == 0, "qkv %s failed", args);
        qkv_npy t;
        snprintf(path, sizeof path, "%s/g%d/y.npy", dir, b);
        ck_assert(qkv_npy_load(path, &t) == QKV_OK);
        ck_assert(t.dtype == QKV_F32 && t.ndim == 2 && t.shape[0] == M && t.shape[1] == N);
        for (int i = 0; i < M * N; i++)
            ck_assert_float_eq_tol(((const float *)t.data)[i], want[i], 1e-6f * fabsf(want[i]));
        qkv_npy_free(&t);
        snprintf(path, sizeof path, "%s/g%d/acc.npy", dir, b);
        ck_assert(qkv_npy_load(path, &t) == QKV_OK);
        ck_assert(t.dtype == QKV_F32 && t.ndim == 2 && t.shape[1] == N);
        qkv_npy_free(&t);
    }
    snprintf(args, sizeof args, "run w4a8_gemm%s --out %s/lut", in, dir);
    ck_assert_msg(run_qkv(args) == 0, "qkv %s failed", args);
    qkv_npy t;
    snprintf(path, sizeof path, "%s/lut/y.npy", dir);
    ck_assert(qkv_npy_load(path, &t) == QKV_OK);
    ck_assert(t.dtype == QKV_U16 && t.ndim == 2 && t.shape[0] == M && t.shape[1] == N);
    qkv_npy_free(&t);
    snprintf(args, sizeof args, "run w4a8_gemm%s --out %s/bad --y f32", in, dir);
    ck_assert_int_ne(run_qkv(args), 0); /* f32 y: exact mode only */
    ck_assert(output_has("y_dtype"));
}
END_TEST

/* Whether dir/SUB/NAME.npy holds `bytes` bytes equal to want, stored as
 * file_dtype. */
static bool npy_output_is(const char *sub, const char *name, qkv_dtype file_dtype,
                          const void *want, size_t bytes)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s/%s.npy", dir, sub, name);
    qkv_npy t;
    if (qkv_npy_load(path, &t) != QKV_OK)
        return false;
    const bool same = t.dtype == file_dtype && t.count * qkv_dtype_size(t.dtype) == bytes &&
                      memcmp(t.data, want, bytes) == 0;
    qkv_npy_free(&t);
    return same;
}

/* w4a8_quant_activations through `qkv run` from x [3, 100] in f32 (<f4),
 * f16 (<f2) and bf16 (<u2) on ref and cpu: xq (|u1 [3, 100]) and sx (<u2
 * [3]) equal the reference's. */
START_TEST(test_run_w4a8_quant_activations)
{
    enum { M = 3, K = 100 };
    float x[M * K];
    uint16_t half[M * K];
    for (int i = 0; i < M * K; i++)
        x[i] = sinf((float)i * 0.71f) * (i % 37 == 5 ? 40.0f : 1.5f);
    const qkv_dtype dtypes[3] = {QKV_F32, QKV_F16, QKV_BF16};
    const char *backends[] = {"ref", "cpu"};
    const size_t shape[2] = {M, K};
    for (int d = 0; d < 3; d++) {
        for (int i = 0; i < M * K; i++)
            half[i] = dtypes[d] == QKV_F16 ? qkv_f32_to_f16(x[i]) : qkv_f32_to_bf16(x[i]);
        const void *data = dtypes[d] == QKV_F32 ? (const void *)x : half;
        char path[256], args[1024], sub[32];
        snprintf(path, sizeof path, "%s/x%d.npy", dir, d);
        ck_assert(qkv_npy_save(path, dtypes[d], 2, shape, data) == QKV_OK);
        const qkv_w4a8_act_quant_params p = {.m = M, .k = K, .dtype = dtypes[d]};
        uint8_t xq[M * K];
        uint16_t sx[M];
        fireq_ref_quant_activations(&p, data, xq, sx);
        for (int b = 0; b < 2; b++) {
            snprintf(sub, sizeof sub, "a%d%d", d, b);
            snprintf(args, sizeof args,
                     "run w4a8_quant_activations --in x=%s --out %s/%s --backend %s", path,
                     dir, sub, backends[b]);
            ck_assert_msg(run_qkv(args) == 0, "qkv %s failed", args);
            ck_assert(npy_output_is(sub, "xq", QKV_U8, xq, sizeof xq));
            ck_assert(npy_output_is(sub, "sx", QKV_U16, sx, sizeof sx));
        }
    }
}
END_TEST

/* `qkv quantize-weights` on W [5, 256] of small magnitude (so i > 0) in
 * f32 and bf16 (<u2), G 64 and the default 128: wq, ws and prescale_exp
 * equal qkv_w4a8_quantize_weights's; then its bad invocations. */
START_TEST(test_quantize_weights)
{
    enum { N = 5, K = 256 };
    float w[N * K];
    uint16_t wb[N * K];
    for (int i = 0; i < N * K; i++) {
        w[i] = cosf((float)i * 1.3f) * 0x1p-10f * (i % 64 == 9 ? 8.0f : 1.0f);
        wb[i] = qkv_f32_to_bf16(w[i]);
    }
    const size_t shape[2] = {N, K};
    char path[256], args[1024], sub[32];
    for (int d = 0; d < 2; d++) {
        const qkv_dtype dtype = d ? QKV_BF16 : QKV_F32;
        const void *data = d ? (const void *)wb : w;
        snprintf(path, sizeof path, "%s/w%d.npy", dir, d);
        ck_assert(qkv_npy_save(path, dtype, 2, shape, data) == QKV_OK);
        for (int g = 64; g <= 128; g *= 2) {
            uint8_t codes[N * K / 2], scales[N * K / 64];
            int exp = -1;
            const qkv_w4a8_weight_quant_params p = {.n = N, .k = K, .group = g, .dtype = dtype,
                                                    .weights = data, .codes = codes,
                                                    .scales = scales, .prescale_exp = &exp};
            ck_assert(qkv_w4a8_quantize_weights(&p) == QKV_OK);
            ck_assert_int_gt(exp, 0);
            snprintf(sub, sizeof sub, "q%d%d", d, g);
            snprintf(args, sizeof args, "quantize-weights --in %s --out %s/%s%s", path, dir, sub,
                     g == 64 ? " --group 64" : "");
            ck_assert_msg(run_qkv(args) == 0, "qkv %s failed", args);
            char hint[64];
            snprintf(hint, sizeof hint, "--prescale %d", 1 << exp);
            ck_assert(output_has(hint));
            const int32_t exp32 = exp;
            ck_assert(npy_output_is(sub, "wq", QKV_U8, codes, N * K / 2));
            ck_assert(npy_output_is(sub, "ws", QKV_U8, scales, N * (K / g)));
            ck_assert(npy_output_is(sub, "prescale_exp", QKV_I32, &exp32, sizeof exp32));
        }
    }
    snprintf(args, sizeof args, "quantize-weights --in %s --out %s/b --group 32", path, dir);
    ck_assert_int_eq(run_qkv(args), 2);
    ck_assert(output_has("--group"));
    snprintf(args, sizeof args, "quantize-weights --in %s", path);
    ck_assert_int_eq(run_qkv(args), 2);
    ck_assert(output_has("--out"));
    const size_t odd[2] = {N, K - 64}; /* K = 192: not a multiple of 128 */
    ck_assert(qkv_npy_save(path, QKV_F32, 2, odd, w) == QKV_OK);
    snprintf(args, sizeof args, "quantize-weights --in %s --out %s/b", path, dir);
    ck_assert_int_eq(run_qkv(args), 1);
    ck_assert(output_has("multiple"));
    w[300] = NAN;
    ck_assert(qkv_npy_save(path, QKV_F32, 2, shape, w) == QKV_OK);
    ck_assert_int_eq(run_qkv(args), 1);
    ck_assert(output_has("QKV_ERR_NONFINITE"));
    ck_assert(qkv_npy_save(path, QKV_F32, 1, shape + 1, w) == QKV_OK);
    ck_assert_int_eq(run_qkv(args), 2);
    ck_assert(output_has("2-d"));
    ck_assert_int_eq(run_qkv("quantize-weights --help"), 0);
    ck_assert(output_has("prescale_exp.npy"));
}
END_TEST

/* From f32 .npy files to Y with the qkv command only: W [6, 256] through
 * `qkv quantize-weights`, X [4, 256] through `qkv run
 * w4a8_quant_activations`, both into `qkv run w4a8_gemm --prescale 2^i` on
 * ref; y equals the reference's on the library's own quantization. */
START_TEST(test_w4a8_round_trip)
{
    enum { M = 4, N = 6, K = 256, G = 128 };
    float x[M * K], w[N * K];
    for (int i = 0; i < M * K; i++)
        x[i] = sinf((float)i * 0.3f) * (i % K == 17 ? 20.0f : 1.0f);
    for (int i = 0; i < N * K; i++)
        w[i] = cosf((float)i * 0.7f) * 0x1p-9f;
    const size_t xs[2] = {M, K}, wsh[2] = {N, K};
    char xp[256], wp[256], args[2048];
    snprintf(xp, sizeof xp, "%s/rx.npy", dir);
    snprintf(wp, sizeof wp, "%s/rw.npy", dir);
    ck_assert(qkv_npy_save(xp, QKV_F32, 2, xs, x) == QKV_OK);
    ck_assert(qkv_npy_save(wp, QKV_F32, 2, wsh, w) == QKV_OK);
    snprintf(args, sizeof args, "run w4a8_quant_activations --in x=%s --out %s/rt", xp, dir);
    ck_assert_msg(run_qkv(args) == 0, "qkv %s failed", args);
    snprintf(args, sizeof args, "quantize-weights --in %s --out %s/rt", wp, dir);
    ck_assert_msg(run_qkv(args) == 0, "qkv %s failed", args);
    uint8_t xq[M * K], wq[N * K / 2], ws[N * K / G];
    uint16_t sx[M];
    int exp;
    const qkv_w4a8_act_quant_params ap = {.m = M, .k = K, .dtype = QKV_F32};
    fireq_ref_quant_activations(&ap, x, xq, sx);
    const qkv_w4a8_weight_quant_params wp_ = {.n = N, .k = K, .group = G, .dtype = QKV_F32,
                                              .weights = w, .codes = wq, .scales = ws,
                                              .prescale_exp = &exp};
    ck_assert(qkv_w4a8_quantize_weights(&wp_) == QKV_OK);
    ck_assert_int_gt(exp, 0);
    const qkv_w4a8_gemm_params p = {.m = M, .n = N, .k = K, .group = G, .prescale_exp = exp,
                                    .mode = QKV_W4A8_LUT, .y_dtype = QKV_BF16};
    uint16_t want[M * N];
    ck_assert(fireq_ref_w4a8_gemm(&p, xq, sx, wq, ws, want, NULL) == QKV_OK);
    snprintf(args, sizeof args,
             "run w4a8_gemm --in xq=%s/rt/xq.npy --in sx=%s/rt/sx.npy --in wq=%s/rt/wq.npy "
             "--in ws=%s/rt/ws.npy --prescale %d --backend ref --out %s/rt/y",
             dir, dir, dir, dir, 1 << exp, dir);
    ck_assert_msg(run_qkv(args) == 0, "qkv %s failed", args);
    ck_assert(npy_output_is("rt/y", "y", QKV_U16, want, sizeof want));
}
END_TEST

START_TEST(test_bad_invocations)
{
    char path[256], args[1024];
    snprintf(path, sizeof path, "%s/bad.npy", dir);
    FILE *f = fopen(path, "w");
    fputs("\x93NUMPY garbage", f);
    fclose(f);
    snprintf(args, sizeof args, "run kivi_quant_keys --in input=%s --out %s/x", path, dir);
    ck_assert_int_eq(run_qkv(args), 2);
    ck_assert(output_has("npy"));
    ck_assert_int_eq(run_qkv("run no_such_op --out /tmp"), 2);
    ck_assert(output_has("unknown op"));
    ck_assert_int_eq(run_qkv("run kivi_quant_keys --out /tmp/x"), 2);
    ck_assert(output_has("--in"));
    /* keys need T % G == 0: 3 tokens fail with the library's message */
    const size_t shape[4] = {1, 1, 3, 32};
    float x[96] = {0};
    snprintf(path, sizeof path, "%s/k.npy", dir);
    ck_assert(qkv_npy_save(path, QKV_F32, 4, shape, x) == QKV_OK);
    snprintf(args, sizeof args, "run kivi_quant_keys --in input=%s --out %s/k", path, dir);
    ck_assert_int_eq(run_qkv(args), 1);
    ck_assert(output_has("QKV_ERR_SHAPE"));
    x[7] = NAN;
    const size_t shape32[4] = {1, 1, 1, 32};
    ck_assert(qkv_npy_save(path, QKV_F32, 4, shape32, x) == QKV_OK);
    snprintf(args, sizeof args, "run kivi_quant_values --in input=%s --out %s/k", path, dir);
    ck_assert_int_eq(run_qkv(args), 1);
    ck_assert(output_has("QKV_ERR_NONFINITE"));
    ck_assert_int_eq(run_qkv("validate --shapes huge"), 2);
    ck_assert_int_eq(run_qkv("frobnicate"), 2);
    ck_assert_int_eq(run_qkv("--help"), 0);
    ck_assert(output_has("validate"));
    ck_assert_int_eq(run_qkv("run --help"), 0);
    ck_assert(output_has("kivi_decode_attention"));
    ck_assert(output_has("w4a8_gemm"));
    ck_assert_int_eq(run_qkv("--help"), 0);
    ck_assert(output_has("quantize-weights"));
    if (qkv_device_count(QKV_BACKEND_CUDA) == 0) { /* a named, absent backend fails */
        ck_assert_int_eq(run_qkv("validate --backend cuda --op kivi_quant_keys"), 1);
        ck_assert(output_has("unavailable"));
    }
    ck_assert_int_eq(run_qkv("validate --backend ref --op kivi_dequant_values"), 0);
    ck_assert(output_has("passed, 0 failed"));
    ck_assert_int_eq(run_qkv("info"), 0);
    ck_assert(output_has("kivi_decode_attention"));
    ck_assert(!output_has("search spaces"));
    ck_assert_int_eq(run_qkv("info --spaces"), 0);
    ck_assert(output_has("search spaces"));
    ck_assert(output_has("valid on"));
    ck_assert_int_eq(run_qkv("info --frobnicate"), 2);
}
END_TEST

/* Regressions: kivi_decode_attention with only query and residuals (the
 * packed parts left out, as --help allows) runs and matches the reference
 * backend; a missing query is named; an input given twice is refused. */
START_TEST(test_run_decode_residual_only)
{
    enum { B = 1, HQ = 4, HKV = 2, D = 32, R = 5 };
    static float q[B * HQ * D];
    static uint16_t kr[B * HKV * R * D], vr[B * HKV * R * D];
    for (int i = 0; i < B * HQ * D; i++)
        q[i] = cosf((float)i * 0.3f);
    for (int i = 0; i < B * HKV * R * D; i++) {
        kr[i] = qkv_f32_to_f16(sinf((float)i * 0.11f));
        vr[i] = qkv_f32_to_f16(cosf((float)i * 0.07f));
    }
    const size_t qs[3] = {B, HQ, D}, rs[4] = {B, HKV, R, D};
    char qp[256], kp[256], vp[256], args[2048];
    snprintf(qp, sizeof qp, "%s/q.npy", dir);
    snprintf(kp, sizeof kp, "%s/kr.npy", dir);
    snprintf(vp, sizeof vp, "%s/vr.npy", dir);
    ck_assert(qkv_npy_save(qp, QKV_F32, 3, qs, q) == QKV_OK);
    ck_assert(qkv_npy_save(kp, QKV_F16, 4, rs, kr) == QKV_OK);
    ck_assert(qkv_npy_save(vp, QKV_F16, 4, rs, vr) == QKV_OK);
    float out[3][B * HQ * D];
    const char *runs[] = {"--backend ref", "--backend cpu", "--backend cpu --precision fast"};
    for (int b = 0; b < 3; b++) {
        snprintf(args, sizeof args,
                 "run kivi_decode_attention --in query=%s --in k_resid=%s --in v_resid=%s "
                 "--out %s/d%d %s",
                 qp, kp, vp, dir, b, runs[b]);
        ck_assert_msg(run_qkv(args) == 0, "qkv %s failed", args);
        char path[300];
        snprintf(path, sizeof path, "%s/d%d/output.npy", dir, b);
        qkv_npy t;
        ck_assert(qkv_npy_load(path, &t) == QKV_OK);
        ck_assert_uint_eq(t.count, B * HQ * D);
        memcpy(out[b], t.data, sizeof out[b]);
        qkv_npy_free(&t);
    }
    for (int i = 0; i < B * HQ * D; i++) {
        ck_assert_float_eq_tol(out[0][i], out[1][i], 1e-5f);
        ck_assert_float_eq_tol(out[0][i], out[2][i], 1e-3f);
    }
    snprintf(args, sizeof args,
             "run kivi_decode_attention --in k_resid=%s --in v_resid=%s --out %s/e", kp, vp,
             dir);
    ck_assert_int_eq(run_qkv(args), 2);
    ck_assert(output_has("'query' is missing"));
    snprintf(args, sizeof args,
             "run kivi_decode_attention --in query=%s --in query=%s --in k_resid=%s "
             "--in v_resid=%s --out %s/e",
             qp, qp, kp, vp, dir);
    ck_assert_int_eq(run_qkv(args), 2);
    ck_assert(output_has("given more than once"));
    snprintf(args, sizeof args,
             "run kivi_decode_attention --in query=%s --in k_resid=%s --in v_resid=%s "
             "--bits 3 --out %s/e",
             qp, kp, vp, dir);
    ck_assert_int_eq(run_qkv(args), 2);
    ck_assert(output_has("bad --bits"));
    snprintf(args, sizeof args,
             "run kivi_decode_attention --in query=%s --in k_resid=%s --in v_resid=%s "
             "--precision 1 --out %s/e",
             qp, kp, vp, dir);
    ck_assert_int_eq(run_qkv(args), 2);
    ck_assert(output_has("bad --precision '1' (one of exact fast)"));
    snprintf(args, sizeof args, "run f16_decode_attention --in query=%s --bits 2 --out %s/e",
             qp, dir);
    ck_assert_int_eq(run_qkv(args), 2); /* the dense op has no --bits */
}
END_TEST

/* qkv tune refuses, before any point is measured, an output folder it
 * cannot write in and a cache that is not a regular file (a FIFO nobody
 * writes or /dev/full must not hang it). */
START_TEST(test_tune_output_checked_first)
{
    char args[1024], fifo[300];
    static const char *const folders[] = {"/proc", "/dev/null"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(args, sizeof args, "tune --op kivi_dequant_keys --max-evals 1 --out %s",
                 folders[i]);
        ck_assert_int_eq(run_qkv(args), 1);
        ck_assert(output_has("cannot write in the table folder"));
        ck_assert(!output_has("[  1]"));
    }
    snprintf(fifo, sizeof fifo, "%s/cache-fifo.log", dir);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    const char *const caches[] = {fifo, "/dev/full"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(args, sizeof args,
                 "tune --op kivi_dequant_keys --max-evals 1 --out %s/tables --cache %s", dir,
                 caches[i]);
        ck_assert_int_eq(run_qkv(args), 1);
        ck_assert(output_has("not a regular file"));
        ck_assert(!output_has("[  1]"));
    }
    unlink(fifo);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("qkv-command");
    tcase_add_test(tc, test_run_quant_values);
    tcase_add_test(tc, test_run_w4a8_gemm);
    tcase_add_test(tc, test_run_w4a8_quant_activations);
    tcase_add_test(tc, test_quantize_weights);
    tcase_add_test(tc, test_w4a8_round_trip);
    tcase_add_test(tc, test_bad_invocations);
    tcase_add_test(tc, test_run_decode_residual_only);
    tcase_add_test(tc, test_tune_output_checked_first);
    suite_add_tcase(s, tc);
    return test_run_suite_in_temp_dir(s, dir);
}
