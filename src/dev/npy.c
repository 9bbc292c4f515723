/* npy.c - strict NumPy .npy reader/writer (see npy.h).
 *
 * File layout: magic "\x93NUMPY", major and minor version bytes, the header
 * length (little-endian u16 for 1.0, u32 for 2.0/3.0), then the header: a
 * Python dict literal with keys 'descr', 'fortran_order' and 'shape', padded
 * with spaces and a final '\n'.  The raw C-order data follows, exactly
 * count * itemsize bytes.  Data bytes are copied as they are, which is only
 * right on a little-endian host. */
#include "npy.h"
#include "tuning.h" /* qkv_open_regular */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npy.c copies tensor data as little-endian bytes: little-endian host required"
#endif

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_ALIGN 64        /* magic + length + header is a multiple of this */
#define NPY_GROWTH_DIGITS 21 /* NumPy pads the header for shape[0] to grow */
#define NPY_V1_PREFIX 10    /* magic, 2 version bytes, u16 header length */
/* Largest header we write: a 229-byte dict (8 dims of 20 digits), growth
 * padding, alignment padding and the newline, rounded up generously. */
#define NPY_WRITE_MAX 512
#define NPY_MEMORY_NAME "<memory>"
#define NPY_QUOTE_MAX 40 /* longest header excerpt quoted in a message */

/* Our headers never need format 2.0, which exists for headers over 65535
 * bytes: at most 8 dims keep them below NPY_WRITE_MAX. */
_Static_assert(NPY_WRITE_MAX - NPY_V1_PREFIX <= 65535, "format 1.0 header length");

/* One accepted 'descr' string and the dtype it loads as. */
typedef struct npy_descr {
    const char *text;
    qkv_dtype dtype;
} npy_descr;

static const npy_descr descr_table[] = {
    {"<f4", QKV_F32}, {"<f2", QKV_F16}, {"|u1", QKV_U8},  {"<u1", QKV_U8},
    {"<u2", QKV_U16}, {"<i4", QKV_I32}, {"<u4", QKV_U32}, {"<i8", QKV_I64},
};

/* The 'descr' written for each storage dtype, indexed by qkv_dtype. */
static const char *const descr_written[QKV_DTYPE_COUNT] = {
    [QKV_F32] = "<f4", [QKV_F16] = "<f2", [QKV_U8] = "|u1",  [QKV_U16] = "<u2",
    [QKV_I32] = "<i4", [QKV_U32] = "<u4", [QKV_I64] = "<i8",
};

/* ---- storage of dtypes NumPy lacks ----------------------------------------- */

/* bf16 as its bits in '<u2'; FP8 and packed int4 as their bytes in '|u1'. */
qkv_dtype qkv_npy_storage_dtype(qkv_dtype dtype)
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

/* A file's dtype carries `wanted` when it is wanted's storage dtype. */
bool qkv_npy_storage_matches(qkv_dtype file_dtype, qkv_dtype wanted)
{
    return (unsigned)file_dtype < QKV_DTYPE_COUNT && (unsigned)wanted < QKV_DTYPE_COUNT &&
           qkv_npy_storage_dtype(wanted) == file_dtype;
}

/* shape[ndim] in elements -> storage_shape[ndim] in storage items: the last
 * dimension of QKV_I4 counts bytes of two elements. */
void qkv_npy_storage_shape(qkv_dtype dtype, int ndim, const size_t *shape,
                           size_t *storage_shape)
{
    for (int i = 0; i < ndim; i++)
        storage_shape[i] = shape[i];
    if (dtype == QKV_I4 && ndim > 0)
        storage_shape[ndim - 1] = qkv_dtype_bytes(QKV_I4, shape[ndim - 1]);
}

/* ---- shapes ---------------------------------------------------------------- */

/* Element count and byte size of a shape.  Fails (QKV_ERR_OVERFLOW) when the
 * product of the non-zero dims times itemsize overflows size_t, even if a
 * zero dim makes the tensor empty, so that every stride of the tensor fits. */
static qkv_status shape_size(const char *name, int ndim, const size_t *shape, size_t itemsize,
                             size_t *count, size_t *nbytes)
{
    size_t nonzero = itemsize;
    bool empty = false;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] == 0)
            empty = true;
        else if (!qkv_mul_size(&nonzero, nonzero, shape[i]))
            return qkv_fail(QKV_ERR_OVERFLOW,
                            "npy: %s: shape's byte size overflows size_t", name);
    }
    *nbytes = empty ? 0 : nonzero;
    *count = *nbytes / itemsize;
    return QKV_OK;
}

