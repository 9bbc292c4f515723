/* kivi.cu - native CUDA KIVI kernels (spec: kivi.md), the "cuda" variants
 * of src/ops/kivi/cuda_kivi.c.  Same semantics as kernels/opencl/kivi.cl
 * (stored f16 scale and min, codes rounded half to even after clamping,
 * scale 0 giving code 0), written for NVIDIA warps: 16-byte loads, warp
 * shuffles, dynamic shared memory.
 *
 * Build-time macros (-D options from the host):
 *   BITS, GROUP  code width (2, 4, 8; decode 2, 4) and quantization group
 *   IN_F16       quantizer input: 1 f16, 0 f32
 * decode attention:
 *   HEAD_DIM  D (a multiple of 32)         SPLIT  tokens per block (>= 64)
 *   HEADS     query heads per block (a power of two dividing Hq/Hkv,
 *             HEADS * PER_WORD <= 64)
 *   WARPS     warps per block              KLANES lanes sharing a key word
 * Layouts are the interchange format of qkv.h.  Sizes are 32-bit ints
 * checked by the host (64-bit where a product may not fit), offsets 64-bit.
 * Every D is a multiple of GROUP >= 32, so a token's row of f16 or f32
 * values is a whole number of 16-byte words; buffers are 256-byte aligned. */
#include "kivi_quant.cuh"

#ifndef IN_F16
#define IN_F16 1
#endif
#ifndef HEAD_DIM
#define HEAD_DIM 128
#endif
#ifndef SPLIT
#define SPLIT 256
#endif
#ifndef HEADS
#define HEADS 4
#endif
#ifndef WARPS
#define WARPS 4
#endif
#ifndef KLANES
#define KLANES 8
#endif

/* Quantizer input values per 16-byte word. */
#if IN_F16
#define CPT 8
#else
#define CPT 4
#endif

/* The CPT input values of 16-byte word `chunk` of `in`, as f32. */
static __device__ __forceinline__ void load_chunk(const uint4 *__restrict__ in, u64 chunk,
                                                  float *x)
{
    const uint4 w = in[chunk];
#if IN_F16
    unpack_f16x8(w, x);
#else
    x[0] = __uint_as_float(w.x);
    x[1] = __uint_as_float(w.y);
    x[2] = __uint_as_float(w.z);
    x[3] = __uint_as_float(w.w);
#endif
}

/* Flags of one 16-byte word of input: bit 0 NaN/Inf, bit 1 |x| > 65504
 * (f32 only), on the bit patterns as the host's scan. */
static __device__ __forceinline__ int chunk_flags(uint4 w)
{
    const u32 v[4] = {w.x, w.y, w.z, w.w};
    int flags = 0;
#pragma unroll
    for (int i = 0; i < 4; i++) {
#if IN_F16
        flags |= (v[i] & 0x7c00u) == 0x7c00u || (v[i] & 0x7c000000u) == 0x7c000000u;
#else
        flags |= (v[i] & 0x7f800000u) == 0x7f800000u ? 1 : 0;
        flags |= (v[i] & 0x7fffffffu) > 0x477fe000u && (v[i] & 0x7f800000u) != 0x7f800000u
                     ? 2
                     : 0;
#endif
    }
    return flags;
}

/* ---- quantizers ----------------------------------------------------------- */

/* Flags quantizer input that cannot be quantized (bits as chunk_flags) into
 * *flag.  input [rows, in_cap, D], tokens [0, tokens) scanned; `chunks` =
 * rows * tokens * D / CPT 16-byte words, taken grid-stride. */
extern "C" __global__ void kivi_scan_input(const uint4 *__restrict__ input, int tokens,
                                           int head_dim, int in_cap, i64 chunks, int *flag)
{
    const u64 per_row = (u64)tokens * (u64)head_dim / CPT;
    const u64 stride = (u64)in_cap * (u64)head_dim / CPT;
    int found = 0;
    for (u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x; i < (u64)chunks;
         i += (u64)gridDim.x * blockDim.x) {
        const u64 r = i / per_row;
        found |= chunk_flags(input[r * stride + (i - r * per_row)]);
    }
    found = (int)__reduce_or_sync(FULL_MASK, (u32)found);
    if (found && (threadIdx.x & 31) == 0)
        atomicOr(flag, found);
}

