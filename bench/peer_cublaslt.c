/* peer_cublaslt.c - cuBLASLt's FP8 GEMM for the benchmarks (see
 * peer_cublaslt.h): libcublasLt dlopen'ed once, the few entry points it
 * needs resolved with the toolkit header's prototypes. */
#include "peer_cublaslt.h"
#include "cuda_driver.h"
#include "cuda_native.h"

#include <cublasLt.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* The cuBLASLt entry points used here, with cublasLt.h's prototypes. */
static struct {
    cublasStatus_t (*Create)(cublasLtHandle_t *handle);
    size_t (*GetVersion)(void);
    const char *(*GetStatusString)(cublasStatus_t status);
    cublasStatus_t (*MatmulDescCreate)(cublasLtMatmulDesc_t *desc, cublasComputeType_t compute,
                                       cudaDataType_t scale);
    cublasStatus_t (*MatmulDescDestroy)(cublasLtMatmulDesc_t desc);
    cublasStatus_t (*MatmulDescSetAttribute)(cublasLtMatmulDesc_t desc,
                                             cublasLtMatmulDescAttributes_t attr,
                                             const void *buf, size_t bytes);
    cublasStatus_t (*MatrixLayoutCreate)(cublasLtMatrixLayout_t *layout, cudaDataType type,
                                         uint64_t rows, uint64_t cols, int64_t ld);
    cublasStatus_t (*MatrixLayoutDestroy)(cublasLtMatrixLayout_t layout);
    cublasStatus_t (*MatmulPreferenceCreate)(cublasLtMatmulPreference_t *pref);
    cublasStatus_t (*MatmulPreferenceDestroy)(cublasLtMatmulPreference_t pref);
    cublasStatus_t (*MatmulPreferenceSetAttribute)(cublasLtMatmulPreference_t pref,
                                                   cublasLtMatmulPreferenceAttributes_t attr,
                                                   const void *buf, size_t bytes);
    cublasStatus_t (*MatmulAlgoGetHeuristic)(cublasLtHandle_t handle,
                                             cublasLtMatmulDesc_t desc,
                                             cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                                             cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t d,
                                             cublasLtMatmulPreference_t pref, int requested,
                                             cublasLtMatmulHeuristicResult_t results[],
                                             int *returned);
    cublasStatus_t (*Matmul)(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc,
                             const void *alpha, const void *a, cublasLtMatrixLayout_t adesc,
                             const void *b, cublasLtMatrixLayout_t bdesc, const void *beta,
                             const void *c, cublasLtMatrixLayout_t cdesc, void *d,
                             cublasLtMatrixLayout_t ddesc, const cublasLtMatmulAlgo_t *algo,
                             void *workspace, size_t workspace_bytes, cudaStream_t stream);
} lt;

#define LT_SYM(field, optional) {"cublasLt" #field, &lt.field, optional}

static const qkv_dl_symbol lt_symbols[] = {
    LT_SYM(Create, false),
    LT_SYM(GetVersion, true),
    LT_SYM(GetStatusString, true),
    LT_SYM(MatmulDescCreate, false),
    LT_SYM(MatmulDescDestroy, false),
    LT_SYM(MatmulDescSetAttribute, false),
    LT_SYM(MatrixLayoutCreate, false),
    LT_SYM(MatrixLayoutDestroy, false),
    LT_SYM(MatmulPreferenceCreate, false),
    LT_SYM(MatmulPreferenceDestroy, false),
    LT_SYM(MatmulPreferenceSetAttribute, false),
    LT_SYM(MatmulAlgoGetHeuristic, false),
    LT_SYM(Matmul, false),
};

struct peer_cublaslt_gemm {
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t a, b, d; /* W, X, Y; C is D (beta 0) */
    cublasLtMatmulAlgo_t algo;
};

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static const char *load_problem = "not loaded";
static cublasLtHandle_t handle; /* created by the first plan */

