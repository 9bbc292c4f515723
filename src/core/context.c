/* context.c - backend selection, contexts and buffers. */
#include "qkv_internal.h"
#include "tuning.h"

#include <stdlib.h>
#include <string.h>

const char *qkv_backend_name(qkv_backend_kind kind)
{
    static const char *const names[QKV_BACKEND_COUNT] = {"ref", "cpu", "opencl", "cuda"};
    return (unsigned)kind < QKV_BACKEND_COUNT ? names[kind] : "invalid";
}

const qkv_backend *qkv_backend_get(qkv_backend_kind kind)
{
    switch (kind) {
    case QKV_BACKEND_REF: return &qkv_backend_ref;
    case QKV_BACKEND_CPU: return &qkv_backend_cpu;
#ifdef QKV_HAVE_OPENCL
    case QKV_BACKEND_OPENCL: return &qkv_backend_opencl;
#endif
#ifdef QKV_HAVE_CUDA
    case QKV_BACKEND_CUDA: return &qkv_backend_cuda;
#endif
    default: return NULL;
    }
}

int qkv_backend_compiled(qkv_backend_kind kind) { return qkv_backend_get(kind) != NULL; }

int qkv_device_count(qkv_backend_kind kind)
{
    const qkv_backend *be = qkv_backend_get(kind);
    return be ? be->device_count() : 0;
}

/* Resolve kind and index or fail with a message naming what is missing. */
static qkv_status find_device(qkv_backend_kind kind, int index, const qkv_backend **out)
{
    if ((unsigned)kind >= QKV_BACKEND_COUNT)
        return qkv_fail(QKV_ERR_INVALID_ARG, "invalid backend kind %d", (int)kind);
    const qkv_backend *be = qkv_backend_get(kind);
    if (!be)
        return qkv_fail(QKV_ERR_NO_BACKEND, "backend '%s' is not compiled into this build",
                        qkv_backend_name(kind));
    const int n = be->device_count();
    if (index < 0 || index >= n)
        return n == 0 ? qkv_fail(QKV_ERR_NO_DEVICE, "no %s device found", qkv_backend_name(kind))
                      : qkv_fail(QKV_ERR_NO_DEVICE, "%s device %d requested, %d present",
                                 qkv_backend_name(kind), index, n);
    *out = be;
    return QKV_OK;
}

qkv_status qkv_device_describe(qkv_backend_kind kind, int index, qkv_device_info *info)
{
    if (!info)
        return qkv_fail(QKV_ERR_INVALID_ARG, "qkv_device_describe: info is NULL");
    const qkv_backend *be = NULL;
    qkv_status st = find_device(kind, index, &be);
    if (st != QKV_OK)
        return st;
    memset(info, 0, sizeof *info);
    info->backend = kind;
    info->index = index;
    return be->describe(index, info);
}

/* Largest device index a spec may name. */
#define MAX_DEVICE_INDEX 1023

/* Parse "name" or "name:N", N decimal digits only (no sign, space or leading
 * zero, at most MAX_DEVICE_INDEX). */
static qkv_status parse_spec(const char *spec, qkv_backend_kind *kind, int *index)
{
    const char *colon = strchr(spec, ':');
    const size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
    *index = 0;
    if (colon) {
        const char *digits = colon + 1;
        int value = 0;
        size_t n = 0;
        for (; digits[n] >= '0' && digits[n] <= '9' && value <= MAX_DEVICE_INDEX; n++)
            value = value * 10 + (digits[n] - '0');
        if (n == 0 || digits[n] != '\0' || value > MAX_DEVICE_INDEX ||
            (digits[0] == '0' && n > 1))
            return qkv_fail(QKV_ERR_INVALID_ARG,
                            "bad device index in '%s' (expected name:N, N a decimal number "
                            "from 0 to %d without sign, spaces or leading zeros)",
                            spec, MAX_DEVICE_INDEX);
        *index = value;
    }
    for (int k = 0; k < QKV_BACKEND_COUNT; k++) {
        const char *name = qkv_backend_name((qkv_backend_kind)k);
        if (strlen(name) == len && strncmp(spec, name, len) == 0) {
            *kind = (qkv_backend_kind)k;
            return QKV_OK;
        }
    }
    return qkv_fail(QKV_ERR_INVALID_ARG,
                    "unknown backend '%s' (expected ref, cpu, opencl[:N] or cuda[:N])", spec);
}

