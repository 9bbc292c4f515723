/* dense_cpu.h - what the cpu backend's f16 decode attention items share
 * (dense_cpu.c: the driver, the scalar and AVX2 items and the variants;
 * dense_cpu_avx512.c: the AVX-512 item): the resolved call and its rows. */
#ifndef QKV_DENSE_CPU_H
#define QKV_DENSE_CPU_H

#include "attention_cpu.h"
#include "qkv_internal.h"

/* A validated call, resolved for the work items. */
typedef struct dense_decode {
    const qkv_f16_decode_params *p;
    const float *query;            /* [B, Hq, D] */
    const uint16_t *keys, *values; /* [B, Hkv, capacity, D] */
    size_t D, nq;                  /* head dim, query heads per kv head */
    size_t block;                  /* tokens per L1 block of the vector items */
    size_t prefetch;               /* vector items: key rows prefetched this far ahead */
} dense_decode;

/* Key (or value) row t of kv head bkv. */
static inline const uint16_t *kv_row(const dense_decode *c, const uint16_t *base, size_t bkv,
                                     size_t t)
{
    return base + (bkv * c->p->capacity + t) * c->D;
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

/* Prefetch rows [j0, j1) (D f16 each) of key rows pk into L1 and of value
 * rows pv into L2: the scores stream the keys, and the values, read later
 * in a strided order the hardware prefetcher does not follow, are fetched
 * at the same pace. */
static inline void prefetch_rows(const uint16_t *pk, const uint16_t *pv, size_t j0, size_t j1,
                                 size_t D)
{
    for (size_t i = j0 * D * 2; i < j1 * D * 2; i += 64) {
        _mm_prefetch((const char *)pk + i, _MM_HINT_T0);
        _mm_prefetch((const char *)pv + i, _MM_HINT_T1);
    }
}

/* AVX-512 work item (a cpu_attn_item_fn on a dense_decode; D % 16 == 0). */
void dense_avx512_item(const void *ctx, size_t bkv, size_t t0, size_t t1,
                       const cpu_attn_scratch *s, float *part);
#endif

#endif
