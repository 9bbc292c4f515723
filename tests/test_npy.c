/* test_npy.c - the .npy reader/writer: byte-exact agreement with NumPy,
 * round trips of every dtype (those NumPy lacks as raw bits in their storage
 * dtypes), and clean failure on malformed or truncated files (no
 * out-of-bounds reads, nothing returned, nothing leaked). */
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "npy.h"
#include "test_util.h"

#define TMP_PATH "test_npy.tmp.npy"

/* ---- reference files, bytes as NumPy 2.4 writes them -------------------- */

/* np.save of np.arange(6, dtype='<f4').reshape(2, 3) */
static const unsigned char ref_f32_2x3[] =
    "\223NUMPY\001\000v\000{'descr': '<f4', 'fortran_order': False, 'sh"
    "ape': (2, 3), }                                                   "
    "       \012\000\000\000\000\000\000\200\077\000\000\000@\000\000@@"
    "\000\000\200@\000\000\240@";

/* np.save of np.array(7, dtype='|u1') */
static const unsigned char ref_u8_scalar[] =
    "\223NUMPY\001\000v\000{'descr': '|u1', 'fortran_order': False, 'sh"
    "ape': (), }                                                       "
    "       \012\007";

/* np.save of np.array([-1, 2**40, 3], dtype='<i8') */
static const unsigned char ref_i64_3[] =
    "\223NUMPY\001\000v\000{'descr': '<i8', 'fortran_order': False, 'sh"
    "ape': (3,), }                                                     "
    "       \012\377\377\377\377\377\377\377\377\000\000\000\000\000"
    "\001\000\000\003\000\000\000\000\000\000\000";

/* np.save of np.zeros((0, 3), dtype='<f2') */
static const unsigned char ref_f16_0x3[] =
    "\223NUMPY\001\000v\000{'descr': '<f2', 'fortran_order': False, 'sh"
    "ape': (0, 3), }                                                   "
    "       \012";

/* np.save of np.arange(6, dtype='<u2').reshape(3, 1, 2) */
static const unsigned char ref_u16_3x1x2[] =
    "\223NUMPY\001\000v\000{'descr': '<u2', 'fortran_order': False, 'sh"
    "ape': (3, 1, 2), }                                                "
    "       \012\000\000\001\000\002\000\003\000\004\000\005\000";

/* np.save of np.array([[-5], [7]], dtype='<i4') */
static const unsigned char ref_i32_2x1[] =
    "\223NUMPY\001\000v\000{'descr': '<i4', 'fortran_order': False, 'sh"
    "ape': (2, 1), }                                                   "
    "       \012\373\377\377\377\007\000\000\000";

/* np.save of np.array([4000000000], dtype='<u4') */
static const unsigned char ref_u32_1[] =
    "\223NUMPY\001\000v\000{'descr': '<u4', 'fortran_order': False, 'sh"
    "ape': (1,), }                                                     "
    "       \012\000(k\356";

/* format.write_array(version=(2, 0)) of np.arange(6, dtype='<f4').reshape(2, 3) */
static const unsigned char ref_f32_2x3_v2[] =
    "\223NUMPY\002\000t\000\000\000{'descr': '<f4', 'fortran_order': Fa"
    "lse, 'shape': (2, 3), }                                           "
    "             \012\000\000\000\000\000\000\200\077\000\000\000@\000"
    "\000@@\000\000\200@\000\000\240@";

/* format.write_array(version=(3, 0)) of np.arange(6, dtype='<f4').reshape(2, 3) */
static const unsigned char ref_f32_2x3_v3[] =
    "\223NUMPY\003\000t\000\000\000{'descr': '<f4', 'fortran_order': Fa"
    "lse, 'shape': (2, 3), }                                           "
    "             \012\000\000\000\000\000\000\200\077\000\000\000@\000"
    "\000@@\000\000\200@\000\000\240@";

/* np.save of np.arange(2, dtype='>f4') */
static const unsigned char ref_f32_be[] =
    "\223NUMPY\001\000v\000{'descr': '>f4', 'fortran_order': False, 'sh"
    "ape': (2,), }                                                     "
    "       \012\000\000\000\000\077\200\000\000";

/* np.save of np.asfortranarray(np.arange(6, dtype='<f4').reshape(2, 3)) */
static const unsigned char ref_f32_fortran[] =
    "\223NUMPY\001\000v\000{'descr': '<f4', 'fortran_order': True, 'sha"
    "pe': (2, 3), }                                                    "
    "       \012\000\000\000\000\000\000@@\000\000\200\077\000\000\200@"
    "\000\000\000@\000\000\240@";

/* np.save of np.arange(2, dtype='<f8') */
static const unsigned char ref_f64[] =
    "\223NUMPY\001\000v\000{'descr': '<f8', 'fortran_order': False, 'sh"
    "ape': (2,), }                                                     "
    "       \012\000\000\000\000\000\000\000\000\000\000\000\000\000"
    "\000\360\077";

/* A reference file, its size (without the literal's NUL) and its tensor. */
typedef struct ref_file {
    const unsigned char *bytes;
    size_t size;
    qkv_dtype dtype;
    int ndim;
    size_t shape[QKV_NPY_MAX_DIMS];
} ref_file;

#define REF(a) (a), sizeof(a) - 1

