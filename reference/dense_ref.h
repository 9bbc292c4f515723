/* dense_ref.h - scalar reference of the f16 dense decode attention, in
 * double.  Host pointers, layouts as in qkv.h. */
#ifndef QKV_DENSE_REF_H
#define QKV_DENSE_REF_H

#include "qkv.h"

/* query f32 [B, Hq, D], keys/values f16 [B, Hkv, p->capacity, D] (capacity
 * already resolved), output f32 [B, Hq, D]. */
void dense_ref_f16_decode(const qkv_f16_decode_params *p, const float *query,
                          const uint16_t *keys, const uint16_t *values, float *output);

#endif