/* dlopen `path` and resolve the entry points; false if either fails. */
static bool lt_try(const char *path)
{
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        return false;
    if (qkv_dl_load_symbols(lib, lt_symbols, ARRAY_LEN(lt_symbols)))
        return true;
    dlclose(lib);
    return false;
}

/* The sonames on the loader's path, then the same names in the toolkit's
 * library folder that configure found (QKV_CUDA_LIBDIR). */
static void lt_load(void)
{
    static const char *const names[] = {"libcublasLt.so.13", "libcublasLt.so.12",
                                        "libcublasLt.so"};
    for (size_t i = 0; i < ARRAY_LEN(names); i++)
        if (lt_try(names[i])) {
            load_problem = NULL;
            return;
        }
    char path[512];
    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        snprintf(path, sizeof path, "%s/%s", QKV_CUDA_LIBDIR, names[i]);
        if (lt_try(path)) {
            load_problem = NULL;
            return;
        }
    }
    load_problem = "libcublasLt.so.13, .so.12 or .so not found (loader path and "
                   QKV_CUDA_LIBDIR ") or lacking cublasLtMatmul entry points";
}

const char *peer_cublaslt_load(size_t *version)
{
    if (pthread_once(&load_once, lt_load) != 0)
        return "pthread_once failed";
    *version = !load_problem && lt.GetVersion ? lt.GetVersion() : 0;
    return load_problem;
}

/* QKV_OK, or QKV_ERR_BACKEND naming the failed call `what` and the status. */
static qkv_status lt_check(cublasStatus_t r, const char *what)
{
    if (r == CUBLAS_STATUS_SUCCESS)
        return QKV_OK;
    const char *text = lt.GetStatusString ? lt.GetStatusString(r) : NULL;
    return qkv_fail(QKV_ERR_BACKEND, "cuBLASLt %s failed: %s (status %d)", what,
                    text ? text : "no text", (int)r);
}

/* Descriptor of the product: f32 compute and scales, A (W) transposed, B
 * (X) not: the "TN" layout cuBLASLt's FP8 kernels require. */
static qkv_status make_desc(peer_cublaslt_gemm *g)
{
    const cublasOperation_t trans = CUBLAS_OP_T, plain = CUBLAS_OP_N;
    qkv_status st = lt_check(lt.MatmulDescCreate(&g->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F),
                             "cublasLtMatmulDescCreate");
    if (st == QKV_OK)
        st = lt_check(lt.MatmulDescSetAttribute(g->desc, CUBLASLT_MATMUL_DESC_TRANSA, &trans,
                                                sizeof trans),
                      "cublasLtMatmulDescSetAttribute(TRANSA)");
    if (st == QKV_OK)
        st = lt_check(lt.MatmulDescSetAttribute(g->desc, CUBLASLT_MATMUL_DESC_TRANSB, &plain,
                                                sizeof plain),
                      "cublasLtMatmulDescSetAttribute(TRANSB)");
    return st;
}

/* Layouts, column-major: A = W as K x N (ld K), B = X as K x M (ld K),
 * D = Y as N x M (ld N), bf16. */
static qkv_status make_layouts(peer_cublaslt_gemm *g, size_t m, size_t n, size_t k)
{
    qkv_status st = lt_check(lt.MatrixLayoutCreate(&g->a, CUDA_R_8F_E4M3, k, n, (int64_t)k),
                             "cublasLtMatrixLayoutCreate(A)");
    if (st == QKV_OK)
        st = lt_check(lt.MatrixLayoutCreate(&g->b, CUDA_R_8F_E4M3, k, m, (int64_t)k),
                      "cublasLtMatrixLayoutCreate(B)");
    if (st == QKV_OK)
        st = lt_check(lt.MatrixLayoutCreate(&g->d, CUDA_R_16BF, n, m, (int64_t)n),
                      "cublasLtMatrixLayoutCreate(D)");
    return st;
}

