/*
 * qkv.h - public C API of the qkv kernel suite.
 *
 * A context is opened on one backend/device ("ref", "cpu", "opencl:N",
 * "cuda:N").  Tensors live in buffers owned by that context; host data moves
 * in and out with qkv_buffer_write / qkv_buffer_read.  Every op is one
 * function taking a params struct of shapes, options and buffers.  Every
 * function returns a qkv_status; on failure qkv_last_error() holds a
 * human-readable message (per thread) and no output buffer was written.
 *
 * Layouts are dense row-major, outermost dimension first (see docs/).
 *
 * Threads: a context may be shared by several threads.  Op calls, the
 * variant and tile-parameter settings and timed launches on one context
 * are serialized by a lock inside it (each call sees whole settings and its
 * own kernel arguments and scratch memory), so sharing is safe but not
 * parallel: for parallel work open a context per thread (calls on
 * different contexts run concurrently).  Buffer create/destroy/read/write/
 * copy may be called from any thread.  What stays the caller's to order:
 * the contents of a buffer (two threads writing one buffer, or one reading
 * it while an op writes it, race as with any memory), a buffer destroyed
 * while another thread still uses it, qkv_close while other threads use
 * the context, and a KIVI cache object, which is one thread's at a time.
 */
#ifndef QKV_H
#define QKV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QKV_VERSION_MAJOR 0
#define QKV_VERSION_MINOR 1

typedef enum qkv_status {
    QKV_OK = 0,
    QKV_ERR_INVALID_ARG,  /* null pointer, unknown enum, bad option value */
    QKV_ERR_SHAPE,        /* zero, inconsistent or unsupported sizes */
    QKV_ERR_OVERFLOW,     /* a size product does not fit in size_t */
    QKV_ERR_NONFINITE,    /* NaN or Inf in a quantizer input */
    QKV_ERR_RANGE,        /* finite value too large for the f16 scale/min */
    QKV_ERR_NO_BACKEND,   /* backend not compiled into this build */
    QKV_ERR_NO_DEVICE,    /* backend present but no (such) device */
    QKV_ERR_UNSUPPORTED,  /* op or option not provided by this backend */
    QKV_ERR_NO_MEMORY,    /* host or device allocation failed */
    QKV_ERR_BACKEND,      /* OpenCL/CUDA runtime or compiler error */
    QKV_ERR_IO,           /* file could not be opened, read or written */
    QKV_ERR_FORMAT,       /* malformed file (e.g. .npy header) */
    QKV_STATUS_COUNT
} qkv_status;

/* Short constant name of a status, e.g. "QKV_ERR_SHAPE". */
const char *qkv_status_name(qkv_status status);
/* Message describing the last failure on this thread ("" if none). */
const char *qkv_last_error(void);

typedef enum qkv_dtype {
    QKV_F32 = 0, /* IEEE binary32 */
    QKV_F16,     /* IEEE binary16 */
    QKV_BF16,    /* raw bits as uint16 */
    QKV_U8,
    QKV_U16,
    QKV_I32,
    QKV_U32,
    QKV_I64,
    QKV_E4M3,    /* FP8 OCP E4M3FN: bias 7, max 448, no Inf, NaN 0x7F/0xFF */
    QKV_E5M2,    /* FP8 OCP E5M2: bias 15, max 57344, Inf 0x7C/0xFC */
    QKV_I4,      /* signed int4 (two's complement), two per byte: element 2j
                  * of a row in the low nibble of byte j, 2j+1 in the high
                  * nibble; a row of n elements takes (n+1)/2 bytes, the
                  * unused high nibble of an odd row's last byte is 0 */
    QKV_DTYPE_COUNT
} qkv_dtype;

/* Size in bytes of the storage unit of dtype: one element, except for the
 * packed QKV_I4, where it is 1 (the byte holding two elements); 0 for an
 * invalid dtype.  Byte sizes of tensors come from qkv_dtype_bytes. */
size_t qkv_dtype_size(qkv_dtype dtype);
/* Bytes of `count` consecutive elements of dtype (for QKV_I4, (count+1)/2:
 * one packed row).  0 for an invalid dtype, for count 0, and when the size
 * does not fit in size_t: a caller with count > 0 treats 0 as failure. */
