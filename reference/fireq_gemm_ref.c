/* fireq_gemm_ref.c - scalar reference of the FireQ INT4 x FP8 GEMM: each
 * weight row unpacked and dequantized once (the lut mode's table entry, or
 * the plain code), then every token's dot product in double, then the
 * epilogue of the mode exactly as the spec writes it. */
#include "fireq_gemm_ref.h"

#include "qkv_internal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

double fireq_ref_round_bf16(double x)
{
    if (!isfinite(x) || x == 0.0)
        return x;
    int e;
    frexp(x, &e); /* 2^(e-1) <= |x| < 2^e: the bf16 ulp there is 2^(e-8) */
    const int q = e - 8 > -133 ? e - 8 : -133; /* 2^-133: the smallest bf16 subnormal */
    const double r = ldexp(nearbyint(ldexp(x, -q)), q);
    return fabs(r) > FLT_MAX ? copysign(INFINITY, x) : r;
}

/* The lut mode's table entry L[q] of scale code s, decoded:
 * q == 0 ? -0.0 : e4m3_satfinite(q * dec(s)) (q * dec(s) is exact in f32). */
static double lut_entry(int q, uint8_t s)
{
    if (q == 0)
        return -0.0;
    return qkv_e4m3_to_f32(qkv_f32_to_e4m3((float)q * qkv_e4m3_to_f32(s), QKV_FP8_SATFINITE));
}

/* Row n of the weights as K doubles: lut, the table entries; exact, the
 * codes (the scales are applied per group). */
static void weight_row(const qkv_w4a8_gemm_params *p, const uint8_t *wq, const uint8_t *ws,
                       size_t n, int8_t *codes, double *w)
{
    const size_t K = p->k, G = (size_t)p->group;
    qkv_i4_unpack(wq + n * (K / 2), K, codes);
    for (size_t k = 0; k < K; k++)
        w[k] = p->mode == QKV_W4A8_LUT ? lut_entry(codes[k], ws[n * (K / G) + k / G])
                                       : codes[k];
}

/* acc of token row x (K decoded activations) with weight row w of row n. */
static double dot_row(const qkv_w4a8_gemm_params *p, const double *x, const double *w,
                      const uint8_t *ws, size_t n)
{
    const size_t K = p->k, G = (size_t)p->group;
    double acc = 0.0;
    for (size_t g = 0; g < K / G; g++) {
        double part = 0.0;
        for (size_t k = g * G; k < (g + 1) * G; k++)
            part += x[k] * w[k];
        acc += p->mode == QKV_W4A8_LUT ? part : qkv_e4m3_to_f32(ws[n * (K / G) + g]) * part;
    }
    return acc;
}

/* Y[m, n] of accumulator a and token scale s into y (of p->y_dtype). */
static void epilogue(const qkv_w4a8_gemm_params *p, double a, double s, void *y, size_t i)
{
    const double inv_ps = ldexp(1.0, -p->prescale_exp);
    if (p->mode == QKV_W4A8_LUT) {
        double v = fireq_ref_round_bf16(fireq_ref_round_bf16(a) * s);
        if (p->prescale_exp)
            v = fireq_ref_round_bf16(v * inv_ps);
        ((uint16_t *)y)[i] = qkv_f32_to_bf16((float)v);
        return;
    }
    const float v = (float)(a * s * inv_ps);
    if (p->y_dtype == QKV_F32)
        ((float *)y)[i] = v;
    else
        ((uint16_t *)y)[i] = qkv_f32_to_bf16(v);
}

qkv_status fireq_ref_w4a8_gemm(const qkv_w4a8_gemm_params *p, const uint8_t *xq,
                               const uint16_t *sx, const uint8_t *wq, const uint8_t *ws,
                               void *y, float *acc)
{
    const size_t M = p->m, N = p->n, K = p->k;
    double *x = malloc(M * K * sizeof *x), *w = malloc(K * sizeof *w);
    int8_t *codes = malloc(K);
    if (!x || !w || !codes) {
        free(x);
        free(w);
        free(codes);
        return qkv_fail(QKV_ERR_NO_MEMORY, "w4a8_gemm: out of host memory");
    }
    for (size_t i = 0; i < M * K; i++)
        x[i] = qkv_e4m3_to_f32(xq[i]);
    for (size_t n = 0; n < N; n++) {
        weight_row(p, wq, ws, n, codes, w);
        for (size_t m = 0; m < M; m++) {
            const double a = dot_row(p, x + m * K, w, ws, n);
            if (acc)
                acc[m * N + n] = (float)a;
            epilogue(p, a, qkv_bf16_to_f32(sx[m]), y, m * N + n);
        }
    }
    free(x);
    free(w);
    free(codes);
    return QKV_OK;
}