qkv_status qkv_open(const char *spec, qkv_context **ctx)
{
    if (!spec || !ctx)
        return qkv_fail(QKV_ERR_INVALID_ARG, "qkv_open: NULL argument");
    *ctx = NULL;
    qkv_backend_kind kind = QKV_BACKEND_REF;
    int index = 0;
    qkv_status st = parse_spec(spec, &kind, &index);
    if (st != QKV_OK)
        return st;
    qkv_context *c = calloc(1, sizeof *c);
    if (!c)
        return qkv_fail(QKV_ERR_NO_MEMORY, "qkv_open: out of host memory");
    if (pthread_mutex_init(&c->buffers_lock, NULL) != 0) {
        free(c);
        return qkv_fail(QKV_ERR_NO_MEMORY, "qkv_open: cannot create a mutex");
    }
    st = qkv_device_describe(kind, index, &c->info);
    if (st == QKV_OK) {
        c->backend = qkv_backend_get(kind);
        st = c->backend->open(c, index);
    }
    if (st != QKV_OK) {
        pthread_mutex_destroy(&c->buffers_lock);
        free(c);
        return st;
    }
    pthread_mutexattr_t recursive;
    pthread_mutexattr_init(&recursive);
    pthread_mutexattr_settype(&recursive, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&c->lock, &recursive);
    pthread_mutexattr_destroy(&recursive);
    qkv_tuning_load(c);
    *ctx = c;
    return QKV_OK;
}

/* Release the device memory of every buffer still live on ctx, views before
 * the allocations they lie in, and leave their handles orphaned (ctx NULL)
 * for qkv_buffer_destroy to free. */
static void orphan_buffers(qkv_context *ctx)
{
    for (int views = 1; views >= 0; views--)
        for (qkv_buffer *b = ctx->buffers; b; b = b->next)
            if ((b->parent != NULL) == views)
                ctx->backend->release(b);
    for (qkv_buffer *b = ctx->buffers, *next; b; b = next) {
        next = b->next;
        b->ctx = NULL;
        b->prev = b->next = NULL;
    }
    ctx->buffers = NULL;
}

void qkv_close(qkv_context *ctx)
{
    if (!ctx)
        return;
    qkv_buffer_destroy(ctx->scratch);
    orphan_buffers(ctx);
    qkv_tuning_free(ctx);
    ctx->backend->close(ctx);
    pthread_mutex_destroy(&ctx->lock);
    pthread_mutex_destroy(&ctx->buffers_lock);
    free(ctx);
}

void qkv_context_lock(qkv_context *ctx) { pthread_mutex_lock(&ctx->lock); }

void qkv_context_unlock(qkv_context *ctx) { pthread_mutex_unlock(&ctx->lock); }

qkv_status qkv_context_info(const qkv_context *ctx, qkv_device_info *info)
{
    if (!ctx || !info)
        return qkv_fail(QKV_ERR_INVALID_ARG, "qkv_context_info: NULL argument");
    *info = ctx->info;
    return QKV_OK;
}

qkv_status qkv_finish(qkv_context *ctx)
{
    if (!ctx)
        return qkv_fail(QKV_ERR_INVALID_ARG, "qkv_finish: NULL context");
    return ctx->backend->finish(ctx);
}

/* Add buf to its context's list of live buffers. */
static void track_buffer(qkv_buffer *buf)
{
    qkv_context *ctx = buf->ctx;
    pthread_mutex_lock(&ctx->buffers_lock);
    buf->prev = NULL;
    buf->next = ctx->buffers;
    if (ctx->buffers)
        ctx->buffers->prev = buf;
    ctx->buffers = buf;
    pthread_mutex_unlock(&ctx->buffers_lock);
}

/* Remove buf from its context's list of live buffers. */
static void untrack_buffer(qkv_buffer *buf)
{
    qkv_context *ctx = buf->ctx;
    pthread_mutex_lock(&ctx->buffers_lock);
    if (buf->prev)
        buf->prev->next = buf->next;
    else
        ctx->buffers = buf->next;
    if (buf->next)
        buf->next->prev = buf->prev;
    pthread_mutex_unlock(&ctx->buffers_lock);
}

qkv_status qkv_buffer_create(qkv_context *ctx, size_t bytes, qkv_buffer **buf)
{
    if (!ctx || !buf)
        return qkv_fail(QKV_ERR_INVALID_ARG, "qkv_buffer_create: NULL argument");
    *buf = NULL;
    if (bytes == 0)
        return qkv_fail(QKV_ERR_SHAPE, "qkv_buffer_create: zero bytes");
    /* some runtimes (NVIDIA OpenCL) accept any size and fail later */
    if (ctx->info.global_mem && bytes > ctx->info.global_mem)
        return qkv_fail(QKV_ERR_NO_MEMORY, "qkv_buffer_create: %zu bytes exceed the device's %zu",
                        bytes, ctx->info.global_mem);
    qkv_buffer *b = calloc(1, sizeof *b);
    if (!b)
        return qkv_fail(QKV_ERR_NO_MEMORY, "qkv_buffer_create: out of host memory");
    b->ctx = ctx;
    b->bytes = bytes;
    qkv_status st = ctx->backend->alloc(b);
    if (st != QKV_OK) {
        free(b);
        return st;
    }
    track_buffer(b);
    *buf = b;
    return QKV_OK;
}