/* Keys, per channel: input [rows, in_cap, D] (tokens [0, tokens), a
 * multiple of GROUP) -> codes [rows, D, out_cap/PER_WORD], scale/min
 * [rows, D, out_cap/GROUP] at token out_off.  Thread unit: CPT consecutive
 * channels (one 16-byte word per token) of one token group of one row,
 * numbered channel chunk fastest, so a warp reads 32 consecutive words of
 * each token; units grid-stride. */
extern "C" __global__ void kivi_quant_keys(const uint4 *__restrict__ input,
                                           u32 *__restrict__ codes, u16 *__restrict__ scale,
                                           u16 *__restrict__ minv, int rows, int tokens,
                                           int head_dim, int in_cap, int out_cap, int out_off)
{
    const int chunks = head_dim / CPT, groups = tokens / GROUP;
    const u64 units = (u64)rows * (u64)groups * (u64)chunks;
    for (u64 u = (u64)blockIdx.x * blockDim.x + threadIdx.x; u < units;
         u += (u64)gridDim.x * blockDim.x) {
        const u64 rg = u / (u64)chunks;
        const int c = (int)(u - rg * (u64)chunks), d0 = c * CPT;
        const u64 bh = rg / (u64)groups;
        const int g = (int)(rg - bh * (u64)groups);
        /* 16-byte word of (token g*GROUP + i, channels d0..) is first + i * chunks */
        const u64 first = (bh * (u64)in_cap + (u64)g * GROUP) * (u64)chunks + (u64)c;
        float x[CPT], lo[CPT], hi[CPT], s[CPT], m[CPT];
        load_chunk(input, first, lo);
#pragma unroll
        for (int v = 0; v < CPT; v++)
            hi[v] = lo[v];
        for (int i = 1; i < GROUP; i++) {
            load_chunk(input, first + (u64)i * (u64)chunks, x);
#pragma unroll
            for (int v = 0; v < CPT; v++) {
                lo[v] = fminf(lo[v], x[v]);
                hi[v] = fmaxf(hi[v], x[v]);
            }
        }
        const u64 row0 = bh * (u64)head_dim + (u64)d0; /* channel d0's output row */
#pragma unroll
        for (int v = 0; v < CPT; v++) {
            u16 s_bits, m_bits;
            group_scale_min(lo[v], hi[v], &s_bits, &m_bits);
            const u64 sidx = (row0 + (u64)v) * (u64)(out_cap / GROUP) + (u64)(out_off / GROUP + g);
            scale[sidx] = s_bits;
            minv[sidx] = m_bits;
            s[v] = h2f(s_bits);
            m[v] = h2f(m_bits);
        }
        const u64 w0 = (u64)((out_off + g * GROUP) / PER_WORD);
        for (int w = 0; w < GROUP / PER_WORD; w++) {
            u32 word[CPT];
#pragma unroll
            for (int v = 0; v < CPT; v++)
                word[v] = 0u;
            for (int j = 0; j < PER_WORD; j++) {
                load_chunk(input, first + (u64)(w * PER_WORD + j) * (u64)chunks, x);
#pragma unroll
                for (int v = 0; v < CPT; v++)
                    word[v] |= quant_code(x[v], s[v], m[v]) << (BITS * j);
            }
#pragma unroll
            for (int v = 0; v < CPT; v++)
                codes[(row0 + (u64)v) * (u64)(out_cap / PER_WORD) + w0 + (u64)w] = word[v];
        }
    }
}

#define GROUP_LANES (GROUP / CPT) /* lanes holding one value group (<= 32) */
/* Code words a lane fills (whole), or 1 shared by WORD_LANES lanes. */
#define LANE_WORDS (CPT >= PER_WORD ? CPT / PER_WORD : 1)
#define WORD_LANES (CPT >= PER_WORD ? 1 : PER_WORD / CPT)

