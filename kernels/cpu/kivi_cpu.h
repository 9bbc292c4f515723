/* kivi_cpu.h - shared declarations of the cpu backend's KIVI kernels: the
 * resolved decode arguments, the size of the decode item's tables, and the
 * AVX2 and AVX-512 work-item functions (kivi_cpu_avx2_*.c,
 * kivi_cpu_avx512_*.c) that the OpenMP drivers of kivi_cpu.c call in the
 * avx2 and avx512 variants. */
#ifndef QKV_KIVI_CPU_H
#define QKV_KIVI_CPU_H

#include "attention_cpu.h"
#include "qkv_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#define KIVI_CPU_X86 1
#else
#define KIVI_CPU_X86 0
#endif

/* Key channels per pass of the AVX2 key quantizer (4 vectors; divides
 * every valid head_dim: D is a multiple of G >= 32). */
#define KIVI_CPU_KEY_BLOCK 32
/* Value groups (G channels of one token) whose scales the AVX2 value
 * quantizer keeps in registers at a time. */
#define KIVI_CPU_VALUE_BATCH 32

/* Decode attention arguments: host pointers (NULL for an empty part), the
 * validated params (capacities resolved) and the vector items' tiles. */
typedef struct kivi_cpu_decode {
    const qkv_kivi_decode_params *p;
    const float *query; /* [B, Hq, D] */
    const uint32_t *k_codes;
    const uint16_t *k_scale, *k_min, *k_resid;
    const uint32_t *v_codes;
    const uint16_t *v_scale, *v_min, *v_resid;
    size_t D, G, nq;  /* head dim, group, query heads per kv head */
    size_t vblock;    /* quantized value tokens per cache block */
    size_t prefetch;  /* key lines prefetched this far past the next chunk */
    size_t heads;     /* avx512 item: query heads per pass over the codes (1..8) */
    int bits;
} kivi_cpu_decode;

/* Key tokens per chunk of the AVX2 decode: their code words of all D
 * channels are staged contiguously (rows of a power-of-two capacity would
 * collide in a few L1 sets); a multiple of every G, at most 8 groups. */
#define KIVI_CPU_KEY_CHUNK 256

/* Query heads per pass of the avx512 decode item, at most. */
#define KIVI_CPU_MAX_HEADS 8

/* Floats of cpu_attn_scratch.table for decode: KIVI_CPU_MAX_HEADS D (query
 * x scale per head; the avx2 item uses 4 D), 16 D (8 key groups' scales and
 * minima), then, first for the key scores and later for the values, D *
 * KIVI_CPU_KEY_CHUNK / 8 (staged key codes, up to 4 bits) or 2 vblock (D/G)
 * (value scales and minima of one token block); the scalar path uses D of
 * it. */
static inline size_t kivi_cpu_table_floats(const kivi_cpu_decode *c)
{
    return (KIVI_CPU_MAX_HEADS + 16) * c->D + c->D * KIVI_CPU_KEY_CHUNK / 8 +
           2 * c->vblock * (c->D / c->G);
}

/* Work item of decode on c (see cpu_attn_item_fn, attention_cpu.h). */
typedef void (*kivi_cpu_decode_item_fn)(const kivi_cpu_decode *c, size_t bkv, size_t t0,
                                        size_t t1, const cpu_attn_scratch *s, float *part);

#if KIVI_CPU_X86
/* Quantize key token groups g0 .. g1-1 (G tokens x D channels each) of
 * head bh.  With `check`, input the quantizer rejects (NaN, Inf,
 * |x| > 65504) is found on the way: the item stops before writing the
 * block that holds it and returns true (blocks before it are written). */
bool kivi_avx2_quant_keys_groups(const qkv_kivi_quant_params *p, size_t bh, size_t g0,
                                 size_t g1, bool check);
/* Quantize value groups k0 .. k1-1 of head bh, counting the head's
 * tokens x D/G groups (G channels of one token) in memory order; `check`
 * and the result as for keys. */
bool kivi_avx2_quant_values_groups(const qkv_kivi_quant_params *p, size_t bh, size_t k0,
                                   size_t k1, bool check);
/* Dequantize token group g of key head bh into f32 rows [G, D]; `stream`:
 * non-temporal stores (output 32-byte aligned; kivi_avx2_store_fence()
 * before another thread reads it). */
void kivi_avx2_dequant_keys_group(const qkv_kivi_dequant_params *p, size_t bh, size_t g,
                                  bool stream);
/* Dequantize value row `row` (= bh * tokens + t) into D f32; `stream` as
 * above. */
void kivi_avx2_dequant_values_row(const qkv_kivi_dequant_params *p, size_t row, bool stream);
/* Orders this thread's non-temporal stores before its later stores. */
void kivi_avx2_store_fence(void);
/* Decode work item (see kivi_cpu_decode_item_fn). */
void kivi_avx2_decode_item(const kivi_cpu_decode *c, size_t bkv, size_t t0, size_t t1,
                           const cpu_attn_scratch *s, float *part);
/* AVX-512 items, as their AVX2 counterparts above (streaming dequant
 * stores want a 64-byte aligned output). */
bool kivi_avx512_quant_keys_groups(const qkv_kivi_quant_params *p, size_t bh, size_t g0,
                                   size_t g1, bool check);
bool kivi_avx512_quant_values_groups(const qkv_kivi_quant_params *p, size_t bh, size_t k0,
                                     size_t k1, bool check);
void kivi_avx512_dequant_keys_group(const qkv_kivi_dequant_params *p, size_t bh, size_t g,
                                    bool stream);
void kivi_avx512_dequant_values_row(const qkv_kivi_dequant_params *p, size_t row, bool stream);
/* AVX-512 decode work item (see kivi_cpu_decode_item_fn). */
void kivi_avx512_decode_item(const kivi_cpu_decode *c, size_t bkv, size_t t0, size_t t1,
                             const cpu_attn_scratch *s, float *part);
#endif

#endif