/* The heuristic's first algorithm within PEER_CUBLASLT_WORKSPACE. */
static qkv_status pick_algo(peer_cublaslt_gemm *g, size_t m, size_t n, size_t k)
{
    cublasLtMatmulPreference_t pref = NULL;
    const uint64_t workspace = PEER_CUBLASLT_WORKSPACE;
    cublasLtMatmulHeuristicResult_t result;
    int found = 0;
    qkv_status st = lt_check(lt.MatmulPreferenceCreate(&pref), "cublasLtMatmulPreferenceCreate");
    if (st == QKV_OK)
        st = lt_check(lt.MatmulPreferenceSetAttribute(pref,
                                                      CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                      &workspace, sizeof workspace),
                      "cublasLtMatmulPreferenceSetAttribute");
    if (st == QKV_OK)
        st = lt_check(lt.MatmulAlgoGetHeuristic(handle, g->desc, g->a, g->b, g->d, g->d, pref, 1,
                                                &result, &found),
                      "cublasLtMatmulAlgoGetHeuristic");
    if (st == QKV_OK && found < 1)
        st = qkv_fail(QKV_ERR_UNSUPPORTED,
                      "cuBLASLt has no FP8 algorithm for M %zu, N %zu, K %zu on this device", m,
                      n, k);
    if (st == QKV_OK)
        g->algo = result.algo;
    if (pref)
        (void)lt.MatmulPreferenceDestroy(pref);
    return st;
}

qkv_status peer_cublaslt_plan(qkv_context *ctx, size_t m, size_t n, size_t k,
                              peer_cublaslt_gemm **out)
{
    size_t version = 0;
    if (peer_cublaslt_load(&version))
        return qkv_fail(QKV_ERR_UNSUPPORTED, "cuBLASLt: %s", load_problem);
    if (k % 16)
        return qkv_fail(QKV_ERR_UNSUPPORTED, "cuBLASLt FP8: K %zu is not a multiple of 16", k);
    CUstream stream;
    qkv_status st = qkv_cuda_stream(ctx, &stream); /* the device's context current */
    if (st == QKV_OK && !handle)
        st = lt_check(lt.Create(&handle), "cublasLtCreate");
    if (st != QKV_OK)
        return st;
    peer_cublaslt_gemm *g = calloc(1, sizeof *g);
    if (!g)
        return qkv_fail(QKV_ERR_NO_MEMORY, "out of host memory");
    st = make_desc(g);
    if (st == QKV_OK)
        st = make_layouts(g, m, n, k);
    if (st == QKV_OK)
        st = pick_algo(g, m, n, k);
    if (st != QKV_OK) {
        peer_cublaslt_free(g);
        return st;
    }
    *out = g;
    return QKV_OK;
}

/* A buffer's device address as the pointer cuBLASLt takes. */
static void *device_ptr(const qkv_buffer *buf) { return (void *)(uintptr_t)buf->dptr; }

qkv_status peer_cublaslt_run(qkv_context *ctx, const peer_cublaslt_gemm *g,
                             const qkv_buffer *w, const qkv_buffer *x, qkv_buffer *y,
                             qkv_buffer *workspace)
{
    const float alpha = 1.0f, beta = 0.0f;
    CUstream stream;
    const qkv_status st = qkv_cuda_stream(ctx, &stream);
    if (st != QKV_OK)
        return st;
    return lt_check(lt.Matmul(handle, g->desc, &alpha, device_ptr(w), g->a, device_ptr(x), g->b,
                              &beta, device_ptr(y), g->d, device_ptr(y), g->d, &g->algo,
                              device_ptr(workspace), PEER_CUBLASLT_WORKSPACE,
                              (cudaStream_t)stream),
                    "cublasLtMatmul");
}

void peer_cublaslt_free(peer_cublaslt_gemm *g)
{
    if (!g)
        return;
    if (g->a)
        (void)lt.MatrixLayoutDestroy(g->a);
    if (g->b)
        (void)lt.MatrixLayoutDestroy(g->b);
    if (g->d)
        (void)lt.MatrixLayoutDestroy(g->d);
    if (g->desc)
        (void)lt.MatmulDescDestroy(g->desc);
    free(g);
}
