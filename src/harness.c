/* harness.c - runs an op case on a backend with guarded, poisoned outputs
 * and compares against the reference by the rules of the spec README. */
#include "harness.h"
#include "kivi_ref.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GUARD_BYTES 4096 /* a multiple of every device's view alignment */
#define GUARD_BYTE 0xA5
#define POISON_BYTE 0xFF /* NaN as f32/f16; all-ones codes */

void qkv_case_free(qkv_op_case *c)
{
    for (int i = 0; i < QKV_CASE_MAX_TENSORS; i++) {
        free(c->host[i]);
        free(c->tie[i]);
        c->host[i] = NULL;
        c->tie[i] = NULL;
    }
}

/* Elements that tie flags are kept for: codes of a code tensor, values of
 * an f16 tensor. */
static size_t tie_count(const qkv_op_case *c, int i)
{
    const size_t n = qkv_tensor_count(&c->t[i]);
    return c->t[i].cmp == QKV_CMP_CODES ? n * (size_t)(32 / c->shape.bits) : n;
}

qkv_status qkv_case_inputs(const qkv_op_desc *op, const qkv_op_shape *shape, uint64_t seed,
                           qkv_op_case *c)
{
    memset(c, 0, sizeof *c);
    c->shape = *shape;
    op->describe(c);
    for (int i = 0; i < c->ntensors; i++) {
        const size_t bytes = qkv_tensor_bytes(&c->t[i]);
        if (!bytes)
            continue;
        c->host[i] = calloc(1, bytes);
        if (c->t[i].output && c->t[i].cmp != QKV_CMP_FLOAT)
            c->tie[i] = calloc(1, tie_count(c, i));
        if (!c->host[i] || (c->t[i].output && c->t[i].cmp != QKV_CMP_FLOAT && !c->tie[i])) {
            qkv_case_free(c);
            return qkv_fail(QKV_ERR_NO_MEMORY, "out of host memory for case %s", shape->label);
        }
    }
    op->fill_inputs(c, seed);
    return QKV_OK;
}

qkv_status qkv_case_prepare(const qkv_op_desc *op, const qkv_op_shape *shape, uint64_t seed,
                            qkv_op_case *c)
{
    qkv_status st = qkv_case_inputs(op, shape, seed, c);
    if (st != QKV_OK)
        return st;
    qkv_context *ref;
    st = qkv_open("ref", &ref);
    if (st == QKV_OK) {
        st = qkv_case_run(op, c, ref, c->host);
        qkv_close(ref);
    }
    if (st != QKV_OK) {
        qkv_case_free(c);
        return st;
    }
    if (op->mark_ties)
        op->mark_ties(c);
    return QKV_OK;
}

/* Device buffers of a case: inputs uploaded; outputs sized `guard` bytes
 * larger on each side (views in bufs[], parents in whole[]). */
static qkv_status upload(const qkv_op_case *c, qkv_context *ctx, size_t guard,
                         qkv_buffer **bufs, qkv_buffer **whole)
{
    for (int i = 0; i < c->ntensors; i++)
        bufs[i] = whole[i] = NULL;
    for (int i = 0; i < c->ntensors; i++) {
        const size_t bytes = qkv_tensor_bytes(&c->t[i]);
        if (!bytes)
            continue;
        qkv_status st;
        if (!c->t[i].output) {
            st = qkv_buffer_create(ctx, bytes, &bufs[i]);
            if (st == QKV_OK)
                st = qkv_buffer_write(bufs[i], 0, c->host[i], bytes);
        } else if (guard) {
            st = qkv_buffer_create(ctx, bytes + 2 * guard, &whole[i]);
            if (st == QKV_OK)
                st = qkv_buffer_view(whole[i], guard, bytes, &bufs[i]);
        } else {
            st = qkv_buffer_create(ctx, bytes, &bufs[i]);
        }
        if (st != QKV_OK)
            return st;
    }
    return QKV_OK;
}

static void release(int n, qkv_buffer **bufs, qkv_buffer **whole)
{
    for (int i = 0; i < n; i++) {
        qkv_buffer_destroy(bufs[i]);
        qkv_buffer_destroy(whole[i]);
    }
}

qkv_status qkv_case_run(const qkv_op_desc *op, const qkv_op_case *c, qkv_context *ctx,
                        void *const *out)
{
    qkv_buffer *bufs[QKV_CASE_MAX_TENSORS], *whole[QKV_CASE_MAX_TENSORS];
    qkv_status st = upload(c, ctx, 0, bufs, whole);
    if (st == QKV_OK)
        st = op->launch(ctx, &c->shape, bufs);
    for (int i = 0; st == QKV_OK && i < c->ntensors; i++)
        if (c->t[i].output && bufs[i])
            st = qkv_buffer_read(bufs[i], 0, out[i], qkv_tensor_bytes(&c->t[i]));
    release(c->ntensors, bufs, whole);
    return st;
}

/* Code differences of a packed output: off-by-one at flagged ties counts
 * as a tie, anything else as a mismatch. */
static void compare_codes(const qkv_op_case *c, int i, const uint32_t *got, qkv_check_result *r)
{
    const int bits = c->shape.bits;
    const uint32_t *ref = c->host[i];
    const size_t n = tie_count(c, i);
    for (size_t k = 0; k < n; k++) {
        const unsigned a = kivi_code_get(got, k, bits), b = kivi_code_get(ref, k, bits);
        if (a == b)
            continue;
        if ((a == b + 1 || b == a + 1) && c->tie[i][k])
            r->ties++;
        else
            r->mismatches++;
    }
}

