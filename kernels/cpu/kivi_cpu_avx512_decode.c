/* kivi_cpu_avx512_decode.c - the AVX-512 work item of the cpu backend's
 * KIVI decode attention (exact mode: f32 products, f32 accumulation).
 * With exact products the 2-bit decode does 2 x (query heads per kv head)
 * FMAs per code, so it is compute-bound: every code unpack (one broadcast,
 * one shift, one vpermps table lookup per 16 codes) feeds all the query
 * heads of a pass (up to 8) held in zmm accumulators, and the dequant is
 * folded (keys: sum q (c s + m) = sum (q s) c + sum q m per group; values:
 * the lookup table of a token's group holds c s + m directly).
 * kivi_cpu.c runs the items and merges the splits. */
#include "kivi_cpu_avx2.h"

#if KIVI_CPU_X86

#include "avx512_math.h"

#include <string.h>

#define AVX512_FN QKV_AVX512_FN
#define AVX512_INLINE QKV_AVX512_INLINE

/* ---- keys ------------------------------------------------------------------------ */

/* Scores of the G tokens of one key group for NH query heads:
 * sc[h * n + i] = sum_d a[h*D + d] * code[d][tok0 + i] + bias[h], with
 * a = query x softmax scale x group scale.  rows: staged code row of
 * channel 0, wpr words apart.  Lanes = tokens, 32 per pass (G % 32 == 0),
 * so NH x 2 accumulators. */
AVX512_INLINE void key_group_scores(const uint32_t *rows, size_t wpr, size_t tok0, size_t G,
                                    size_t D, const float *a, const float *bias, float *sc,
                                    size_t n, int NH, int bits)
{
    const __m512 table = qkv_avx512_code_table(bits);
    for (size_t k = 0; k < G; k += 32) {
        __m512 acc[KIVI_CPU_MAX_HEADS][2];
#pragma GCC unroll 8
        for (int h = 0; h < NH; h++)
            acc[h][0] = acc[h][1] = _mm512_setzero_ps();
        const uint32_t *row = rows;
        for (size_t d = 0; d < D; d++, row += wpr) {
            const __m512 c0 = qkv_avx512_codes16(row, tok0 + k, bits, table);
            const __m512 c1 = qkv_avx512_codes16(row, tok0 + k + 16, bits, table);
#pragma GCC unroll 8
            for (int h = 0; h < NH; h++) {
                const __m512 ad = _mm512_set1_ps(a[(size_t)h * D + d]);
                acc[h][0] = _mm512_fmadd_ps(ad, c0, acc[h][0]);
                acc[h][1] = _mm512_fmadd_ps(ad, c1, acc[h][1]);
            }
        }
#pragma GCC unroll 8
        for (int h = 0; h < NH; h++) {
            const __m512 b = _mm512_set1_ps(bias[h]);
            _mm512_storeu_ps(sc + (size_t)h * n + k, _mm512_add_ps(acc[h][0], b));
            _mm512_storeu_ps(sc + (size_t)h * n + k + 16, _mm512_add_ps(acc[h][1], b));
        }
    }
}

/* key_group_scores with nh (1..8) and bits (2, 4) made constants. */
static AVX512_FN void key_group_scores_dispatch(const uint32_t *rows, size_t wpr, size_t tok0,
                                                size_t G, size_t D, const float *a,
                                                const float *bias, float *sc, size_t n, int nh,
                                                int bits)
{
#define KGS(NH)                                                                                \
    case NH:                                                                                   \
        if (bits == 2)                                                                         \
            key_group_scores(rows, wpr, tok0, G, D, a, bias, sc, n, NH, 2);                    \
        else                                                                                   \
            key_group_scores(rows, wpr, tok0, G, D, a, bias, sc, n, NH, 4);                    \
        break;
    switch (nh) {
        KGS(1) KGS(2) KGS(3) KGS(4) KGS(5) KGS(6) KGS(7)
    default:
        KGS(8)
    }
#undef KGS
}

/* Per group and head pass: a[h][d] = qs[h][d] * scale[d], and
 * bias[h] = sum_d qs[h][d] * min[d] (D % 32 == 0). */
AVX512_INLINE void key_group_table(const float *qs, size_t D, int nh, const float *st,
                                   const float *mt, float *a, float *bias)
{
    for (int h = 0; h < nh; h++) {
        const float *q = qs + (size_t)h * D;
        __m512 b = _mm512_setzero_ps();
        for (size_t d = 0; d < D; d += 16) {
            const __m512 qv = _mm512_loadu_ps(q + d);
            _mm512_storeu_ps(a + (size_t)h * D + d, _mm512_mul_ps(qv, _mm512_loadu_ps(st + d)));
            b = _mm512_fmadd_ps(qv, _mm512_loadu_ps(mt + d), b);
        }
        bias[h] = qkv_avx512_hsum(b);
    }
}

/* Scores of quantized key tokens [t0, te) (whole groups) for all nq heads
 * into s->score[h * n + t - t0], in chunks of KIVI_CPU_KEY_CHUNK tokens:
 * the chunk's code words are staged (contiguous rows, off the L1 set
 * conflicts of the cache's power-of-two rows), its groups' scales and
 * minima transposed, then per pass of c->heads query heads and per group
 * a query x scale table and the min bias are folded into the code dot
 * products. */
