/* test_cuda.c - CUDA backend: NVRTC compiles of the kernel programs through
 * the cl2cuda.h prelude and of the native CUDA programs for sm_80, sm_89
 * and sm_90a (no driver needed), then, when a CUDA device is
 * present, buffers, views, copies and kernel launches through
 * qkv_gpu_ops_cuda.  Without a device the execution tests pass as skipped.
 * The runner's own process never touches the driver, so forked tests can
 * initialise CUDA themselves. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_compile.h"
#include "cuda_native.h"

static const char *const archs[] = {"compute_80", "compute_90"};

/* A kernel using every OpenCL C construct the prelude supports. */
static const char selftest_source[] =
    "#ifndef QKV_FN\n"
    "#define QKV_FN static inline\n"
    "#endif\n"
    "QKV_FN float squash(float x) { return mad(x, 0.5f, 1.0f); }\n"
    "__kernel void selftest(__global const half *restrict in, __global half *restrict out,\n"
    "                       __global float *restrict stats, volatile __global int *flags,\n"
    "                       __global uint *umax, __constant float *bias, int n, float scale)\n"
    "{\n"
    "    __local float red[64];\n"
    "    const int lid = (int)get_local_id(0);\n"
    "    const size_t gid = get_global_id(0);\n"
    "    const float v = gid < (size_t)n ? vload_half(gid, in) * scale + bias[0] : -INFINITY;\n"
    "    if (gid < (size_t)n)\n"
    "        vstore_half_rte(squash(rint(v)), gid, out);\n"
    "    red[lid] = v;\n"
    "    barrier(CLK_LOCAL_MEM_FENCE);\n"
    "    for (int w = (int)get_local_size(0) / 2; w > 0; w /= 2) {\n"
    "        if (lid < w)\n"
    "            red[lid] = fmax(red[lid], red[lid + w]);\n"
    "        barrier(CLK_LOCAL_MEM_FENCE);\n"
    "    }\n"
    "    const ulong g = get_group_id(0) + get_group_id(1) * get_num_groups(0) +\n"
    "                    get_group_id(2) * get_global_size(1) + get_local_id(2) +\n"
    "                    get_local_id(1);\n"
    "    if (lid == 0)\n"
    "        stats[g] = fmin(sqrt(fabs(red[0])), floor(exp(red[0]) + native_exp(-red[0])));\n"
    "    barrier(CLK_GLOBAL_MEM_FENCE);\n"
    "    const uchar c = (uchar)(as_uint(v) >> 24);\n"
    "    const ushort h = (ushort)(as_int(v) & 0xffff);\n"
    "    const int bad = (!isfinite(v) ? 1 : 0) | (isnan(v) ? 2 : 0);\n"
    "    if (bad)\n"
    "        atomic_or(flags, bad);\n"
    "    atomic_max(flags + 1, min(max((int)c, 0), (int)h));\n"
    "    atomic_max(umax, as_uint(as_float(as_uint(v)) + get_global_size(2)));\n"
    "}\n";

/* Compile `name` from `source` (NULL: embedded) for every arch; checks the
 * PTX names the entry `entry` and targets the arch. */
static void compile_for_archs(const char *name, const char *source, const char *defines,
                              const char *entry)
{
    for (size_t a = 0; a < sizeof archs / sizeof archs[0]; a++) {
        char *ptx = NULL;
        size_t size = 0;
        const qkv_status st =
            source ? qkv_cuda_compile_source_ptx(name, source, defines, archs[a], &ptx, &size)
                   : qkv_cuda_compile_ptx(name, defines, archs[a], &ptx, &size);
        ck_assert_msg(st == QKV_OK, "%s [%s] for %s: %s: %s", name, defines, archs[a],
                      qkv_status_name(st), qkv_last_error());
        ck_assert_uint_eq(size, strlen(ptx) + 1);
        char target[32];
        snprintf(target, sizeof target, ".target sm_%s", archs[a] + strlen("compute_"));
        ck_assert_msg(strstr(ptx, target) != NULL, "%s: no '%s' in the PTX", name, target);
        if (entry) {
            char line[96];
            snprintf(line, sizeof line, ".entry %s(", entry);
            ck_assert_msg(strstr(ptx, line) != NULL, "%s: no '%s' in the PTX", name, line);
        }
        free(ptx);
    }
}

