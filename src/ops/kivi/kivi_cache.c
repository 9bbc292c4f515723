/* kivi_cache.c - the KIVI cache object: packed keys/values plus f16
 * residual windows on the context's device, with the spec's prefill split
 * and decode flush rules.
 *
 * Device layout (capacities are row strides):
 *   keys   codes [B, H, D, kcap/f], scale/min [B, H, D, kcap/G], kcap = max
 *          tokens rounded up to R; residual f16 [B, H, R, D]
 *   values codes [B, H, vcap, D/f], scale/min [B, H, vcap, D/G], vcap = max
 *          tokens; residual f16 [B, H, R+1, D] (a sliding window of R). */
#include "qkv_internal.h"
#include "quant_input_check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct qkv_kivi_cache {
    qkv_context *ctx;
    qkv_kivi_cache_config cfg; /* residual resolved */
    size_t kcap, vcap;
    qkv_kivi_cache_state st;
    qkv_kivi_cache_tensors t;
    qkv_buffer *stage; /* for shifting the value window */
};

#define CACHE_TENSORS 9

/* Byte sizes of the cache's tensors (k codes, scale, min, resid, v codes,
 * scale, min, resid, stage) into bytes[]; QKV_ERR_OVERFLOW, before anything is
 * allocated, if a product of the sizes does not fit in size_t. */
static qkv_status cache_sizes(const qkv_kivi_cache *c, size_t bytes[CACHE_TENSORS])
{
    const qkv_kivi_cache_config *g = &c->cfg;
    const size_t D = g->head_dim, f = (size_t)(32 / g->bits);
    const size_t G = (size_t)g->group, R = g->residual;
    size_t bh;
    if (!qkv_mul_size(&bh, g->batch, g->kv_heads))
        return qkv_fail(QKV_ERR_OVERFLOW, "kivi_cache_create: batch * kv_heads overflows");
    const struct {
        size_t dims[3];
        size_t elem;
    } parts[CACHE_TENSORS] = {
        {{bh, D, c->kcap / f}, 4}, {{bh, D, c->kcap / G}, 2}, {{bh, D, c->kcap / G}, 2},
        {{bh, R, D}, 2},           {{bh, c->vcap, D / f}, 4}, {{bh, c->vcap, D / G}, 2},
        {{bh, c->vcap, D / G}, 2}, {{bh, R + 1, D}, 2},       {{bh, R + 1, D}, 2},
    };
    for (size_t i = 0; i < CACHE_TENSORS; i++)
        if (!qkv_mul_sizes(&bytes[i], 3, parts[i].dims) ||
            !qkv_mul_size(&bytes[i], bytes[i], parts[i].elem))
            return qkv_fail(QKV_ERR_OVERFLOW, "kivi_cache_create: tensor size overflows");
    return QKV_OK;
}

/* Allocate the tensors of the sizes cache_sizes computed. */
static qkv_status cache_alloc(qkv_kivi_cache *c, const size_t bytes[CACHE_TENSORS])
{
    qkv_buffer **bufs[CACHE_TENSORS] = {&c->t.k_codes, &c->t.k_scale, &c->t.k_min,
                                        &c->t.k_resid, &c->t.v_codes, &c->t.v_scale,
                                        &c->t.v_min,   &c->t.v_resid, &c->stage};
    for (size_t i = 0; i < CACHE_TENSORS; i++) {
        qkv_status st = qkv_buffer_create(c->ctx, bytes[i], bufs[i]);
        if (st != QKV_OK)
            return st;
    }
    return QKV_OK;
}

