/* fireq_gemm_ref.h - scalar reference of the FireQ INT4 x FP8 GEMM
 * (w4a8_gemm, spec w4a8-gemm.md), accumulating in double.  Host pointers,
 * layouts as in qkv.h. */
#ifndef QKV_FIREQ_GEMM_REF_H
#define QKV_FIREQ_GEMM_REF_H

#include "qkv.h"

/* xq e4m3 [M, K], sx bf16 [M], wq int4 [N, K/2], ws e4m3 [N, K/G]; y [M, N]
 * of p->y_dtype; acc f32 [M, N] or NULL.  QKV_ERR_NO_MEMORY if its scratch
 * (M x K doubles) cannot be allocated. */
qkv_status fireq_ref_w4a8_gemm(const qkv_w4a8_gemm_params *p, const uint8_t *xq,
                               const uint16_t *sx, const uint8_t *wq, const uint8_t *ws,
                               void *y, float *acc);

/* x rounded once to the nearest bf16 value (ties to even; beyond the
 * largest bf16 value to +-Inf), as a double. */
double fireq_ref_round_bf16(double x);

#endif
