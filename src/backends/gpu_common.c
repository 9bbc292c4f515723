/* gpu_common.c - pieces shared by the OpenCL and CUDA backends. */
#include "gpu.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MERGE_WG 64 /* work-group size of attention_decode_merge */

const qkv_gpu_ops *qkv_gpu_ops_of(const qkv_context *ctx)
{
    switch (ctx->backend->kind) {
#ifdef QKV_HAVE_OPENCL
    case QKV_BACKEND_OPENCL: return &qkv_gpu_ops_opencl;
#endif
#ifdef QKV_HAVE_CUDA
    case QKV_BACKEND_CUDA: return &qkv_gpu_ops_cuda;
#endif
    default: return NULL;
    }
}

qkv_status qkv_gpu_scratch(qkv_context *ctx, size_t bytes, qkv_buffer **out)
{
    if (!ctx->scratch || ctx->scratch->bytes < bytes) {
        qkv_buffer_destroy(ctx->scratch);
        ctx->scratch = NULL;
        qkv_status st = qkv_buffer_create(ctx, bytes < 4096 ? 4096 : bytes, &ctx->scratch);
        if (st != QKV_OK)
            return st;
    }
    *out = ctx->scratch;
    return QKV_OK;
}

#define MAX_PROGRAM_KERNELS 16

/* One compiled (program, defines) and the kernels looked up in it. */
struct qkv_gpu_program {
    char program[32];
    char defines[256];
    void *built;
    int nkernels;
    qkv_gpu_kernel kernels[MAX_PROGRAM_KERNELS];
    qkv_gpu_program *next;
};

/* The cache's entry of (program, defines), compiled on first use. */
static qkv_status cached_program(qkv_gpu_program_cache *cache, qkv_context *ctx,
                                 const char *program, const char *defines,
                                 qkv_gpu_program **out)
{
    if (strlen(program) >= sizeof cache->programs->program ||
        strlen(defines) >= sizeof cache->programs->defines)
        return qkv_fail(QKV_ERR_INVALID_ARG, "kernel program name or defines too long");
    for (qkv_gpu_program *e = cache->programs; e; e = e->next)
        if (strcmp(e->program, program) == 0 && strcmp(e->defines, defines) == 0) {
            *out = e;
            return QKV_OK;
        }
    const char *source = qkv_kernel_source(program);
    if (!source)
        return qkv_fail(QKV_ERR_INVALID_ARG, "no embedded kernel program '%s'", program);
    qkv_gpu_program *e = calloc(1, sizeof *e);
    if (!e)
        return qkv_fail(QKV_ERR_NO_MEMORY, "out of host memory");
    const qkv_status st = cache->compiler->build(ctx, program, source, defines, &e->built);
    if (st != QKV_OK) {
        free(e);
        return st;
    }
    strcpy(e->program, program);
    strcpy(e->defines, defines);
    e->next = cache->programs;
    cache->programs = e;
    *out = e;
    return QKV_OK;
}

/* See gpu.h: the kernel of a cached program, looked up once. */
qkv_status qkv_gpu_cache_kernel(qkv_gpu_program_cache *cache, qkv_context *ctx,
                                const char *program, const char *kernel, const char *defines,
                                qkv_gpu_kernel **out)
{
    qkv_gpu_program *e = NULL;
    qkv_status st = cached_program(cache, ctx, program, defines, &e);
    if (st != QKV_OK)
        return st;
    for (int i = 0; i < e->nkernels; i++)
        if (strcmp(e->kernels[i].name, kernel) == 0) {
            *out = &e->kernels[i];
            return QKV_OK;
        }
    if (e->nkernels == MAX_PROGRAM_KERNELS || strlen(kernel) >= sizeof e->kernels[0].name)
        return qkv_fail(QKV_ERR_INVALID_ARG, "too many kernels or name too long: %s", kernel);
    qkv_gpu_kernel *k = &e->kernels[e->nkernels];
    st = cache->compiler->get_kernel(e->built, program, kernel, &k->handle);
    if (st != QKV_OK)
        return st;
    strcpy(k->name, kernel);
    e->nkernels++;
    *out = k;
    return QKV_OK;
}

/* See gpu.h: kernels first, then their program. */
void qkv_gpu_cache_clear(qkv_gpu_program_cache *cache)
{
    for (qkv_gpu_program *e = cache->programs, *next; e; e = next) {
        next = e->next;
        for (int i = 0; i < e->nkernels && cache->compiler->release_kernel; i++)
            cache->compiler->release_kernel(e->kernels[i].handle);
        cache->compiler->release_program(e->built);
        free(e);
    }
    cache->programs = NULL;
}

/* Append " " (unless at the start) and `text` to out[size] holding *len
 * chars; false if it does not fit. */
static bool append_define(char *out, size_t size, size_t *len, const char *text)
{
    const int n = snprintf(out + *len, size - *len, "%s%s", *len ? " " : "", text);
    if (n < 0 || (size_t)n >= size - *len)
        return false;
    *len += (size_t)n;
    return true;
}

