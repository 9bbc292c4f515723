/* test_fp8_cl.c - kernels/opencl/fp8.cl, the E4M3 encoder and decoder the
 * GPU kernels include, run on every OpenCL device against the host's
 * qkv_f32_to_e4m3 (saturating) and qkv_e4m3_to_f32: all 256 codes decoded,
 * every 251st f32 bit pattern encoded (all 2^32 with $QKV_SLOW_TESTS set,
 * about 40 s on PoCL), each program built twice, the second time with
 * -cl-denorms-are-zero (the helpers must not depend on denormals).  The
 * test programs are fp8.cl (read from the source tree) plus two kernels. */
#include <stdbool.h>
#include <string.h>

#include "test_util.h"

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#ifdef QKV_HAVE_OPENCL
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

static const char test_kernels[] =
    "__kernel void encode(uint first, uint step, __global uchar *out)\n"
    "{\n"
    "    const uint i = (uint)get_global_id(0);\n"
    "    out[i] = fp8_e4m3_from_bits(first + i * step);\n"
    "}\n"
    "__kernel void decode(__global float *out)\n"
    "{\n"
    "    const uint i = (uint)get_global_id(0);\n"
    "    out[i] = fp8_e4m3_to_f32((uchar)i);\n"
    "}\n";

/* fp8.cl followed by the test kernels (malloc'ed). */
static char *program_text(void)
{
    FILE *f = fopen(QKV_SRCDIR "/kernels/opencl/fp8.cl", "rb");
    ck_assert_msg(f != NULL, "cannot open %s", QKV_SRCDIR "/kernels/opencl/fp8.cl");
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    const long n = ftell(f);
    rewind(f);
    char *text = malloc((size_t)n + sizeof test_kernels);
    ck_assert_uint_eq(fread(text, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    memcpy(text + n, test_kernels, sizeof test_kernels);
    return text;
}

static uint32_t bits_of(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

/* The decoder on all 256 codes, bit for bit (NaN codes included). */
static void check_decode(cl_context ctx, cl_command_queue q, cl_program prog, const char *what)
{
    cl_int err;
    cl_kernel k = clCreateKernel(prog, "decode", &err);
    ck_assert_int_eq(err, CL_SUCCESS);
    cl_mem out = clCreateBuffer(ctx, CL_MEM_WRITE_ONLY, 256 * sizeof(float), NULL, &err);
    ck_assert_int_eq(err, CL_SUCCESS);
    float got[256];
    const size_t global = 256;
    ck_assert_int_eq(clSetKernelArg(k, 0, sizeof out, &out), CL_SUCCESS);
    ck_assert_int_eq(clEnqueueNDRangeKernel(q, k, 1, NULL, &global, NULL, 0, NULL, NULL),
                     CL_SUCCESS);
    ck_assert_int_eq(clEnqueueReadBuffer(q, out, CL_TRUE, 0, sizeof got, got, 0, NULL, NULL),
                     CL_SUCCESS);
    for (unsigned c = 0; c < 256; c++)
        ck_assert_msg(bits_of(got[c]) == bits_of(qkv_e4m3_to_f32((uint8_t)c)),
                      "%s: decode(0x%02x) = 0x%08x, want 0x%08x", what, c, bits_of(got[c]),
                      bits_of(qkv_e4m3_to_f32((uint8_t)c)));
    clReleaseMemObject(out);
    clReleaseKernel(k);
}

/* The encoder on patterns 0, step, 2 step ... (all of them for step 1). */
static void check_encode(cl_context ctx, cl_command_queue q, cl_program prog, uint32_t step,
                         const char *what)
{
    enum { BATCH = 1 << 24 };
    cl_int err;
    cl_kernel k = clCreateKernel(prog, "encode", &err);
    ck_assert_int_eq(err, CL_SUCCESS);
    cl_mem out = clCreateBuffer(ctx, CL_MEM_WRITE_ONLY, BATCH, NULL, &err);
    ck_assert_int_eq(err, CL_SUCCESS);
    uint8_t *got = malloc(BATCH);
    const uint64_t count = (0xffffffffull / step) + 1;
    for (uint64_t done = 0; done < count; done += BATCH) {
        const size_t n = count - done < BATCH ? (size_t)(count - done) : BATCH;
        const cl_uint first = (cl_uint)(done * step), st = step;
        ck_assert_int_eq(clSetKernelArg(k, 0, sizeof first, &first), CL_SUCCESS);
        ck_assert_int_eq(clSetKernelArg(k, 1, sizeof st, &st), CL_SUCCESS);
        ck_assert_int_eq(clSetKernelArg(k, 2, sizeof out, &out), CL_SUCCESS);
        ck_assert_int_eq(clEnqueueNDRangeKernel(q, k, 1, NULL, &n, NULL, 0, NULL, NULL),
                         CL_SUCCESS);
        ck_assert_int_eq(clEnqueueReadBuffer(q, out, CL_TRUE, 0, n, got, 0, NULL, NULL),
                         CL_SUCCESS);
        for (size_t i = 0; i < n; i++) {
            const uint32_t u = first + (uint32_t)i * step;
            float x;
            memcpy(&x, &u, sizeof x);
            const uint8_t want = qkv_f32_to_e4m3(x, QKV_FP8_SATFINITE);
            if (got[i] != want)
                ck_abort_msg("%s: encode(0x%08x) = 0x%02x, want 0x%02x", what, u, got[i],
                             want);
        }
    }
    free(got);
    clReleaseMemObject(out);
    clReleaseKernel(k);
}

START_TEST(test_fp8_cl_every_device)
{
    const bool slow = getenv("QKV_SLOW_TESTS") != NULL;
    if (!slow)
        fprintf(stderr, "note: fp8.cl encoder checked on every 251st f32 pattern "
                        "(all 2^32 with QKV_SLOW_TESTS=1)\n");
    char *text = program_text();
    cl_platform_id platforms[8];
    cl_uint np = 0;
    if (clGetPlatformIDs(8, platforms, &np) != CL_SUCCESS)
        np = 0;
    int devices_seen = 0;
    for (cl_uint p = 0; p < np; p++) {
        cl_device_id devs[8];
        cl_uint nd = 0;
        if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, 8, devs, &nd) != CL_SUCCESS)
            continue;
        for (cl_uint d = 0; d < nd; d++, devices_seen++) {
            cl_int err;
            cl_context ctx = clCreateContext(NULL, 1, &devs[d], NULL, NULL, &err);
            ck_assert_int_eq(err, CL_SUCCESS);
            cl_command_queue q = clCreateCommandQueue(ctx, devs[d], 0, &err);
            ck_assert_int_eq(err, CL_SUCCESS);
            static const char *const options[] = {"-cl-std=CL1.2",
                                                  "-cl-std=CL1.2 -cl-denorms-are-zero"};
            for (int o = 0; o < 2; o++) {
                const char *src = text;
                cl_program prog = clCreateProgramWithSource(ctx, 1, &src, NULL, &err);
                ck_assert_int_eq(err, CL_SUCCESS);
                err = clBuildProgram(prog, 1, &devs[d], options[o], NULL, NULL);
                if (err != CL_SUCCESS) {
                    char log[4096] = "";
                    clGetProgramBuildInfo(prog, devs[d], CL_PROGRAM_BUILD_LOG, sizeof log, log,
                                          NULL);
                    ck_abort_msg("fp8.cl build (%s) failed: %s", options[o], log);
                }
                char what[64];
                snprintf(what, sizeof what, "device %d [%s]", devices_seen, options[o]);
                check_decode(ctx, q, prog, what);
                check_encode(ctx, q, prog, slow ? 1u : 251u, what);
                clReleaseProgram(prog);
            }
            clReleaseCommandQueue(q);
            clReleaseContext(ctx);
        }
    }
    if (!devices_seen)
        fprintf(stderr, "note: no OpenCL device: fp8.cl test SKIPPED\n");
    free(text);
}
END_TEST
#endif

int main(void)
{
    Suite *s = suite_create("fp8_cl");
    TCase *tc = tcase_create("fp8_cl");
    tcase_set_timeout(tc, 600);
#ifdef QKV_HAVE_OPENCL
    tcase_add_test(tc, test_fp8_cl_every_device);
#else
    fprintf(stderr, "note: OpenCL not compiled in: fp8.cl test SKIPPED\n");
#endif
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
