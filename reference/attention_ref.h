/* attention_ref.h - the reference's decode attention of one query row, in
 * double (spec README: "Reference in double"), shared by the dense f16 and
 * the KIVI references.  Keys and values come from callbacks, so each
 * reference keeps its own storage format and dequantization. */
#ifndef QKV_ATTENTION_REF_H
#define QKV_ATTENTION_REF_H

#include <stddef.h>

/* Writes key (or value) t of the sequence, D elements, into row[D]. */
typedef void (*attention_ref_row_fn)(const void *ctx, size_t t, double *row);

/* One query row q[D] (f32) over n keys and values (n >= 1): s_t = sm *
 * sum_d q_d k_t[d], p = softmax(s), out[d] = sum_t p_t v_t[d], all in
 * double, each output rounded once to f32.  key_row and value_row receive
 * ctx. */
void attention_ref_row(const float *q, size_t D, size_t n, double sm, attention_ref_row_fn key_row,
                       attention_ref_row_fn value_row, const void *ctx, float *out);

#endif
