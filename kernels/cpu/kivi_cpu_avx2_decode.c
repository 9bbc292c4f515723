/* kivi_cpu_avx2_decode.c - the AVX2 work item of the cpu backend's KIVI
 * decode attention: scores of quantized and residual keys for all query
 * heads of a kv head, the split's softmax and the weighted sum of
 * quantized and residual values (kivi_cpu.c runs the items and merges). */
#include "kivi_cpu_avx2.h"

#if KIVI_CPU_X86

#include <math.h>
#include <string.h>

/* ---- decode attention: keys --------------------------------------------------- */

/* Scores of the G tokens of one key group for nh query heads:
 * sc[h * n + i] = sum_d a[h*D + d] * code[d][tok0 + i] + bias[h], with
 * a = query * softmax scale * group scale.  rows: code row of channel 0,
 * wcap words apart.  Lanes = 16 tokens, codes decoded once for all heads. */
AVX2_INLINE void key_group_scores(const uint32_t *rows, size_t wcap, size_t tok0, size_t G,
                                  size_t D, const float *a, const float *bias, float *sc,
                                  size_t n, int nh, int bits)
{
    for (size_t k = 0; k < G; k += 16) {
        __m256 acc[4][2];
#pragma GCC unroll 4
        for (int h = 0; h < nh; h++)
            acc[h][0] = acc[h][1] = _mm256_setzero_ps();
        const uint32_t *row = rows;
        for (size_t d = 0; d < D; d++, row += wcap) {
            __m256 lo, hi;
            codes16f(row, tok0 + k, bits, &lo, &hi);
#pragma GCC unroll 4
            for (int h = 0; h < nh; h++) {
                const __m256 ad = _mm256_broadcast_ss(a + (size_t)h * D + d);
                acc[h][0] = _mm256_fmadd_ps(ad, lo, acc[h][0]);
                acc[h][1] = _mm256_fmadd_ps(ad, hi, acc[h][1]);
            }
        }
#pragma GCC unroll 4
        for (int h = 0; h < nh; h++) {
            const __m256 b = _mm256_set1_ps(bias[h]);
            _mm256_storeu_ps(sc + (size_t)h * n + k, _mm256_add_ps(acc[h][0], b));
            _mm256_storeu_ps(sc + (size_t)h * n + k + 8, _mm256_add_ps(acc[h][1], b));
        }
    }
}

/* key_group_scores with nh (1..4) and bits (2, 4) made constants. */
static AVX2_FN void key_group_scores_dispatch(const uint32_t *rows, size_t wcap, size_t tok0,
                                              size_t G, size_t D, const float *a,
                                              const float *bias, float *sc, size_t n, int nh,
                                              int bits)
{
#define KGS(NH, B) key_group_scores(rows, wcap, tok0, G, D, a, bias, sc, n, NH, B)
    switch (nh * 8 + bits) {
    case 1 * 8 + 2: KGS(1, 2); break;
    case 2 * 8 + 2: KGS(2, 2); break;
    case 3 * 8 + 2: KGS(3, 2); break;
    case 4 * 8 + 2: KGS(4, 2); break;
    case 1 * 8 + 4: KGS(1, 4); break;
    case 2 * 8 + 4: KGS(2, 4); break;
    case 3 * 8 + 4: KGS(3, 4); break;
    default: KGS(4, 4); break;
    }
#undef KGS
}

/* Per group and head block: a[h][d] = qs[h][d] * scale[d], and
 * bias[h] = sum_d qs[h][d] * min[d]. */
AVX2_INLINE void key_group_table(const float *qs, size_t D, int nh, const float *st,
                                 const float *mt, float *a, float *bias)
{
    for (int h = 0; h < nh; h++) {
        const float *q = qs + (size_t)h * D;
        __m256 b = _mm256_setzero_ps();
        for (size_t d = 0; d < D; d += 8) {
            const __m256 qv = _mm256_loadu_ps(q + d);
            _mm256_storeu_ps(a + (size_t)h * D + d, _mm256_mul_ps(qv, _mm256_loadu_ps(st + d)));
            b = _mm256_fmadd_ps(qv, _mm256_loadu_ps(mt + d), b);
        }
        bias[h] = qkv_avx2_hsum(b);
    }
}

/* Scores of quantized key tokens [t0, te) (whole groups) for all nq heads
 * into s->score[h * n + t - t0], in chunks of KIVI_CPU_KEY_CHUNK tokens:
 * the chunk's code words are staged, its groups' scales and minima
 * transposed, then per head block of <= 4 and per group a query x scale
 * table and the min bias are folded into the code dot products. */
