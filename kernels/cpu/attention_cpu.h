/* attention_cpu.h - the OpenMP split/merge driver of the cpu decode
 * attention kernels (FlashDecoding): work items are (batch x kv head, split
 * of the token axis), each run by the kernel's item function with its own
 * per-thread scratch, then the splits are merged (softmax.h). */
#ifndef QKV_ATTENTION_CPU_H
#define QKV_ATTENTION_CPU_H

#include "qkv_internal.h"

/* One thread's scratch (f32). */
typedef struct cpu_attn_scratch {
    float *score; /* [nq, split]: scores, then unnormalized probabilities */
    float *qs;    /* [nq, D]: query heads times the softmax scale */
    float *acc;   /* [nq, D]: unnormalized output of the work item */
    float *table; /* cpu_attn_job.table_floats: the item function's own tables */
} cpu_attn_scratch;

/* Work item: tokens [t0, t1) of kv head bkv (= b*Hkv + h) for its nq query
 * heads, from s->qs (already scaled); writes part[nq][D + 2] = {max score,
 * sum of exp(score - max), sum of exp(score - max) * value[D]}.  ctx is
 * cpu_attn_job.ctx. */
typedef void (*cpu_attn_item_fn)(const void *ctx, size_t bkv, size_t t0, size_t t1,
                                 const cpu_attn_scratch *s, float *part);

/* A decode call for the driver. */
typedef struct cpu_attn_job {
    const float *query;  /* [B*Hq, D] f32 */
    float *output;       /* [B*Hq, D] f32 */
    size_t kv_rows;      /* B x Hkv */
    size_t nq, D;        /* query heads per kv head, head dim */
    size_t tokens;       /* keys (and values) per sequence */
    size_t split;        /* tokens per work item */
    size_t table_floats; /* floats of cpu_attn_scratch.table per thread */
    float sm;            /* softmax scale */
    int chunk;           /* work items per OpenMP dynamic chunk */
    cpu_attn_item_fn item;
    const void *ctx;     /* passed to item */
    const char *op;      /* op name for error messages */
} cpu_attn_job;

/* Key (or value) row t of kv head bkv as D floats into row; ctx as for
 * cpu_attn_item_fn. */
typedef void (*cpu_attn_row_fn)(const void *ctx, size_t bkv, size_t t, float *row);

/* The portable work item (cpu_attn_item_fn semantics) over key and value
 * rows that key_row / value_row produce one at a time into s->table (D
 * floats), for nq query heads of head dim D. */
void cpu_attention_scalar_item(const void *ctx, cpu_attn_row_fn key_row,
                               cpu_attn_row_fn value_row, size_t nq, size_t D, size_t bkv,
                               size_t t0, size_t t1, const cpu_attn_scratch *s, float *part);

/* Run every work item of job in parallel (dynamic schedule), then merge
 * the splits into job->output.  QKV_ERR_NO_MEMORY if a buffer cannot be
 * allocated (output then unspecified). */
qkv_status cpu_attention_run(const cpu_attn_job *job);

#endif
