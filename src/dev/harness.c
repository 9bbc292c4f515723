/* harness.c - runs an op case on a backend with guarded, poisoned outputs
 * and compares against the reference by the rules of the spec README. */
#include "harness.h"

#include "tuning.h" /* qkv_choose */

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

/* Whether output tensor t keeps tie flags. */
static bool has_ties(const qkv_tensor_desc *t)
{
    return t->output && (t->cmp == QKV_CMP_CODES || t->cmp == QKV_CMP_F16 ||
                         t->cmp == QKV_CMP_INDEX_SET);
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
        if (has_ties(&c->t[i]))
            c->tie[i] = calloc(1, qkv_tensor_tie_count(&c->t[i]));
        if (!c->host[i] || (has_ties(&c->t[i]) && !c->tie[i])) {
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

/* Code k of a packed stream of `bits`-bit codes, low bits first. */
static unsigned code_at(const uint32_t *words, size_t k, int bits)
{
    const size_t per = (size_t)(32 / bits);
    return (unsigned)(words[k / per] >> (k % per * (size_t)bits)) & ((1u << bits) - 1u);
}

/* Code differences of a packed output: off-by-one at flagged ties counts
 * as a tie, anything else as a mismatch. */
static void compare_codes(const qkv_op_case *c, int i, const void *got_bytes,
                          qkv_check_result *r)
{
    const int bits = c->t[i].code_bits;
    const uint32_t *ref = c->host[i], *got = got_bytes;
    const size_t n = qkv_tensor_tie_count(&c->t[i]);
    for (size_t k = 0; k < n; k++) {
        const unsigned a = code_at(got, k, bits), b = code_at(ref, k, bits);
        if (a == b)
            continue;
        if ((a == b + 1 || b == a + 1) && c->tie[i][k])
            r->ties++;
        else
            r->mismatches++;
    }
}

/* Identical bytes, counted per element. */
static void compare_exact(const qkv_op_case *c, int i, const void *got, qkv_check_result *r)
{
    const size_t size = qkv_dtype_size(c->t[i].dtype), n = qkv_tensor_count(&c->t[i]);
    const uint8_t *a = got, *b = c->host[i];
    for (size_t k = 0; k < n; k++)
        r->mismatches += memcmp(a + k * size, b + k * size, size) != 0;
}

static int compare_i32(const void *a, const void *b)
{
    const int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Whether sorted row[0..n) holds v. */
static bool sorted_has(const int32_t *row, size_t n, int32_t v)
{
    return bsearch(&v, row, n, sizeof *row, compare_i32) != NULL;
}

/* Rows (the last dim) of i32 indices as sets, -1 padding ignored: an index
 * of one set missing from the other is a tie where the reference flags it
 * (an index at the cut, swappable for another), else a mismatch; a repeated
 * index is a mismatch. */
static void compare_index_sets(const qkv_op_case *c, int i, const void *got_bytes,
                               qkv_check_result *r)
{
    const qkv_tensor_desc *t = &c->t[i];
    const size_t width = t->ndim ? t->shape[t->ndim - 1] : 1;
    const size_t rows = width ? qkv_tensor_count(t) / width : 0;
    int32_t *a = malloc(2 * width * sizeof *a);
    if (!a) {
        r->mismatches++;
        return;
    }
    int32_t *b = a + width;
    for (size_t row = 0; row < rows; row++) {
        memcpy(a, (const int32_t *)got_bytes + row * width, width * sizeof *a);
        memcpy(b, (const int32_t *)c->host[i] + row * width, width * sizeof *b);
        qsort(a, width, sizeof *a, compare_i32);
        qsort(b, width, sizeof *b, compare_i32);
        size_t ref_ties = 0, ref_missing = 0, got_extra = 0;
        for (size_t k = 0; k < width; k++) {
            if (k > 0 && a[k] == a[k - 1] && a[k] != -1)
                r->mismatches++;
            if (a[k] != -1 && !sorted_has(b, width, a[k]))
                got_extra++;
            if (b[k] != -1 && !sorted_has(a, width, b[k]))
                ref_missing++;
        }
        /* flags are per position of the reference row as it was written */
        const int32_t *ref_row = (const int32_t *)c->host[i] + row * width;
        for (size_t k = 0; k < width; k++)
            if (ref_row[k] != -1 && !sorted_has(a, width, ref_row[k]) && c->tie[i][row * width + k])
                ref_ties++;
        if (ref_missing == ref_ties && got_extra == ref_missing) {
            r->ties += ref_ties;
        } else {
            r->mismatches += ref_missing > got_extra ? ref_missing : got_extra;
        }
    }
    free(a);
}

/* f16 bit patterns: 1 ulp apart at a flagged tie is tolerated. */
static void compare_f16(const qkv_op_case *c, int i, const void *got_bytes, qkv_check_result *r)
{
    const uint16_t *ref = c->host[i], *got = got_bytes;
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
static void compare_float(const qkv_op_case *c, int i, const void *got_bytes,
                          qkv_check_result *r)
{
    const float *ref = c->host[i], *got = got_bytes;
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

/* The comparison hook of each qkv_cmp_kind (NULL: not compared). */
typedef void (*compare_fn)(const qkv_op_case *c, int i, const void *got, qkv_check_result *r);
static const compare_fn compare_hooks[] = {
    [QKV_CMP_NONE] = NULL,
    [QKV_CMP_EXACT] = compare_exact,
    [QKV_CMP_CODES] = compare_codes,
    [QKV_CMP_F16] = compare_f16,
    [QKV_CMP_FLOAT] = compare_float,
    [QKV_CMP_INDEX_SET] = compare_index_sets,
};

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

/* Read each output with its guards back and compare: each by its kind,
 * then all together by the op's check_outputs. */
static qkv_status compare_outputs(const qkv_op_desc *op, const qkv_op_case *c, qkv_context *ctx,
                                  qkv_buffer **whole, qkv_check_result *r)
{
    uint8_t *h[QKV_CASE_MAX_TENSORS] = {NULL};
    const void *got[QKV_CASE_MAX_TENSORS] = {NULL};
    qkv_status st = QKV_OK;
    for (int i = 0; st == QKV_OK && i < c->ntensors; i++) {
        const size_t bytes = qkv_tensor_bytes(&c->t[i]);
        if (!c->t[i].output || !bytes)
            continue;
        h[i] = malloc(bytes + 2 * GUARD_BYTES);
        if (!h[i]) {
            st = qkv_fail(QKV_ERR_NO_MEMORY, "out of host memory");
            break;
        }
        st = qkv_buffer_read(whole[i], 0, h[i], bytes + 2 * GUARD_BYTES);
        if (st != QKV_OK)
            break;
        r->guard_violations += guard_changes(h[i], bytes, GUARD_BYTES);
        got[i] = h[i] + GUARD_BYTES;
        if (compare_hooks[c->t[i].cmp])
            compare_hooks[c->t[i].cmp](c, i, got[i], r);
    }
    if (st == QKV_OK && op->check_outputs)
        op->check_outputs(c, got, r);
    for (int i = 0; i < c->ntensors; i++)
        free(h[i]);
    if (st != QKV_OK)
        return st;
    double bound = qkv_case_nmse_bound(op, &c->shape);
    qkv_choice ran; /* the variant ctx runs for a library op: its own floor, if any */
    if (op->info) {
        qkv_context_lock(ctx);
        if (qkv_choose(ctx, op->info->id, NULL, NULL, 0, &ran) == QKV_OK &&
            ran.variant->nmse_floor > bound)
            bound = ran.variant->nmse_floor;
        qkv_context_unlock(ctx);
    }
    r->pass = r->mismatches == 0 && r->guard_violations == 0 && r->nan_mismatches == 0 &&
              r->nmse <= bound;
    if (!r->pass)
        snprintf(r->message, sizeof r->message,
                 "%zu mismatches, %zu guard bytes changed, %zu NaNs, NMSE %.3g (bound %.1g)",
                 r->mismatches, r->guard_violations, r->nan_mismatches, r->nmse, bound);
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
        st = compare_outputs(op, c, ctx, whole, r);
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