START_TEST(test_compile_selftest)
{
    compile_for_archs("selftest", selftest_source, "-DUNUSED=1  -DOTHER=2 ", "selftest");
    compile_for_archs("selftest", selftest_source, NULL, "selftest");
}
END_TEST

START_TEST(test_compile_error_reports_log)
{
    char *ptx = NULL;
    size_t size = 0;
    const char *bad = "__kernel void broken(__global float *x) { x[0] = undefined_name; }\n";
    ck_assert_int_eq(qkv_cuda_compile_source_ptx("broken", bad, "-DX=1", "compute_90", &ptx, &size),
                     QKV_ERR_BACKEND);
    ck_assert_ptr_null(ptx);
    ck_assert_msg(strstr(qkv_last_error(), "broken.cl(1)") != NULL &&
                      strstr(qkv_last_error(), "undefined_name") != NULL,
                  "message lacks the log: %s", qkv_last_error());
}
END_TEST

START_TEST(test_compile_bad_arguments)
{
    char *ptx = NULL;
    size_t size = 0;
    ck_assert_int_eq(qkv_cuda_compile_ptx("no_such_program", "", "compute_90", &ptx, &size),
                     QKV_ERR_INVALID_ARG);
    ck_assert_int_eq(qkv_cuda_compile_ptx(NULL, "", "compute_90", &ptx, &size),
                     QKV_ERR_INVALID_ARG);
    ck_assert_int_eq(qkv_cuda_compile_source_ptx("x", selftest_source, "", NULL, &ptx, &size),
                     QKV_ERR_INVALID_ARG);
}
END_TEST

/* Every (program, defines) combination the GPU variants declare, each
 * compiled once. */
START_TEST(test_compile_gpu_builds)
{
    static qkv_gpu_build builds[1024];
    const int n = qkv_gpu_builds(builds, 1024);
    ck_assert_int_gt(n, 0);
    ck_assert_int_lt(n, 1024);
    for (int i = 0; i < n; i++) {
        bool seen = false;
        for (int j = 0; j < i && !seen; j++)
            seen = strcmp(builds[i].program, builds[j].program) == 0 &&
                   strcmp(builds[i].defines, builds[j].defines) == 0;
        if (!seen)
            compile_for_archs(builds[i].program, NULL, builds[i].defines, NULL);
    }
}
END_TEST

/* Native CUDA archs every kernels/cuda program must compile for. */
static const char *const native_archs[] = {"sm_80", "sm_89", "sm_90a"};

/* True if the n bytes at `image` hold the NUL-terminated string `text`. */
static bool image_has(const char *image, size_t n, const char *text)
{
    const size_t len = strlen(text) + 1;
    for (size_t i = 0; i + len <= n; i++)
        if (memcmp(image + i, text, len) == 0)
            return true;
    return false;
}

/* Every build of every native CUDA variant (each distinct one once)
 * compiles to a CUBIN for each of native_archs that holds each of its
 * kernels; one line per build shows the CUBIN sizes. */