/* Values, per token: input [rows, in_cap, D] -> codes [rows, out_cap,
 * D/PER_WORD], scale/min [rows, out_cap, D/GROUP] at token out_off.  Lane
 * unit: CPT consecutive channels (one 16-byte word) of one token, numbered
 * chunk fastest; the GROUP_LANES lanes of a group combine min and max by
 * shuffles, the lanes sharing a code word OR their codes.  A warp takes 32
 * consecutive units, grid-stride (every lane runs every round: the
 * shuffles need the whole warp). */
extern "C" __global__ void kivi_quant_values(const uint4 *__restrict__ input,
                                             u32 *__restrict__ codes, u16 *__restrict__ scale,
                                             u16 *__restrict__ minv, int rows, int tokens,
                                             int head_dim, int in_cap, int out_cap, int out_off)
{
    const int chunks = head_dim / CPT, lane = (int)(threadIdx.x & 31);
    const u64 units = (u64)rows * (u64)tokens * (u64)chunks;
    const u64 warp0 = ((u64)blockIdx.x * blockDim.x + (threadIdx.x & ~31u));
    for (u64 u0 = warp0; u0 < units; u0 += (u64)gridDim.x * blockDim.x) {
        const u64 u = u0 + (u64)lane;
        const bool active = u < units; /* inactive lanes form whole groups */
        const u64 row = active ? u / (u64)chunks : 0; /* bh * tokens + t */
        const int c = active ? (int)(u - row * (u64)chunks) : 0, d0 = c * CPT;
        const u64 bh = row / (u64)tokens, t = row - bh * (u64)tokens;
        float x[CPT];
        if (active)
            load_chunk(input, (bh * (u64)in_cap + t) * (u64)chunks + (u64)c, x);
        else
#pragma unroll
            for (int v = 0; v < CPT; v++)
                x[v] = 0.0f;
        float lo = x[0], hi = x[0];
#pragma unroll
        for (int v = 1; v < CPT; v++) {
            lo = fminf(lo, x[v]);
            hi = fmaxf(hi, x[v]);
        }
#pragma unroll
        for (int off = 1; off < GROUP_LANES; off *= 2) {
            lo = fminf(lo, __shfl_xor_sync(FULL_MASK, lo, off));
            hi = fmaxf(hi, __shfl_xor_sync(FULL_MASK, hi, off));
        }
        u16 s_bits, m_bits;
        group_scale_min(lo, hi, &s_bits, &m_bits);
        const float s = h2f(s_bits), m = h2f(m_bits);
        u32 word[LANE_WORDS];
#pragma unroll
        for (int k = 0; k < LANE_WORDS; k++)
            word[k] = 0u;
#pragma unroll
        for (int v = 0; v < CPT; v++)
            word[v / PER_WORD] |= quant_code(x[v], s, m) << (BITS * ((d0 + v) % PER_WORD));
#pragma unroll
        for (int off = 1; off < WORD_LANES; off *= 2)
            word[0] |= __shfl_xor_sync(FULL_MASK, word[0], off);
        if (!active)
            continue;
        const u64 orow = bh * (u64)out_cap + (u64)out_off + t;
        if (d0 % GROUP == 0) {
            scale[orow * (u64)(head_dim / GROUP) + (u64)(d0 / GROUP)] = s_bits;
            minv[orow * (u64)(head_dim / GROUP) + (u64)(d0 / GROUP)] = m_bits;
        }
        if (d0 % (WORD_LANES * CPT) == 0) {
            u32 *out = codes + orow * (u64)(head_dim / PER_WORD) + (u64)(d0 / PER_WORD);
#pragma unroll
            for (int k = 0; k < LANE_WORDS; k++)
                out[k] = word[k];
        }
    }
}

/* ---- dequantizers --------------------------------------------------------- */

