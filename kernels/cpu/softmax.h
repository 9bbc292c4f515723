/* softmax.h - the scalar piece of FlashDecoding shared by the cpu decode
 * kernels: one split's scores turned into exponentials. */
#ifndef QKV_CPU_SOFTMAX_H
#define QKV_CPU_SOFTMAX_H

#include <math.h>
#include <stddef.h>

/* In place x[i] = exp(x[i] - max) for i < n (n >= 1); *mx = max, *sum =
 * sum of the exponentials.  NaN scores propagate into the sum. */
static inline void cpu_softmax_partial(float *x, size_t n, float *mx, float *sum)
{
    float m = x[0], l = 0.0f;
    for (size_t i = 1; i < n; i++)
        m = fmaxf(m, x[i]);
    for (size_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - m);
        l += x[i];
    }
    *mx = m;
    *sum = l;
}

#endif