START_TEST(test_compile_native_builds)
{
    static qkv_gpu_build builds[512];
    const int n = qkv_gpu_native_cuda_builds(builds, 512);
    ck_assert_int_gt(n, 0);
    ck_assert_int_lt(n, 512);
    for (int i = 0; i < n; i++) {
        const qkv_gpu_build *b = &builds[i];
        bool seen = false;
        for (int j = 0; j < i && !seen; j++)
            seen = strcmp(b->program, builds[j].program) == 0 &&
                   strcmp(b->defines, builds[j].defines) == 0;
        if (seen)
            continue;
        ck_assert(qkv_kernel_is_native_cuda(b->program));
        const char *source = qkv_kernel_source(b->program);
        ck_assert_msg(source != NULL, "no embedded program %s", b->program);
        char line[256];
        int len = snprintf(line, sizeof line, "cuda native: %s [%s]:", b->program, b->defines);
        for (size_t a = 0; a < sizeof native_archs / sizeof native_archs[0]; a++) {
            char *image = NULL;
            size_t size = 0;
            const qkv_status st =
                qkv_cuda_compile_image(b->program, source, b->defines, native_archs[a], &image,
                                       &size);
            ck_assert_msg(st == QKV_OK, "%s [%s] for %s: %s: %s", b->program, b->defines,
                          native_archs[a], qkv_status_name(st), qkv_last_error());
            ck_assert_msg(size > 4 && memcmp(image, "\177ELF", 4) == 0,
                          "%s [%s] for %s: not a CUBIN", b->program, b->defines,
                          native_archs[a]);
            for (int k = 0; k < QKV_GPU_BUILD_KERNELS && b->kernels[k]; k++)
                ck_assert_msg(image_has(image, size, b->kernels[k]),
                              "%s [%s] for %s: no kernel %s", b->program, b->defines,
                              native_archs[a], b->kernels[k]);
            if (len > 0 && (size_t)len < sizeof line)
                len += snprintf(line + len, sizeof line - (size_t)len, " %s %zu B",
                                native_archs[a], size);
            free(image);
        }
        printf("%s\n", line);
    }
    fflush(stdout);
}
END_TEST

/* The native programs also compile to PTX for the 90a virtual arch. */
START_TEST(test_compile_native_ptx)
{
    static qkv_gpu_build builds[512];
    const int n = qkv_gpu_native_cuda_builds(builds, 512);
    ck_assert_int_gt(n, 0);
    char *ptx = NULL;
    size_t size = 0;
    const qkv_status st =
        qkv_cuda_compile_ptx(builds[0].program, builds[0].defines, "compute_90a", &ptx, &size);
    ck_assert_msg(st == QKV_OK, "%s: %s", builds[0].program, qkv_last_error());
    ck_assert(strstr(ptx, ".target sm_90a") != NULL);
    char entry[96];
    snprintf(entry, sizeof entry, ".entry %s(", builds[0].kernels[0]);
    ck_assert_msg(strstr(ptx, entry) != NULL, "no '%s' in the PTX", entry);
    free(ptx);
}
END_TEST

/* ---- execution (skipped without a device) ------------------------------- */

/* A context on CUDA device 0, or NULL when there is no CUDA device. */
static qkv_context *open_cuda(void)
{
    if (qkv_device_count(QKV_BACKEND_CUDA) == 0)
        return NULL;
    qkv_context *ctx = NULL;
    const qkv_status st = qkv_open("cuda", &ctx);
    ck_assert_msg(st == QKV_OK, "qkv_open(cuda): %s", qkv_last_error());
    return ctx;
}

START_TEST(test_device_or_skip)
{
    if (qkv_device_count(QKV_BACKEND_CUDA) == 0) {
        printf("cuda: no CUDA device (libcuda.so.1 not loadable or no GPU): "
               "execution tests SKIPPED\n");
        fflush(stdout);
        qkv_context *ctx = NULL;
        ck_assert_int_eq(qkv_open("cuda", &ctx), QKV_ERR_NO_DEVICE);
        ck_assert_ptr_null(ctx);
        return;
    }
    qkv_device_info info;
    ck_assert_int_eq(qkv_device_describe(QKV_BACKEND_CUDA, 0, &info), QKV_OK);
    printf("cuda: device 0: %s, %s (compute capability %d.%d), %s, %d SMs, %zu KiB shared "
           "memory opt-in\n",
           info.name, info.arch, info.cc_major, info.cc_minor, info.version, info.compute_units,
           info.local_mem_optin / 1024);
    fflush(stdout);
    ck_assert_str_eq(info.vendor, "NVIDIA");
    ck_assert(strncmp(info.arch, "sm_", 3) == 0);
    ck_assert(strstr(info.version, "CUDA driver") != NULL);
    ck_assert_uint_gt(info.global_mem, 0);
    ck_assert_uint_ge(info.local_mem, 16384);
    ck_assert_uint_ge(info.max_work_group, 256);
    ck_assert_int_gt(info.compute_units, 0);
    ck_assert_uint_eq(info.mem_align, 256);
    ck_assert_int_ge(info.cc_major, 7);
    ck_assert_uint_ge(info.local_mem_optin, info.local_mem);
}
END_TEST

