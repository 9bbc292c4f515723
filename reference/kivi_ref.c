/* kivi_ref.c - scalar reference of KIVI quantization and decode attention.
 * Follows kivi.md line by line; see kivi_ref.h for the contracts. */
#include "kivi_ref.h"

#include "attention_ref.h"

#include <math.h>
#include <stdlib.h>

/* Element i of an f16 or f32 array as f32. */
static float load_elem(const void *base, qkv_dtype dtype, size_t i)
{
    if (dtype == QKV_F16)
        return qkv_f16_to_f32(((const uint16_t *)base)[i]);
    return ((const float *)base)[i];
}

void kivi_ref_quant_group(const float *x, size_t stride, size_t n, int bits,
                          uint16_t *scale, uint16_t *mn, uint8_t *codes)
{
    const float qmax = (float)((1 << bits) - 1);
    float lo = x[0], hi = x[0];
    for (size_t i = 1; i < n; i++) {
        lo = fminf(lo, x[i * stride]);
        hi = fmaxf(hi, x[i * stride]);
    }
    lo += 0.0f; /* a zero extreme of either sign counts as +0 (docs/kivi.md) */
    hi += 0.0f;
    *scale = qkv_f32_to_f16((hi - lo) / qmax);
    *mn = qkv_f32_to_f16(lo);
    const float s = qkv_f16_to_f32(*scale);
    const float m = qkv_f16_to_f32(*mn);
    for (size_t i = 0; i < n; i++) {
        if (s == 0.0f) {
            codes[i] = 0;
            continue;
        }
        float t = (x[i * stride] - m) / s;
        t = fminf(fmaxf(t, 0.0f), qmax); /* clamp before rounding */
        codes[i] = (uint8_t)rintf(t);
    }
}

int kivi_ref_code_is_tie(float x, uint16_t scale, uint16_t mn, int bits)
{
    const double s = qkv_f16_to_f32(scale);
    if (s == 0.0)
        return 0;
    double t = ((double)x - qkv_f16_to_f32(mn)) / s;
    const double qmax = (double)((1 << bits) - 1);
    if (t <= 0.0 || t >= qmax)
        return 0;
    return fabs(t - floor(t) - 0.5) < 1e-4;
}

int kivi_ref_scale_is_tie(float mn, float mx, int bits)
{
    const double q = ((double)mx - (double)mn) / (double)((1 << bits) - 1);
    const uint16_t h = qkv_f32_to_f16((float)q);
    const double v = qkv_f16_to_f32(h);
    /* distance to the nearer neighbouring f16 midpoint, in f32 ulps of q */
    const uint16_t up = (uint16_t)(h + 1), down = (uint16_t)(h ? h - 1 : 0);
    const double mid_up = 0.5 * (v + qkv_f16_to_f32(up));
    const double mid_down = 0.5 * (v + qkv_f16_to_f32(down));
    const double ulp = q > 0 ? ldexp(1.0, ilogb(q) - 23) : ldexp(1.0, -149);
    return fabs(q - mid_up) <= 4 * ulp || fabs(q - mid_down) <= 4 * ulp;
}

/* Write code `c` at position i of a zeroed packed stream. */
static void code_put(uint32_t *words, size_t i, int bits, unsigned c)
{
    const size_t per_word = (size_t)(32 / bits);
    words[i / per_word] |= (uint32_t)c << (bits * (i % per_word));
}

void kivi_ref_quant_keys(const qkv_kivi_quant_params *p, const void *input,
                         uint32_t *codes, uint16_t *scale, uint16_t *min)
{
    const size_t D = p->head_dim, G = (size_t)p->group, f = (size_t)(32 / p->bits);
    const size_t words_per_row = p->out_capacity / f, groups_per_row = p->out_capacity / G;
    float *x = malloc(G * sizeof *x);
    uint8_t *q = malloc(G);
    for (size_t bh = 0; bh < p->batch * p->heads; bh++)
        for (size_t d = 0; d < D; d++) {
            uint32_t *crow = codes + (bh * D + d) * words_per_row;
            for (size_t g = 0; g < p->tokens / G; g++) {
                for (size_t i = 0; i < G; i++)
                    x[i] = load_elem(input, p->dtype, (bh * p->in_capacity + g * G + i) * D + d);
                const size_t gout = p->out_offset / G + g;
                const size_t sidx = (bh * D + d) * groups_per_row + gout;
                kivi_ref_quant_group(x, 1, G, p->bits, &scale[sidx], &min[sidx], q);
                for (size_t w = 0; w < G / f; w++)
                    crow[gout * (G / f) + w] = 0;
                for (size_t i = 0; i < G; i++)
                    code_put(crow, gout * G + i, p->bits, q[i]);
            }
        }
    free(q);
    free(x);
}

void kivi_ref_quant_values(const qkv_kivi_quant_params *p, const void *input,
                           uint32_t *codes, uint16_t *scale, uint16_t *min)
{
    const size_t D = p->head_dim, G = (size_t)p->group, f = (size_t)(32 / p->bits);
    float *x = malloc(D * sizeof *x);
    uint8_t *q = malloc(G);
    for (size_t bh = 0; bh < p->batch * p->heads; bh++)
        for (size_t t = 0; t < p->tokens; t++) {
            for (size_t d = 0; d < D; d++)
                x[d] = load_elem(input, p->dtype, (bh * p->in_capacity + t) * D + d);
            const size_t row = bh * p->out_capacity + p->out_offset + t;
            uint32_t *crow = codes + row * (D / f);
            for (size_t w = 0; w < D / f; w++)
                crow[w] = 0;
            for (size_t g = 0; g < D / G; g++) {
                kivi_ref_quant_group(x + g * G, 1, G, p->bits, &scale[row * (D / G) + g],
                                     &min[row * (D / G) + g], q);
                for (size_t i = 0; i < G; i++)
                    code_put(crow, g * G + i, p->bits, q[i]);
            }
        }
    free(q);
    free(x);
}

