/* npy.h - strict reader/writer of NumPy .npy tensor files.
 *
 * Supported: format versions 1.0, 2.0 and 3.0 on read (1.0 on write), C
 * order only, little-endian dtypes '<f4' (QKV_F32), '<f2' (QKV_F16), '|u1'
 * or '<u1' (QKV_U8), '<u2' (QKV_U16; bf16 travels as '<u2'), '<i4'
 * (QKV_I32), '<u4' (QKV_U32) and '<i8' (QKV_I64).  Every failure sets
 * qkv_last_error() to a message naming the file ("<memory>" for buffers)
 * and the problem. */
#ifndef QKV_NPY_H
#define QKV_NPY_H

#include "qkv_internal.h"

#define QKV_NPY_MAX_DIMS 8

/* A tensor read from a .npy file. */
typedef struct qkv_npy {
    qkv_dtype dtype; /* never QKV_BF16: bf16 files load as QKV_U16 */
    int ndim;        /* 0..QKV_NPY_MAX_DIMS */
    size_t shape[QKV_NPY_MAX_DIMS];
    size_t count;    /* product of shape (1 for ndim 0) */
    void *data;      /* count * qkv_dtype_size(dtype) bytes, malloc'd, owned;
                      * non-NULL after success even when count is 0 */
} qkv_npy;

/* Read the .npy file at `path` into *out.  QKV_ERR_IO when the file cannot
 * be opened or read, QKV_ERR_FORMAT for malformed contents, QKV_ERR_OVERFLOW
 * when the shape's byte size does not fit in size_t, QKV_ERR_NO_MEMORY.  On
 * failure *out is zeroed (data NULL) and nothing is allocated. */
qkv_status qkv_npy_load(const char *path, qkv_npy *out);

/* As qkv_npy_load, from the `size` bytes of a whole .npy file at `bytes`
 * (copied; never read beyond bytes + size). */
qkv_status qkv_npy_parse(const void *bytes, size_t size, qkv_npy *out);

/* Write a C-order tensor of `dtype` (any qkv_dtype; QKV_BF16 is stored as
 * '<u2') and `ndim` (0..QKV_NPY_MAX_DIMS) dims to `path` in format 1.0,
 * header laid out byte for byte as NumPy's np.save writes it.  `shape` may be
 * NULL when ndim is 0 and `data` when the tensor has no elements.
 * QKV_ERR_INVALID_ARG for bad arguments, QKV_ERR_OVERFLOW when the byte size
 * does not fit in size_t, QKV_ERR_IO on open/write failure (no partial file
 * is left behind). */
qkv_status qkv_npy_save(const char *path, qkv_dtype dtype, int ndim, const size_t *shape,
                        const void *data);

/* As qkv_npy_save, into a malloc'd buffer: *bytes (caller frees) of *size
 * bytes.  On failure *bytes is NULL and *size 0. */
qkv_status qkv_npy_encode(qkv_dtype dtype, int ndim, const size_t *shape, const void *data,
                          void **bytes, size_t *size);

/* Free t's data and zero *t.  NULL-safe. */
void qkv_npy_free(qkv_npy *t);

#endif /* QKV_NPY_H */