/* See gpu.h: -D options of a tile and the op's other defines. */
qkv_status qkv_gpu_defines(char *out, size_t size, int nparams, const qkv_tile_param_def *params,
                           const qkv_tile_params *tile, const char *extra)
{
    size_t len = 0;
    if (size == 0)
        return qkv_fail(QKV_ERR_INVALID_ARG, "no room for kernel defines");
    out[0] = '\0';
    for (int i = 0; i < nparams; i++) {
        if (params[i].host_only)
            continue;
        char define[64];
        const int n = snprintf(define, sizeof define, "-D%s=%d", params[i].name, tile->value[i]);
        if (n < 0 || (size_t)n >= sizeof define)
            return qkv_fail(QKV_ERR_INVALID_ARG, "tile parameter name too long: %s",
                            params[i].name);
        for (char *c = define + 2; *c != '='; c++)
            *c = (char)toupper((unsigned char)*c);
        if (!append_define(out, size, &len, define))
            return qkv_fail(QKV_ERR_INVALID_ARG, "kernel defines exceed %zu bytes", size - 1);
    }
    if (extra && *extra && !append_define(out, size, &len, extra))
        return qkv_fail(QKV_ERR_INVALID_ARG, "kernel defines exceed %zu bytes", size - 1);
    return QKV_OK;
}

void qkv_gpu_build_add(qkv_gpu_build *out, int max, int *n, qkv_status st, const char *program,
                       const char *defines, const char *const *kernels)
{
    if (st != QKV_OK || *n >= max)
        return;
    qkv_gpu_build *b = &out[(*n)++];
    memset(b, 0, sizeof *b);
    b->program = program;
    snprintf(b->defines, sizeof b->defines, "%s", defines);
    for (int k = 0; k < QKV_GPU_BUILD_KERNELS && kernels[k]; k++)
        b->kernels[k] = kernels[k];
}

/* Builds of the GPU variants that run on OpenCL (native false) or on
 * CUDA only (native true) into out[max]; the count written. */
static int variant_builds(qkv_gpu_build *out, int max, bool native)
{
    int n = 0;
    for (int o = 0; o < QKV_OP_COUNT; o++)
        for (const qkv_variant *const *v = qkv_ops[o]->variants; *v; v++) {
            const bool on_opencl = ((*v)->backends & QKV_ON(QKV_BACKEND_OPENCL)) != 0;
            if ((*v)->gpu_builds && on_opencl != native)
                n += (*v)->gpu_builds(out + n, max - n);
        }
    return n;
}

int qkv_gpu_native_cuda_builds(qkv_gpu_build *out, int max)
{
    return variant_builds(out, max, true);
}

bool qkv_kernel_is_native_cuda(const char *program)
{
    const size_t len = strlen(program);
    return len > 3 && strcmp(program + len - 3, ".cu") == 0;
}

int qkv_gpu_builds(qkv_gpu_build *out, int max)
{
    int n = variant_builds(out, max, false);
    static const char *const roof_kernels[] = {"roof_copy", "roof_fma", NULL};
    qkv_gpu_build_add(out, max, &n, QKV_OK, "roof", "", roof_kernels); /* bench/roof_gpu.c */
    return n;
}

qkv_status qkv_gpu_check_int_sizes(int n, const size_t *sizes, const char *fn)
{
    for (int i = 0; i < n; i++)
        if (sizes[i] > INT_MAX)
            return qkv_fail(QKV_ERR_SHAPE, "%s: size %zu exceeds the GPU kernels' 32-bit range",
                            fn, sizes[i]);
    return QKV_OK;
}

qkv_status qkv_gpu_check_grid_yz(size_t n, const char *what, const char *fn)
{
    if (n > QKV_GPU_MAX_GRID_YZ)
        return qkv_fail(QKV_ERR_SHAPE, "%s: %s = %zu exceeds the GPU grid limit %d", fn, what, n,
                        QKV_GPU_MAX_GRID_YZ);
    return QKV_OK;
}

bool qkv_gpu_wg_valid(const qkv_tile_params *tile, const qkv_device_info *dev)
{
    return (size_t)tile->value[0] <= dev->max_work_group;
}

/* Largest power of two <= heads dividing q_per_kv (see gpu.h). */
int qkv_gpu_head_group(size_t q_per_kv, int heads)
{
    int qg = 1;
    while (qg * 2 <= heads && q_per_kv % (size_t)(qg * 2) == 0)
        qg *= 2;
    return qg;
}

/* attention_decode_merge over a (D rounded up to MERGE_WG, bq) grid. */
qkv_status qkv_gpu_launch_merge(qkv_context *ctx, qkv_gpu_kernel *merge, const qkv_buffer *part,
                                const qkv_buffer *output, size_t nsplit, size_t D, size_t bq)
{
    const qkv_gpu_arg args[] = {QKV_GPU_BUF(part), QKV_GPU_BUF(output), QKV_GPU_INT(nsplit)};
    const size_t global[2] = {(D + MERGE_WG - 1) / MERGE_WG * MERGE_WG, bq};
    const size_t local[2] = {MERGE_WG, 1};
    return qkv_gpu_ops_of(ctx)->launch(ctx, merge, 2, global, local, 3, args);
}