static const ref_file refs[] = {
    {REF(ref_f32_2x3), QKV_F32, 2, {2, 3}},     {REF(ref_u8_scalar), QKV_U8, 0, {0}},
    {REF(ref_i64_3), QKV_I64, 1, {3}},          {REF(ref_f16_0x3), QKV_F16, 2, {0, 3}},
    {REF(ref_u16_3x1x2), QKV_U16, 3, {3, 1, 2}}, {REF(ref_i32_2x1), QKV_I32, 2, {2, 1}},
    {REF(ref_u32_1), QKV_U32, 1, {1}},
};
#define NREFS (sizeof refs / sizeof refs[0])

/* ---- helpers ---------------------------------------------------------------- */

/* Bytes of a tensor: count of its shape times its item size. */
static size_t tensor_bytes(qkv_dtype dtype, int ndim, const size_t *shape)
{
    size_t n = qkv_dtype_size(dtype);
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    return n;
}

/* A .npy image: magic, version major.0, the header text as given (no padding
 * added) and nbytes of data; malloc'd, *size bytes. */
static unsigned char *make_npy(int major, const char *header, const void *data, size_t nbytes,
                               size_t *size)
{
    const size_t hlen = strlen(header), lenb = major == 1 ? 2 : 4;
    *size = 8 + lenb + hlen + nbytes;
    unsigned char *b = malloc(*size);
    ck_assert_ptr_nonnull(b);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (unsigned char)major;
    b[7] = 0;
    for (size_t i = 0; i < lenb; i++)
        b[8 + i] = (unsigned char)(hlen >> (8 * i));
    memcpy(b + 8 + lenb, header, hlen);
    if (nbytes)
        memcpy(b + 8 + lenb + hlen, data, nbytes);
    return b;
}

/* A malloc'd copy of exactly n bytes, so that sanitizers catch any read past
 * its end. */
static unsigned char *exact_copy(const void *src, size_t n)
{
    unsigned char *b = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(b);
    if (n)
        memcpy(b, src, n);
    return b;
}

/* True if every byte of t is zero (what a failed call leaves). */
static bool is_zeroed(const qkv_npy *t)
{
    static const qkv_npy zero;
    return memcmp(t, &zero, sizeof zero) == 0;
}

/* Parse n bytes (copied exactly) and expect `status` with `msg` in the error
 * message and *out left zeroed. */
static void expect_parse_fail(const void *bytes, size_t n, qkv_status status, const char *msg)
{
    unsigned char *copy = exact_copy(bytes, n);
    qkv_npy t;
    memset(&t, 0xab, sizeof t);
    const qkv_status st = qkv_npy_parse(copy, n, &t);
    free(copy);
    ck_assert_msg(st == status, "expected %s, got %s (%s)", qkv_status_name(status),
                  qkv_status_name(st), qkv_last_error());
    ck_assert_msg(is_zeroed(&t), "output not zeroed after failure");
    ck_assert_msg(strstr(qkv_last_error(), msg), "message '%s' lacks '%s'", qkv_last_error(),
                  msg);
}

/* Parse n bytes (copied exactly); any status is fine, but a failure must
 * leave *out zeroed and a success must hold consistent data. */
static void parse_any(const void *bytes, size_t n)
{
    unsigned char *copy = exact_copy(bytes, n);
    qkv_npy t;
    const qkv_status st = qkv_npy_parse(copy, n, &t);
    free(copy);
    if (st != QKV_OK) {
        ck_assert(is_zeroed(&t));
        ck_assert(qkv_last_error()[0] != '\0');
        return;
    }
    ck_assert_ptr_nonnull(t.data);
    ck_assert_uint_eq(t.count * qkv_dtype_size(t.dtype),
                      tensor_bytes(t.dtype, t.ndim, t.shape));
    qkv_npy_free(&t);
}

/* Check t holds the tensor (dtype, ndim, shape, data). */
static void expect_tensor(const qkv_npy *t, qkv_dtype dtype, int ndim, const size_t *shape,
                          const void *data)
{
    ck_assert_int_eq(t->dtype, dtype);
    ck_assert_int_eq(t->ndim, ndim);
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        ck_assert_uint_eq(t->shape[i], shape[i]);
        count *= shape[i];
    }
    ck_assert_uint_eq(t->count, count);
    ck_assert_ptr_nonnull(t->data);
    const size_t n = count * qkv_dtype_size(dtype);
    if (n)
        ck_assert_mem_eq(t->data, data, n);
}

/* Header f4 file with shape (2,) and its 8 data bytes, with `header`. */
static void expect_header_fail(const char *header, qkv_status status, const char *msg)
{
    static const float data[2] = {1.0f, 2.0f};
    size_t n;
    unsigned char *b = make_npy(1, header, data, sizeof data, &n);
    expect_parse_fail(b, n, status, msg);
    free(b);
}

/* ---- NumPy agreement ------------------------------------------------------ */

/* The brief's arithmetic: 2x3 f4 has header length 118, data at byte 128. */
START_TEST(test_numpy_prefix_arithmetic)
{
    ck_assert_uint_eq(sizeof ref_f32_2x3 - 1, 128 + 24);
    ck_assert_uint_eq(ref_f32_2x3[8], 0x76);
    ck_assert_uint_eq(ref_f32_2x3[9], 0x00);
    ck_assert_uint_eq(ref_f32_2x3[127], '\n');
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    ck_assert_mem_eq(ref_f32_2x3 + 10, dict, strlen(dict));
    for (size_t i = 10 + strlen(dict); i < 127; i++)
        ck_assert_uint_eq(ref_f32_2x3[i], ' ');
}
END_TEST