qkv_status qkv_kivi_cache_create(qkv_context *ctx, const qkv_kivi_cache_config *cfg,
                                 qkv_kivi_cache **cache)
{
    if (!ctx || !cfg || !cache)
        return qkv_fail(QKV_ERR_INVALID_ARG, "kivi_cache_create: NULL argument");
    *cache = NULL;
    qkv_kivi_cache_config g = *cfg;
    if (!g.residual)
        g.residual = 128;
    if (!g.batch || !g.kv_heads || !g.head_dim || !g.max_tokens)
        return qkv_fail(QKV_ERR_SHAPE, "kivi_cache_create: sizes must be > 0");
    if (g.bits != 2 && g.bits != 4)
        return qkv_fail(QKV_ERR_INVALID_ARG, "kivi_cache_create: bits must be 2 or 4");
    if (g.group != 32 && g.group != 64 && g.group != 128)
        return qkv_fail(QKV_ERR_INVALID_ARG, "kivi_cache_create: group must be 32, 64 or 128");
    if (g.head_dim % (size_t)g.group || g.residual % (size_t)g.group)
        return qkv_fail(QKV_ERR_SHAPE,
                        "kivi_cache_create: head_dim and residual must be multiples of group");
    if (g.max_tokens > SIZE_MAX / 2 || g.residual > SIZE_MAX / 2)
        return qkv_fail(QKV_ERR_OVERFLOW, "kivi_cache_create: max_tokens or residual too large");
    qkv_kivi_cache sized = {.ctx = ctx, .cfg = g, .vcap = g.max_tokens};
    sized.kcap = (g.max_tokens + g.residual - 1) / g.residual * g.residual;
    sized.t.k_quant_capacity = sized.kcap;
    sized.t.k_resid_capacity = g.residual;
    sized.t.v_quant_capacity = sized.vcap;
    sized.t.v_resid_capacity = g.residual + 1;
    size_t bytes[CACHE_TENSORS];
    qkv_status st = cache_sizes(&sized, bytes);
    if (st != QKV_OK)
        return st;
    qkv_kivi_cache *c = malloc(sizeof *c);
    if (!c)
        return qkv_fail(QKV_ERR_NO_MEMORY, "kivi_cache_create: out of host memory");
    *c = sized;
    st = cache_alloc(c, bytes);
    if (st != QKV_OK) {
        qkv_kivi_cache_destroy(c);
        return st;
    }
    *cache = c;
    return QKV_OK;
}

void qkv_kivi_cache_destroy(qkv_kivi_cache *c)
{
    if (!c)
        return;
    qkv_buffer *bufs[] = {c->t.k_codes, c->t.k_scale, c->t.k_min, c->t.k_resid, c->t.v_codes,
                          c->t.v_scale, c->t.v_min, c->t.v_resid, c->stage};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        qkv_buffer_destroy(bufs[i]);
    free(c);
}

qkv_status qkv_kivi_cache_state_get(const qkv_kivi_cache *c, qkv_kivi_cache_state *st)
{
    if (!c || !st)
        return qkv_fail(QKV_ERR_INVALID_ARG, "kivi_cache_state_get: NULL argument");
    *st = c->st;
    return QKV_OK;
}

qkv_status qkv_kivi_cache_tensors_get(const qkv_kivi_cache *c, qkv_kivi_cache_tensors *t)
{
    if (!c || !t)
        return qkv_fail(QKV_ERR_INVALID_ARG, "kivi_cache_tensors_get: NULL argument");
    *t = c->t;
    return QKV_OK;
}

/* Rows [first, first+n) of every head of src [B*H, src_rows, D] (f16 or
 * f32 on the device) as checked f16 on the host: out [B*H, n, D]. */
static qkv_status fetch_rows_f16(const qkv_kivi_cache *c, qkv_buffer *src, qkv_dtype dtype,
                                 size_t src_rows, size_t first, size_t n, uint16_t *out,
                                 const char *fn)
{
    const size_t bh = c->cfg.batch * c->cfg.kv_heads, D = c->cfg.head_dim;
    const size_t es = qkv_dtype_size(dtype), row_bytes = n * D * es;
    void *tmp = malloc(row_bytes ? row_bytes : 1);
    if (!tmp)
        return qkv_fail(QKV_ERR_NO_MEMORY, "%s: out of host memory", fn);
    qkv_status st = QKV_OK;
    int flags = 0;
    for (size_t h = 0; h < bh && st == QKV_OK; h++) {
        st = qkv_buffer_read(src, (h * src_rows + first) * D * es, tmp, row_bytes);
        for (size_t i = 0; st == QKV_OK && i < n * D; i++) {
            uint16_t v;
            if (dtype == QKV_F16) {
                v = ((const uint16_t *)tmp)[i];
                flags |= (v & 0x7c00u) == 0x7c00u;
            } else {
                const float x = ((const float *)tmp)[i];
                flags |= !isfinite(x) ? 1 : fabsf(x) > 65504.0f ? 2 : 0;
                v = qkv_f32_to_f16(x);
            }
            out[h * n * D + i] = v;
        }
    }
    free(tmp);
    return st != QKV_OK ? st : qkv_quant_input_status(flags, fn);
}

/* Write host rows [B*H, n, D] f16 into rows [first, first+n) of every head
 * of residual buffer dst [B*H, dst_rows, D]. */
