/* npy.h - strict reader/writer of NumPy .npy tensor files.
 *
 * Supported: format versions 1.0, 2.0 and 3.0 on read (1.0 on write), C
 * order only, little-endian dtypes '<f4' (QKV_F32), '<f2' (QKV_F16), '|u1'
 * or '<u1' (QKV_U8), '<u2' (QKV_U16), '<i4' (QKV_I32), '<u4' (QKV_U32) and
 * '<i8' (QKV_I64).  Every failure sets qkv_last_error() to a message naming
 * the file ("<memory>" for buffers) and the problem.
 *
 * Dtypes NumPy lacks travel as raw bits in a storage dtype (docs/tensors.md):
 * QKV_BF16 as '<u2' (QKV_U16); QKV_E4M3 and QKV_E5M2 as '|u1' (QKV_U8);
 * packed QKV_I4 as '|u1' bytes, the last dimension holding the (n+1)/2
 * bytes of each row of n elements.  Files load as the storage dtype; the
 * caller that wants one of these dtypes checks qkv_npy_storage_matches. */
#ifndef QKV_NPY_H
#define QKV_NPY_H

#include "qkv_internal.h"

#define QKV_NPY_MAX_DIMS 8

/* A tensor read from a .npy file. */
typedef struct qkv_npy {
    qkv_dtype dtype; /* a storage dtype: never QKV_BF16, QKV_E4M3, QKV_E5M2
                      * or QKV_I4 (they load as QKV_U16 or QKV_U8) */
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

/* Write a C-order tensor of `dtype` (any qkv_dtype, written as its storage
 * dtype) and `ndim` (0..QKV_NPY_MAX_DIMS) dims to `path` in format 1.0,
 * header laid out byte for byte as NumPy's np.save writes it.  `shape` is in
 * elements; for QKV_I4, `data` holds each row of shape[ndim-1] elements
 * packed into (shape[ndim-1]+1)/2 bytes and the file's last dimension is
 * that byte count (a 0-d QKV_I4 is one byte).  `shape` may be NULL when ndim
 * is 0 and `data` when the tensor has no elements.
 * QKV_ERR_INVALID_ARG for bad arguments, QKV_ERR_OVERFLOW when the byte size
 * does not fit in size_t, QKV_ERR_IO on open/write failure (no partial file
 * is left behind). */
qkv_status qkv_npy_save(const char *path, qkv_dtype dtype, int ndim, const size_t *shape,
                        const void *data);

/* As qkv_npy_save, into a malloc'd buffer: *bytes (caller frees) of *size
 * bytes.  On failure *bytes is NULL and *size 0. */
qkv_status qkv_npy_encode(qkv_dtype dtype, int ndim, const size_t *shape, const void *data,
                          void **bytes, size_t *size);

/* The dtype a file of `dtype` holds: QKV_U16 for QKV_BF16, QKV_U8 for
 * QKV_E4M3, QKV_E5M2 and QKV_I4, dtype itself otherwise (an invalid dtype
 * is returned unchanged). */
qkv_dtype qkv_npy_storage_dtype(qkv_dtype dtype);

/* True if a file whose dtype is `file_dtype` (qkv_npy.dtype) may carry a
 * tensor of `wanted`: '|u1' (QKV_U8) carries u8, e4m3, e5m2 and i4, '<u2'
 * (QKV_U16) carries u16 and bf16, every other dtype only itself.  False for
 * invalid dtypes. */
bool qkv_npy_storage_matches(qkv_dtype file_dtype, qkv_dtype wanted);

/* The shape a file of a `dtype` tensor of `ndim` dims `shape` has, into
 * storage_shape[ndim]: the same, except that for QKV_I4 the last dimension
 * n becomes the (n+1)/2 bytes it packs into. */
void qkv_npy_storage_shape(qkv_dtype dtype, int ndim, const size_t *shape,
                           size_t *storage_shape);

/* Free t's data and zero *t.  NULL-safe. */
void qkv_npy_free(qkv_npy *t);

#endif /* QKV_NPY_H */
