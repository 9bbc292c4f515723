/* softmax.h - the scalar pieces of FlashDecoding shared by the cpu decode
 * kernels: the scaled queries of a kv head, one split's scores turned into
 * exponentials, and the merge of the splits. */
#ifndef QKV_CPU_SOFTMAX_H
#define QKV_CPU_SOFTMAX_H

#include "cpu_team.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

/* Query heads of kv head bkv (nq per kv head, query [B*Hq, D] f32) times
 * the softmax scale sm into qs[nq][D]. */
static inline void cpu_scale_queries(const float *query, size_t bkv, size_t nq, size_t D,
                                     float sm, float *qs)
{
    const float *q = query + bkv * nq * D; /* (b*Hkv + h)*nq == b*Hq + h*nq */
    for (size_t i = 0; i < nq * D; i++)
        qs[i] = q[i] * sm;
}

/* In place x[i] = exp(x[i] - max) for i < n (n >= 1); *mx = max, *sum =
 * sum of the exponentials.  NaN scores propagate into the sum. */
static inline void cpu_softmax_partial(float *x, size_t n, float *mx, float *sum)
{
    float m = x[0], l = 0.0f;
    for (size_t i = 1; i < n; i++)
        m = fmaxf(m, x[i]);
    for (size_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - m);
        l += x[i];
    }
    *mx = m;
    *sum = l;
}

/* Partial floats below which the merge runs on the calling thread: a
 * parallel region costs more than it saves (about 0.1 ms of work). */
#define CPU_MERGE_PARALLEL_FLOATS ((size_t)1 << 18)

/* Merge the nsplit partials of each of `rows` query heads into out
 * [rows, D]: part holds, per (kv head, split), nq records {m, l, o[D]} of
 * the kv head's query heads (row r = kv head * nq + h); output =
 * sum_s o_s e^(m_s - M) / sum_s l_s e^(m_s - M), M = max_s m_s. */
static inline void cpu_merge_splits(const float *part, float *out, size_t rows, size_t nq,
                                    size_t nsplit, size_t D)
{
#pragma omp parallel for schedule(static) num_threads(cpu_team_size())                         \
    if (rows * nsplit * (D + 2) >= CPU_MERGE_PARALLEL_FLOATS)
    for (size_t r = 0; r < rows; r++) {
        const size_t bkv = r / nq, h = r % nq;
        const float *ps = part + (bkv * nsplit * nq + h) * (D + 2);
        const size_t stride = nq * (D + 2);
        float m = ps[0], l = 0.0f;
        for (size_t s = 1; s < nsplit; s++)
            m = fmaxf(m, ps[s * stride]);
        float *o = out + r * D;
        memset(o, 0, D * sizeof *o);
        for (size_t s = 0; s < nsplit; s++) {
            const float w = expf(ps[s * stride] - m);
            l += ps[s * stride + 1] * w;
            for (size_t d = 0; d < D; d++)
                o[d] += ps[s * stride + 2 + d] * w;
        }
        for (size_t d = 0; d < D; d++)
            o[d] /= l;
    }
}

#endif
