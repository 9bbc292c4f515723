/* attention_cpu.c - the OpenMP split/merge driver of the cpu decode
 * attention kernels (see attention_cpu.h). */
#include "attention_cpu.h"

#include "softmax.h"

#include <stdlib.h>

qkv_status cpu_attention_run(const cpu_attn_job *job)
{
    const size_t nq = job->nq, D = job->D, split = job->split;
    const size_t nsplit = (job->tokens + split - 1) / split, items = job->kv_rows * nsplit;
    const size_t scratch = nq * split + 2 * nq * D + job->table_floats;
    float *part = malloc(items * nq * (D + 2) * sizeof *part);
    if (!part)
        return qkv_fail(QKV_ERR_NO_MEMORY, "%s: out of host memory", job->op);
    int failed = 0;
#pragma omp parallel
    {
        float *buf = malloc(scratch * sizeof *buf);
        if (!buf) {
#pragma omp atomic write
            failed = 1;
        }
        const cpu_attn_scratch s = {buf, buf + nq * split, buf + nq * (split + D),
                                    buf + nq * (split + 2 * D)};
#pragma omp for schedule(dynamic, job->chunk)
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