/* encode() reproduces NumPy's bytes exactly, and parse() reads them. */
START_TEST(test_numpy_bytes_exact)
{
    const ref_file *r = &refs[_i];
    const size_t nbytes = tensor_bytes(r->dtype, r->ndim, r->shape);
    const unsigned char *data = r->bytes + r->size - nbytes;
    void *enc;
    size_t size;
    ck_assert_msg(qkv_npy_encode(r->dtype, r->ndim, r->shape, data, &enc, &size) == QKV_OK,
                  "%s", qkv_last_error());
    ck_assert_uint_eq(size, r->size);
    ck_assert_mem_eq(enc, r->bytes, size);
    free(enc);

    qkv_npy t;
    unsigned char *copy = exact_copy(r->bytes, r->size);
    ck_assert_msg(qkv_npy_parse(copy, r->size, &t) == QKV_OK, "%s", qkv_last_error());
    free(copy);
    expect_tensor(&t, r->dtype, r->ndim, r->shape, data);
    qkv_npy_free(&t);
}
END_TEST

/* Format 2.0 and 3.0 files (4-byte header length) read like 1.0. */
START_TEST(test_numpy_versions_2_and_3)
{
    static const size_t shape[2] = {2, 3};
    const float want[6] = {0, 1, 2, 3, 4, 5};
    const struct {
        const unsigned char *bytes;
        size_t size;
    } files[] = {{REF(ref_f32_2x3_v2)}, {REF(ref_f32_2x3_v3)}};
    for (size_t i = 0; i < 2; i++) {
        ck_assert_uint_eq(files[i].bytes[6], 2 + i);
        qkv_npy t;
        ck_assert_msg(qkv_npy_parse(files[i].bytes, files[i].size, &t) == QKV_OK, "%s",
                      qkv_last_error());
        expect_tensor(&t, QKV_F32, 2, shape, want);
        qkv_npy_free(&t);
    }
}
END_TEST

/* NumPy files we must refuse: big-endian, Fortran order, float64. */
START_TEST(test_numpy_rejected)
{
    expect_parse_fail(REF(ref_f32_be), QKV_ERR_FORMAT, "big-endian descr '>f4'");
    expect_parse_fail(REF(ref_f32_fortran), QKV_ERR_FORMAT, "fortran_order True");
    expect_parse_fail(REF(ref_f64), QKV_ERR_FORMAT, "unsupported descr '<f8'");
}
END_TEST

/* ---- round trips -------------------------------------------------------- */

/* Shapes with odd sizes, 0-d, zero-length dims and the maximum rank. */
static const struct {
    int ndim;
    size_t shape[QKV_NPY_MAX_DIMS];
} shapes[] = {
    {0, {0}},       {1, {0}},          {1, {1}},       {1, {7}},
    {2, {3, 5}},    {3, {3, 0, 2}},    {3, {2, 3, 5}}, {4, {1, 1, 1, 1}},
    {2, {1, 1000}}, {2, {123456, 0}}, {8, {1, 2, 1, 3, 1, 1, 2, 1}},
};
#define NSHAPES (sizeof shapes / sizeof shapes[0])

/* The dtype each dtype is stored and loaded as (docs/tensors.md). */
static qkv_dtype stored_dtype(qkv_dtype dtype)
{
    switch (dtype) {
    case QKV_BF16:
        return QKV_U16;
    case QKV_E4M3:
    case QKV_E5M2:
    case QKV_I4:
        return QKV_U8;
    default:
        return dtype;
    }
}

/* Encode, parse, save and load every dtype with every shape: the file holds
 * the storage dtype, and for packed int4 a last dimension of (n+1)/2 bytes. */
START_TEST(test_round_trip)
{
    const qkv_dtype dtype = (qkv_dtype)_i;
    const qkv_dtype loaded = stored_dtype(dtype);
    for (size_t s = 0; s < NSHAPES; s++) {
        const int ndim = shapes[s].ndim;
        size_t shape[QKV_NPY_MAX_DIMS];
        memcpy(shape, shapes[s].shape, sizeof shape);
        if (dtype == QKV_I4 && ndim > 0)
            shape[ndim - 1] = (shape[ndim - 1] + 1) / 2;
        const size_t nbytes = tensor_bytes(loaded, ndim, shape);
        unsigned char *data = malloc(nbytes ? nbytes : 1);
        for (size_t k = 0; k < nbytes; k++)
            data[k] = (unsigned char)(k * 37 + 11 * s + (size_t)dtype);

        void *enc;
        size_t size;
        ck_assert_msg(qkv_npy_encode(dtype, ndim, shapes[s].shape, data, &enc, &size) ==
                          QKV_OK,
                      "%s", qkv_last_error());
        const size_t prefix = size - nbytes;
        ck_assert_uint_eq(prefix % 64, 0);
        ck_assert_uint_eq(((unsigned char *)enc)[prefix - 1], '\n');
        qkv_npy t;
        ck_assert_msg(qkv_npy_parse(enc, size, &t) == QKV_OK, "%s", qkv_last_error());
        expect_tensor(&t, loaded, ndim, shape, data);
        qkv_npy_free(&t);

        ck_assert_msg(qkv_npy_save(TMP_PATH, dtype, ndim, shapes[s].shape, data) == QKV_OK,
                      "%s", qkv_last_error());
        ck_assert_msg(qkv_npy_load(TMP_PATH, &t) == QKV_OK, "%s", qkv_last_error());
        expect_tensor(&t, loaded, ndim, shape, data);
        qkv_npy_free(&t);

        /* the file holds exactly the encoded bytes */
        FILE *f = fopen(TMP_PATH, "rb");
        ck_assert_ptr_nonnull(f);
        unsigned char *back = malloc(size + 1);
        ck_assert_uint_eq(fread(back, 1, size + 1, f), size);
        fclose(f);
        ck_assert_mem_eq(back, enc, size);
        free(back);
        free(enc);
        free(data);
    }
    remove(TMP_PATH);
}
END_TEST