START_TEST(test_buffer_round_trip)
{
    qkv_context *ctx = open_cuda();
    if (!ctx)
        return;
    enum { N = 1 << 18 };
    uint32_t *in = malloc(N * sizeof *in), *out = calloc(N, sizeof *out);
    ck_assert(in && out);
    for (uint32_t i = 0; i < N; i++)
        in[i] = i * 2654435761u;
    qkv_buffer *buf;
    ck_assert_int_eq(qkv_buffer_create(ctx, N * sizeof *in, &buf), QKV_OK);
    ck_assert_int_eq(qkv_buffer_write(buf, 0, in, N * sizeof *in), QKV_OK);
    ck_assert_int_eq(qkv_buffer_read(buf, 0, out, N * sizeof *out), QKV_OK);
    ck_assert(memcmp(in, out, N * sizeof *in) == 0);
    /* unaligned partial transfers */
    const uint8_t bytes[5] = {1, 2, 3, 4, 5};
    uint8_t back[7];
    ck_assert_int_eq(qkv_buffer_write(buf, 13, bytes, sizeof bytes), QKV_OK);
    ck_assert_int_eq(qkv_buffer_read(buf, 12, back, sizeof back), QKV_OK);
    ck_assert_uint_eq(back[0], ((const uint8_t *)in)[12]);
    ck_assert(memcmp(back + 1, bytes, sizeof bytes) == 0);
    ck_assert_uint_eq(back[6], ((const uint8_t *)in)[18]);
    ck_assert_int_eq(qkv_finish(ctx), QKV_OK);
    qkv_buffer_destroy(buf);
    qkv_close(ctx);
    free(in);
    free(out);
}
END_TEST

START_TEST(test_views_and_copies)
{
    qkv_context *ctx = open_cuda();
    if (!ctx)
        return;
    enum { N = 4096 };
    uint8_t pattern[N], back[N];
    for (int i = 0; i < N; i++)
        pattern[i] = (uint8_t)(i * 7 + 3);
    qkv_buffer *a, *b, *view, *bad = NULL;
    ck_assert_int_eq(qkv_buffer_create(ctx, N, &a), QKV_OK);
    ck_assert_int_eq(qkv_buffer_create(ctx, N, &b), QKV_OK);
    ck_assert_int_eq(qkv_buffer_write(a, 0, pattern, N), QKV_OK);
    ck_assert_int_eq(qkv_buffer_view(a, 1, 16, &bad), QKV_ERR_INVALID_ARG);
    ck_assert_ptr_null(bad);
    /* a view reads and writes its parent at its offset */
    ck_assert_int_eq(qkv_buffer_view(a, 512, 1024, &view), QKV_OK);
    ck_assert_int_eq(qkv_buffer_read(view, 0, back, 1024), QKV_OK);
    ck_assert(memcmp(back, pattern + 512, 1024) == 0);
    memset(back, 0xab, 100);
    ck_assert_int_eq(qkv_buffer_write(view, 10, back, 100), QKV_OK);
    ck_assert_int_eq(qkv_buffer_read(a, 0, back, N), QKV_OK);
    memset(pattern + 522, 0xab, 100);
    ck_assert(memcmp(back, pattern, N) == 0);
    /* device copies: whole buffer, then from a view into an offset */
    ck_assert_int_eq(qkv_buffer_copy(b, 0, a, 0, N), QKV_OK);
    ck_assert_int_eq(qkv_buffer_copy(b, 3000, view, 8, 1000), QKV_OK);
    ck_assert_int_eq(qkv_finish(ctx), QKV_OK);
    ck_assert_int_eq(qkv_buffer_read(b, 0, back, N), QKV_OK);
    memcpy(pattern + 3000, pattern + 520, 1000);
    ck_assert(memcmp(back, pattern, N) == 0);
    qkv_buffer_destroy(view);
    qkv_buffer_destroy(a);
    qkv_buffer_destroy(b);
    qkv_close(ctx);
}
END_TEST