AVX512_INLINE void key_quant_scores(const kivi_cpu_decode *c, size_t bkv, size_t t0, size_t te,
                                    size_t n, const cpu_attn_scratch *s)
{
    const qkv_kivi_decode_params *p = c->p;
    const size_t D = c->D, G = c->G, bits = (size_t)c->bits;
    const size_t wcap = p->k_quant_capacity * bits / 32, gcap = p->k_quant_capacity / G;
    float *a = s->table, *st = a + KIVI_CPU_MAX_HEADS * D, *mt = st + 8 * D;
    uint32_t *codes = (uint32_t *)(mt + 8 * D);
    float bias[KIVI_CPU_MAX_HEADS];
    for (size_t c0 = t0; c0 < te; c0 += KIVI_CPU_KEY_CHUNK) {
        const size_t nc = te - c0 < KIVI_CPU_KEY_CHUNK ? te - c0 : KIVI_CPU_KEY_CHUNK;
        const size_t wpr = nc * bits / 32, ng = nc / G;
        const size_t pa = c0 + KIVI_CPU_KEY_CHUNK + c->prefetch;
        if (pa < p->k_quant)
            key_prefetch(c, bkv, pa, pa + nc < p->k_quant ? pa + nc : p->k_quant);
        stage_rows(c->k_codes + bkv * D * wcap + c0 * bits / 32, wcap, wpr, D, codes);
        key_params_transpose(c->k_scale + bkv * D * gcap, gcap, D, c0 / G, ng, st);
        key_params_transpose(c->k_min + bkv * D * gcap, gcap, D, c0 / G, ng, mt);
        for (size_t h0 = 0; h0 < c->nq; h0 += c->heads) {
            const int nh = (int)(c->nq - h0 < c->heads ? c->nq - h0 : c->heads);
            for (size_t j = 0; j < ng; j++) {
                key_group_table(s->qs + h0 * D, D, nh, st + j * D, mt + j * D, a, bias);
                key_group_scores_dispatch(codes, wpr, j * G, G, D, a, bias,
                                          s->score + h0 * n + c0 + j * G - t0, n, nh, c->bits);
            }
        }
    }
}

/* Scores of residual key tokens [ta, t1) (f16 rows) for all heads. */
AVX512_INLINE void key_resid_scores(const kivi_cpu_decode *c, size_t bkv, size_t t0, size_t ta,
                                    size_t t1, size_t n, const cpu_attn_scratch *s)
{
    const qkv_kivi_decode_params *p = c->p;
    const size_t D = c->D;
    for (size_t t = ta; t < t1; t++) {
        const uint16_t *k = c->k_resid + (bkv * p->k_resid_capacity + t - p->k_quant) * D;
        for (size_t h = 0; h < c->nq; h++) {
            __m512 acc = _mm512_setzero_ps();
            for (size_t d = 0; d < D; d += 16)
                acc = _mm512_fmadd_ps(_mm512_loadu_ps(s->qs + h * D + d),
                                      qkv_avx512_load_h16(k + d), acc);
            s->score[h * n + t - t0] = qkv_avx512_hsum(acc);
        }
    }
}

/* ---- values ---------------------------------------------------------------------- */

/* acc[h][D] += sum_t p[h * n + t] * (code[t][d] * sf[t][g] + mf[t][g]) over
 * nb quantized value tokens for NH heads; codes: row of the first token,
 * wrow words per row.  Lanes = channels, 32 per pass (one group); each
 * token's group table {c sf + mf} dequantizes by the lookup itself. */
AVX512_INLINE void value_block(const uint32_t *codes, size_t wrow, size_t nb, size_t D, size_t G,
                               const float *sf, const float *mf, const float *pr, size_t n,
                               float *acc, int NH, int bits)
{
    const size_t ng = D / G;
    const __m512 iota = qkv_avx512_code_table(bits);
    for (size_t ch = 0; ch < D; ch += 32) {
        const size_t g = ch / G;
        __m512 o[KIVI_CPU_MAX_HEADS][2];
#pragma GCC unroll 8
        for (int h = 0; h < NH; h++) {
            o[h][0] = _mm512_loadu_ps(acc + (size_t)h * D + ch);
            o[h][1] = _mm512_loadu_ps(acc + (size_t)h * D + ch + 16);
        }
        const uint32_t *row = codes;
        for (size_t t = 0; t < nb; t++, row += wrow) {
            const __m512 table = _mm512_fmadd_ps(iota, _mm512_set1_ps(sf[t * ng + g]),
                                                 _mm512_set1_ps(mf[t * ng + g]));
            const __m512 v0 = qkv_avx512_codes16(row, ch, bits, table);
            const __m512 v1 = qkv_avx512_codes16(row, ch + 16, bits, table);
#pragma GCC unroll 8
            for (int h = 0; h < NH; h++) {
                const __m512 pv = _mm512_set1_ps(pr[(size_t)h * n + t]);
                o[h][0] = _mm512_fmadd_ps(pv, v0, o[h][0]);
                o[h][1] = _mm512_fmadd_ps(pv, v1, o[h][1]);
            }
        }
#pragma GCC unroll 8
        for (int h = 0; h < NH; h++) {
            _mm512_storeu_ps(acc + (size_t)h * D + ch, o[h][0]);
            _mm512_storeu_ps(acc + (size_t)h * D + ch + 16, o[h][1]);
        }
    }
}