/* A tensor of a dtype NumPy lacks is written byte for byte as the same
 * bytes of its storage dtype (whose files match NumPy's above); packed int4
 * rows of n elements as (n+1)/2 bytes. */
START_TEST(test_storage_bytes)
{
    static const unsigned char data[12] = {0x00, 0x7e, 0xfe, 0x7f, 0x01, 0x80,
                                           0xe1, 0x87, 0x0f, 0x10, 0x32, 0x04};
    const struct {
        qkv_dtype dtype;
        int ndim;
        size_t shape[2];
        qkv_dtype storage;
        size_t storage_shape[2];
    } cases[] = {
        {QKV_E4M3, 2, {3, 4}, QKV_U8, {3, 4}},  {QKV_E5M2, 1, {12}, QKV_U8, {12}},
        {QKV_BF16, 2, {2, 3}, QKV_U16, {2, 3}}, {QKV_I4, 2, {4, 5}, QKV_U8, {4, 3}},
        {QKV_I4, 2, {3, 8}, QKV_U8, {3, 4}},    {QKV_I4, 1, {1}, QKV_U8, {1}},
        {QKV_I4, 0, {0}, QKV_U8, {0}},          {QKV_E4M3, 0, {0}, QKV_U8, {0}},
        {QKV_I4, 2, {0, 7}, QKV_U8, {0, 4}},    {QKV_I4, 2, {5, 0}, QKV_U8, {5, 0}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        void *enc, *want;
        size_t size, want_size;
        ck_assert_int_eq(qkv_npy_encode(cases[i].dtype, cases[i].ndim, cases[i].shape, data,
                                        &enc, &size),
                         QKV_OK);
        ck_assert_int_eq(qkv_npy_encode(cases[i].storage, cases[i].ndim,
                                        cases[i].storage_shape, data, &want, &want_size),
                         QKV_OK);
        ck_assert_uint_eq(size, want_size);
        ck_assert_mem_eq(enc, want, size);
        qkv_npy t;
        ck_assert_int_eq(qkv_npy_parse(enc, size, &t), QKV_OK);
        expect_tensor(&t, cases[i].storage, cases[i].ndim, cases[i].storage_shape, data);
        ck_assert(qkv_npy_storage_matches(t.dtype, cases[i].dtype));
        qkv_npy_free(&t);
        free(enc);
        free(want);
    }
    /* the header says '|u1' for FP8 and int4, '<u2' for bf16 */
    const size_t shape[1] = {2};
    void *enc;
    size_t size;
    ck_assert_int_eq(qkv_npy_encode(QKV_I4, 1, shape, data, &enc, &size), QKV_OK);
    ck_assert_ptr_nonnull(strstr((const char *)enc + 10, "'descr': '|u1'"));
    ck_assert_ptr_nonnull(strstr((const char *)enc + 10, "'shape': (1,)"));
    free(enc);
    ck_assert_int_eq(qkv_npy_encode(QKV_BF16, 1, shape, data, &enc, &size), QKV_OK);
    ck_assert_ptr_nonnull(strstr((const char *)enc + 10, "'descr': '<u2'"));
    free(enc);
    /* an int4 shape whose packed size overflows is refused */
    const size_t huge[2] = {SIZE_MAX / 2, 6};
    ck_assert_int_eq(qkv_npy_encode(QKV_I4, 2, huge, data, &enc, &size), QKV_ERR_OVERFLOW);
    ck_assert_ptr_nonnull(strstr(qkv_last_error(), "shape's byte size overflows"));
    const size_t fits[2] = {SIZE_MAX / 2, 2};
    ck_assert_int_eq(qkv_npy_encode(QKV_I4, 2, fits, NULL, &enc, &size), QKV_ERR_INVALID_ARG);
}
END_TEST

/* Which file dtype carries which wanted dtype; storage dtypes and shapes. */
START_TEST(test_storage_matches)
{
    for (int f = 0; f < QKV_DTYPE_COUNT; f++)
        for (int w = 0; w < QKV_DTYPE_COUNT; w++) {
            const qkv_dtype file = (qkv_dtype)f, wanted = (qkv_dtype)w;
            bool want = file == wanted;
            if (file == QKV_U8)
                want = wanted == QKV_U8 || wanted == QKV_E4M3 || wanted == QKV_E5M2 ||
                       wanted == QKV_I4;
            else if (file == QKV_U16)
                want = wanted == QKV_U16 || wanted == QKV_BF16;
            else if (file == QKV_BF16 || file == QKV_E4M3 || file == QKV_E5M2 ||
                     file == QKV_I4)
                want = false; /* never a file's dtype */
            ck_assert_msg(qkv_npy_storage_matches(file, wanted) == want, "%s carries %s",
                          qkv_dtype_name(file), qkv_dtype_name(wanted));
            if (want)
                ck_assert_int_eq(qkv_npy_storage_dtype(wanted), file);
        }
    ck_assert(!qkv_npy_storage_matches(QKV_DTYPE_COUNT, QKV_DTYPE_COUNT));
    ck_assert(!qkv_npy_storage_matches(QKV_U8, (qkv_dtype)-1));
    ck_assert(!qkv_npy_storage_matches((qkv_dtype)-1, (qkv_dtype)-1));

    const size_t shape[3] = {2, 3, 7};
    size_t stored[3];
    qkv_npy_storage_shape(QKV_I4, 3, shape, stored);
    ck_assert(stored[0] == 2 && stored[1] == 3 && stored[2] == 4);
    qkv_npy_storage_shape(QKV_E4M3, 3, shape, stored);
    ck_assert(stored[0] == 2 && stored[1] == 3 && stored[2] == 7);
}
END_TEST

/* Spacing, key order, quotes and trailing commas a dict literal may use. */
START_TEST(test_header_variants)
{
    static const char *const headers[] = {
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
        "{'shape':(2,),'fortran_order':False,'descr':'<f4'}",
        "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2,)}",
        "{\n\t'descr' : '<f4' ,\r\n 'fortran_order':False , 'shape' : ( 2 , ) , }  \n",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2,), }",
        "  {'descr': '<f4', 'fortran_order': False, 'shape': (1,2)}",
    };
    static const float data[2] = {1.5f, -2.0f};
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        size_t n;
        unsigned char *b = make_npy(1 + (int)(i % 3), headers[i], data, sizeof data, &n);
        qkv_npy t;
        ck_assert_msg(qkv_npy_parse(b, n, &t) == QKV_OK, "%s: %s", headers[i],
                      qkv_last_error());
        ck_assert_int_eq(t.dtype, QKV_F32);
        ck_assert_uint_eq(t.count, 2);
        ck_assert_uint_eq(t.shape[t.ndim - 1], 2);
        ck_assert_mem_eq(t.data, data, sizeof data);
        qkv_npy_free(&t);
        free(b);
    }
    /* '<u1' is accepted as well as NumPy's '|u1' */
    size_t n;
    unsigned char *b =
        make_npy(1, "{'descr': '<u1', 'fortran_order': False, 'shape': (3,), }", "abc", 3, &n);
    qkv_npy t;
    ck_assert(qkv_npy_parse(b, n, &t) == QKV_OK);
    ck_assert_int_eq(t.dtype, QKV_U8);
    ck_assert_mem_eq(t.data, "abc", 3);
    qkv_npy_free(&t);
    free(b);
}
END_TEST