/* Buffer of `bytes` on ctx holding `data`. */
static qkv_buffer *upload(qkv_context *ctx, const void *data, size_t bytes)
{
    qkv_buffer *buf;
    ck_assert_int_eq(qkv_buffer_create(ctx, bytes, &buf), QKV_OK);
    ck_assert_int_eq(qkv_buffer_write(buf, 0, data, bytes), QKV_OK);
    return buf;
}

/* kivi_dequant_values with 8-bit codes: exact small values, so the result
 * must match the host bit for bit. */
START_TEST(test_launch_dequant)
{
    qkv_context *ctx = open_cuda();
    if (!ctx)
        return;
    enum { ROWS = 4, D = 64, GROUP = 32, PER_WORD = 4 };
    uint32_t codes[ROWS * D / PER_WORD] = {0};
    uint16_t scale[ROWS * D / GROUP], minv[ROWS * D / GROUP];
    float expect[ROWS * D], out[ROWS * D];
    for (int g = 0; g < ROWS * D / GROUP; g++) {
        scale[g] = qkv_f32_to_f16(0.25f * (float)(g + 1));
        minv[g] = qkv_f32_to_f16(-2.0f + (float)g);
    }
    for (int i = 0; i < ROWS * D; i++) {
        const uint32_t c = (uint32_t)(i * 37) & 0xffu;
        codes[i / PER_WORD] |= c << (8 * (i % PER_WORD));
        expect[i] = (float)c * qkv_f16_to_f32(scale[i / GROUP]) + qkv_f16_to_f32(minv[i / GROUP]);
    }
    qkv_buffer *bc = upload(ctx, codes, sizeof codes), *bs = upload(ctx, scale, sizeof scale);
    qkv_buffer *bm = upload(ctx, minv, sizeof minv), *bo;
    ck_assert_int_eq(qkv_buffer_create(ctx, sizeof out, &bo), QKV_OK);
    qkv_gpu_kernel *k, *again;
    ck_assert_msg(qkv_gpu_ops_cuda.get_kernel(ctx, "kivi", "kivi_dequant_values",
                                              "-DBITS=8 -DGROUP=32", &k) == QKV_OK,
                  "%s", qkv_last_error());
    ck_assert_int_eq(qkv_gpu_ops_cuda.get_kernel(ctx, "kivi", "kivi_dequant_values",
                                                 "-DBITS=8 -DGROUP=32", &again),
                     QKV_OK);
    ck_assert_ptr_eq(k, again);
    const size_t global = ROWS * D, local = 64;
    const qkv_gpu_arg args[] = {QKV_GPU_BUF(bc), QKV_GPU_BUF(bs), QKV_GPU_BUF(bm),
                                QKV_GPU_BUF(bo), QKV_GPU_INT(D), QKV_GPU_INT(ROWS)};
    ck_assert_msg(qkv_gpu_ops_cuda.launch(ctx, k, 1, &global, &local, 6, args) == QKV_OK, "%s",
                  qkv_last_error());
    ck_assert_int_eq(qkv_finish(ctx), QKV_OK);
    ck_assert_int_eq(qkv_buffer_read(bo, 0, out, sizeof out), QKV_OK);
    ck_assert(memcmp(out, expect, sizeof out) == 0);
    qkv_buffer_destroy(bc);
    qkv_buffer_destroy(bs);
    qkv_buffer_destroy(bm);
    qkv_buffer_destroy(bo);
    qkv_close(ctx);
}
END_TEST

/* Runs kivi_scan_input (IN_F16 per `defines`) over `bytes` of input
 * [2, 4, 32] with 3 tokens used; returns the flag word. */