static qkv_status store_rows(const qkv_kivi_cache *c, qkv_buffer *dst, size_t dst_rows,
                             size_t first, size_t n, const uint16_t *rows)
{
    const size_t bh = c->cfg.batch * c->cfg.kv_heads, D = c->cfg.head_dim;
    qkv_status st = QKV_OK;
    for (size_t h = 0; h < bh && st == QKV_OK && n; h++)
        st = qkv_buffer_write(dst, (h * dst_rows + first) * D * 2, rows + h * n * D,
                              n * D * 2);
    return st;
}

/* Quantize tokens [0, n) of input [B*H, in_cap, D] into the cache's packed
 * keys or values at token offset `at`. */
static qkv_status quantize_into(qkv_kivi_cache *c, bool keys, qkv_buffer *input,
                                qkv_dtype dtype, size_t in_cap, size_t n, size_t at)
{
    const qkv_kivi_quant_params p = {
        .batch = c->cfg.batch, .heads = c->cfg.kv_heads, .tokens = n,
        .head_dim = c->cfg.head_dim, .in_capacity = in_cap,
        .out_capacity = keys ? c->kcap : c->vcap, .out_offset = at, .bits = c->cfg.bits,
        .group = c->cfg.group, .dtype = dtype, .input = input,
        .codes = keys ? c->t.k_codes : c->t.v_codes, .scale = keys ? c->t.k_scale : c->t.v_scale,
        .min = keys ? c->t.k_min : c->t.v_min,
    };
    return keys ? qkv_kivi_quant_keys(c->ctx, &p) : qkv_kivi_quant_values(c->ctx, &p);
}

qkv_status qkv_kivi_cache_prefill(qkv_kivi_cache *c, qkv_dtype dtype, size_t tokens,
                                  qkv_buffer *keys, qkv_buffer *values)
{
    const char *fn = "kivi_cache_prefill";
    if (!c || !keys || !values)
        return qkv_fail(QKV_ERR_INVALID_ARG, "%s: NULL argument", fn);
    if (!c->stage->ctx) /* qkv_close released the cache's buffers */
        return qkv_fail(QKV_ERR_INVALID_ARG, "%s: the cache's context was closed", fn);
    if (dtype != QKV_F16 && dtype != QKV_F32)
        return qkv_fail(QKV_ERR_INVALID_ARG, "%s: dtype must be f16 or f32", fn);
    if (c->st.tokens)
        return qkv_fail(QKV_ERR_INVALID_ARG, "%s: the cache is not empty", fn);
    if (!tokens || tokens > c->cfg.max_tokens)
        return qkv_fail(QKV_ERR_SHAPE, "%s: %zu tokens, the cache holds 1..%zu", fn, tokens,
                        c->cfg.max_tokens);
    const size_t R = c->cfg.residual, bh = c->cfg.batch * c->cfg.kv_heads;
    const size_t D = c->cfg.head_dim;
    const size_t kq = tokens - tokens % R, vq = tokens > R ? tokens - R : 0;
    size_t in_bytes;
    const size_t dims[3] = {bh, tokens, D};
    if (!qkv_mul_sizes(&in_bytes, 3, dims) ||
        !qkv_mul_size(&in_bytes, in_bytes, qkv_dtype_size(dtype)))
        return qkv_fail(QKV_ERR_OVERFLOW, "%s: input size overflows", fn);
    qkv_status st;
    if ((st = qkv_check_buffer(c->ctx, keys, in_bytes, "keys")) ||
        (st = qkv_check_buffer(c->ctx, values, in_bytes, "values")))
        return st;
    uint16_t *krows = malloc(bh * (tokens - kq) * D * 2 + 2);
    uint16_t *vrows = malloc(bh * (tokens - vq) * D * 2 + 2);
    if (!krows || !vrows)
        st = qkv_fail(QKV_ERR_NO_MEMORY, "%s: out of host memory", fn);
    if (st == QKV_OK)
        st = fetch_rows_f16(c, keys, dtype, tokens, kq, tokens - kq, krows, fn);
    if (st == QKV_OK)
        st = fetch_rows_f16(c, values, dtype, tokens, vq, tokens - vq, vrows, fn);
    if (st == QKV_OK && kq)
        st = quantize_into(c, true, keys, dtype, tokens, kq, 0);
    if (st == QKV_OK && vq)
        st = quantize_into(c, false, values, dtype, tokens, vq, 0);
    if (st == QKV_OK)
        st = store_rows(c, c->t.k_resid, R, 0, tokens - kq, krows);
    if (st == QKV_OK)
        st = store_rows(c, c->t.v_resid, R + 1, 0, tokens - vq, vrows);
    free(krows);
    free(vrows);
    if (st == QKV_OK)
        c->st = (qkv_kivi_cache_state){tokens, kq, tokens - kq, vq, tokens - vq};
    return st;
}