AVX2_INLINE void key_quant_scores(const kivi_cpu_decode *c, size_t bkv, size_t t0, size_t te,
                                  size_t n, const cpu_attn_scratch *s)
{
    const qkv_kivi_decode_params *p = c->p;
    const size_t D = c->D, G = c->G, bits = (size_t)c->bits;
    const size_t wcap = p->k_quant_capacity * bits / 32, gcap = p->k_quant_capacity / G;
    float *a = s->table, *st = a + 4 * D, *mt = st + 8 * D;
    uint32_t *codes = (uint32_t *)(mt + 8 * D);
    float bias[4];
    for (size_t c0 = t0; c0 < te; c0 += KIVI_CPU_KEY_CHUNK) {
        const size_t nc = te - c0 < KIVI_CPU_KEY_CHUNK ? te - c0 : KIVI_CPU_KEY_CHUNK;
        const size_t wpr = nc * bits / 32, ng = nc / G;
        const size_t pa = c0 + KIVI_CPU_KEY_CHUNK + c->prefetch;
        if (pa < p->k_quant)
            key_prefetch(c, bkv, pa, pa + nc < p->k_quant ? pa + nc : p->k_quant);
        stage_rows(c->k_codes + bkv * D * wcap + c0 * bits / 32, wcap, wpr, D, codes);
        key_params_transpose(c->k_scale + bkv * D * gcap, gcap, D, c0 / G, ng, st);
        key_params_transpose(c->k_min + bkv * D * gcap, gcap, D, c0 / G, ng, mt);
        for (size_t h0 = 0; h0 < c->nq; h0 += 4) {
            const int nh = c->nq - h0 < 4 ? (int)(c->nq - h0) : 4;
            for (size_t j = 0; j < ng; j++) {
                key_group_table(s->qs + h0 * D, D, nh, st + j * D, mt + j * D, a, bias);
                key_group_scores_dispatch(codes, wpr, j * G, G, D, a, bias,
                                          s->score + h0 * n + c0 + j * G - t0, n, nh, c->bits);
            }
        }
    }
}

/* Scores of residual key tokens [ta, t1) (f16 rows) for all heads. */
AVX2_INLINE void key_resid_scores(const kivi_cpu_decode *c, size_t bkv, size_t t0, size_t ta,
                                  size_t t1, size_t n, const cpu_attn_scratch *s)
{
    const qkv_kivi_decode_params *p = c->p;
    const size_t D = c->D;
    for (size_t t = ta; t < t1; t++) {
        const uint16_t *k = c->k_resid + (bkv * p->k_resid_capacity + t - p->k_quant) * D;
        for (size_t h0 = 0; h0 < c->nq; h0 += 4) {
            const size_t nh = c->nq - h0 < 4 ? c->nq - h0 : 4;
            __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                             _mm256_setzero_ps()};
            for (size_t d = 0; d < D; d += 8) {
                const __m256 kv = load8(k, d, QKV_F16);
                for (size_t h = 0; h < nh; h++)
                    acc[h] = _mm256_fmadd_ps(_mm256_loadu_ps(s->qs + (h0 + h) * D + d), kv, acc[h]);
            }
            for (size_t h = 0; h < nh; h++)
                s->score[(h0 + h) * n + t - t0] = qkv_avx2_hsum(acc[h]);
        }
    }
}

/* ---- decode attention: softmax and values ------------------------------------- */


/* acc[h][D] += sum_t p[h * n + t] * (code[t][d] * sf[t][g] + mf[t][g]) over
 * nb quantized value tokens; codes: row of the first token, wrow words per
 * row.  Lanes = 16 channels, each value dequantized once for all heads. */
AVX2_INLINE void value_block(const uint32_t *codes, size_t wrow, size_t nb, size_t D, size_t G,
                             const float *sf, const float *mf, const float *pr, size_t n,
                             float *acc, int nh, int bits)
{
    const size_t ng = D / G;
    for (size_t ch = 0; ch < D; ch += 16) {
        const size_t g = ch / G;
        __m256 o[4][2];
#pragma GCC unroll 4
        for (int h = 0; h < nh; h++) {
            o[h][0] = _mm256_loadu_ps(acc + (size_t)h * D + ch);
            o[h][1] = _mm256_loadu_ps(acc + (size_t)h * D + ch + 8);
        }
        const uint32_t *row = codes;
        for (size_t t = 0; t < nb; t++, row += wrow) {
            __m256 lo, hi;
            codes16f(row, ch, bits, &lo, &hi);
            const __m256 sv = _mm256_broadcast_ss(sf + t * ng + g);
            const __m256 mv = _mm256_broadcast_ss(mf + t * ng + g);
            lo = _mm256_fmadd_ps(lo, sv, mv);
            hi = _mm256_fmadd_ps(hi, sv, mv);
#pragma GCC unroll 4
            for (int h = 0; h < nh; h++) {
                const __m256 pv = _mm256_broadcast_ss(pr + (size_t)h * n + t);
                o[h][0] = _mm256_fmadd_ps(pv, lo, o[h][0]);
                o[h][1] = _mm256_fmadd_ps(pv, hi, o[h][1]);
            }
        }
#pragma GCC unroll 4
        for (int h = 0; h < nh; h++) {
            _mm256_storeu_ps(acc + (size_t)h * D + ch, o[h][0]);
            _mm256_storeu_ps(acc + (size_t)h * D + ch + 8, o[h][1]);
        }
    }
}