/* value_block with nh (1..8) and bits (2, 4) made constants. */
static AVX512_FN void value_block_dispatch(const uint32_t *codes, size_t wrow, size_t nb,
                                           size_t D, size_t G, const float *sf, const float *mf,
                                           const float *pr, size_t n, float *acc, int nh,
                                           int bits)
{
#define VB(NH)                                                                                 \
    case NH:                                                                                   \
        if (bits == 2)                                                                         \
            value_block(codes, wrow, nb, D, G, sf, mf, pr, n, acc, NH, 2);                     \
        else                                                                                   \
            value_block(codes, wrow, nb, D, G, sf, mf, pr, n, acc, NH, 4);                     \
        break;
    switch (nh) {
        VB(1) VB(2) VB(3) VB(4) VB(5) VB(6) VB(7)
    default:
        VB(8)
    }
#undef VB
}

/* Quantized value tokens [ta, te) of kv head bkv into s->acc, in blocks of
 * vblock tokens whose scales and minima are converted to f32 first. */
AVX512_INLINE void value_quant_accum(const kivi_cpu_decode *c, size_t bkv, size_t t0,
                                     size_t ta, size_t te, size_t n, const cpu_attn_scratch *s)
{
    const qkv_kivi_decode_params *p = c->p;
    const size_t D = c->D, ng = D / c->G, wrow = D * (size_t)c->bits / 32;
    float *sf = s->table + (KIVI_CPU_MAX_HEADS + 16) * D, *mf = sf + c->vblock * ng;
    for (size_t tb = ta; tb < te; tb += c->vblock) {
        const size_t nb = te - tb < c->vblock ? te - tb : c->vblock;
        const size_t row = bkv * p->v_quant_capacity + tb;
        h2f_array(c->v_scale + row * ng, nb * ng, sf);
        h2f_array(c->v_min + row * ng, nb * ng, mf);
        for (size_t h0 = 0; h0 < c->nq; h0 += c->heads) {
            const int nh = (int)(c->nq - h0 < c->heads ? c->nq - h0 : c->heads);
            value_block_dispatch(c->v_codes + row * wrow, wrow, nb, D, c->G, sf, mf,
                                 s->score + h0 * n + tb - t0, n, s->acc + h0 * D, nh, c->bits);
        }
    }
}

/* Residual value tokens [ta, t1) (f16 rows) into s->acc. */
AVX512_INLINE void value_resid_accum(const kivi_cpu_decode *c, size_t bkv, size_t t0,
                                     size_t ta, size_t t1, size_t n, const cpu_attn_scratch *s)
{
    const qkv_kivi_decode_params *p = c->p;
    const size_t D = c->D;
    for (size_t t = ta; t < t1; t++) {
        const uint16_t *v = c->v_resid + (bkv * p->v_resid_capacity + t - p->v_quant) * D;
        for (size_t d = 0; d < D; d += 16) {
            const __m512 vv = qkv_avx512_load_h16(v + d);
            for (size_t h = 0; h < c->nq; h++) {
                float *o = s->acc + h * D + d;
                _mm512_storeu_ps(o, _mm512_fmadd_ps(_mm512_set1_ps(s->score[h * n + t - t0]),
                                                    vv, _mm512_loadu_ps(o)));
            }
        }
    }
}

AVX512_FN void kivi_avx512_decode_item(const kivi_cpu_decode *c, size_t bkv, size_t t0,
                                       size_t t1, const cpu_attn_scratch *s, float *part)
{
    const qkv_kivi_decode_params *p = c->p;
    const size_t n = t1 - t0, D = c->D;
    const size_t kq = p->k_quant < t1 ? p->k_quant : t1, vq = p->v_quant < t1 ? p->v_quant : t1;
    if (t0 < kq)
        key_quant_scores(c, bkv, t0, kq, n, s);
    key_resid_scores(c, bkv, t0, kq > t0 ? kq : t0, t1, n, s);
    for (size_t h = 0; h < c->nq; h++)
        qkv_avx512_softmax_partial(s->score + h * n, n, &part[h * (D + 2)],
                                   &part[h * (D + 2) + 1]);
    memset(s->acc, 0, c->nq * D * sizeof *s->acc);
    if (t0 < vq)
        value_quant_accum(c, bkv, t0, t0, vq, n, s);
    value_resid_accum(c, bkv, t0, vq > t0 ? vq : t0, t1, n, s);
    for (size_t h = 0; h < c->nq; h++)
        memcpy(&part[h * (D + 2) + 2], s->acc + h * D, D * sizeof *part);
}

#endif /* KIVI_CPU_X86 */