/* ---- header parsing ----------------------------------------------------- */

/* Read position in the header text. */
typedef struct npy_cursor {
    const char *start, *p, *end;
    const char *name; /* file name for messages */
} npy_cursor;

/* Fail with a malformed-header message pointing at the cursor. */
static qkv_status header_error(const npy_cursor *c, const char *what)
{
    return qkv_fail(QKV_ERR_FORMAT, "npy: %s: malformed header at byte %zu: %s", c->name,
                    (size_t)(c->p - c->start), what);
}

/* Length to quote of a header excerpt of `len` bytes. */
static int quote_len(size_t len)
{
    return (int)(len < NPY_QUOTE_MAX ? len : NPY_QUOTE_MAX);
}

/* Skip the whitespace Python allows between tokens inside brackets. */
static void skip_space(npy_cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' ||
                             *c->p == '\r' || *c->p == '\f'))
        c->p++;
}

/* Skip whitespace, then consume `ch` if it comes next. */
static bool accept(npy_cursor *c, char ch)
{
    skip_space(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

/* True for a decimal digit. */
static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* True for a character that may continue a Python name or number. */
static bool is_word_char(char ch)
{
    return is_digit(ch) || ch == '_' || ch == '.' || (ch >= 'a' && ch <= 'z') ||
           (ch >= 'A' && ch <= 'Z');
}

/* Read a quoted string (single or double quotes, no escapes interpreted):
 * its contents go to *s, *len.  False if none starts here. */
static bool read_string(npy_cursor *c, const char **s, size_t *len)
{
    skip_space(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return false;
    const char quote = *c->p;
    const char *close = memchr(c->p + 1, quote, (size_t)(c->end - c->p - 1));
    if (!close)
        return false;
    *s = c->p + 1;
    *len = (size_t)(close - *s);
    c->p = close + 1;
    return true;
}

/* True if the string s[0..len) equals the C string `text`. */
static bool string_is(const char *s, size_t len, const char *text)
{
    return strlen(text) == len && memcmp(s, text, len) == 0;
}

/* Parse the 'descr' value into *dtype. */
static qkv_status parse_descr(npy_cursor *c, qkv_dtype *dtype)
{
    const char *s;
    size_t len;
    if (!read_string(c, &s, &len))
        return header_error(c, "'descr' must be a string (structured dtypes are not supported)");
    for (size_t i = 0; i < sizeof descr_table / sizeof descr_table[0]; i++)
        if (string_is(s, len, descr_table[i].text)) {
            *dtype = descr_table[i].dtype;
            return QKV_OK;
        }
    if (len > 0 && s[0] == '>')
        return qkv_fail(QKV_ERR_FORMAT,
                        "npy: %s: big-endian descr '%.*s' is not supported (little-endian only)",
                        c->name, quote_len(len), s);
    return qkv_fail(QKV_ERR_FORMAT,
                    "npy: %s: unsupported descr '%.*s' (supported: <f4 <f2 |u1 <u1 <u2 <i4 "
                    "<u4 <i8)",
                    c->name, quote_len(len), s);
}

/* Parse the 'fortran_order' value: False, or rejected True. */
static qkv_status parse_fortran_order(npy_cursor *c)
{
    skip_space(c);
    const char *word = c->p;
    while (c->p < c->end && is_word_char(*c->p))
        c->p++;
    const size_t len = (size_t)(c->p - word);
    if (string_is(word, len, "False"))
        return QKV_OK;
    if (string_is(word, len, "True"))
        return qkv_fail(QKV_ERR_FORMAT,
                        "npy: %s: fortran_order True is not supported (C order only)", c->name);
    c->p = word;
    return header_error(c, "'fortran_order' must be True or False");
}

/* Parse one non-negative decimal dimension (dimension number `index`). */
static qkv_status parse_dim(npy_cursor *c, int index, size_t *dim)
{
    skip_space(c);
    if (c->p < c->end && *c->p == '-')
        return qkv_fail(QKV_ERR_FORMAT, "npy: %s: dimension %d of the shape is negative",
                        c->name, index);
    if (c->p >= c->end || !is_digit(*c->p))
        return header_error(c, "shape dimension is not an integer");
    if (*c->p == '0' && c->p + 1 < c->end && is_digit(c->p[1]))
        return header_error(c, "shape dimension has a leading zero");
    size_t value = 0;
    for (; c->p < c->end && is_digit(*c->p); c->p++)
        if (!qkv_mul_size(&value, value, 10) ||
            __builtin_add_overflow(value, (size_t)(*c->p - '0'), &value))
            return qkv_fail(QKV_ERR_OVERFLOW,
                            "npy: %s: dimension %d of the shape does not fit in size_t",
                            c->name, index);
    if (c->p < c->end && is_word_char(*c->p))
        return header_error(c, "shape dimension is not an integer");
    *dim = value;
    return QKV_OK;
}

/* Parse the 'shape' tuple: "()", "(n,)", "(n, m)", "(n, m,)" ... */
static qkv_status parse_shape(npy_cursor *c, int *ndim, size_t *shape)
{
    *ndim = 0;
    if (!accept(c, '('))
        return header_error(c, "'shape' must be a tuple");
    if (accept(c, ')'))
        return QKV_OK;
    for (;;) {
        if (*ndim == QKV_NPY_MAX_DIMS)
            return qkv_fail(QKV_ERR_FORMAT, "npy: %s: shape has more than %d dimensions",
                            c->name, QKV_NPY_MAX_DIMS);
        qkv_status st = parse_dim(c, *ndim, &shape[*ndim]);
        if (st != QKV_OK)
            return st;
        ++*ndim;
        if (accept(c, ',')) {
            if (accept(c, ')'))
                return QKV_OK;
        } else if (accept(c, ')')) {
            return *ndim == 1 ? header_error(c, "'shape' (n) is not a tuple, expected (n,)")
                              : QKV_OK;
        } else {
            return header_error(c, "expected ',' or ')' in 'shape'");
        }
    }
}

/* The three header keys, each required exactly once. */
enum { KEY_DESCR, KEY_FORTRAN_ORDER, KEY_SHAPE, KEY_COUNT };
static const char *const key_names[KEY_COUNT] = {"descr", "fortran_order", "shape"};

/* Parse one "'key': value" entry into t; seen[] tracks keys already given. */
static qkv_status parse_entry(npy_cursor *c, bool seen[KEY_COUNT], qkv_npy *t)
{
    const char *s;
    size_t len;
    if (!read_string(c, &s, &len))
        return header_error(c, "expected a quoted key");
    int key = 0;
    while (key < KEY_COUNT && !string_is(s, len, key_names[key]))
        key++;
    if (key == KEY_COUNT)
        return qkv_fail(QKV_ERR_FORMAT, "npy: %s: unknown header key '%.*s'", c->name,
                        quote_len(len), s);
    if (seen[key])
        return qkv_fail(QKV_ERR_FORMAT, "npy: %s: duplicate header key '%s'", c->name,
                        key_names[key]);
    seen[key] = true;
    if (!accept(c, ':'))
        return header_error(c, "expected ':' after a key");
    switch (key) {
    case KEY_DESCR:
        return parse_descr(c, &t->dtype);
    case KEY_FORTRAN_ORDER:
        return parse_fortran_order(c);
    default:
        return parse_shape(c, &t->ndim, t->shape);
    }
}

/* Parse the header dict text[0..len) into t's dtype, ndim and shape. */
static qkv_status parse_header(const char *name, const char *text, size_t len, qkv_npy *t)
{
    npy_cursor c = {text, text, text + len, name};
    bool seen[KEY_COUNT] = {false};
    if (!accept(&c, '{'))
        return header_error(&c, "not a dict literal");
    while (!accept(&c, '}')) {
        qkv_status st = parse_entry(&c, seen, t);
        if (st != QKV_OK)
            return st;
        if (!accept(&c, ',')) {
            if (accept(&c, '}'))
                break;
            return header_error(&c, "expected ',' or '}'");
        }
    }
    skip_space(&c);
    if (c.p != c.end)
        return header_error(&c, "unexpected text after the dict");
    for (int key = 0; key < KEY_COUNT; key++)
        if (!seen[key])
            return qkv_fail(QKV_ERR_FORMAT, "npy: %s: header has no '%s' key", name,
                            key_names[key]);
    return QKV_OK;
}

/* ---- file prefix and whole-file validation ----------------------------- */

/* Check magic and version of b[0..size) and locate the header: it is
 * b[*header .. *header + *header_len). */
static qkv_status parse_prefix(const char *name, const unsigned char *b, size_t size,
                               size_t *header, size_t *header_len)
{
    const size_t magic_seen = size < NPY_MAGIC_LEN ? size : NPY_MAGIC_LEN;
    if (memcmp(b, NPY_MAGIC, magic_seen) != 0)
        return qkv_fail(QKV_ERR_FORMAT, "npy: %s: bad magic (not a .npy file)", name);
    if (size < NPY_MAGIC_LEN + 2)
        return qkv_fail(QKV_ERR_FORMAT, "npy: %s: truncated before the format version",
                        name);
    const unsigned major = b[6], minor = b[7];
    if (major < 1 || major > 3 || minor != 0)
        return qkv_fail(QKV_ERR_FORMAT, "npy: %s: unsupported format version %u.%u", name,
                        major, minor);
    const size_t len_bytes = major == 1 ? 2 : 4;
    *header = NPY_MAGIC_LEN + 2 + len_bytes;
    if (size < *header)
        return qkv_fail(QKV_ERR_FORMAT, "npy: %s: truncated in the header length", name);
    *header_len = 0;
    for (size_t i = len_bytes; i-- > 0;)
        *header_len = *header_len << 8 | b[NPY_MAGIC_LEN + 2 + i];
    if (*header_len > size - *header)
        return qkv_fail(QKV_ERR_FORMAT,
                        "npy: %s: header length %zu runs past the end of the file "
                        "(%zu bytes)",
                        name, *header_len, size);
    return QKV_OK;
}

/* Validate the whole file b[0..size): fills t (data NULL) and *offset, where
 * exactly t->count * itemsize data bytes start. */
static qkv_status decode(const char *name, const unsigned char *b, size_t size, qkv_npy *t,
                         size_t *offset)
{
    size_t header = 0, header_len = 0, nbytes = 0;
    qkv_status st = parse_prefix(name, b, size, &header, &header_len);
    if (st == QKV_OK)
        st = parse_header(name, (const char *)b + header, header_len, t);
    if (st == QKV_OK)
        st = shape_size(name, t->ndim, t->shape, qkv_dtype_size(t->dtype), &t->count,
                        &nbytes);
    if (st != QKV_OK)
        return st;
    *offset = header + header_len;
    const size_t avail = size - *offset;
    if (avail < nbytes)
        return qkv_fail(QKV_ERR_FORMAT,
                        "npy: %s: data truncated: shape needs %zu bytes, file has %zu", name,
                        nbytes, avail);
    if (avail > nbytes)
        return qkv_fail(QKV_ERR_FORMAT,
                        "npy: %s: %zu unexpected bytes after the %zu data bytes", name,
                        avail - nbytes, nbytes);
    return QKV_OK;
}

/* ---- reading ---------------------------------------------------------------- */

/* Read the whole file at path into a malloc'd *buf of *size bytes.  Only a
 * regular file is read, and only as many bytes as its size says, so a FIFO
 * or a device (/dev/zero) can neither block nor fill the memory. */
static qkv_status read_file(const char *path, unsigned char **buf, size_t *size)
{
    char why[160];
    long long file_size = 0;
    FILE *f = qkv_open_regular(path, 0, &file_size, why, sizeof why);
    if (!f)
        return qkv_fail(QKV_ERR_IO, "npy: %s: cannot read: %s", path, why);
    const size_t len = (size_t)file_size;
    unsigned char *b = (unsigned long long)file_size <= SIZE_MAX ? malloc(len ? len : 1) : NULL;
    qkv_status st = QKV_OK;
    if (!b)
        st = qkv_fail(QKV_ERR_NO_MEMORY, "npy: %s: out of memory reading the file", path);
    else if (fread(b, 1, len, f) != len)
        st = qkv_fail(QKV_ERR_IO, "npy: %s: read error: %s", path,
                      ferror(f) ? strerror(errno) : "the file shrank while being read");
    fclose(f);
    if (st != QKV_OK) {
        free(b);
        return st;
    }
    *buf = b;
    *size = len;
    return QKV_OK;
}

/* Read a whole file, validate it, and keep its data in the same buffer. */
qkv_status qkv_npy_load(const char *path, qkv_npy *out)
{
    if (!out)
        return qkv_fail(QKV_ERR_INVALID_ARG, "npy: load: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path)
        return qkv_fail(QKV_ERR_INVALID_ARG, "npy: load: path is NULL");
    unsigned char *buf = NULL;
    size_t size = 0, offset = 0;
    qkv_status st = read_file(path, &buf, &size);
    if (st != QKV_OK)
        return st;
    qkv_npy t = {0};
    st = decode(path, buf, size, &t, &offset);
    if (st != QKV_OK) {
        free(buf);
        return st;
    }
    /* Keep the data in the file buffer: move it to the front and shrink. */
    const size_t nbytes = size - offset;
    memmove(buf, buf + offset, nbytes);
    void *shrunk = realloc(buf, nbytes ? nbytes : 1);
    t.data = shrunk ? shrunk : buf;
    *out = t;
    return QKV_OK;
}

/* Validate a file image in memory and copy its data out. */
qkv_status qkv_npy_parse(const void *bytes, size_t size, qkv_npy *out)
{
    if (!out)
        return qkv_fail(QKV_ERR_INVALID_ARG, "npy: parse: out is NULL");
    memset(out, 0, sizeof *out);
    if (!bytes)
        return qkv_fail(QKV_ERR_INVALID_ARG, "npy: parse: bytes is NULL");
    qkv_npy t = {0};
    size_t offset = 0;
    qkv_status st = decode(NPY_MEMORY_NAME, bytes, size, &t, &offset);
    if (st != QKV_OK)
        return st;
    const size_t nbytes = size - offset;
    t.data = malloc(nbytes ? nbytes : 1);
    if (!t.data)
        return qkv_fail(QKV_ERR_NO_MEMORY, "npy: %s: out of memory for %zu data bytes",
                        NPY_MEMORY_NAME, nbytes);
    memcpy(t.data, (const unsigned char *)bytes + offset, nbytes);
    *out = t;
    return QKV_OK;
}

/* Release a loaded tensor (see npy.h). */
void qkv_npy_free(qkv_npy *t)
{
    if (!t)
        return;
    free(t->data);
    memset(t, 0, sizeof *t);
}

/* ---- writing ---------------------------------------------------------------- */

/* Validate the arguments of save/encode; *nbytes gets the data size. */
static qkv_status check_tensor(const char *name, qkv_dtype dtype, int ndim,
                               const size_t *shape, const void *data, size_t *nbytes)
{
    if ((unsigned)dtype >= QKV_DTYPE_COUNT)
        return qkv_fail(QKV_ERR_INVALID_ARG, "npy: %s: invalid dtype %d", name, (int)dtype);
    if (ndim < 0 || ndim > QKV_NPY_MAX_DIMS)
        return qkv_fail(QKV_ERR_INVALID_ARG, "npy: %s: ndim %d outside 0..%d", name, ndim,
                        QKV_NPY_MAX_DIMS);
    if (ndim > 0 && !shape)
        return qkv_fail(QKV_ERR_INVALID_ARG, "npy: %s: shape is NULL", name);
    size_t count = 0, stored[QKV_NPY_MAX_DIMS];
    qkv_npy_storage_shape(dtype, ndim, shape, stored);
    qkv_status st = shape_size(name, ndim, stored, qkv_dtype_size(dtype), &count, nbytes);
    if (st != QKV_OK)
        return st;
    if (*nbytes > 0 && !data)
        return qkv_fail(QKV_ERR_INVALID_ARG, "npy: %s: data is NULL", name);
    return QKV_OK;
}

/* Append printf output to buf[*len..cap); the caller sized cap for it. */
__attribute__((format(printf, 4, 5))) static void append(char *buf, size_t cap, size_t *len,
                                                         const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    *len += (size_t)vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
}

/* Write magic, version 1.0, length and header of a `dtype` tensor of shape
 * shape[ndim] (in elements) to prefix exactly as NumPy's np.save does for
 * its storage; returns the prefix length (a multiple of NPY_ALIGN). */
static size_t build_prefix(qkv_dtype dtype, int ndim, const size_t *elem_shape,
                           char prefix[NPY_WRITE_MAX])
{
    size_t shape[QKV_NPY_MAX_DIMS];
    qkv_npy_storage_shape(dtype, ndim, elem_shape, shape);
    size_t len = NPY_V1_PREFIX;
    append(prefix, NPY_WRITE_MAX, &len, "{'descr': '%s', 'fortran_order': False, 'shape': (",
           descr_written[qkv_npy_storage_dtype(dtype)]);
    for (int i = 0; i < ndim; i++)
        append(prefix, NPY_WRITE_MAX, &len, i ? ", %zu" : "%zu", shape[i]);
    append(prefix, NPY_WRITE_MAX, &len, ndim == 1 ? ",), }" : "), }");
    size_t spaces = 0;
    if (ndim > 0) /* room for shape[0] to grow to NPY_GROWTH_DIGITS digits */
        spaces = NPY_GROWTH_DIGITS - (size_t)snprintf(NULL, 0, "%zu", shape[0]);
    /* NumPy adds NPY_ALIGN - (total % NPY_ALIGN) spaces: a full NPY_ALIGN
     * when the total is already aligned. */
    spaces += NPY_ALIGN - (len + spaces + 1) % NPY_ALIGN;
    memset(prefix + len, ' ', spaces);
    len += spaces;
    prefix[len++] = '\n';
    const size_t header_len = len - NPY_V1_PREFIX;
    memcpy(prefix, NPY_MAGIC "\x01\x00", NPY_MAGIC_LEN + 2);
    prefix[8] = (char)(header_len & 0xff);
    prefix[9] = (char)(header_len >> 8);
    return len;
}

/* NumPy's prefix followed by the data, in one malloc'd buffer. */
qkv_status qkv_npy_encode(qkv_dtype dtype, int ndim, const size_t *shape, const void *data,
                          void **bytes, size_t *size)
{
    if (!bytes || !size)
        return qkv_fail(QKV_ERR_INVALID_ARG, "npy: encode: bytes or size is NULL");
    *bytes = NULL;
    *size = 0;
    size_t nbytes = 0, total = 0;
    qkv_status st = check_tensor(NPY_MEMORY_NAME, dtype, ndim, shape, data, &nbytes);
    if (st != QKV_OK)
        return st;
    char prefix[NPY_WRITE_MAX];
    const size_t plen = build_prefix(dtype, ndim, shape, prefix);
    if (__builtin_add_overflow(plen, nbytes, &total))
        return qkv_fail(QKV_ERR_OVERFLOW, "npy: %s: file size overflows size_t",
                        NPY_MEMORY_NAME);
    unsigned char *buf = malloc(total);
    if (!buf)
        return qkv_fail(QKV_ERR_NO_MEMORY, "npy: %s: out of memory for %zu bytes",
                        NPY_MEMORY_NAME, total);
    memcpy(buf, prefix, plen);
    if (nbytes > 0)
        memcpy(buf + plen, data, nbytes);
    *bytes = buf;
    *size = total;
    return QKV_OK;
}

/* NumPy's prefix then the data, streamed to the file; removed on failure. */
qkv_status qkv_npy_save(const char *path, qkv_dtype dtype, int ndim, const size_t *shape,
                        const void *data)
{
    if (!path)
        return qkv_fail(QKV_ERR_INVALID_ARG, "npy: save: path is NULL");
    size_t nbytes = 0;
    qkv_status st = check_tensor(path, dtype, ndim, shape, data, &nbytes);
    if (st != QKV_OK)
        return st;
    char prefix[NPY_WRITE_MAX];
    const size_t plen = build_prefix(dtype, ndim, shape, prefix);
    FILE *f = fopen(path, "wb");
    if (!f)
        return qkv_fail(QKV_ERR_IO, "npy: %s: cannot create: %s", path, strerror(errno));
    bool ok = fwrite(prefix, 1, plen, f) == plen &&
              (nbytes == 0 || fwrite(data, 1, nbytes, f) == nbytes);
    int err = errno;
    if (fclose(f) != 0 && ok) {
        ok = false;
        err = errno;
    }
    if (!ok) {
        remove(path);
        return qkv_fail(QKV_ERR_IO, "npy: %s: write failed: %s", path, strerror(err));
    }
    return QKV_OK;
}