/* Keys: codes [rows, D, T/PER_WORD], scale/min [rows, D, T/GROUP] -> out f32
 * [rows, T, D].  Thread unit: one code word (PER_WORD tokens) of 4
 * consecutive channels, numbered channel chunk fastest, written as one
 * 16-byte store per token; units grid-stride. */
extern "C" __global__ void kivi_dequant_keys(const u32 *__restrict__ codes,
                                             const u16 *__restrict__ scale,
                                             const u16 *__restrict__ minv,
                                             float4 *__restrict__ out, int rows, int tokens,
                                             int head_dim)
{
    const int chunks = head_dim / 4, words = tokens / PER_WORD;
    const u64 units = (u64)rows * (u64)words * (u64)chunks;
    for (u64 u = (u64)blockIdx.x * blockDim.x + threadIdx.x; u < units;
         u += (u64)gridDim.x * blockDim.x) {
        const u64 rw = u / (u64)chunks;
        const int c = (int)(u - rw * (u64)chunks);
        const u64 bh = rw / (u64)words;
        const int w = (int)(rw - bh * (u64)words);
        const u64 row0 = bh * (u64)head_dim + (u64)(c * 4); /* channel 4c's row */
        u32 word[4];
        float s[4], m[4];
#pragma unroll
        for (int v = 0; v < 4; v++) {
            const u64 row = row0 + (u64)v;
            const u64 sidx = row * (u64)(tokens / GROUP) + (u64)(w * PER_WORD / GROUP);
            word[v] = codes[row * (u64)words + (u64)w];
            s[v] = h2f(scale[sidx]);
            m[v] = h2f(minv[sidx]);
        }
        float4 *o = out + (bh * (u64)tokens + (u64)(w * PER_WORD)) * (u64)chunks + (u64)c;
#pragma unroll
        for (int j = 0; j < PER_WORD; j++)
            o[(u64)j * (u64)chunks] =
                make_float4(fmaf(CODE_OF(word[0], j), s[0], m[0]),
                            fmaf(CODE_OF(word[1], j), s[1], m[1]),
                            fmaf(CODE_OF(word[2], j), s[2], m[2]),
                            fmaf(CODE_OF(word[3], j), s[3], m[3]));
    }
}

/* Values: codes [rows, D/PER_WORD], scale/min [rows, D/GROUP] -> out f32
 * [rows, D].  Thread unit: one code word (PER_WORD channels of one group),
 * written as PER_WORD/4 16-byte stores; units grid-stride. */
extern "C" __global__ void kivi_dequant_values(const u32 *__restrict__ codes,
                                               const u16 *__restrict__ scale,
                                               const u16 *__restrict__ minv,
                                               float4 *__restrict__ out, int head_dim, int rows)
{
    const int words = head_dim / PER_WORD;
    const u64 units = (u64)rows * (u64)words;
    for (u64 u = (u64)blockIdx.x * blockDim.x + threadIdx.x; u < units;
         u += (u64)gridDim.x * blockDim.x) {
        const u64 row = u / (u64)words;
        const int w = (int)(u - row * (u64)words);
        const u64 sidx = row * (u64)(head_dim / GROUP) + (u64)(w * PER_WORD / GROUP);
        const float s = h2f(scale[sidx]), m = h2f(minv[sidx]);
        const u32 word = codes[u];
        float4 *o = out + u * (PER_WORD / 4);
#pragma unroll
        for (int k = 0; k < PER_WORD / 4; k++)
            o[k] = make_float4(fmaf(CODE_OF(word, 4 * k), s, m),
                               fmaf(CODE_OF(word, 4 * k + 1), s, m),
                               fmaf(CODE_OF(word, 4 * k + 2), s, m),
                               fmaf(CODE_OF(word, 4 * k + 3), s, m));
    }
}

/* ---- decode attention ----------------------------------------------------- */

#include "attention_merge.cuh"
#include "kivi_args.cuh"