size_t qkv_dtype_bytes(qkv_dtype dtype, size_t count);
/* Short name: "f32", "bf16", "e4m3", "i4" ... ("invalid" otherwise). */
const char *qkv_dtype_name(qkv_dtype dtype);

/* ---- contexts ----------------------------------------------------------- */

typedef struct qkv_context qkv_context;
typedef struct qkv_buffer qkv_buffer;

typedef enum qkv_backend_kind {
    QKV_BACKEND_REF = 0, /* scalar C reference, double where the spec says */
    QKV_BACKEND_CPU,     /* OpenMP, AVX2 with a portable scalar fallback */
    QKV_BACKEND_OPENCL,  /* OpenCL 1.2, kernels built at run time */
    QKV_BACKEND_CUDA,    /* same kernel sources through NVRTC + driver API */
    QKV_BACKEND_COUNT
} qkv_backend_kind;

const char *qkv_backend_name(qkv_backend_kind kind);
/* 1 if the backend was compiled into this build. */
int qkv_backend_compiled(qkv_backend_kind kind);
/* Number of devices the backend sees now (0 if none or not compiled). */
int qkv_device_count(qkv_backend_kind kind);

typedef struct qkv_device_info {
    qkv_backend_kind backend;
    int index;
    char name[128];        /* device name as the runtime reports it */
    char vendor[64];
    char version[128];     /* runtime / driver version string */
    char arch[64];         /* "sm_90", "cpu:avx2", OpenCL device type ... */
    size_t global_mem;     /* bytes */
    size_t local_mem;      /* bytes of work-group / shared memory */
    size_t max_work_group; /* threads per work-group / block */
    int compute_units;     /* SMs, compute units, or OpenMP threads */
    size_t mem_align;      /* required byte alignment of buffer views */
    /* The generation the device's tuning table must come from: "amd-zen4",
     * "intel-f6-m143" (CPU vendor, family, model) for cpu and OpenCL CPU
     * devices, "sm_90" for NVIDIA GPUs, "" where unknown. */
    char microarch[64];
    int cc_major, cc_minor; /* CUDA compute capability (0 elsewhere) */
    size_t local_mem_optin; /* CUDA: shared memory a block may opt in to, bytes (0 elsewhere) */
} qkv_device_info;

/* Describe device `index` of `kind` without opening a context. */
qkv_status qkv_device_describe(qkv_backend_kind kind, int index,
                               qkv_device_info *info);

/* Open a context.  spec: "ref", "cpu", "opencl", "cuda", each optionally
 * followed by ":N", N the device index (default 0): decimal digits only, no
 * sign, spaces or leading zeros, at most 1023.  Any other spec gives
 * QKV_ERR_INVALID_ARG; an index the backend does not have, QKV_ERR_NO_DEVICE. */
qkv_status qkv_open(const char *spec, qkv_context **ctx);
/* Close a context (NULL: nothing).  Buffers, views and KIVI caches still
 * live on it have their device memory released here and become orphaned
 * handles: a call that would touch their memory (write, read, copy, view, an
 * op, a cache prefill or decode) fails with QKV_ERR_INVALID_ARG, the size and
 * state getters still answer, and qkv_buffer_destroy / qkv_kivi_cache_destroy
 * must still be called to free the handles.  No call on the context or its
 * buffers may run concurrently with close. */
void qkv_close(qkv_context *ctx);
qkv_status qkv_context_info(const qkv_context *ctx, qkv_device_info *info);
/* Wait until all work queued on the context has finished. */
qkv_status qkv_finish(qkv_context *ctx);

/* ---- buffers ------------------------------------------------------------ */

/* Allocate `bytes` (> 0) of device memory.  Contents are undefined. */
qkv_status qkv_buffer_create(qkv_context *ctx, size_t bytes, qkv_buffer **buf);
/* A view of bytes [offset, offset+bytes) of `parent`; offset must be a
 * multiple of the device's mem_align.  Views keep no reference: destroy them
 * before their parent. */
