/* attention_ref.c - decode attention of one query row in double, literal
 * and simple: scores, softmax, weighted value sum. */
#include "attention_ref.h"

#include <math.h>
#include <stdlib.h>

void attention_ref_row(const float *q, size_t D, size_t n, double sm, attention_ref_row_fn key_row,
                       attention_ref_row_fn value_row, const void *ctx, float *out)
{
    double *score = malloc(n * sizeof *score);
    double *acc = malloc(D * sizeof *acc);
    double *row = malloc(D * sizeof *row);
    double mx = -INFINITY;
    for (size_t t = 0; t < n; t++) {
        key_row(ctx, t, row);
        double s = 0.0;
        for (size_t d = 0; d < D; d++)
            s += (double)q[d] * row[d];
        score[t] = s * sm;
        mx = fmax(mx, score[t]);
    }
    double sum = 0.0;
    for (size_t t = 0; t < n; t++) {
        score[t] = exp(score[t] - mx);
        sum += score[t];
    }
    for (size_t d = 0; d < D; d++)
        acc[d] = 0.0;
    for (size_t t = 0; t < n; t++) {
        value_row(ctx, t, row);
        for (size_t d = 0; d < D; d++)
            acc[d] += score[t] / sum * row[d];
    }
    for (size_t d = 0; d < D; d++)
        out[d] = (float)acc[d];
    free(row);
    free(acc);
    free(score);
}