#define THREADS (WARPS * 32)
#define KEY_TEAMS (THREADS / KLANES)          /* key code words scored at once */
#define SPLIT_WORDS (SPLIT / PER_WORD)        /* key code words per channel and split */
#define KEY_ROW (SPLIT_WORDS + 1)             /* staged key row, padded against bank conflicts */
#define ROW_WORDS (HEAD_DIM / PER_WORD)       /* code words per value row */
#define CODE_WORDS (HEAD_DIM * KEY_ROW > SPLIT * ROW_WORDS ? HEAD_DIM * KEY_ROW : SPLIT * ROW_WORDS)
#define ACC (HEADS * PER_WORD)                /* scores a key team sums: heads x tokens of a word */
#define CPL (HEAD_DIM / 32)                   /* value channels per lane */

/* Dynamic shared memory of kivi_decode_split, as the host computes it
 * (cuda_kivi.c): queries [HEADS, D] and scores [HEADS, SPLIT] (f32), staged
 * codes [CODE_WORDS] (u32), warp sums [WARPS, D] (f32). */

/* Copy `n` u32 words from src to dst (shared), all threads of the block,
 * by 16-byte words where src is 16-byte aligned (then dst is too). */
static __device__ __forceinline__ void stage_span(u32 *dst, const u32 *__restrict__ src, int n)
{
    int done = 0;
    if (((size_t)src & 15u) == 0) {
        const uint4 *s4 = (const uint4 *)src;
        uint4 *d4 = (uint4 *)dst;
        for (int i = (int)threadIdx.x; i < n / 4; i += THREADS)
            d4[i] = s4[i];
        done = n / 4 * 4;
    }
    for (int i = done + (int)threadIdx.x; i < n; i += THREADS)
        dst[i] = src[i];
}

/* Stage the key codes of `words` code words from word w0 of each of the D
 * channel rows of kv head bkv into dst[d * KEY_ROW + w], by 16-byte loads
 * where the rows allow (kcap / PER_WORD and w0 multiples of 4). */
static __device__ __forceinline__ void stage_keys(u32 *dst, const u32 *__restrict__ k_codes,
                                                  u64 bkv, int kcap, int w0, int words)
{
    const u64 row_words = (u64)(kcap / PER_WORD);
    const u32 *src = k_codes + bkv * HEAD_DIM * row_words + (u64)w0;
    if (row_words % 4 == 0 && w0 % 4 == 0) {
        const int quads = words / 4;
        for (int i = (int)threadIdx.x; i < HEAD_DIM * quads; i += THREADS) {
            const int d = i / quads, q = i - d * quads;
            const uint4 v = *(const uint4 *)(src + (u64)d * row_words + (u64)(4 * q));
            u32 *o = dst + d * KEY_ROW + 4 * q;
            o[0] = v.x;
            o[1] = v.y;
            o[2] = v.z;
            o[3] = v.w;
        }
        const int tail = words - quads * 4;
        for (int i = (int)threadIdx.x; i < HEAD_DIM * tail; i += THREADS) {
            const int d = i / tail, w = quads * 4 + (i - d * tail);
            dst[d * KEY_ROW + w] = src[(u64)d * row_words + (u64)w];
        }
        return;
    }
    for (int i = (int)threadIdx.x; i < HEAD_DIM * words; i += THREADS) {
        const int d = i / words, w = i - d * words;
        dst[d * KEY_ROW + w] = src[(u64)d * row_words + (u64)w];
    }
}

/* Scores of key code word w of the split (tokens t0 + w*PER_WORD ...) for
 * the HEADS queries qs, by a team of KLANES lanes (team lane tl takes
 * channels tl, tl + KLANES, ...; their partial sums are combined by
 * team_reduce_scatter), into score[h * SPLIT + i] for the split's tokens
 * i < nt.  Quantized words read the staged codes kc, residual ones the f16
 * rows of k_resid. */