qkv_status qkv_buffer_view(qkv_buffer *parent, size_t offset, size_t bytes,
                           qkv_buffer **view);
/* Free a buffer or view (NULL: nothing); valid after its context's close. */
void qkv_buffer_destroy(qkv_buffer *buf);
size_t qkv_buffer_size(const qkv_buffer *buf);
/* Host -> device and device -> host copies (blocking). */
qkv_status qkv_buffer_write(qkv_buffer *buf, size_t offset, const void *src,
                            size_t bytes);
qkv_status qkv_buffer_read(const qkv_buffer *buf, size_t offset, void *dst,
                           size_t bytes);
/* Device -> device copy of `bytes`.  Ranges that overlap in memory (of one
 * buffer, or of views of one parent) give QKV_ERR_INVALID_ARG on every
 * backend and nothing is written. */
qkv_status qkv_buffer_copy(qkv_buffer *dst, size_t dst_offset,
                           const qkv_buffer *src, size_t src_offset,
                           size_t bytes);

/* ---- KIVI (spec: kivi.md) ----------------------------------------------
 * Packing: f = 32/bits codes per uint32 word, LSB first.
 * Keys are grouped per channel along tokens, values per token along
 * channels.  Scales and minima are f16. */

/* Quantize a block of keys or values.
 *  input  [B, H, in_capacity, D] of dtype f16 or f32; tokens [0, T) used.
 *  keys:   codes [B, H, D, out_capacity/f] u32, scale/min [B, H, D, out_capacity/G]
 *          written at tokens [out_offset, out_offset+T); T, out_offset % G == 0.
 *  values: codes [B, H, out_capacity, D/f] u32, scale/min [B, H, out_capacity, D/G]
 *          written at tokens [out_offset, out_offset+T).
 * in_capacity = 0 means T; out_capacity = 0 means out_offset + T.
 * NaN or Inf in the T tokens used gives QKV_ERR_NONFINITE, a finite
 * |x| > 65504 QKV_ERR_RANGE (unless `unchecked`).  Then no code, scale or
 * min is written for a group holding such a value, nothing outside the
 * output tokens [out_offset, out_offset+T) is written, and other groups of
 * that range may or may not hold their codes (cpu checks while it
 * quantizes; the GPU backends scan first and write nothing). */
typedef struct qkv_kivi_quant_params {
    size_t batch, heads, tokens, head_dim;
    size_t in_capacity, out_capacity, out_offset;
    int bits;          /* 2, 4 or 8 */
    int group;         /* G: 32, 64 or 128; D % G == 0 for values */
    qkv_dtype dtype;   /* of input: QKV_F16 or QKV_F32 */
    int unchecked;     /* 1: do not check the input for NaN/Inf/range */
    qkv_buffer *input;
    qkv_buffer *codes;
    qkv_buffer *scale;
    qkv_buffer *min;
} qkv_kivi_quant_params;

qkv_status qkv_kivi_quant_keys(qkv_context *ctx, const qkv_kivi_quant_params *p);
qkv_status qkv_kivi_quant_values(qkv_context *ctx, const qkv_kivi_quant_params *p);

/* Dequantize packed keys or values (layouts as above, capacity = tokens)
 * to f32 output [B, H, T, D]. */
typedef struct qkv_kivi_dequant_params {
    size_t batch, heads, tokens, head_dim;
    int bits, group;
    qkv_buffer *codes;
    qkv_buffer *scale;
    qkv_buffer *min;
    qkv_buffer *output;
} qkv_kivi_dequant_params;

qkv_status qkv_kivi_dequant_keys(qkv_context *ctx, const qkv_kivi_dequant_params *p);
qkv_status qkv_kivi_dequant_values(qkv_context *ctx, const qkv_kivi_dequant_params *p);

/* Arithmetic precision of an attention call (docs/kivi.md has the errors
 * measured per mode and shape):
 *  EXACT: f32 products and f32 accumulation (NMSE <= 1e-10 against the
 *         double reference).
 *  FAST:  the kernel may round its multiplicands before multiplying (query
 *         x scale in bf16 or f16, or int8 with an f32 scale) while it still
 *         accumulates in f32 (or exact int32) and keeps the softmax f32:
 *         NMSE <= 1e-4, no NaN where EXACT has none.  A backend without a
 *         faster kernel runs the exact one. */