/* Slide the value window by one row in every head: rows [1, R] -> [0, R-1].
 * The whole buffer moves one row down through the stage buffer; row R of
 * each head then holds the next head's row 0, which is unused. */
static qkv_status shift_value_window(qkv_kivi_cache *c)
{
    const size_t row = c->cfg.head_dim * 2, total = qkv_buffer_size(c->t.v_resid);
    qkv_status st = qkv_buffer_copy(c->stage, 0, c->t.v_resid, row, total - row);
    return st != QKV_OK ? st : qkv_buffer_copy(c->t.v_resid, 0, c->stage, 0, total - row);
}

qkv_status qkv_kivi_cache_decode(qkv_kivi_cache *c, qkv_dtype dtype, qkv_buffer *key,
                                 qkv_buffer *value, size_t q_heads, qkv_buffer *query,
                                 qkv_buffer *output)
{
    const char *fn = "kivi_cache_decode";
    if (!c || !key || !value || !query || !output)
        return qkv_fail(QKV_ERR_INVALID_ARG, "%s: NULL argument", fn);
    if (!c->stage->ctx) /* qkv_close released the cache's buffers */
        return qkv_fail(QKV_ERR_INVALID_ARG, "%s: the cache's context was closed", fn);
    if (dtype != QKV_F16 && dtype != QKV_F32)
        return qkv_fail(QKV_ERR_INVALID_ARG, "%s: dtype must be f16 or f32", fn);
    if (c->st.tokens >= c->cfg.max_tokens)
        return qkv_fail(QKV_ERR_SHAPE, "%s: the cache is full (%zu tokens)", fn, c->st.tokens);
    const size_t R = c->cfg.residual, bh = c->cfg.batch * c->cfg.kv_heads;
    const size_t D = c->cfg.head_dim;
    qkv_status st;
    if ((st = qkv_check_buffer(c->ctx, key, bh * D * qkv_dtype_size(dtype), "key")) ||
        (st = qkv_check_buffer(c->ctx, value, bh * D * qkv_dtype_size(dtype), "value")))
        return st;
    uint16_t *rows = malloc(2 * bh * D * 2);
    if (!rows)
        return qkv_fail(QKV_ERR_NO_MEMORY, "%s: out of host memory", fn);
    st = fetch_rows_f16(c, key, dtype, 1, 0, 1, rows, fn);
    if (st == QKV_OK)
        st = fetch_rows_f16(c, value, dtype, 1, 0, 1, rows + bh * D, fn);
    if (st == QKV_OK)
        st = store_rows(c, c->t.k_resid, R, c->st.k_resid, 1, rows);
    if (st == QKV_OK)
        st = store_rows(c, c->t.v_resid, R + 1, c->st.v_resid, 1, rows + bh * D);
    free(rows);
    if (st != QKV_OK)
        return st;
    qkv_kivi_cache_state n = c->st;
    n.tokens++;
    n.k_resid++;
    n.v_resid++;
    const qkv_kivi_decode_params p = {
        .batch = c->cfg.batch, .q_heads = q_heads, .kv_heads = c->cfg.kv_heads,
        .head_dim = D, .k_quant = n.k_quant, .k_resid = n.k_resid, .v_quant = n.v_quant,
        .v_resid = n.v_resid, .k_quant_capacity = c->kcap, .k_resid_capacity = R,
        .v_quant_capacity = c->vcap, .v_resid_capacity = R + 1, .bits = c->cfg.bits,
        .group = c->cfg.group, .query = query, .k_codes = c->t.k_codes,
        .k_scale = c->t.k_scale, .k_min = c->t.k_min, .k_resid_data = c->t.k_resid,
        .v_codes = c->t.v_codes, .v_scale = c->t.v_scale, .v_min = c->t.v_min,
        .v_resid_data = c->t.v_resid, .output = output,
    };
    if ((st = qkv_kivi_decode_attention(c->ctx, &p)) != QKV_OK)
        return st;
    if (n.k_resid == R) { /* flush the full key window */
        if ((st = quantize_into(c, true, c->t.k_resid, QKV_F16, R, R, n.k_quant)) != QKV_OK)
            return st;
        n.k_quant += R;
        n.k_resid = 0;
    }
    if (n.v_resid == R + 1) { /* quantize the oldest value, slide the window */
        if ((st = quantize_into(c, false, c->t.v_resid, QKV_F16, R + 1, 1, n.v_quant)) ||
            (st = shift_value_window(c)))
            return st;
        n.v_quant++;
        n.v_resid = R;
    }
    c->st = n;
    return QKV_OK;
}