qkv_status qkv_buffer_view(qkv_buffer *parent, size_t offset, size_t bytes, qkv_buffer **view)
{
    if (!parent || !view)
        return qkv_fail(QKV_ERR_INVALID_ARG, "qkv_buffer_view: NULL argument");
    *view = NULL;
    if (!parent->ctx)
        return qkv_fail(QKV_ERR_INVALID_ARG, "qkv_buffer_view: the buffer's context was closed");
    if (bytes == 0 || offset > parent->bytes || bytes > parent->bytes - offset)
        return qkv_fail(QKV_ERR_SHAPE, "qkv_buffer_view: [%zu, +%zu) outside a %zu-byte buffer",
                        offset, bytes, parent->bytes);
    const size_t align = parent->ctx->info.mem_align;
    if (align > 1 && offset % align != 0)
        return qkv_fail(QKV_ERR_INVALID_ARG,
                        "qkv_buffer_view: offset %zu is not a multiple of the device's %zu",
                        offset, align);
    qkv_buffer *v = calloc(1, sizeof *v);
    if (!v)
        return qkv_fail(QKV_ERR_NO_MEMORY, "qkv_buffer_view: out of host memory");
    v->ctx = parent->ctx;
    v->bytes = bytes;
    v->parent = parent;
    v->offset = parent->offset + offset;
    qkv_status st = parent->ctx->backend->view(parent, offset, v);
    if (st != QKV_OK) {
        free(v);
        return st;
    }
    track_buffer(v);
    *view = v;
    return QKV_OK;
}

void qkv_buffer_destroy(qkv_buffer *buf)
{
    if (!buf)
        return;
    if (buf->ctx) { /* else qkv_close has released its memory */
        untrack_buffer(buf);
        buf->ctx->backend->release(buf);
    }
    free(buf);
}

size_t qkv_buffer_size(const qkv_buffer *buf) { return buf ? buf->bytes : 0; }

/* Common checks of a transfer of `bytes` at `offset` of buf. */
static qkv_status check_range(const qkv_buffer *buf, size_t offset, size_t bytes,
                              const void *host, const char *fn)
{
    if (!buf || (!host && bytes))
        return qkv_fail(QKV_ERR_INVALID_ARG, "%s: NULL argument", fn);
    if (!buf->ctx)
        return qkv_fail(QKV_ERR_INVALID_ARG, "%s: the buffer's context was closed", fn);
    if (offset > buf->bytes || bytes > buf->bytes - offset)
        return qkv_fail(QKV_ERR_SHAPE, "%s: [%zu, +%zu) outside a %zu-byte buffer", fn, offset,
                        bytes, buf->bytes);
    return QKV_OK;
}

qkv_status qkv_buffer_write(qkv_buffer *buf, size_t offset, const void *src, size_t bytes)
{
    qkv_status st = check_range(buf, offset, bytes, src, "qkv_buffer_write");
    if (st != QKV_OK || bytes == 0)
        return st;
    return buf->ctx->backend->write(buf, offset, src, bytes);
}

qkv_status qkv_buffer_read(const qkv_buffer *buf, size_t offset, void *dst, size_t bytes)
{
    qkv_status st = check_range(buf, offset, bytes, dst, "qkv_buffer_read");
    if (st != QKV_OK || bytes == 0)
        return st;
    return buf->ctx->backend->read(buf, offset, dst, bytes);
}

/* The allocation a buffer or view lies in. */
static const qkv_buffer *root_buffer(const qkv_buffer *buf)
{
    while (buf->parent)
        buf = buf->parent;
    return buf;
}

qkv_status qkv_buffer_copy(qkv_buffer *dst, size_t dst_offset, const qkv_buffer *src,
                           size_t src_offset, size_t bytes)
{
    qkv_status st = check_range(dst, dst_offset, bytes, dst, "qkv_buffer_copy");
    if (st == QKV_OK)
        st = check_range(src, src_offset, bytes, src, "qkv_buffer_copy");
    if (st != QKV_OK || bytes == 0)
        return st;
    if (dst->ctx != src->ctx)
        return qkv_fail(QKV_ERR_INVALID_ARG, "qkv_buffer_copy: buffers of different contexts");
    /* in-range offsets of one allocation: these sums fit in size_t */
    const size_t dst_start = dst->offset + dst_offset, src_start = src->offset + src_offset;
    if (root_buffer(dst) == root_buffer(src) && dst_start < src_start + bytes &&
        src_start < dst_start + bytes)
        return qkv_fail(QKV_ERR_INVALID_ARG,
                        "qkv_buffer_copy: source [%zu, +%zu) and destination [%zu, +%zu) of "
                        "one allocation overlap",
                        src_start, bytes, dst_start, bytes);
    return dst->ctx->backend->copy(dst, dst_offset, src, src_offset, bytes);
}

qkv_status qkv_check_buffer(const qkv_context *ctx, const qkv_buffer *buf, size_t bytes,
                            const char *what)
{
    if (!buf)
        return qkv_fail(QKV_ERR_INVALID_ARG, "%s buffer is NULL", what);
    if (!buf->ctx)
        return qkv_fail(QKV_ERR_INVALID_ARG, "%s buffer's context was closed", what);
    if (buf->ctx != ctx)
        return qkv_fail(QKV_ERR_INVALID_ARG, "%s buffer belongs to another context", what);
    if (buf->bytes < bytes)
        return qkv_fail(QKV_ERR_SHAPE, "%s buffer holds %zu bytes, the shape needs %zu", what,
                        buf->bytes, bytes);
    return QKV_OK;
}