/* ---- malformed files ---------------------------------------------------- */

/* Each header (over 8 bytes of data) fails with its status and message. */
static const struct {
    const char *header;
    qkv_status status;
    const char *msg;
} bad_headers[] = {
    {"{'fortran_order': False, 'shape': (2,), }", QKV_ERR_FORMAT, "no 'descr' key"},
    {"{'descr': '<f4', 'shape': (2,), }", QKV_ERR_FORMAT, "no 'fortran_order' key"},
    {"{'descr': '<f4', 'fortran_order': False, }", QKV_ERR_FORMAT, "no 'shape' key"},
    {"{}", QKV_ERR_FORMAT, "no 'descr' key"},
    {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
     QKV_ERR_FORMAT, "duplicate header key 'descr'"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'shape': (2,)}",
     QKV_ERR_FORMAT, "duplicate header key 'shape'"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1, }", QKV_ERR_FORMAT,
     "unknown header key 'extra'"},
    {"{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", QKV_ERR_FORMAT,
     "fortran_order True is not supported"},
    {"{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }", QKV_ERR_FORMAT,
     "must be True or False"},
    {"{'descr': '<f4', 'fortran_order': Falsey, 'shape': (2,), }", QKV_ERR_FORMAT,
     "must be True or False"},
    {"{'descr': '<f4', 'fortran_order': 'False', 'shape': (2,), }", QKV_ERR_FORMAT,
     "must be True or False"},
    {"{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", QKV_ERR_FORMAT,
     "big-endian descr '>f4'"},
    {"{'descr': '>i8', 'fortran_order': False, 'shape': (1,), }", QKV_ERR_FORMAT,
     "big-endian descr '>i8'"},
    {"{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", QKV_ERR_FORMAT,
     "unsupported descr '<f8'"},
    {"{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", QKV_ERR_FORMAT,
     "unsupported descr '<c8'"},
    {"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", QKV_ERR_FORMAT,
     "unsupported descr '|O'"},
    {"{'descr': 'f4', 'fortran_order': False, 'shape': (2,), }", QKV_ERR_FORMAT,
     "unsupported descr 'f4'"},
    {"{'descr': '=f4', 'fortran_order': False, 'shape': (2,), }", QKV_ERR_FORMAT,
     "unsupported descr '=f4'"},
    {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", QKV_ERR_FORMAT,
     "'descr' must be a string"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", QKV_ERR_FORMAT,
     "dimension 0 of the shape is negative"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (1, -2), }", QKV_ERR_FORMAT,
     "dimension 1 of the shape is negative"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (2.0,), }", QKV_ERR_FORMAT,
     "not an integer"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (2e0,), }", QKV_ERR_FORMAT,
     "not an integer"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (0x2,), }", QKV_ERR_FORMAT,
     "not an integer"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': ('2',), }", QKV_ERR_FORMAT,
     "not an integer"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (True,), }", QKV_ERR_FORMAT,
     "not an integer"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (2L,), }", QKV_ERR_FORMAT,
     "not an integer"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (02,), }", QKV_ERR_FORMAT,
     "leading zero"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (2), }", QKV_ERR_FORMAT,
     "is not a tuple, expected (n,)"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': [2], }", QKV_ERR_FORMAT,
     "'shape' must be a tuple"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': 2, }", QKV_ERR_FORMAT,
     "'shape' must be a tuple"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (,), }", QKV_ERR_FORMAT,
     "not an integer"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,,), }", QKV_ERR_FORMAT,
     "not an integer"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (1 2), }", QKV_ERR_FORMAT,
     "expected ',' or ')'"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, }", QKV_ERR_FORMAT,
     "not an integer"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 2), }",
     QKV_ERR_FORMAT, "more than 8 dimensions"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (18446744073709551616,), }",
     QKV_ERR_OVERFLOW, "does not fit in size_t"},
    {"{'descr': '|u1', 'fortran_order': False, 'shape': (4294967296, 4294967296), }",
     QKV_ERR_OVERFLOW, "overflows size_t"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904,), }",
     QKV_ERR_OVERFLOW, "overflows size_t"},
    {"{'descr': '|u1', 'fortran_order': False, 'shape': (0, 4294967296, 4294967296), }",
     QKV_ERR_OVERFLOW, "overflows size_t"},
    {"", QKV_ERR_FORMAT, "not a dict literal"},
    {"[]", QKV_ERR_FORMAT, "not a dict literal"},
    {"{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}", QKV_ERR_FORMAT,
     "expected ',' or '}'"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,)", QKV_ERR_FORMAT,
     "expected ',' or '}'"},
    {"{'descr' '<f4', 'fortran_order': False, 'shape': (2,)}", QKV_ERR_FORMAT,
     "expected ':' after a key"},
    {"{descr: '<f4', 'fortran_order': False, 'shape': (2,)}", QKV_ERR_FORMAT,
     "expected a quoted key"},
    {"{'descr: '<f4', 'fortran_order': False, 'shape': (2,)}", QKV_ERR_FORMAT,
     "unknown header key 'descr: '"},
    {"{'descr", QKV_ERR_FORMAT, "expected a quoted key"},
    {"{,}", QKV_ERR_FORMAT, "expected a quoted key"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,),, }", QKV_ERR_FORMAT,
     "expected a quoted key"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } x", QKV_ERR_FORMAT,
     "unexpected text after the dict"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }}", QKV_ERR_FORMAT,
     "unexpected text after the dict"},
};
#define NBAD_HEADERS (sizeof bad_headers / sizeof bad_headers[0])