typedef enum qkv_precision {
    QKV_PRECISION_EXACT = 0,
    QKV_PRECISION_FAST = 1
} qkv_precision;

/* Fused decode attention for one query per sequence.
 *  query  f32 [B, Hq, D]; output f32 [B, Hq, D]; Hq % Hkv == 0 (GQA).
 *  Token t of a sequence (N = k_quant + k_resid = v_quant + v_resid tokens):
 *  key    t <  k_quant: packed keys [B, Hkv, D, k_quant_capacity/f] etc.
 *         t >= k_quant: k_resid f16 [B, Hkv, k_resid_capacity, D], row t-k_quant
 *  value  t <  v_quant: packed values [B, Hkv, v_quant_capacity, D/f] etc.
 *         t >= v_quant: v_resid f16 [B, Hkv, v_resid_capacity, D], row t-v_quant
 *  Capacities of 0 mean "equal to the count".  softmax_scale 0 = 1/sqrt(D).
 *  precision: QKV_PRECISION_EXACT (0, the default of a zeroed struct) or
 *  QKV_PRECISION_FAST (see qkv_precision); other values are rejected. */
typedef struct qkv_kivi_decode_params {
    size_t batch, q_heads, kv_heads, head_dim;
    size_t k_quant, k_resid, v_quant, v_resid;
    size_t k_quant_capacity, k_resid_capacity, v_quant_capacity, v_resid_capacity;
    int bits, group;
    float softmax_scale;
    qkv_buffer *query;
    qkv_buffer *k_codes, *k_scale, *k_min, *k_resid_data;
    qkv_buffer *v_codes, *v_scale, *v_min, *v_resid_data;
    qkv_buffer *output;
    qkv_precision precision;
} qkv_kivi_decode_params;

qkv_status qkv_kivi_decode_attention(qkv_context *ctx, const qkv_kivi_decode_params *p);

/* ---- KIVI cache object ---------------------------------------------------
 * Owns the packed and residual tensors of B sequences x Hkv heads, applies
 * the prefill split and the decode flush rules of the spec. */
typedef struct qkv_kivi_cache qkv_kivi_cache;

typedef struct qkv_kivi_cache_config {
    size_t batch, kv_heads, head_dim;
    size_t max_tokens;  /* capacity of the cache in tokens */
    size_t residual;    /* R, multiple of group; 0 means 128 */
    int bits, group;
} qkv_kivi_cache_config;

qkv_status qkv_kivi_cache_create(qkv_context *ctx, const qkv_kivi_cache_config *cfg,
                                 qkv_kivi_cache **cache);
void qkv_kivi_cache_destroy(qkv_kivi_cache *cache);
/* Load T prompt tokens: keys/values f16 or f32 [B, Hkv, T, D] on the device.
 * Only allowed on an empty cache. */
qkv_status qkv_kivi_cache_prefill(qkv_kivi_cache *cache, qkv_dtype dtype, size_t tokens,
                                  qkv_buffer *keys, qkv_buffer *values);
/* One decode step: append k, v (f16 or f32 [B, Hkv, D]), attend with query
 * f32 [B, Hq, D] into output f32 [B, Hq, D], then flush per the spec. */
qkv_status qkv_kivi_cache_decode(qkv_kivi_cache *cache, qkv_dtype dtype, qkv_buffer *key,
                                 qkv_buffer *value, size_t q_heads, qkv_buffer *query,
                                 qkv_buffer *output);

typedef struct qkv_kivi_cache_state {
    size_t tokens;   /* total tokens held */
    size_t k_quant, k_resid, v_quant, v_resid;
} qkv_kivi_cache_state;
qkv_status qkv_kivi_cache_state_get(const qkv_kivi_cache *cache, qkv_kivi_cache_state *st);
/* Buffers holding the cache's tensors (capacities as in qkv_kivi_decode_params:
 * k/v quant capacity = max_tokens, k resid capacity = R, v resid capacity = R+1). */
