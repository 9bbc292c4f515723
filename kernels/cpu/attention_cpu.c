/* attention_cpu.c - the OpenMP split/merge driver of the cpu decode
 * attention kernels (see attention_cpu.h). */
#include "attention_cpu.h"

#include "cpu_team.h"
#include "softmax.h"

#include <stdlib.h>
#include <string.h>

void cpu_attention_scalar_item(const void *ctx, cpu_attn_row_fn key_row,
                               cpu_attn_row_fn value_row, size_t nq, size_t D, size_t bkv,
                               size_t t0, size_t t1, const cpu_attn_scratch *s, float *part)
{
    const size_t n = t1 - t0;
    float *row = s->table;
    for (size_t t = t0; t < t1; t++) {
        key_row(ctx, bkv, t, row);
        for (size_t h = 0; h < nq; h++) {
            float dot = 0.0f;
            for (size_t d = 0; d < D; d++)
                dot += s->qs[h * D + d] * row[d];
            s->score[h * n + t - t0] = dot;
        }
    }
    for (size_t h = 0; h < nq; h++)
        cpu_softmax_partial(s->score + h * n, n, &part[h * (D + 2)], &part[h * (D + 2) + 1]);
    memset(s->acc, 0, nq * D * sizeof *s->acc);
    for (size_t t = t0; t < t1; t++) {
        value_row(ctx, bkv, t, row);
        for (size_t h = 0; h < nq; h++)
            for (size_t d = 0; d < D; d++)
                s->acc[h * D + d] += s->score[h * n + t - t0] * row[d];
    }
    for (size_t h = 0; h < nq; h++)
        memcpy(&part[h * (D + 2) + 2], s->acc + h * D, D * sizeof *part);
}

qkv_status cpu_attention_run(const cpu_attn_job *job)
{
    const size_t nq = job->nq, D = job->D, split = job->split;
    const size_t nsplit = (job->tokens + split - 1) / split, items = job->kv_rows * nsplit;
    const size_t scratch = nq * split + 2 * nq * D + job->table_floats;
    float *part = malloc(items * nq * (D + 2) * sizeof *part);
    if (!part)
        return qkv_fail(QKV_ERR_NO_MEMORY, "%s: out of host memory", job->op);
    int failed = 0;
#pragma omp parallel num_threads(cpu_team_size())
    {
        float *buf = malloc(scratch * sizeof *buf);
        if (!buf) {
#pragma omp atomic write
            failed = 1;
        }
        const cpu_attn_scratch s = {buf, buf + nq * split, buf + nq * (split + D),
                                    buf + nq * (split + 2 * D)};
#pragma omp for schedule(dynamic, job->chunk) nowait
        for (size_t i = 0; i < items; i++) {
            if (!buf)
                continue;
            const size_t bkv = i / nsplit, t0 = i % nsplit * split;
            const size_t t1 = t0 + split < job->tokens ? t0 + split : job->tokens;
            cpu_scale_queries(job->query, bkv, nq, D, job->sm, s.qs);
            job->item(job->ctx, bkv, t0, t1, &s, part + i * nq * (D + 2));
        }
        free(buf);
    }
    if (failed) {
        free(part);
        return qkv_fail(QKV_ERR_NO_MEMORY, "%s: out of host memory", job->op);
    }
    cpu_merge_splits(part, job->output, job->kv_rows * nq, nq, nsplit, D);
    free(part);
    return QKV_OK;
}
