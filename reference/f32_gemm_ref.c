/* f32_gemm_ref.c - the literal reference of the f32 GEMM: every dot product
 * in double, rounded once to f32. */
#include "f32_gemm_ref.h"

void f32_gemm_ref(const qkv_f32_gemm_params *p, const float *x, const float *w, float *y)
{
    for (size_t m = 0; m < p->m; m++)
        for (size_t n = 0; n < p->n; n++) {
            const float *xr = x + m * p->k, *wr = w + n * p->k;
            double sum = 0.0;
            for (size_t k = 0; k < p->k; k++)
                sum += (double)xr[k] * (double)wr[k];
            y[m * p->n + n] = (float)sum;
        }
}