START_TEST(test_bad_header)
{
    expect_header_fail(bad_headers[_i].header, bad_headers[_i].status, bad_headers[_i].msg);
}
END_TEST

/* Magic, version and header length of the preamble. */
START_TEST(test_bad_preamble)
{
    unsigned char b[sizeof ref_f32_2x3 - 1];
    const size_t n = sizeof b;
    const struct {
        size_t at;
        unsigned char value;
        const char *msg;
    } edits[] = {
        {0, 0x92, "bad magic"},          {5, 'X', "bad magic"},
        {6, 0, "unsupported format version 0.0"}, {6, 4, "unsupported format version 4.0"},
        {7, 1, "unsupported format version 1.1"}, {9, 1, "header length 374 runs past"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        memcpy(b, ref_f32_2x3, n);
        b[edits[i].at] = edits[i].value;
        expect_parse_fail(b, n, QKV_ERR_FORMAT, edits[i].msg);
    }
    expect_parse_fail("PK\003\004", 4, QKV_ERR_FORMAT, "bad magic");
    expect_parse_fail("", 0, QKV_ERR_FORMAT, "truncated before the format version");

    unsigned char v2[sizeof ref_f32_2x3_v2 - 1];
    memcpy(v2, ref_f32_2x3_v2, sizeof v2);
    v2[7] = 1;
    expect_parse_fail(v2, sizeof v2, QKV_ERR_FORMAT, "unsupported format version 2.1");
    v2[7] = 0;
    memset(v2 + 8, 0xff, 4);
    expect_parse_fail(v2, sizeof v2, QKV_ERR_FORMAT, "header length 4294967295 runs past");
}
END_TEST

/* Data shorter or longer than the shape needs. */
START_TEST(test_bad_data_size)
{
    static const unsigned char data[9] = {0};
    const char *f4x2 = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
    const char *f4x0 = "{'descr': '<f4', 'fortran_order': False, 'shape': (0,), }";
    const char *i8_0d = "{'descr': '<i8', 'fortran_order': False, 'shape': (), }";
    const struct {
        const char *header;
        size_t nbytes;
        const char *msg;
    } cases[] = {
        {f4x2, 7, "data truncated: shape needs 8 bytes, file has 7"},
        {f4x2, 0, "data truncated: shape needs 8 bytes, file has 0"},
        {f4x2, 9, "1 unexpected bytes after the 8 data bytes"},
        {f4x0, 1, "1 unexpected bytes after the 0 data bytes"},
        {i8_0d, 4, "data truncated: shape needs 8 bytes, file has 4"},
        {i8_0d, 9, "1 unexpected bytes after the 8 data bytes"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n;
        unsigned char *b = make_npy(1, cases[i].header, data, cases[i].nbytes, &n);
        expect_parse_fail(b, n, QKV_ERR_FORMAT, cases[i].msg);
        free(b);
    }
    unsigned char extra[sizeof ref_f32_2x3];
    memcpy(extra, ref_f32_2x3, sizeof extra); /* the literal's NUL as a trailing byte */
    expect_parse_fail(extra, sizeof extra, QKV_ERR_FORMAT, "1 unexpected bytes");
}
END_TEST

/* Every proper prefix of a valid file fails cleanly. */
START_TEST(test_truncated_everywhere)
{
    const ref_file all[] = {
        refs[0], refs[1], refs[2], refs[3], refs[4], refs[5], refs[6],
        {REF(ref_f32_2x3_v2), QKV_F32, 2, {2, 3}},
        {REF(ref_f32_2x3_v3), QKV_F32, 2, {2, 3}},
    };
    for (size_t f = 0; f < sizeof all / sizeof all[0]; f++)
        for (size_t len = 0; len < all[f].size; len++)
            expect_parse_fail(all[f].bytes, len, QKV_ERR_FORMAT, "npy: <memory>: ");
}
END_TEST

/* Every proper prefix of a header dict, as a whole header (length field
 * matching) at the very end of the file, fails cleanly. */
START_TEST(test_header_cut_everywhere)
{
    char text[128];
    for (size_t f = 0; f < NREFS; f++) {
        const char *dict = (const char *)refs[f].bytes + 10;
        const size_t dict_len = (size_t)(strchr(dict, '}') - dict) + 1;
        for (size_t len = 0; len < dict_len; len++) {
            memcpy(text, dict, len);
            text[len] = '\0';
            size_t n;
            unsigned char *b = make_npy(1, text, NULL, 0, &n);
            expect_parse_fail(b, n, QKV_ERR_FORMAT, "npy: <memory>: ");
            free(b);
        }
    }
}
END_TEST

/* Single-byte edits of the preamble and header, and random multi-byte edits
 * of whole files: never a crash or a read out of bounds, never a result with
 * inconsistent sizes. */
START_TEST(test_fuzz)
{
    static const unsigned char values[] = {0,   ' ', '\n', '(', ')', ',', '\'', '"', ':', '{',
                                           '}', '-', '0',  '9', 'T', '>', 0x7f, 0x80, 0xff};
    for (size_t f = 0; f < NREFS; f++) {
        unsigned char *b = exact_copy(refs[f].bytes, refs[f].size);
        for (size_t at = 0; at < 128; at++)
            for (size_t v = 0; v < sizeof values; v++) {
                const unsigned char keep = b[at];
                b[at] = values[v];
                parse_any(b, refs[f].size);
                b[at] = keep;
            }
        free(b);
    }
    uint32_t rng = 12345;
    for (int iter = 0; iter < 20000; iter++) {
        const ref_file *r = &refs[(size_t)iter % NREFS];
        unsigned char *b = exact_copy(r->bytes, r->size);
        for (int e = 0; e < 1 + iter % 4; e++) {
            rng = rng * 1664525u + 1013904223u;
            b[(rng >> 8) % r->size] = (unsigned char)(rng >> 24);
        }
        rng = rng * 1664525u + 1013904223u;
        parse_any(b, r->size - (rng >> 16) % 3);
        free(b);
    }
}
END_TEST

/* ---- files and arguments -------------------------------------------------- */

/* load: I/O failures, malformed files, messages naming the file. */
START_TEST(test_load_errors)
{
    qkv_npy t;
    ck_assert_int_eq(qkv_npy_load("no/such/dir/x.npy", &t), QKV_ERR_IO);
    ck_assert(is_zeroed(&t));
    ck_assert_ptr_nonnull(strstr(qkv_last_error(), "no/such/dir/x.npy"));
    ck_assert_int_eq(qkv_npy_load(".", &t), QKV_ERR_IO);
    ck_assert(is_zeroed(&t));

    FILE *f = fopen(TMP_PATH, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(ref_f32_fortran, 1, sizeof ref_f32_fortran - 1, f),
                      sizeof ref_f32_fortran - 1);
    fclose(f);
    ck_assert_int_eq(qkv_npy_load(TMP_PATH, &t), QKV_ERR_FORMAT);
    ck_assert(is_zeroed(&t));
    ck_assert_ptr_nonnull(strstr(qkv_last_error(), "npy: " TMP_PATH ": fortran_order True"));

    /* every truncation of a file on disk fails too */
    for (size_t len = 0; len < sizeof ref_i64_3 - 1; len++) {
        f = fopen(TMP_PATH, "wb");
        ck_assert_uint_eq(fwrite(ref_i64_3, 1, len, f), len);
        fclose(f);
        ck_assert_int_eq(qkv_npy_load(TMP_PATH, &t), QKV_ERR_FORMAT);
        ck_assert(is_zeroed(&t));
    }
    remove(TMP_PATH);

    ck_assert_int_eq(qkv_npy_load(NULL, &t), QKV_ERR_INVALID_ARG);
    ck_assert(is_zeroed(&t));
    ck_assert_int_eq(qkv_npy_load(TMP_PATH, NULL), QKV_ERR_INVALID_ARG);
    ck_assert_int_eq(qkv_npy_parse(NULL, 10, &t), QKV_ERR_INVALID_ARG);
    ck_assert_int_eq(qkv_npy_parse(ref_f32_2x3, sizeof ref_f32_2x3 - 1, NULL),
                     QKV_ERR_INVALID_ARG);
}
END_TEST

/* SIGALRM: a load blocked on a special file. */
static void load_hung(int sig)
{
    (void)sig;
    _exit(3);
}

/* load: only regular files are read; a FIFO nobody writes, /dev/zero,
 * /dev/full and a directory named *.npy fail at once with a message. */
START_TEST(test_load_special_files)
{
    const char *fifo = "test_npy.fifo.npy", *folder = "test_npy.dir.npy";
    unlink(fifo);
    rmdir(folder);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    ck_assert_int_eq(mkdir(folder, 0700), 0);
    signal(SIGALRM, load_hung);
    alarm(20);
    const char *const refused[] = {fifo, "/dev/zero", "/dev/full", folder};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        qkv_npy t;
        ck_assert_int_eq(qkv_npy_load(refused[i], &t), QKV_ERR_IO);
        ck_assert(is_zeroed(&t));
        ck_assert_ptr_nonnull(strstr(qkv_last_error(), "not a regular file"));
    }
    alarm(0);
    unlink(fifo);
    rmdir(folder);
}
END_TEST

/* save/encode refuse bad arguments, write nothing, and report I/O errors. */
START_TEST(test_save_errors)
{
    static const float data[4] = {0};
    const size_t s2[1] = {2}, s0[1] = {0}, s9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    const size_t huge[2] = {SIZE_MAX / 2, 3}, huge_empty[3] = {0, SIZE_MAX, 2};
    void *enc = (void *)1;
    size_t size = 1;
    const struct {
        qkv_dtype dtype;
        int ndim;
        const size_t *shape;
        const void *data;
        qkv_status status;
        const char *msg;
    } cases[] = {
        {QKV_DTYPE_COUNT, 1, s2, data, QKV_ERR_INVALID_ARG, "invalid dtype"},
        {(qkv_dtype)-1, 1, s2, data, QKV_ERR_INVALID_ARG, "invalid dtype"},
        {QKV_F32, -1, s2, data, QKV_ERR_INVALID_ARG, "ndim -1 outside 0..8"},
        {QKV_F32, 9, s9, data, QKV_ERR_INVALID_ARG, "ndim 9 outside 0..8"},
        {QKV_F32, 1, NULL, data, QKV_ERR_INVALID_ARG, "shape is NULL"},
        {QKV_F32, 1, s2, NULL, QKV_ERR_INVALID_ARG, "data is NULL"},
        {QKV_U8, 2, huge, data, QKV_ERR_OVERFLOW, "overflows size_t"},
        {QKV_U8, 3, huge_empty, data, QKV_ERR_OVERFLOW, "overflows size_t"},
    };
    remove(TMP_PATH);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_int_eq(qkv_npy_encode(cases[i].dtype, cases[i].ndim, cases[i].shape,
                                        cases[i].data, &enc, &size),
                         cases[i].status);
        ck_assert_ptr_null(enc);
        ck_assert_uint_eq(size, 0);
        ck_assert_msg(strstr(qkv_last_error(), cases[i].msg), "%s", qkv_last_error());
        ck_assert_int_eq(qkv_npy_save(TMP_PATH, cases[i].dtype, cases[i].ndim, cases[i].shape,
                                      cases[i].data),
                         cases[i].status);
        ck_assert_msg(strstr(qkv_last_error(), TMP_PATH), "%s", qkv_last_error());
        ck_assert_ptr_null(fopen(TMP_PATH, "rb"));
    }
    ck_assert_int_eq(qkv_npy_save(NULL, QKV_F32, 1, s2, data), QKV_ERR_INVALID_ARG);
    ck_assert_int_eq(qkv_npy_encode(QKV_F32, 1, s2, data, NULL, &size), QKV_ERR_INVALID_ARG);
    ck_assert_int_eq(qkv_npy_encode(QKV_F32, 1, s2, data, &enc, NULL), QKV_ERR_INVALID_ARG);
    ck_assert_int_eq(qkv_npy_save("no/such/dir/x.npy", QKV_F32, 1, s2, data), QKV_ERR_IO);
    ck_assert_ptr_nonnull(strstr(qkv_last_error(), "no/such/dir/x.npy"));

    /* NULL shape for 0-d and NULL data for an empty tensor are fine */
    ck_assert_int_eq(qkv_npy_encode(QKV_F32, 0, NULL, data, &enc, &size), QKV_OK);
    free(enc);
    ck_assert_int_eq(qkv_npy_encode(QKV_F32, 1, s0, NULL, &enc, &size), QKV_OK);
    ck_assert_uint_eq(size, 128);
    free(enc);
}
END_TEST