/* q*scale + mn in double, rounded once to f32. */
static float dequant(unsigned q, uint16_t scale, uint16_t mn)
{
    return (float)((double)q * qkv_f16_to_f32(scale) + qkv_f16_to_f32(mn));
}

void kivi_ref_dequant_keys(const qkv_kivi_dequant_params *p, const uint32_t *codes,
                           const uint16_t *scale, const uint16_t *min, float *out)
{
    const size_t T = p->tokens, D = p->head_dim, G = (size_t)p->group;
    for (size_t bh = 0; bh < p->batch * p->heads; bh++)
        for (size_t d = 0; d < D; d++)
            for (size_t t = 0; t < T; t++) {
                const size_t row = bh * D + d, s = row * (T / G) + t / G;
                out[(bh * T + t) * D + d] =
                    dequant(kivi_code_get(codes + row * (T * p->bits / 32), t, p->bits),
                            scale[s], min[s]);
            }
}

void kivi_ref_dequant_values(const qkv_kivi_dequant_params *p, const uint32_t *codes,
                             const uint16_t *scale, const uint16_t *min, float *out)
{
    const size_t T = p->tokens, D = p->head_dim, G = (size_t)p->group;
    for (size_t row = 0; row < p->batch * p->heads * T; row++)
        for (size_t d = 0; d < D; d++) {
            const size_t s = row * (D / G) + d / G;
            out[row * D + d] = dequant(kivi_code_get(codes + row * (D * p->bits / 32), d, p->bits),
                                       scale[s], min[s]);
        }
}

/* Dequantized key t (channel d) of kv head bh, in double. */
static double key_at(const qkv_kivi_decode_params *p, const kivi_decode_host *h, size_t bh,
                     size_t t, size_t d)
{
    const size_t D = p->head_dim, G = (size_t)p->group;
    if (t < p->k_quant) {
        const size_t row = bh * D + d;
        const size_t s = row * (p->k_quant_capacity / G) + t / G;
        const unsigned q = kivi_code_get(h->k_codes + row * (p->k_quant_capacity * p->bits / 32),
                                         t, p->bits);
        return (double)q * qkv_f16_to_f32(h->k_scale[s]) + qkv_f16_to_f32(h->k_min[s]);
    }
    return qkv_f16_to_f32(h->k_resid[(bh * p->k_resid_capacity + t - p->k_quant) * D + d]);
}

/* Dequantized value t (channel d) of kv head bh, in double. */
static double value_at(const qkv_kivi_decode_params *p, const kivi_decode_host *h, size_t bh,
                       size_t t, size_t d)
{
    const size_t D = p->head_dim, G = (size_t)p->group;
    if (t < p->v_quant) {
        const size_t row = bh * p->v_quant_capacity + t;
        const size_t s = row * (D / G) + d / G;
        const unsigned q = kivi_code_get(h->v_codes + row * (D * p->bits / 32), d, p->bits);
        return (double)q * qkv_f16_to_f32(h->v_scale[s]) + qkv_f16_to_f32(h->v_min[s]);
    }
    return qkv_f16_to_f32(h->v_resid[(bh * p->v_resid_capacity + t - p->v_quant) * D + d]);
}

/* One kv head of a decode call, for attention_ref_row. */
typedef struct kivi_head {
    const qkv_kivi_decode_params *p;
    const kivi_decode_host *h;
    size_t bh; /* b * Hkv + kv head */
} kivi_head;

/* Key t of a kivi_head as D doubles (key_at). */
static void kivi_key_row(const void *ctx, size_t t, double *row)
{
    const kivi_head *k = ctx;
    for (size_t d = 0; d < k->p->head_dim; d++)
        row[d] = key_at(k->p, k->h, k->bh, t, d);
}

/* Value t of a kivi_head as D doubles (value_at). */
static void kivi_value_row(const void *ctx, size_t t, double *row)
{
    const kivi_head *k = ctx;
    for (size_t d = 0; d < k->p->head_dim; d++)
        row[d] = value_at(k->p, k->h, k->bh, t, d);
}

void kivi_ref_decode_attention(const qkv_kivi_decode_params *p, const kivi_decode_host *h)
{
    const size_t D = p->head_dim, per_kv = p->q_heads / p->kv_heads;
    const double sm = p->softmax_scale != 0.0f ? p->softmax_scale : 1.0 / sqrt((double)D);
    for (size_t b = 0; b < p->batch; b++)
        for (size_t hq = 0; hq < p->q_heads; hq++) {
            const size_t row = b * p->q_heads + hq;
            const kivi_head head = {p, h, b * p->kv_heads + hq / per_kv};
            attention_ref_row(h->query + row * D, D, p->k_quant + p->k_resid, sm, kivi_key_row,
                              kivi_value_row, &head, h->output + row * D);
        }
}
