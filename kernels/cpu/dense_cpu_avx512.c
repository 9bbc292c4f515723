/* dense_cpu_avx512.c - the AVX-512 work item of the cpu backend's f16
 * decode attention (the "avx512" variant of dense_cpu.c; D % 16 == 0).
 * Scores: a tile of up to 4 query heads x 16 / heads key rows keeps 16 zmm
 * accumulators over the head dim, reduced together by one transpose-add
 * tree.  Values: up to 4 heads x 64 channels in 16 zmm accumulators per
 * token.  Blocks of c->block tokens are visited by every head group (L1
 * reuse) and key / value rows are prefetched in software as in the AVX2
 * item. */
#include "dense_cpu.h"

#include "avx512_math.h"

#if QKV_CPU_X86

#include <string.h>

/* Lane j = sum of the lanes of a[j], for 16 vectors: a tree of 128-bit,
 * then in-lane shuffles and adds.  The tree leaves lane j holding input
 * TREE[j] (an involution), so it reads its inputs in that order. */
QKV_AVX512_INLINE __m512 hsum16(const __m512 a[16])
{
    static const int TREE[16] = {0, 2, 1, 3, 8, 10, 9, 11, 4, 6, 5, 7, 12, 14, 13, 15};
    __m512 x[8], y[4], z[2];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++)
        x[i] = _mm512_add_ps(_mm512_shuffle_f32x4(a[TREE[i]], a[TREE[i + 8]], 0x44),
                             _mm512_shuffle_f32x4(a[TREE[i]], a[TREE[i + 8]], 0xEE));
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++)
        y[i] = _mm512_add_ps(_mm512_shuffle_f32x4(x[i], x[i + 4], 0x88),
                             _mm512_shuffle_f32x4(x[i], x[i + 4], 0xDD));
#pragma GCC unroll 2
    for (int i = 0; i < 2; i++)
        z[i] = _mm512_add_ps(_mm512_shuffle_ps(y[i], y[i + 2], 0x44),
                             _mm512_shuffle_ps(y[i], y[i + 2], 0xEE));
    return _mm512_add_ps(_mm512_shuffle_ps(z[0], z[1], 0x88),
                         _mm512_shuffle_ps(z[0], z[1], 0xDD));
}

/* Scores of HB query heads (rows of qs, [HB, D]) against TB key rows k
 * [TB, D] (f16), HB * TB <= 16: sc[h * n + j] for h < HB, j < TB. */
QKV_AVX512_INLINE void score_tile(const float *qs, const uint16_t *k, size_t D, size_t n,
                                  float *sc, int HB, int TB)
{
    __m512 acc[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++)
        acc[i] = _mm512_setzero_ps();
#pragma GCC unroll 2
    for (size_t d = 0; d < D; d += 16) {
        __m512 kv[16];
#pragma GCC unroll 16
        for (int j = 0; j < TB; j++)
            kv[j] = qkv_avx512_load_h16(k + j * D + d);
#pragma GCC unroll 4
        for (int h = 0; h < HB; h++) {
            const __m512 q = _mm512_loadu_ps(qs + h * D + d);
#pragma GCC unroll 16
            for (int j = 0; j < TB; j++)
                acc[h * TB + j] = _mm512_fmadd_ps(q, kv[j], acc[h * TB + j]);
        }
    }
    float r[16];
    _mm512_storeu_ps(r, hsum16(acc));
#pragma GCC unroll 4
    for (int h = 0; h < HB; h++)
#pragma GCC unroll 16
        for (int j = 0; j < TB; j++)
            sc[(size_t)h * n + j] = r[h * TB + j];
}

/* Scores of HB heads against nt key rows from k: tiles of TB rows, then
 * single rows; rows j < npf of pk and pv are prefetched with tile j. */
QKV_AVX512_INLINE void score_rows(const float *qs, const uint16_t *k, size_t D, size_t n,
                                  size_t nt, float *sc, const uint16_t *pk, const uint16_t *pv,
                                  size_t npf, int HB, int TB)
{
    size_t j = 0;
    for (; j + (size_t)TB <= nt; j += (size_t)TB) {
        prefetch_rows(pk, pv, j, j + (size_t)TB < npf ? j + (size_t)TB : npf, D);
        score_tile(qs, k + j * D, D, n, sc + j, HB, TB);
    }
    for (; j < nt; j++) {
        prefetch_rows(pk, pv, j, j < npf ? j + 1 : j, D);
        score_tile(qs, k + j * D, D, n, sc + j, HB, 1);
    }
}

/* score_rows for hb (1..4) heads, with 16 / hb rows per tile (4 for 3). */
static QKV_AVX512_FN void score_rows_dispatch(const float *qs, const uint16_t *k, size_t D,
                                              size_t n, size_t nt, float *sc,
                                              const uint16_t *pk, const uint16_t *pv,
                                              size_t npf, int hb)
{
    switch (hb) {
    case 1: score_rows(qs, k, D, n, nt, sc, pk, pv, npf, 1, 16); break;
    case 2: score_rows(qs, k, D, n, nt, sc, pk, pv, npf, 2, 8); break;
    case 3: score_rows(qs, k, D, n, nt, sc, pk, pv, npf, 3, 4); break;
    default: score_rows(qs, k, D, n, nt, sc, pk, pv, npf, 4, 4); break;
    }
}