/* value_block with nh (1..4) and bits (2, 4) made constants. */
static AVX2_FN void value_block_dispatch(const uint32_t *codes, size_t wrow, size_t nb, size_t D,
                                         size_t G, const float *sf, const float *mf,
                                         const float *pr, size_t n, float *acc, int nh, int bits)
{
#define VB(NH, B) value_block(codes, wrow, nb, D, G, sf, mf, pr, n, acc, NH, B)
    switch (nh * 8 + bits) {
    case 1 * 8 + 2: VB(1, 2); break;
    case 2 * 8 + 2: VB(2, 2); break;
    case 3 * 8 + 2: VB(3, 2); break;
    case 4 * 8 + 2: VB(4, 2); break;
    case 1 * 8 + 4: VB(1, 4); break;
    case 2 * 8 + 4: VB(2, 4); break;
    case 3 * 8 + 4: VB(3, 4); break;
    default: VB(4, 4); break;
    }
#undef VB
}

/* Quantized value tokens [ta, te) of kv head bkv into s->acc, in blocks of
 * vblock tokens whose scales and minima are converted to f32 first. */
AVX2_INLINE void value_quant_accum(const kivi_cpu_decode *c, size_t bkv, size_t t0, size_t ta,
                                   size_t te, size_t n, const cpu_attn_scratch *s)
{
    const qkv_kivi_decode_params *p = c->p;
    const size_t D = c->D, ng = D / c->G, wrow = D * (size_t)c->bits / 32;
    float *sf = s->table + 20 * D, *mf = sf + c->vblock * ng;
    for (size_t tb = ta; tb < te; tb += c->vblock) {
        const size_t nb = te - tb < c->vblock ? te - tb : c->vblock;
        const size_t row = bkv * p->v_quant_capacity + tb;
        h2f_array(c->v_scale + row * ng, nb * ng, sf);
        h2f_array(c->v_min + row * ng, nb * ng, mf);
        for (size_t h0 = 0; h0 < c->nq; h0 += 4) {
            const int nh = c->nq - h0 < 4 ? (int)(c->nq - h0) : 4;
            value_block_dispatch(c->v_codes + row * wrow, wrow, nb, D, c->G, sf, mf,
                                 s->score + h0 * n + tb - t0, n, s->acc + h0 * D, nh, c->bits);
        }
    }
}

/* Residual value tokens [ta, t1) (f16 rows) into s->acc. */
AVX2_INLINE void value_resid_accum(const kivi_cpu_decode *c, size_t bkv, size_t t0, size_t ta,
                                   size_t t1, size_t n, const cpu_attn_scratch *s)
{
    const qkv_kivi_decode_params *p = c->p;
    const size_t D = c->D;
    for (size_t t = ta; t < t1; t++) {
        const uint16_t *v = c->v_resid + (bkv * p->v_resid_capacity + t - p->v_quant) * D;
        for (size_t d = 0; d < D; d += 8) {
            const __m256 vv = load8(v, d, QKV_F16);
            for (size_t h = 0; h < c->nq; h++) {
                float *o = s->acc + h * D + d;
                _mm256_storeu_ps(o, _mm256_fmadd_ps(_mm256_set1_ps(s->score[h * n + t - t0]), vv,
                                                    _mm256_loadu_ps(o)));
            }
        }
    }
}

AVX2_FN void kivi_avx2_decode_item(const kivi_cpu_decode *c, size_t bkv, size_t t0, size_t t1,
                                   const cpu_attn_scratch *s, float *part)
{
    const qkv_kivi_decode_params *p = c->p;
    const size_t n = t1 - t0, D = c->D;
    const size_t kq = p->k_quant < t1 ? p->k_quant : t1, vq = p->v_quant < t1 ? p->v_quant : t1;
    if (t0 < kq)
        key_quant_scores(c, bkv, t0, kq, n, s);
    key_resid_scores(c, bkv, t0, kq > t0 ? kq : t0, t1, n, s);
    for (size_t h = 0; h < c->nq; h++)
        qkv_avx2_softmax_partial(s->score + h * n, n, &part[h * (D + 2)], &part[h * (D + 2) + 1]);
    memset(s->acc, 0, c->nq * D * sizeof *s->acc);
    if (t0 < vq)
        value_quant_accum(c, bkv, t0, t0, vq, n, s);
    value_resid_accum(c, bkv, t0, vq > t0 ? vq : t0, t1, n, s);
    for (size_t h = 0; h < c->nq; h++)
        memcpy(&part[h * (D + 2) + 2], s->acc + h * D, D * sizeof *part);
}

#endif /* KIVI_CPU_X86 */