static int scan_flag(qkv_context *ctx, const char *defines, const void *input, size_t bytes)
{
    const int zero = 0;
    int flag = -1;
    qkv_buffer *in = upload(ctx, input, bytes), *bf = upload(ctx, &zero, sizeof zero);
    qkv_gpu_kernel *k;
    ck_assert_msg(qkv_gpu_ops_cuda.get_kernel(ctx, "kivi", "kivi_scan_input", defines, &k) ==
                      QKV_OK,
                  "%s", qkv_last_error());
    const size_t global = 128, local = 64;
    const qkv_gpu_arg args[] = {QKV_GPU_BUF(in), QKV_GPU_INT(2),  QKV_GPU_INT(3),
                                QKV_GPU_INT(32), QKV_GPU_INT(4), QKV_GPU_BUF(bf)};
    ck_assert_msg(qkv_gpu_ops_cuda.launch(ctx, k, 1, &global, &local, 6, args) == QKV_OK, "%s",
                  qkv_last_error());
    ck_assert_int_eq(qkv_buffer_read(bf, 0, &flag, sizeof flag), QKV_OK);
    qkv_buffer_destroy(in);
    qkv_buffer_destroy(bf);
    return flag;
}

/* kivi_scan_input: vload_half, grid-stride loops and atomic_or. */
START_TEST(test_launch_scan)
{
    qkv_context *ctx = open_cuda();
    if (!ctx)
        return;
    enum { N = 2 * 4 * 32 };
    uint16_t h[N];
    float f[N];
    for (int i = 0; i < N; i++) {
        h[i] = qkv_f32_to_f16((float)(i % 17) - 8.0f);
        f[i] = (float)(i % 13) * 0.5f;
    }
    ck_assert_int_eq(scan_flag(ctx, "-DIN_F16=1", h, sizeof h), 0);
    h[3 * 32 + 5] = 0x7c00; /* +Inf in the unused token 3 of row 0 */
    ck_assert_int_eq(scan_flag(ctx, "-DIN_F16=1", h, sizeof h), 0);
    h[4 * 32 + 2 * 32 + 31] = 0xfe00; /* NaN in token 2 of row 1 */
    ck_assert_int_eq(scan_flag(ctx, "-DIN_F16=1", h, sizeof h), 1);
    f[4 * 32 + 7] = 70000.0f;
    ck_assert_int_eq(scan_flag(ctx, "-DIN_F16=0", f, sizeof f), 2);
    qkv_close(ctx);
}
END_TEST

START_TEST(test_launch_errors)
{
    qkv_context *ctx = open_cuda();
    if (!ctx)
        return;
    qkv_gpu_kernel *k;
    ck_assert_int_eq(qkv_gpu_ops_cuda.get_kernel(ctx, "kivi", "no_such_kernel", "", &k),
                     QKV_ERR_BACKEND);
    ck_assert_int_eq(qkv_gpu_ops_cuda.get_kernel(ctx, "no_such_program", "k", "", &k),
                     QKV_ERR_INVALID_ARG);
    ck_assert_int_eq(qkv_gpu_ops_cuda.get_kernel(ctx, "kivi", "kivi_dequant_values", "", &k),
                     QKV_OK);
    const qkv_gpu_arg args[] = {QKV_GPU_BUF(NULL), QKV_GPU_BUF(NULL), QKV_GPU_BUF(NULL),
                                QKV_GPU_BUF(NULL), QKV_GPU_INT(64),   QKV_GPU_INT(0)};
    const size_t global = 100, local = 64, huge = 4096;
    ck_assert_int_eq(qkv_gpu_ops_cuda.launch(ctx, k, 1, &global, &local, 6, args),
                     QKV_ERR_INVALID_ARG);
    ck_assert_int_eq(qkv_gpu_ops_cuda.launch(ctx, k, 1, &huge, &huge, 6, args),
                     QKV_ERR_UNSUPPORTED);
    /* NULL buffers pass as null pointers; rows = 0 leaves them untouched */
    ck_assert_int_eq(qkv_gpu_ops_cuda.launch(ctx, k, 1, &local, &local, 6, args), QKV_OK);
    ck_assert_int_eq(qkv_finish(ctx), QKV_OK);
    qkv_close(ctx);
}
END_TEST