/* f16 bit patterns: 1 ulp apart at a flagged tie is tolerated. */
static void compare_f16(const qkv_op_case *c, int i, const uint16_t *got, qkv_check_result *r)
{
    const uint16_t *ref = c->host[i];
    for (size_t k = 0; k < qkv_tensor_count(&c->t[i]); k++) {
        if (got[k] == ref[k])
            continue;
        if (abs((int)got[k] - (int)ref[k]) == 1 && c->tie[i][k])
            r->ties++;
        else
            r->mismatches++;
    }
}

/* NMSE sum((y-r)^2)/sum(r^2), max |y-r|, and NaNs the reference lacks. */
static void compare_float(const qkv_op_case *c, int i, const float *got, qkv_check_result *r)
{
    const float *ref = c->host[i];
    double err = 0.0, norm = 0.0;
    for (size_t k = 0; k < qkv_tensor_count(&c->t[i]); k++) {
        if (isnan(got[k]) && !isnan(ref[k])) {
            r->nan_mismatches++;
            continue;
        }
        const double d = (double)got[k] - (double)ref[k];
        err += d * d;
        norm += (double)ref[k] * ref[k];
        r->max_abs_err = fmax(r->max_abs_err, fabs(d));
    }
    const double nmse = norm > 0.0 ? err / norm : err;
    r->nmse = fmax(r->nmse, nmse);
}

/* Count changed guard bytes around an output read back as `bytes`. */
static size_t guard_changes(const uint8_t *whole, size_t bytes, size_t guard)
{
    size_t bad = 0;
    for (size_t k = 0; k < guard; k++)
        bad += (whole[k] != GUARD_BYTE) + (whole[guard + bytes + k] != GUARD_BYTE);
    return bad;
}

/* Fill an output's whole buffer: guard pattern, poison inside. */
static qkv_status poison(qkv_buffer *whole, size_t bytes, size_t guard, uint8_t *scratch)
{
    memset(scratch, GUARD_BYTE, bytes + 2 * guard);
    memset(scratch + guard, POISON_BYTE, bytes);
    return qkv_buffer_write(whole, 0, scratch, bytes + 2 * guard);
}

/* Read each output with its guards back and compare. */
static qkv_status compare_outputs(const qkv_op_desc *op, const qkv_op_case *c,
                                  qkv_buffer **whole, qkv_check_result *r)
{
    for (int i = 0; i < c->ntensors; i++) {
        const size_t bytes = qkv_tensor_bytes(&c->t[i]);
        if (!c->t[i].output || !bytes)
            continue;
        uint8_t *h = malloc(bytes + 2 * GUARD_BYTES);
        if (!h)
            return qkv_fail(QKV_ERR_NO_MEMORY, "out of host memory");
        qkv_status st = qkv_buffer_read(whole[i], 0, h, bytes + 2 * GUARD_BYTES);
        if (st != QKV_OK) {
            free(h);
            return st;
        }
        r->guard_violations += guard_changes(h, bytes, GUARD_BYTES);
        const void *got = h + GUARD_BYTES;
        switch (c->t[i].cmp) {
        case QKV_CMP_CODES: compare_codes(c, i, got, r); break;
        case QKV_CMP_F16: compare_f16(c, i, got, r); break;
        case QKV_CMP_FLOAT: compare_float(c, i, got, r); break;
        default: break;
        }
        free(h);
    }
    r->pass = r->mismatches == 0 && r->guard_violations == 0 && r->nan_mismatches == 0 &&
              r->nmse <= op->nmse_bound;
    if (!r->pass)
        snprintf(r->message, sizeof r->message,
                 "%zu mismatches, %zu guard bytes changed, %zu NaNs, NMSE %.3g (bound %.1g)",
                 r->mismatches, r->guard_violations, r->nan_mismatches, r->nmse, op->nmse_bound);
    return QKV_OK;
}

void qkv_case_check(const qkv_op_desc *op, const qkv_op_case *c, qkv_context *ctx,
                    qkv_check_result *r)
{
    memset(r, 0, sizeof *r);
    qkv_buffer *bufs[QKV_CASE_MAX_TENSORS], *whole[QKV_CASE_MAX_TENSORS];
    qkv_status st = upload(c, ctx, GUARD_BYTES, bufs, whole);
    size_t largest = 0;
    for (int i = 0; i < c->ntensors; i++)
        if (c->t[i].output && qkv_tensor_bytes(&c->t[i]) > largest)
            largest = qkv_tensor_bytes(&c->t[i]);
    uint8_t *scratch = malloc(largest + 2 * GUARD_BYTES);
    if (st == QKV_OK && !scratch)
        st = qkv_fail(QKV_ERR_NO_MEMORY, "out of host memory");
    for (int i = 0; st == QKV_OK && i < c->ntensors; i++)
        if (c->t[i].output && whole[i])
            st = poison(whole[i], qkv_tensor_bytes(&c->t[i]), GUARD_BYTES, scratch);
    free(scratch);
    if (st == QKV_OK)
        st = op->launch(ctx, &c->shape, bufs);
    if (st == QKV_OK)
        st = compare_outputs(op, c, whole, r);
    r->status = st;
    if (st != QKV_OK) {
        r->pass = false;
        snprintf(r->message, sizeof r->message, "%s: %s", qkv_status_name(st), qkv_last_error());
    }
    release(c->ntensors, bufs, whole);
}

qkv_status qkv_case_upload(const qkv_op_case *c, qkv_context *ctx, qkv_buffer **bufs)
{
    qkv_buffer *whole[QKV_CASE_MAX_TENSORS];
    const qkv_status st = upload(c, ctx, 0, bufs, whole);
    if (st != QKV_OK)
        release(c->ntensors, bufs, whole);
    return st;
}

void qkv_case_release(const qkv_op_case *c, qkv_buffer **bufs)
{
    for (int i = 0; i < c->ntensors; i++)
        qkv_buffer_destroy(bufs[i]);
}
