/* f32_gemm_ref.h - scalar reference of the f32 GEMM (f32_gemm),
 * accumulating in double.  Host pointers, layouts as in qkv.h. */
#ifndef QKV_F32_GEMM_REF_H
#define QKV_F32_GEMM_REF_H

#include "qkv.h"

/* y [M, N] = x [M, K] x w [N, K]^T: each dot product in double, rounded
 * once to f32. */
void f32_gemm_ref(const qkv_f32_gemm_params *p, const float *x, const float *w, float *y);

#endif