static __device__ __forceinline__ void score_word(const kivi_decode_args &a, const float *qs,
                                                  const u32 *kc, float *score, u64 bkv, int t0,
                                                  int nt, int w, int tl, u32 mask)
{
    float acc[ACC];
#pragma unroll
    for (int i = 0; i < ACC; i++)
        acc[i] = 0.0f;
    const int tw = t0 + w * PER_WORD;
    if (tw < a.k_quant) { /* k_quant is a multiple of GROUP: the whole word is quantized */
        const u64 srow = (u64)(a.kcap / GROUP);
        for (int d = tl; d < HEAD_DIM; d += KLANES) {
            const u32 word = kc[d * KEY_ROW + w];
            const u64 sidx = (bkv * HEAD_DIM + (u64)d) * srow + (u64)(tw / GROUP);
            const float sc = h2f(a.k_scale[sidx]), mn = h2f(a.k_min[sidx]);
            float q[HEADS];
#pragma unroll
            for (int h = 0; h < HEADS; h++)
                q[h] = qs[h * HEAD_DIM + d];
#pragma unroll
            for (int j = 0; j < PER_WORD; j++) {
                const float k = fmaf(CODE_OF(word, j), sc, mn);
#pragma unroll
                for (int h = 0; h < HEADS; h++)
                    acc[h * PER_WORD + j] = fmaf(q[h], k, acc[h * PER_WORD + j]);
            }
        }
    } else {
        const int nj = min(PER_WORD, t0 + nt - tw);
        const u16 *rows = a.k_resid + (bkv * (u64)a.krcap + (u64)(tw - a.k_quant)) * HEAD_DIM;
        for (int d = tl; d < HEAD_DIM; d += KLANES) {
            float q[HEADS];
#pragma unroll
            for (int h = 0; h < HEADS; h++)
                q[h] = qs[h * HEAD_DIM + d];
#pragma unroll
            for (int j = 0; j < PER_WORD; j++)
                if (j < nj) {
                    const float k = h2f(rows[(u64)j * HEAD_DIM + (u64)d]);
#pragma unroll
                    for (int h = 0; h < HEADS; h++)
                        acc[h * PER_WORD + j] = fmaf(q[h], k, acc[h * PER_WORD + j]);
                }
        }
    }
    int base;
    team_reduce_scatter<ACC, KLANES>(acc, mask, tl, &base);
    if (!reduce_scatter_writer<ACC, KLANES>(tl))
        return;
#pragma unroll
    for (int i = 0; i < reduce_scatter_kept<ACC, KLANES>::value; i++) {
        const int h = (base + i) / PER_WORD, tok = w * PER_WORD + (base + i) % PER_WORD;
        if (tok < nt)
            score[h * SPLIT + tok] = acc[i];
    }
}

/* Decode attention, pass 1 (FlashDecoding): block (split s, head group g),
 * g = (b*Hkv + h) * (Hq/Hkv / HEADS) + j, serves query heads bq0 .. bq0 +
 * HEADS - 1 (bq0 = b*Hq + h*Hq/Hkv + j*HEADS) over tokens [s*SPLIT,
 * min(N, (s+1)*SPLIT)), dequantizing every key and value code once for
 * all HEADS heads.  Keys: the split's code words (16-byte loads) are staged
 * in shared memory, then teams of KLANES lanes score a code word each.
 * Softmax statistics per head by a warp.  Values: the split's code rows
 * (one contiguous span) are staged, then warp w takes tokens w, w + WARPS,
 * ..., lane l the channels l, l + 32, ...; the warps' sums are added
 * through shared memory.  Writes the partial results of attention_merge.cuh
 * for scores x_t = sm_scale * q . k_t. */
