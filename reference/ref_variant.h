/* ref_variant.h - how the reference becomes a backend: each op's "ref"
 * variant runs its literal reference on the context's host buffers. */
#ifndef QKV_REF_VARIANT_H
#define QKV_REF_VARIANT_H

#include "qkv_internal.h"

/* The "ref" variant qkv_<OP_NAME>_ref of op OP, run by FN (no tile
 * parameters). */
#define QKV_REF_VARIANT(OP_NAME, OP, FN)                                                       \
    const qkv_variant qkv_##OP_NAME##_ref = {                                                  \
        .name = "ref", .op = OP, .backends = QKV_ON(QKV_BACKEND_REF), .run = FN};

/* Host pointer of an optional buffer (NULL for a NULL buffer). */
static inline const void *qkv_ref_host(const qkv_buffer *b) { return b ? b->host : NULL; }

#endif
