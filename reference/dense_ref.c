/* dense_ref.c - scalar reference of the f16 dense decode attention: scores,
 * softmax and the weighted value sum in double, literal and simple. */
#include "dense_ref.h"

#include <math.h>
#include <stdlib.h>

void dense_ref_f16_decode(const qkv_f16_decode_params *p, const float *query,
                          const uint16_t *keys, const uint16_t *values, float *output)
{
    const size_t D = p->head_dim, N = p->tokens, per_kv = p->q_heads / p->kv_heads;
    const double sm = p->softmax_scale != 0.0f ? p->softmax_scale : 1.0 / sqrt((double)D);
    double *score = malloc(N * sizeof *score);
    double *acc = malloc(D * sizeof *acc);
    for (size_t b = 0; b < p->batch; b++)
        for (size_t hq = 0; hq < p->q_heads; hq++) {
            const size_t bh = b * p->kv_heads + hq / per_kv;
            const uint16_t *k = keys + bh * p->capacity * D, *v = values + bh * p->capacity * D;
            const float *q = query + (b * p->q_heads + hq) * D;
            double mx = -INFINITY;
            for (size_t t = 0; t < N; t++) {
                double s = 0.0;
                for (size_t d = 0; d < D; d++)
                    s += (double)q[d] * qkv_f16_to_f32(k[t * D + d]);
                score[t] = s * sm;
                mx = fmax(mx, score[t]);
            }
            double sum = 0.0;
            for (size_t t = 0; t < N; t++) {
                score[t] = exp(score[t] - mx);
                sum += score[t];
            }
            for (size_t d = 0; d < D; d++)
                acc[d] = 0.0;
            for (size_t t = 0; t < N; t++)
                for (size_t d = 0; d < D; d++)
                    acc[d] += score[t] / sum * qkv_f16_to_f32(v[t * D + d]);
            for (size_t d = 0; d < D; d++)
                output[(b * p->q_heads + hq) * D + d] = (float)acc[d];
        }
    free(acc);
    free(score);
}