typedef struct qkv_kivi_cache_tensors {
    qkv_buffer *k_codes, *k_scale, *k_min, *k_resid;
    qkv_buffer *v_codes, *v_scale, *v_min, *v_resid;
    size_t k_quant_capacity, k_resid_capacity, v_quant_capacity, v_resid_capacity;
} qkv_kivi_cache_tensors;
qkv_status qkv_kivi_cache_tensors_get(const qkv_kivi_cache *cache, qkv_kivi_cache_tensors *t);

/* ---- f16 dense decode attention ------------------------------------------
 * The uncompressed baseline of KIVI's decode: one query per sequence against
 * an f16 KV cache.
 *  query  f32 [B, Hq, D]; output f32 [B, Hq, D]; Hq % Hkv == 0 (GQA).
 *  keys, values f16 [B, Hkv, capacity, D]: rows [0, tokens) of each head used.
 *  capacity 0 means tokens; softmax_scale 0 = 1/sqrt(D). */
typedef struct qkv_f16_decode_params {
    size_t batch, q_heads, kv_heads, head_dim;
    size_t tokens, capacity;
    float softmax_scale;
    qkv_buffer *query, *keys, *values, *output;
} qkv_f16_decode_params;

qkv_status qkv_f16_decode_attention(qkv_context *ctx, const qkv_f16_decode_params *p);

/* ---- FireQ INT4 x FP8 GEMM (spec: w4a8-gemm.md, docs/fireq.md) -----------
 * Offline weight quantization, on host arrays: per-tensor power-of-two
 * pre-scale 2^i (i in 0..14), per-group E4M3 scales (saturating, floored at
 * 2^-9), INT4 codes rounded half to even against the decoded scale.
 *  weights  [N, K] of dtype f32, f16 or bf16 (converted exactly), finite.
 *  codes    [N, K/2] bytes: INT4 two's complement, element k in the low
 *           nibble when k is even (qkv_i4_pack per row).
 *  scales   [N, K/G] E4M3 bytes.
 *  prescale_exp: i; the GEMM's output is multiplied by 2^-i.
 * group G is 64, 128 or 256 with K % G == 0; N >= 1.  NaN or Inf in the
 * weights gives QKV_ERR_NONFINITE; a rejected call writes nothing. */
typedef struct qkv_w4a8_weight_quant_params {
    size_t n, k;          /* N (out features) and K (in features) */
    int group;            /* G */
    qkv_dtype dtype;      /* of weights: QKV_F32, QKV_F16 or QKV_BF16 */
    const void *weights;
    uint8_t *codes;
    uint8_t *scales;
    int *prescale_exp;
} qkv_w4a8_weight_quant_params;

qkv_status qkv_w4a8_quantize_weights(const qkv_w4a8_weight_quant_params *p);
/* ---- FireQ: FP8 activations for the INT4 x FP8 GEMM (spec: w4a8-gemm.md) ----
 * Per-token activation quantization, online before each GEMM:
 *  x  [m, k] of dtype f32, f16 or bf16 (k contiguous)
 *  xq [m, k] E4M3 bytes, sx [m] bf16 bits (the per-token scale).
 * Per row: amax = max |x| (f32); s = amax / 448 (f32), or 1 where that is
 * 0 (an all-zero row, or amax <= 448 * 2^-150); xq = E4M3 satfinite of
 * clamp(x / s, -448, 448) (true f32 division, round to nearest even);
 * sx = bf16(s), round to nearest even.  NaN or Inf in x gives
 * QKV_ERR_NONFINITE (unless `unchecked`: then codes and scale of a row
 * holding one are unspecified); nothing is written for a row holding one,
 * and other rows may or may not hold their outputs (ref scans first and
 * writes nothing; cpu and GPUs check each row as they quantize it). */
typedef struct qkv_w4a8_act_quant_params {
    size_t m, k;       /* tokens, features; both > 0 */
    qkv_dtype dtype;   /* of x: QKV_F32, QKV_F16 or QKV_BF16 */
    int unchecked;     /* 1: do not check x for NaN/Inf */
    qkv_buffer *x;
    qkv_buffer *xq;
    qkv_buffer *sx;
} qkv_w4a8_act_quant_params;

