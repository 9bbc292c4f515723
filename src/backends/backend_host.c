/* backend_host.c - the ref and cpu backends: buffers in host memory; no
 * device timer (they are timed with the host clock, see timer.h). */
#include "qkv_internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "cpu_features.h"

static int host_device_count(void) { return 1; }

static void describe_host_memory(qkv_device_info *info)
{
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    info->global_mem = pages > 0 && page > 0 ? (size_t)pages * (size_t)page : 0;
    info->max_work_group = 1;
    info->mem_align = 64;
    strcpy(info->vendor, "host");
}

static qkv_status ref_describe(int index, qkv_device_info *info)
{
    (void)index;
    describe_host_memory(info);
    strcpy(info->name, "scalar reference");
    strcpy(info->arch, "ref");
    strcpy(info->version, "C11");
    info->compute_units = 1;
    return QKV_OK;
}

static qkv_status cpu_describe(int index, qkv_device_info *info)
{
    (void)index;
    describe_host_memory(info);
    qkv_cpu_model_name(info->name, sizeof info->name);
    qkv_cpu_microarch(info->microarch, sizeof info->microarch);
    qkv_cpu_isa isa;
    const qkv_status st = qkv_cpu_isa_select(&isa);
    if (st != QKV_OK)
        return st;
    snprintf(info->arch, sizeof info->arch, "cpu:%s", qkv_cpu_isa_name(isa));
#ifdef _OPENMP
    snprintf(info->version, sizeof info->version, "OpenMP %d", _OPENMP);
    info->compute_units = omp_get_max_threads();
#else
    strcpy(info->version, "no OpenMP");
    info->compute_units = 1;
#endif
    return QKV_OK;
}

static qkv_status ref_open(qkv_context *ctx, int index)
{
    (void)index;
    ctx->cpu_isa = QKV_CPU_ISA_SCALAR;
    return QKV_OK;
}

/* Fix the context's ISA level once (the per-ISA kernel table: each cpu
 * variant's `supports` reads it). */
static qkv_status cpu_open(qkv_context *ctx, int index)
{
    (void)index;
    qkv_cpu_isa isa;
    const qkv_status st = qkv_cpu_isa_select(&isa);
    ctx->cpu_isa = (int)isa;
    return st;
}

static void host_close(qkv_context *ctx) { (void)ctx; }

static qkv_status host_alloc(qkv_buffer *buf)
{
    const size_t rounded = (buf->bytes + 63) / 64 * 64;
    if (rounded < buf->bytes || !(buf->host = aligned_alloc(64, rounded)))
        return qkv_fail(QKV_ERR_NO_MEMORY, "cannot allocate %zu bytes of host memory", buf->bytes);
    return QKV_OK;
}

static qkv_status host_view(qkv_buffer *parent, size_t offset, qkv_buffer *view)
{
    view->host = (char *)parent->host + offset;
    return QKV_OK;
}

static void host_release(qkv_buffer *buf)
{
    if (!buf->parent)
        free(buf->host);
}

static qkv_status host_write(qkv_buffer *buf, size_t offset, const void *src, size_t bytes)
{
    memcpy((char *)buf->host + offset, src, bytes);
    return QKV_OK;
}

static qkv_status host_read(const qkv_buffer *buf, size_t offset, void *dst, size_t bytes)
{
    memcpy(dst, (const char *)buf->host + offset, bytes);
    return QKV_OK;
}

/* Device -> device copy; qkv_buffer_copy has rejected overlapping ranges. */
static qkv_status host_copy(qkv_buffer *dst, size_t dst_offset, const qkv_buffer *src,
                            size_t src_offset, size_t bytes)
{
    memcpy((char *)dst->host + dst_offset, (const char *)src->host + src_offset, bytes);
    return QKV_OK;
}

static qkv_status host_finish(qkv_context *ctx)
{
    (void)ctx;
    return QKV_OK;
}

#define HOST_BACKEND(KIND, DESCRIBE, OPEN)                                                     \
    {                                                                                          \
        KIND, host_device_count, DESCRIBE, OPEN, host_close, host_alloc, host_view,            \
            host_release, host_write, host_read, host_copy, host_finish, NULL, NULL            \
    }

const qkv_backend qkv_backend_ref = HOST_BACKEND(QKV_BACKEND_REF, ref_describe, ref_open);
const qkv_backend qkv_backend_cpu = HOST_BACKEND(QKV_BACKEND_CPU, cpu_describe, cpu_open);