extern "C" __global__ void __launch_bounds__(THREADS)
    kivi_decode_split(const kivi_decode_args a)
{
    extern __shared__ float4 smem4[];
    float *qs = (float *)smem4;
    float *score = qs + HEADS * HEAD_DIM;
    u32 *codes = (u32 *)(score + HEADS * SPLIT);
    float *red = (float *)(codes + CODE_WORDS);
    const int tid = (int)threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int s = (int)blockIdx.x, nsplit = (int)gridDim.x;
    const u64 g = blockIdx.y, ngroups = (u64)(a.q_per_kv / HEADS);
    const u64 bkv = g / ngroups, bq0 = bkv * (u64)a.q_per_kv + (g % ngroups) * HEADS;
    const int t0 = s * SPLIT, nt = min(SPLIT, a.n_tokens - t0);

    for (int i = tid; i < HEADS * HEAD_DIM; i += THREADS)
        qs[i] = a.query[bq0 * HEAD_DIM + (u64)i] * a.sm_scale;
    const int kwords = max(0, min(a.k_quant - t0, nt)) / PER_WORD;
    if (kwords > 0)
        stage_keys(codes, a.k_codes, bkv, a.kcap, t0 / PER_WORD, kwords);
    __syncthreads();

    const int tl = lane % KLANES;
    const u32 mask = team_mask<KLANES>(lane);
    const int nwords = (nt + PER_WORD - 1) / PER_WORD;
    for (int w = tid / KLANES; w < nwords; w += KEY_TEAMS)
        score_word(a, qs, codes, score, bkv, t0, nt, w, tl, mask);
    __syncthreads();

    /* Softmax statistics per head; the scores become e^(x - m). */
    split_softmax_stats(score, nt, HEADS, WARPS, SPLIT, warp, lane, a.part, bq0, nsplit, s);
    const int vrows = max(0, min(a.v_quant - t0, nt));
    if (vrows > 0)
        stage_span(codes, a.v_codes + (bkv * (u64)a.vcap + (u64)t0) * ROW_WORDS,
                   vrows * ROW_WORDS);
    __syncthreads();

    float o[HEADS][CPL];
#pragma unroll
    for (int h = 0; h < HEADS; h++)
#pragma unroll
        for (int k = 0; k < CPL; k++)
            o[h][k] = 0.0f;
    for (int i = warp; i < nt; i += WARPS) {
        float p[HEADS];
#pragma unroll
        for (int h = 0; h < HEADS; h++)
            p[h] = score[h * SPLIT + i];
        const int t = t0 + i;
        if (t < a.v_quant) {
            const u64 srow = (bkv * (u64)a.vcap + (u64)t) * (HEAD_DIM / GROUP);
#pragma unroll
            for (int k = 0; k < CPL; k++) {
                const int d = lane + 32 * k;
                const u32 word = codes[i * ROW_WORDS + d / PER_WORD];
                const float sc = h2f(a.v_scale[srow + (u64)(d / GROUP)]);
                const float mn = h2f(a.v_min[srow + (u64)(d / GROUP)]);
                const float v = fmaf(CODE_OF(word, d % PER_WORD), sc, mn);
#pragma unroll
                for (int h = 0; h < HEADS; h++)
                    o[h][k] = fmaf(p[h], v, o[h][k]);
            }
        } else {
            const u16 *row = a.v_resid + (bkv * (u64)a.vrcap + (u64)(t - a.v_quant)) * HEAD_DIM;
#pragma unroll
            for (int k = 0; k < CPL; k++) {
                const float v = h2f(row[lane + 32 * k]);
#pragma unroll
                for (int h = 0; h < HEADS; h++)
                    o[h][k] = fmaf(p[h], v, o[h][k]);
            }
        }
    }
    /* Per head: the warps' sums through red, added in warp order. */
#pragma unroll
    for (int h = 0; h < HEADS; h++) {
#pragma unroll
        for (int k = 0; k < CPL; k++)
            red[warp * HEAD_DIM + lane + 32 * k] = o[h][k];
        __syncthreads();
        float *out = part_at(a.part, bq0 + (u64)h, nsplit, s);
        for (int d = tid; d < HEAD_DIM; d += THREADS) {
            float acc = 0.0f;
            for (int w = 0; w < WARPS; w++)
                acc += red[w * HEAD_DIM + d];
            out[d] = acc;
        }
        __syncthreads();
    }
}