qkv_status qkv_w4a8_quant_activations(qkv_context *ctx, const qkv_w4a8_act_quant_params *p);
/* ---- FireQ INT4 x FP8 GEMM (spec: w4a8-gemm.md) -----------------------------
 * Y [M, N] = Xq [M, K] x W^T with W the INT4 weights Wq dequantized per group
 * of G along K by the E4M3 scales Ws, then scaled per token by sx and by 1/ps
 * (ps = 2^prescale_exp). */

/* How the weights meet the activations. */
typedef enum qkv_w4a8_mode {
    /* FireQ (the default): per (n, group) the table L[q] = q == 0 ? -0.0 :
     * e4m3_satfinite(q * scale); acc = sum_k xq * L[q] (every product exact
     * in f32); Y = bf16(bf16(acc) * sx), then * 1/ps in bf16 when ps != 1.
     * Y is bf16. */
    QKV_W4A8_LUT = 0,
    /* acc = sum_g scale_g * sum_{k in g} xq * q; Y = acc * sx / ps in f32,
     * stored as f32 or rounded to bf16. */
    QKV_W4A8_EXACT = 1
} qkv_w4a8_mode;

/*  xq   e4m3 [M, K]             quantized activations
 *  sx   bf16 [M] (raw bits)     per-token activation scale
 *  wq   int4 [N, K/2] bytes     two's complement, element k in the low nibble
 *                               when k is even (QKV_I4 rows)
 *  ws   e4m3 [N, K/G]           per-group weight scales
 *  y    [M, N] of y_dtype       QKV_BF16; QKV_F32 also in the exact mode
 *  acc  f32 [M, N] or NULL      the accumulator before sx and ps (optional)
 * group G is 64, 128 or 256 with K % G == 0; prescale_exp is 0..14; any
 * M, N >= 1. */
typedef struct qkv_w4a8_gemm_params {
    size_t m, n, k;
    int group;
    int prescale_exp;
    qkv_w4a8_mode mode;
    qkv_dtype y_dtype;
    qkv_buffer *xq, *sx, *wq, *ws;
    qkv_buffer *y, *acc;
} qkv_w4a8_gemm_params;

qkv_status qkv_w4a8_gemm(qkv_context *ctx, const qkv_w4a8_gemm_params *p);

/* ---- f32 GEMM (the baseline of the quantized GEMMs) -----------------------
 * Y [M, N] = X [M, K] x W^T, W [N, K] (out_features x in_features, as the
 * w4a8 GEMM's weights), all f32, K contiguous, f32 accumulation.
 *  x  f32 [M, K]   activations
 *  w  f32 [N, K]   weights
 *  y  f32 [M, N]   output
 * any M, N, K >= 1. */
typedef struct qkv_f32_gemm_params {
    size_t m, n, k;
    qkv_buffer *x, *w, *y;
} qkv_f32_gemm_params;

qkv_status qkv_f32_gemm(qkv_context *ctx, const qkv_f32_gemm_params *p);

/* ---- variants and tile parameters ----------------------------------------
 * An op may have several implementations ("variants") on a backend, e.g.
 * "avx2" and "scalar" on cpu, "generic" on OpenCL and CUDA; `qkv info`
 * lists them.  Each has named tile parameters.  A call runs, in order: the
 * variant selected here or in $QKV_VARIANT ("[backend.]op=variant;...",
 * op "*" for every op that has it), else the variant of a tile override,
 * else the fastest variant of the device's tuning table (then a table of the
 * same architecture), else the first variant that supports the call.  Its
 * parameters come from an override set here or in $QKV_TILE_PARAMS
 * ("[backend.]op[/variant]:name=value,...;..."), the device's table, a
 * table of the same architecture, the variant's defaults.  Tables are read
 * when a context opens from the installed data dir, the source tree's
 * results/tuning and $QKV_TUNING_PATH (file or directory). */

/* Run op with `variant` on ctx from now on (variant NULL: back to the
 * automatic choice).  Calls the variant does not support then fail with
 * QKV_ERR_UNSUPPORTED. */