/* qkv_cuda_launch: attention_merge of dense.cu (D = 64) over one split
 * divides each partial output by its l; launched with 64 KiB of dynamic
 * shared memory it does not use (the opt-in path, where the device allows
 * it), and refused beyond the device's opt-in limit. */
START_TEST(test_native_launch_smem)
{
    qkv_context *ctx = open_cuda();
    if (!ctx)
        return;
    enum { D = 64, BQ = 3 };
    float part[BQ * (D + 2)], out[BQ * D];
    for (int q = 0; q < BQ; q++) {
        for (int d = 0; d < D; d++)
            part[q * (D + 2) + d] = (float)(d - 7 * q);
        part[q * (D + 2) + D] = 1.5f;     /* m */
        part[q * (D + 2) + D + 1] = 4.0f; /* l */
    }
    qkv_buffer *bp = upload(ctx, part, sizeof part), *bo;
    ck_assert_int_eq(qkv_buffer_create(ctx, sizeof out, &bo), QKV_OK);
    qkv_gpu_kernel *k;
    ck_assert_msg(qkv_gpu_ops_cuda.get_kernel(ctx, "dense.cu", "attention_merge", "-DHEAD_DIM=64",
                                              &k) == QKV_OK,
                  "%s", qkv_last_error());
    qkv_device_info info;
    ck_assert_int_eq(qkv_context_info(ctx, &info), QKV_OK);
    const size_t limit = qkv_cuda_smem_limit(&info), smem = limit < 65536 ? limit : 65536;
    const unsigned grid[3] = {BQ, 1, 1}, block[3] = {D, 1, 1};
    const qkv_gpu_arg args[] = {QKV_GPU_BUF(bp), QKV_GPU_BUF(bo), QKV_GPU_INT(1)};
    ck_assert_msg(qkv_cuda_launch(ctx, k, grid, block, smem, 3, args) == QKV_OK, "%s",
                  qkv_last_error());
    ck_assert_int_eq(qkv_finish(ctx), QKV_OK);
    ck_assert_int_eq(qkv_buffer_read(bo, 0, out, sizeof out), QKV_OK);
    for (int q = 0; q < BQ; q++)
        for (int d = 0; d < D; d++)
            ck_assert_float_eq(out[q * D + d], (float)(d - 7 * q) / 4.0f);
    ck_assert_int_eq(qkv_cuda_launch(ctx, k, grid, block, limit + 1, 3, args),
                     QKV_ERR_UNSUPPORTED);
    qkv_buffer_destroy(bp);
    qkv_buffer_destroy(bo);
    qkv_close(ctx);
}
END_TEST

/* Compile tests (NVRTC only) and device tests (skipped without a GPU). */
static Suite *cuda_suite(void)
{
    Suite *s = suite_create("cuda");
    TCase *compile = tcase_create("compile");
    tcase_set_timeout(compile, 120);
    tcase_add_test(compile, test_compile_selftest);
    tcase_add_test(compile, test_compile_error_reports_log);
    tcase_add_test(compile, test_compile_bad_arguments);
    tcase_add_test(compile, test_compile_gpu_builds);
    suite_add_tcase(s, compile);
    TCase *native = tcase_create("native");
    tcase_set_timeout(native, 600); /* NVRTC with the toolkit's headers: about 3 s a build */
    tcase_add_test(native, test_compile_native_builds);
    tcase_add_test(native, test_compile_native_ptx);
    suite_add_tcase(s, native);
    TCase *device = tcase_create("device");
    tcase_set_timeout(device, 120);
    tcase_add_test(device, test_device_or_skip);
    tcase_add_test(device, test_buffer_round_trip);
    tcase_add_test(device, test_views_and_copies);
    tcase_add_test(device, test_launch_dequant);
    tcase_add_test(device, test_launch_scan);
    tcase_add_test(device, test_launch_errors);
    tcase_add_test(device, test_native_launch_smem);
    suite_add_tcase(s, device);
    return s;
}

/* The runner never touches the driver itself (see the header comment). */
int main(void)
{
    SRunner *runner = srunner_create(cuda_suite());
    srunner_run_all(runner, CK_NORMAL);
    const int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
