/* dense_ref.c - scalar reference of the f16 dense decode attention: every
 * query row through attention_ref_row (double), its keys and values read
 * from the f16 cache. */
#include "dense_ref.h"

#include "attention_ref.h"

#include <math.h>

/* The f16 key and value rows [capacity, D] of one kv head. */
typedef struct dense_head {
    const uint16_t *keys, *values;
    size_t D;
} dense_head;

/* Key t of a dense_head as D doubles. */
static void dense_key_row(const void *ctx, size_t t, double *row)
{
    const dense_head *h = ctx;
    for (size_t d = 0; d < h->D; d++)
        row[d] = qkv_f16_to_f32(h->keys[t * h->D + d]);
}

/* Value t of a dense_head as D doubles. */
static void dense_value_row(const void *ctx, size_t t, double *row)
{
    const dense_head *h = ctx;
    for (size_t d = 0; d < h->D; d++)
        row[d] = qkv_f16_to_f32(h->values[t * h->D + d]);
}

void dense_ref_f16_decode(const qkv_f16_decode_params *p, const float *query,
                          const uint16_t *keys, const uint16_t *values, float *output)
{
    const size_t D = p->head_dim, per_kv = p->q_heads / p->kv_heads;
    const double sm = p->softmax_scale != 0.0f ? p->softmax_scale : 1.0 / sqrt((double)D);
    for (size_t b = 0; b < p->batch; b++)
        for (size_t hq = 0; hq < p->q_heads; hq++) {
            const size_t bh = b * p->kv_heads + hq / per_kv, row = b * p->q_heads + hq;
            const dense_head head = {keys + bh * p->capacity * D, values + bh * p->capacity * D,
                                     D};
            attention_ref_row(query + row * D, D, p->tokens, sm, dense_key_row, dense_value_row,
                              &head, output + row * D);
        }
}