qkv_status qkv_set_variant(qkv_context *ctx, const char *op, const char *variant);
/* Force the parameters of op, e.g. ("kivi_decode_attention",
 * "wg=64,split=512"), of the selected variant, else the device's first
 * variant; "op/variant" names the variant.  Unnamed parameters keep their
 * defaults; params NULL removes the override.  Values must be candidates
 * that fit the device. */
qkv_status qkv_set_tile_params(qkv_context *ctx, const char *op, const char *params);
/* The variant and parameters a call of op of the given size (context length
 * for decode attention, tokens for the quantizers) uses on ctx, formatted as
 * above, and where they come from: "override", "device", "arch", "default".
 * variant and level may be NULL. */
qkv_status qkv_get_tile_params(qkv_context *ctx, const char *op, size_t size, char *params,
                               size_t params_size, const char **variant, const char **level);

/* ---- half-precision helpers -------------------------------------------- */
uint16_t qkv_f32_to_f16(float x); /* round to nearest even */
float qkv_f16_to_f32(uint16_t h);

/* ---- bf16, FP8 and int4 helpers (docs/tensors.md) -------------------------
 * Scalar conversions by integer bit manipulation (no reliance on denormal
 * handling), round to nearest even. */

/* f32 -> bf16 bits: round to nearest even, overflow to +-Inf; a NaN stays a
 * NaN with its sign and top payload bits, made quiet (bit 6 set). */
uint16_t qkv_f32_to_bf16(float x);
/* bf16 bits -> f32, exact (the bits shifted into the top half). */
float qkv_bf16_to_f32(uint16_t b);

/* What an FP8 encoder does with a finite value that rounds beyond the
 * largest finite FP8 value (and with +-Inf). */
typedef enum qkv_fp8_overflow {
    QKV_FP8_SATFINITE = 0, /* +-max finite: what __nv_fp8_e4m3 and CUTLASS do */
    QKV_FP8_NOSAT          /* e4m3: sign|0x7F (NaN); e5m2: +-Inf (0x7C/0xFC) */
} qkv_fp8_overflow;

/* f32 -> E4M3 byte, as NVIDIA's __nv_cvt_float_to_fp8 (spec w4a8-gemm.md):
 * round to nearest even; |x| <= 2^-10 gives a signed zero; NaN gives 0x7F
 * (sign dropped); |x| > 464 and +-Inf give 0x7E/0xFE (448) when saturating,
 * 0x7F/0xFF otherwise; 464 itself rounds to 448. */
uint8_t qkv_f32_to_e4m3(float x, qkv_fp8_overflow overflow);
/* E4M3 byte -> f32, exact; 0x7F and 0xFF give a quiet NaN with that sign. */
float qkv_e4m3_to_f32(uint8_t b);
/* f32 -> E5M2 byte, as NVIDIA's __nv_cvt_float_to_fp8: round to nearest
 * even; |x| <= 2^-17 gives a signed zero; NaN gives 0x7F (sign dropped);
 * |x| >= 61440 and +-Inf give 0x7B/0xFB (57344) when saturating, +-Inf
 * (0x7C/0xFC) otherwise. */
uint8_t qkv_f32_to_e5m2(float x, qkv_fp8_overflow overflow);
/* E5M2 byte -> f32, exact: +-Inf for 0x7C/0xFC, a quiet NaN with the code's
 * sign for 0x7D..0x7F and 0xFD..0xFF. */
float qkv_e5m2_to_f32(uint8_t b);

/* Pack `count` int4 values (each in -8..7; only its low 4 bits are kept) into
 * (count+1)/2 bytes: value 2j in the low nibble of packed[j], 2j+1 in the
 * high nibble; for odd count the last high nibble is 0. */
void qkv_i4_pack(const int8_t *values, size_t count, uint8_t *packed);
/* Unpack `count` int4 values (-8..7, sign extended) from (count+1)/2 bytes
 * packed as by qkv_i4_pack. */
void qkv_i4_unpack(const uint8_t *packed, size_t count, int8_t *values);

#ifdef __cplusplus
}
#endif
#endif /* QKV_H */