/* acc[h][d .. d + 16 DB) += sum_j pr[h * n + j] * v[j][d ..] over nt value
 * rows v [nt, D] (f16), for HB heads: HB x DB zmm accumulators. */
QKV_AVX512_INLINE void value_tile(const float *pr, size_t n, const uint16_t *v, size_t nt,
                                  size_t D, size_t d, float *acc, int HB, int DB)
{
    __m512 o[4][4];
#pragma GCC unroll 4
    for (int h = 0; h < HB; h++)
#pragma GCC unroll 4
        for (int i = 0; i < DB; i++)
            o[h][i] = _mm512_loadu_ps(acc + (size_t)h * D + d + 16 * i);
    for (size_t j = 0; j < nt; j++) {
        __m512 vv[4];
#pragma GCC unroll 4
        for (int i = 0; i < DB; i++)
            vv[i] = qkv_avx512_load_h16(v + j * D + d + 16 * i);
#pragma GCC unroll 4
        for (int h = 0; h < HB; h++) {
            const __m512 pb = _mm512_set1_ps(pr[(size_t)h * n + j]);
#pragma GCC unroll 4
            for (int i = 0; i < DB; i++)
                o[h][i] = _mm512_fmadd_ps(pb, vv[i], o[h][i]);
        }
    }
#pragma GCC unroll 4
    for (int h = 0; h < HB; h++)
#pragma GCC unroll 4
        for (int i = 0; i < DB; i++)
            _mm512_storeu_ps(acc + (size_t)h * D + d + 16 * i, o[h][i]);
}

/* Values of nt rows into acc [HB, D] for HB heads: 64 channels at a time,
 * then 32, then 16. */
QKV_AVX512_INLINE void value_rows(const float *pr, size_t n, const uint16_t *v, size_t nt,
                                  size_t D, float *acc, int HB)
{
    size_t d = 0;
    for (; d + 64 <= D; d += 64)
        value_tile(pr, n, v, nt, D, d, acc, HB, 4);
    if (d + 32 <= D) {
        value_tile(pr, n, v, nt, D, d, acc, HB, 2);
        d += 32;
    }
    if (d < D)
        value_tile(pr, n, v, nt, D, d, acc, HB, 1);
}

/* value_rows for hb (1..4) heads. */
static QKV_AVX512_FN void value_rows_dispatch(const float *pr, size_t n, const uint16_t *v,
                                              size_t nt, size_t D, float *acc, int hb)
{
    switch (hb) {
    case 1: value_rows(pr, n, v, nt, D, acc, 1); break;
    case 2: value_rows(pr, n, v, nt, D, acc, 2); break;
    case 3: value_rows(pr, n, v, nt, D, acc, 3); break;
    default: value_rows(pr, n, v, nt, D, acc, 4); break;
    }
}

QKV_AVX512_FN void dense_avx512_item(const void *ctx, size_t bkv, size_t t0, size_t t1,
                                     const cpu_attn_scratch *s, float *part)
{
    const dense_decode *c = ctx;
    const size_t n = t1 - t0, D = c->D, nq = c->nq, pf = c->prefetch;
    for (size_t tb = t0; tb < t1; tb += c->block) {
        const size_t nt = t1 - tb < c->block ? t1 - tb : c->block;
        const uint16_t *k = kv_row(c, c->keys, bkv, tb);
        const size_t ahead = t1 > tb + pf ? t1 - tb - pf : 0; /* rows with a target */
        for (size_t h0 = 0; h0 < nq; h0 += 4)
            score_rows_dispatch(s->qs + h0 * D, k, D, n, nt, s->score + h0 * n + tb - t0,
                                k + pf * D, kv_row(c, c->values, bkv, tb),
                                h0 ? 0 : ahead < nt ? ahead : nt,
                                nq - h0 < 4 ? (int)(nq - h0) : 4);
    }
    for (size_t h = 0; h < nq; h++)
        qkv_avx512_softmax_partial(s->score + h * n, n, &part[h * (D + 2)],
                                   &part[h * (D + 2) + 1]);
    memset(s->acc, 0, nq * D * sizeof *s->acc);
    for (size_t tb = t0; tb < t1; tb += c->block) {
        const size_t nt = t1 - tb < c->block ? t1 - tb : c->block;
        const uint16_t *v = kv_row(c, c->values, bkv, tb);
        for (size_t h0 = 0; h0 < nq; h0 += 4)
            value_rows_dispatch(s->score + h0 * n + tb - t0, n, v, nt, D, s->acc + h0 * D,
                                nq - h0 < 4 ? (int)(nq - h0) : 4);
    }
    for (size_t h = 0; h < nq; h++)
        memcpy(&part[h * (D + 2) + 2], s->acc + h * D, D * sizeof *part);
}

#endif