/* free is NULL-safe and leaves a zeroed struct that can be freed again. */
START_TEST(test_free)
{
    qkv_npy_free(NULL);
    qkv_npy t;
    ck_assert(qkv_npy_parse(ref_u8_scalar, sizeof ref_u8_scalar - 1, &t) == QKV_OK);
    ck_assert_uint_eq(*(const unsigned char *)t.data, 7);
    qkv_npy_free(&t);
    ck_assert(is_zeroed(&t));
    qkv_npy_free(&t);
}
END_TEST

static Suite *npy_suite(void)
{
    Suite *s = suite_create("npy");
    TCase *tc = tcase_create("npy");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_numpy_prefix_arithmetic);
    tcase_add_loop_test(tc, test_numpy_bytes_exact, 0, NREFS);
    tcase_add_test(tc, test_numpy_versions_2_and_3);
    tcase_add_test(tc, test_numpy_rejected);
    tcase_add_loop_test(tc, test_round_trip, 0, QKV_DTYPE_COUNT);
    tcase_add_test(tc, test_storage_bytes);
    tcase_add_test(tc, test_storage_matches);
    tcase_add_test(tc, test_header_variants);
    tcase_add_loop_test(tc, test_bad_header, 0, NBAD_HEADERS);
    tcase_add_test(tc, test_bad_preamble);
    tcase_add_test(tc, test_bad_data_size);
    tcase_add_test(tc, test_truncated_everywhere);
    tcase_add_test(tc, test_header_cut_everywhere);
    tcase_add_test(tc, test_fuzz);
    tcase_add_test(tc, test_load_errors);
    tcase_add_test(tc, test_load_special_files);
    tcase_add_test(tc, test_save_errors);
    tcase_add_test(tc, test_free);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(npy_suite());
}
