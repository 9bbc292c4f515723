/* kivi.cl - KIVI kernels (spec: kivi.md), OpenCL C 1.2.  The CUDA backend
 * compiles this same text through NVRTC after kernels/cuda/cl2cuda.h.
 *
 * Build-time macros (the host passes them as -D options, the tile
 * parameters the kernels read under their names upper-cased; every kernel
 * builds with any combination, the defaults below fill in the rest):
 *   BITS      code width, 2, 4 or 8           GROUP  quantization group G
 *   WG        work-group size (work-items)
 * quantizers and dequantizers:
 *   IN_F16    1: quantizer input is f16, 0: f32
 *   VEC       channels per work-item unit (quant_keys, dequant_keys,
 *             dequant_values; VEC <= GROUP)
 *   LANES     work-items sharing one value group (quant_values)
 * decode attention:
 *   HEAD_DIM  D                               SPLIT  tokens per work-group
 *   HEADS     query heads per work-group (divides Hq/Hkv)
 *   TPI       key tokens per work-item        KSLICES  channel slices of D
 *   VCH       value channels per work-item (VCH <= GROUP)
 *   FAST      1: fast precision (the "fast" variant; keys of 2-bit codes with
 *             TPI 16 scored in integers, see key_scores_swar)
 * Layouts are the interchange format of qkv.h; every size argument is a
 * 32-bit int checked by the host, offsets are computed in 64 bits.  All the
 * tile macros are powers of two. */
#include "common.cl"

#ifndef BITS
#define BITS 2
#endif
#ifndef GROUP
#define GROUP 32
#endif
#ifndef IN_F16
#define IN_F16 1
#endif
#ifndef WG
#define WG 128
#endif
#ifndef VEC
#define VEC 1
#endif
#ifndef LANES
#define LANES 1
#endif
#ifndef HEAD_DIM
#define HEAD_DIM 128
#endif
#ifndef SPLIT
#define SPLIT 256
#endif
#ifndef HEADS
#define HEADS 1
#endif
#ifndef TPI
#define TPI 16
#endif
#ifndef KSLICES
#define KSLICES 1
#endif
#ifndef VCH
#define VCH 16
#endif
#ifndef FAST
#define FAST 0
#endif

#define PER_WORD (32 / BITS) /* codes per uint32 word */
#define QMAX ((1 << BITS) - 1)
#define CODE_MASK ((uint)QMAX)
#define MIN_OF(a, b) ((a) < (b) ? (a) : (b))

#if IN_F16
#define IN_TYPE half
#define LOAD_IN(p, i) vload_half((i), (p))
#else
#define IN_TYPE float
#define LOAD_IN(p, i) ((p)[i])
#endif

/* f32 -> IEEE f16 bits, round to nearest even (integer arithmetic, so every
 * device agrees with the host's qkv_f32_to_f16 bit for bit). */
QKV_FN ushort f32_to_f16_bits(float x)
{
    const uint u = as_uint(x);
    const uint sign = (u >> 16) & 0x8000u;
    const int e = (int)((u >> 23) & 0xffu) - 127 + 15;
    uint mant = u & 0x7fffffu;
    if (((u >> 23) & 0xffu) == 0xffu)
        return (ushort)(sign | 0x7c00u | (mant ? 0x200u | (mant >> 13) : 0u));
    if (e >= 31)
        return (ushort)(sign | 0x7c00u);
    if (e <= 0) {
        if (e < -10)
            return (ushort)sign;
        mant |= 0x800000u;
        const uint shift = (uint)(14 - e);
        uint h = mant >> shift;
        const uint rem = mant & ((1u << shift) - 1u), half_ulp = 1u << (shift - 1u);
        if (rem > half_ulp || (rem == half_ulp && (h & 1u)))
            h++;
        return (ushort)(sign | h);
    }
    uint h = ((uint)e << 10) | (mant >> 13);
    const uint rem = mant & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u)))
        h++;
    return (ushort)(sign | h);
}

/* IEEE f16 bits -> f32 (exact). */
QKV_FN float f16_bits_to_f32(ushort h)
{
    const uint sign = ((uint)h & 0x8000u) << 16;
    const uint e = ((uint)h >> 10) & 0x1fu;
    const uint mant = (uint)h & 0x3ffu;
    if (e == 0x1fu)
        return as_float(sign | 0x7f800000u | (mant << 13));
    if (e == 0u) /* zero or subnormal: mant * 2^-24 is exact in f32 */
        return as_float(sign) + (sign ? -1.0f : 1.0f) * (float)mant * 5.9604644775390625e-8f;
    return as_float(sign | ((e + 112u) << 23) | (mant << 13));
}

/* Quantize one value against the stored (f16-rounded) scale and min. */
QKV_FN uint quant_code(float x, float scale, float mn)
{
    if (scale == 0.0f)
        return 0u;
    const float t = fmin(fmax((x - mn) / scale, 0.0f), (float)QMAX);
    return (uint)rint(t);
}

/* Code j (0 <= j < PER_WORD) of a packed word, as a float. */
#define CODE_OF(word, j) ((float)(((word) >> (BITS * (j))) & CODE_MASK))

/* Flags quantizer input values that cannot be quantized: bit 0 NaN/Inf,
 * bit 1 |x| > 65504.  input [rows, in_cap, D], tokens [0, tokens) scanned;
 * one work-item per element, grid-stride. */
__kernel void kivi_scan_input(__global const IN_TYPE *restrict input, int rows, int tokens,
                              int head_dim, int in_cap, __global int *flag)
{
    const ulong per_row = (ulong)tokens * (ulong)head_dim;
    const ulong total = per_row * (ulong)rows;
    int found = 0;
    for (ulong i = get_global_id(0); i < total; i += get_global_size(0)) {
        const ulong r = i / per_row, j = i - r * per_row;
        const float v = LOAD_IN(input, r * (ulong)in_cap * (ulong)head_dim + j);
        found |= !isfinite(v) ? 1 : (fabs(v) > 65504.0f ? 2 : 0);
    }
    if (found)
        atomic_or(flag, found);
}

/* Keys, per channel: input [rows, in_cap, D] (tokens [0, tokens), a multiple
 * of GROUP) -> codes [rows, D, out_cap/PER_WORD], scale/min [rows, D,
 * out_cap/GROUP] at token out_off.  A unit is VEC consecutive channels of one
 * token group of one row, numbered channel chunk fastest, then group, then
 * row; work-items take units grid-stride, so neighbours read neighbouring
 * channels of each token. */
__kernel void kivi_quant_keys(__global const IN_TYPE *restrict input,
                              __global uint *restrict codes, __global ushort *restrict scale,
                              __global ushort *restrict minv, int rows, int tokens, int head_dim,
                              int in_cap, int out_cap, int out_off)
{
    const int chunks = head_dim / VEC, groups = tokens / GROUP;
    const ulong units = (ulong)rows * (ulong)groups * (ulong)chunks;
    for (ulong u = get_global_id(0); u < units; u += get_global_size(0)) {
        const ulong rg = u / (ulong)chunks;
        const int d0 = (int)(u - rg * (ulong)chunks) * VEC;
        const ulong bh = rg / (ulong)groups;
        const int g = (int)(rg - bh * (ulong)groups);
        const ulong base = (bh * (ulong)in_cap + (ulong)g * GROUP) * (ulong)head_dim + (ulong)d0;
        float lo[VEC], hi[VEC], s[VEC], m[VEC];
#pragma unroll
        for (int v = 0; v < VEC; v++)
            lo[v] = hi[v] = LOAD_IN(input, base + (ulong)v);
        for (int i = 1; i < GROUP; i++) {
#pragma unroll
            for (int v = 0; v < VEC; v++) {
                const float x = LOAD_IN(input, base + (ulong)i * (ulong)head_dim + (ulong)v);
                lo[v] = fmin(lo[v], x);
                hi[v] = fmax(hi[v], x);
            }
        }
        const ulong row0 = bh * (ulong)head_dim + (ulong)d0; /* channel d0's row */
#pragma unroll
        for (int v = 0; v < VEC; v++) {
            lo[v] += 0.0f; /* a zero extreme of either sign counts as +0 (docs/kivi.md) */
            hi[v] += 0.0f;
            const ushort s_bits = f32_to_f16_bits((hi[v] - lo[v]) / (float)QMAX);
            const ushort m_bits = f32_to_f16_bits(lo[v]);
            const ulong sidx = (row0 + (ulong)v) * (ulong)(out_cap / GROUP) +
                               (ulong)(out_off / GROUP + g);
            scale[sidx] = s_bits;
            minv[sidx] = m_bits;
            s[v] = f16_bits_to_f32(s_bits);
            m[v] = f16_bits_to_f32(m_bits);
        }
        const ulong w0 = (ulong)((out_off + g * GROUP) / PER_WORD);
        for (int w = 0; w < GROUP / PER_WORD; w++) {
            uint word[VEC];
#pragma unroll
            for (int v = 0; v < VEC; v++)
                word[v] = 0u;
            for (int j = 0; j < PER_WORD; j++) {
                const ulong at = base + (ulong)(w * PER_WORD + j) * (ulong)head_dim;
#pragma unroll
                for (int v = 0; v < VEC; v++)
                    word[v] |= quant_code(LOAD_IN(input, at + (ulong)v), s[v], m[v]) << (BITS * j);
            }
#pragma unroll
            for (int v = 0; v < VEC; v++)
                codes[(row0 + (ulong)v) * (ulong)(out_cap / PER_WORD) + w0 + (ulong)w] = word[v];
        }
    }
}

/* Work-items sharing one value group: LANES, at most its words. */
#define QV_LANES MIN_OF(LANES, GROUP / PER_WORD)
#define QV_TEAMS (WG / QV_LANES) /* groups a work-group quantizes at once */

/* Values, per token: input [rows, in_cap, D] -> codes [rows, out_cap,
 * D/PER_WORD], scale/min [rows, out_cap, D/GROUP] at token out_off.  A unit
 * is one channel group of one token, numbered group fastest, then token, then
 * row; a team of QV_LANES consecutive work-items quantizes a unit, lane l
 * taking code words l, l + QV_LANES, ... of it (min and max are combined
 * through local memory), and a work-group's teams take consecutive units,
 * grid-stride over the work-groups. */
__kernel void kivi_quant_values(__global const IN_TYPE *restrict input,
                                __global uint *restrict codes, __global ushort *restrict scale,
                                __global ushort *restrict minv, int rows, int tokens,
                                int head_dim, int in_cap, int out_cap, int out_off)
{
#if QV_LANES > 1
    __local float lane_lo[WG], lane_hi[WG];
#endif
    const int groups = head_dim / GROUP, lid = (int)get_local_id(0);
    const int team = lid / QV_LANES, lane = lid % QV_LANES;
    const ulong units = (ulong)rows * (ulong)tokens * (ulong)groups;
    const ulong stride = (ulong)get_num_groups(0) * QV_TEAMS;
    for (ulong u0 = (ulong)get_group_id(0) * QV_TEAMS; u0 < units; u0 += stride) {
        const ulong u = u0 + (ulong)team;
        const bool active = u < units;
        const ulong row = active ? u / (ulong)groups : 0; /* bh * tokens + t */
        const int g = active ? (int)(u - row * (ulong)groups) : 0;
        const ulong bh = row / (ulong)tokens, t = row - bh * (ulong)tokens;
        const ulong base = (bh * (ulong)in_cap + t) * (ulong)head_dim + (ulong)g * GROUP;
        float lo = 0.0f, hi = 0.0f;
        if (active) {
            lo = hi = LOAD_IN(input, base + (ulong)(lane * PER_WORD));
            for (int w = lane; w < GROUP / PER_WORD; w += QV_LANES)
                for (int j = 0; j < PER_WORD; j++) {
                    const float x = LOAD_IN(input, base + (ulong)(w * PER_WORD + j));
                    lo = fmin(lo, x);
                    hi = fmax(hi, x);
                }
        }
#if QV_LANES > 1
        lane_lo[lid] = lo;
        lane_hi[lid] = hi;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int k = 0; k < QV_LANES; k++) {
            lo = fmin(lo, lane_lo[team * QV_LANES + k]);
            hi = fmax(hi, lane_hi[team * QV_LANES + k]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
#endif
        if (!active)
            continue;
        lo += 0.0f; /* a zero extreme of either sign counts as +0 (docs/kivi.md) */
        hi += 0.0f;
        const ushort s_bits = f32_to_f16_bits((hi - lo) / (float)QMAX);
        const ushort m_bits = f32_to_f16_bits(lo);
        const float s = f16_bits_to_f32(s_bits), m = f16_bits_to_f32(m_bits);
        const ulong orow = bh * (ulong)out_cap + (ulong)out_off + t;
        if (lane == 0) {
            scale[orow * (ulong)groups + (ulong)g] = s_bits;
            minv[orow * (ulong)groups + (ulong)g] = m_bits;
        }
        __global uint *out =
            codes + orow * (ulong)(head_dim / PER_WORD) + (ulong)(g * (GROUP / PER_WORD));
        for (int w = lane; w < GROUP / PER_WORD; w += QV_LANES) {
            uint word = 0u;
            for (int j = 0; j < PER_WORD; j++)
                word |= quant_code(LOAD_IN(input, base + (ulong)(w * PER_WORD + j)), s, m)
                        << (BITS * j);
            out[w] = word;
        }
    }
}

/* Keys: codes [rows, D, T/PER_WORD], scale/min [rows, D, T/GROUP] -> out f32
 * [rows, T, D].  A unit is one code word (PER_WORD tokens) of VEC
 * consecutive channels, numbered channel chunk fastest, then word, then row;
 * work-items take units grid-stride, so neighbours write neighbouring
 * channels of each token. */
__kernel void kivi_dequant_keys(__global const uint *restrict codes,
                                __global const ushort *restrict scale,
                                __global const ushort *restrict minv,
                                __global float *restrict out, int rows, int tokens, int head_dim)
{
    const int chunks = head_dim / VEC, words = tokens / PER_WORD;
    const ulong units = (ulong)rows * (ulong)words * (ulong)chunks;
    for (ulong u = get_global_id(0); u < units; u += get_global_size(0)) {
        const ulong rw = u / (ulong)chunks;
        const int d0 = (int)(u - rw * (ulong)chunks) * VEC;
        const ulong bh = rw / (ulong)words;
        const int w = (int)(rw - bh * (ulong)words);
        const ulong row0 = bh * (ulong)head_dim + (ulong)d0; /* channel d0's row */
        uint word[VEC];
        float s[VEC], m[VEC];
#pragma unroll
        for (int v = 0; v < VEC; v++) {
            const ulong row = row0 + (ulong)v;
            const ulong sidx = row * (ulong)(tokens / GROUP) + (ulong)(w * PER_WORD / GROUP);
            word[v] = codes[row * (ulong)words + (ulong)w];
            s[v] = f16_bits_to_f32(scale[sidx]);
            m[v] = f16_bits_to_f32(minv[sidx]);
        }
        __global float *o =
            out + (bh * (ulong)tokens + (ulong)(w * PER_WORD)) * (ulong)head_dim + (ulong)d0;
#pragma unroll
        for (int j = 0; j < PER_WORD; j++) {
#pragma unroll
            for (int v = 0; v < VEC; v++)
                o[(ulong)j * (ulong)head_dim + (ulong)v] = CODE_OF(word[v], j) * s[v] + m[v];
        }
    }
}

#define DV_IN_WORD MIN_OF(VEC, PER_WORD) /* a unit's channels in one code word */

/* Values: codes [rows, D/PER_WORD], scale/min [rows, D/GROUP] -> out f32
 * [rows, D].  A unit is VEC consecutive channels of one row (numbered
 * channel chunk fastest); work-items take units grid-stride. */
__kernel void kivi_dequant_values(__global const uint *restrict codes,
                                  __global const ushort *restrict scale,
                                  __global const ushort *restrict minv,
                                  __global float *restrict out, int head_dim, int rows)
{
    const int chunks = head_dim / VEC;
    const ulong units = (ulong)rows * (ulong)chunks;
    for (ulong u = get_global_id(0); u < units; u += get_global_size(0)) {
        const ulong row = u / (ulong)chunks;
        const int d0 = (int)(u - row * (ulong)chunks) * VEC;
        const ulong sidx = row * (ulong)(head_dim / GROUP) + (ulong)(d0 / GROUP);
        const float s = f16_bits_to_f32(scale[sidx]), m = f16_bits_to_f32(minv[sidx]);
        __global const uint *w =
            codes + row * (ulong)(head_dim / PER_WORD) + (ulong)(d0 / PER_WORD);
        __global float *o = out + row * (ulong)head_dim + (ulong)d0;
#pragma unroll
        for (int k = 0; k < VEC / DV_IN_WORD; k++) {
            /* the unit's first code; d0 % PER_WORD = 0 when VEC >= PER_WORD */
            const uint word = w[k] >> (BITS * (d0 % PER_WORD));
#pragma unroll
            for (int j = 0; j < DV_IN_WORD; j++)
                o[k * DV_IN_WORD + j] = CODE_OF(word, j) * s + m;
        }
    }
}

/* ---- decode attention ---------------------------------------------------- */

#include "attention_merge.cl"

#define KEY_LANES (WG / KSLICES)             /* token lanes of the key phase */
#define SLICE_DIM (HEAD_DIM / KSLICES)       /* channels of one key slice */
#define KEY_IN_WORD MIN_OF(TPI, PER_WORD)    /* a work-item's tokens in one code word */
#define KEY_WORDS (TPI / KEY_IN_WORD)        /* code words per channel and work-item */
#define KEY_CHUNKS (SPLIT / TPI)             /* TPI-token chunks of a split */
#define KEY_ROUNDS ((KEY_CHUNKS + KEY_LANES - 1) / KEY_LANES)
#define SM_LANES (WG / HEADS)                   /* softmax work-items per head */
#define V_CHUNKS (HEAD_DIM / VCH)            /* value channel chunks per row */
#define V_LANES MIN_OF(V_CHUNKS, WG)         /* work-items per value row */
#define V_TEAMS (WG / V_LANES)               /* value rows read at once */
#define V_PER_LANE ((V_CHUNKS + V_LANES - 1) / V_LANES) /* chunks per work-item */
#define V_IN_WORD MIN_OF(VCH, PER_WORD)      /* a chunk's channels in one code word */
#define V_WORDS (VCH / V_IN_WORD)
#define RED_SIZE (V_TEAMS * HEAD_DIM > WG ? V_TEAMS * HEAD_DIM : WG)

/* Scores are stored token j of every chunk together: token i of the split
 * at score[h * SPLIT + SCORE_POS(i)], so the lanes of the key phase store to
 * consecutive addresses (no local-memory bank conflicts).  Likewise a team's
 * value sums: channel d at red[team * HEAD_DIM + RED_POS(d)]. */
#define SCORE_POS(i) (((i) % TPI) * KEY_CHUNKS + (i) / TPI)
#define TOKEN_AT(pos) (((pos) % KEY_CHUNKS) * TPI + (pos) / KEY_CHUNKS)
#define RED_POS(d) (((d) % VCH) * V_CHUNKS + (d) / VCH)
#define CHANNEL_AT(pos) (((pos) % V_CHUNKS) * VCH + (pos) / V_CHUNKS)


#define KEY_SWAR (FAST && BITS == 2 && TPI == 16)
#if KEY_SWAR
/* Integer levels of query x scale, and channels summed in 16-bit fields
 * before they are widened: 2 x SWAR_LEVELS x 3 x SWAR_FLUSH < 2^16. */
#define SWAR_LEVELS 1365
#define SWAR_FLUSH 8
/* A pointer parameter into local memory (CUDA reaches shared memory
 * through generic pointers, and __shared__ does not qualify a parameter). */
#ifdef __OPENCL_VERSION__
#define LOCAL_PARAM __local
#else
#define LOCAL_PARAM
#endif

/* Fast precision: partial scores acc[h][j] of the 16 quantized key tokens
 * of one code word per channel (tokens of one group), over channels
 * dlo .. dlo + SLICE_DIM - 1 (scale/min at sidx0 + d * sstride, words at
 * widx0 + d * wstride), queries qv (x softmax scale) in local memory.
 * Per head, a_d = q_d s_d is rounded to an integer multiple of alpha =
 * max_d |a_d| / SWAR_LEVELS (offset by SWAR_LEVELS to be >= 0) and
 * multiplied with two tokens' codes at once (tokens j and j + 8 in the
 * 16-bit halves of one word), exact in integers; the offset is taken out
 * with the tokens' code sums, then acc = alpha x sum + sum_d q_d m_d (f32). */
QKV_FN void key_scores_swar(LOCAL_PARAM const float *qv, __global const uint *restrict k_codes,
                            __global const ushort *restrict k_scale,
                            __global const ushort *restrict k_min, int dlo, ulong sidx0,
                            ulong sstride, ulong widx0, ulong wstride, float acc[HEADS][TPI])
{
    float alpha[HEADS], inv[HEADS], bias[HEADS];
#pragma unroll
    for (int h = 0; h < HEADS; h++)
        alpha[h] = bias[h] = 0.0f;
    for (int d = 0; d < SLICE_DIM; d++) {
        const float sc = f16_bits_to_f32(k_scale[sidx0 + (ulong)d * sstride]);
#pragma unroll
        for (int h = 0; h < HEADS; h++)
            alpha[h] = fmax(alpha[h], fabs(qv[h * HEAD_DIM + dlo + d] * sc));
    }
#pragma unroll
    for (int h = 0; h < HEADS; h++) {
        alpha[h] /= (float)SWAR_LEVELS;
        inv[h] = alpha[h] > 0.0f ? 1.0f / alpha[h] : 0.0f;
    }
    int isum[HEADS][TPI], csum[TPI];
#pragma unroll
    for (int j = 0; j < TPI; j++) {
        csum[j] = 0;
#pragma unroll
        for (int h = 0; h < HEADS; h++)
            isum[h][j] = 0;
    }
    for (int d0 = 0; d0 < SLICE_DIM; d0 += SWAR_FLUSH) {
        uint pair[HEADS][TPI / 2], cpair[TPI / 2];
#pragma unroll
        for (int j = 0; j < TPI / 2; j++) {
            cpair[j] = 0u;
#pragma unroll
            for (int h = 0; h < HEADS; h++)
                pair[h][j] = 0u;
        }
        for (int d = d0; d < MIN_OF(d0 + SWAR_FLUSH, SLICE_DIM); d++) {
            const ulong sidx = sidx0 + (ulong)d * sstride;
            const float sc = f16_bits_to_f32(k_scale[sidx]);
            const float mn = f16_bits_to_f32(k_min[sidx]);
            uint qi[HEADS];
#pragma unroll
            for (int h = 0; h < HEADS; h++) {
                const float q = qv[h * HEAD_DIM + dlo + d];
                bias[h] += q * mn;
                qi[h] = (uint)((int)rint(q * sc * inv[h]) + SWAR_LEVELS);
            }
            const uint word = k_codes[widx0 + (ulong)d * wstride];
#pragma unroll
            for (int j = 0; j < TPI / 2; j++) {
                const uint x = (word >> (2 * j)) & 0x00030003u;
                cpair[j] += x;
#pragma unroll
                for (int h = 0; h < HEADS; h++)
                    pair[h][j] += qi[h] * x;
            }
        }
#pragma unroll
        for (int j = 0; j < TPI / 2; j++) {
            csum[j] += (int)(cpair[j] & 0xffffu);
            csum[j + TPI / 2] += (int)(cpair[j] >> 16);
#pragma unroll
            for (int h = 0; h < HEADS; h++) {
                isum[h][j] += (int)(pair[h][j] & 0xffffu);
                isum[h][j + TPI / 2] += (int)(pair[h][j] >> 16);
            }
        }
    }
#pragma unroll
    for (int h = 0; h < HEADS; h++) {
#pragma unroll
        for (int j = 0; j < TPI; j++)
            acc[h][j] = alpha[h] * (float)(isum[h][j] - SWAR_LEVELS * csum[j]) + bias[h];
    }
}
#endif

/* Decode attention, pass 1 (FlashDecoding): work-group (split s, head group
 * g) with g = (b*Hkv + h) * (Hq/Hkv / HEADS) + j serves query heads bq0 + 0 ..
 * HEADS-1, bq0 = b*Hq + h*Hq/Hkv + j*HEADS, over tokens [s*SPLIT, min(N,
 * (s+1)*SPLIT)), dequantizing each key and value code once for all HEADS heads.
 * query f32 [B*Hq, D]; keys t < k_quant from the packed per-channel cache
 * (kcap tokens per row), later ones from the f16 residual [B*Hkv, krcap, D];
 * values t < v_quant from the packed per-token cache (vcap rows per head),
 * later ones from the f16 residual [B*Hkv, vrcap, D].
 *
 * Keys: work-item (slice, lane) takes TPI consecutive tokens (code words of
 * consecutive lanes are consecutive) and the SLICE_DIM channels of its slice,
 * scoring q.k = sum_d (q_d s_dg) c_dt + sum_d q_d m_dg; each slice stores its
 * partial scores in local memory, added in slice order before the softmax.
 * Values: a team of V_LANES work-items reads a token's row (a chunk of VCH
 * channels per work-item), accumulating sum_t (p_t s_tg) c_td and
 * sum_t p_t m_tg with p_t the probability; the teams' sums are added
 * through local memory.
 *
 * Writes the partial results (attention_merge.cl) of scores
 * x_t = sm_scale * q . k_t; attention_decode_merge merges them. */
__kernel void kivi_decode_partial(
    __global const float *restrict query, __global const uint *restrict k_codes,
    __global const ushort *restrict k_scale, __global const ushort *restrict k_min,
    __global const half *restrict k_resid, __global const uint *restrict v_codes,
    __global const ushort *restrict v_scale, __global const ushort *restrict v_min,
    __global const half *restrict v_resid, __global float *restrict part, int q_per_kv,
    int n_tokens, int k_quant, int kcap, int krcap, int v_quant, int vcap, int vrcap,
    float sm_scale)
{
    __local float qv[HEADS * HEAD_DIM];
    __local float score[KSLICES * HEADS * SPLIT];
    __local float red[RED_SIZE];
    const int lid = (int)get_local_id(0), s = (int)get_group_id(0);
    const int nsplit = (int)get_num_groups(0);
    const ulong g = get_global_id(1), ngroups = (ulong)(q_per_kv / HEADS);
    const ulong bkv = g / ngroups, bq0 = bkv * (ulong)q_per_kv + (g % ngroups) * HEADS;
    const int t0 = s * SPLIT, nt = min(SPLIT, n_tokens - t0);
    for (int i = lid; i < HEADS * HEAD_DIM; i += WG)
        qv[i] = query[bq0 * HEAD_DIM + (ulong)i] * sm_scale;
    barrier(CLK_LOCAL_MEM_FENCE);

    /* Keys: round r gives lane kl the tokens [i0, i0 + TPI) of the split. */
    const int slice = lid / KEY_LANES, kl = lid % KEY_LANES, dlo = slice * SLICE_DIM;
    for (int r = 0; r < KEY_ROUNDS; r++) {
        const int i0 = (r * KEY_LANES + kl) * TPI, t = t0 + i0;
        float acc[HEADS][TPI];
#pragma unroll
        for (int h = 0; h < HEADS; h++) {
#pragma unroll
            for (int j = 0; j < TPI; j++)
                acc[h][j] = 0.0f;
        }
        if (i0 < nt && t < k_quant) { /* k_quant is a multiple of GROUP >= TPI */
#if KEY_SWAR
            const ulong row0 = bkv * HEAD_DIM + (ulong)dlo;
            key_scores_swar(qv, k_codes, k_scale, k_min, dlo,
                            row0 * (ulong)(kcap / GROUP) + (ulong)(t / GROUP),
                            (ulong)(kcap / GROUP),
                            row0 * (ulong)(kcap / PER_WORD) + (ulong)(t / PER_WORD),
                            (ulong)(kcap / PER_WORD), acc);
#else
            float bias[HEADS];
#pragma unroll
            for (int h = 0; h < HEADS; h++)
                bias[h] = 0.0f;
            const ulong row0 = bkv * HEAD_DIM + (ulong)dlo; /* channel dlo's row */
            const ulong sidx0 = row0 * (ulong)(kcap / GROUP) + (ulong)(t / GROUP);
            const ulong widx0 = row0 * (ulong)(kcap / PER_WORD) + (ulong)(t / PER_WORD);
            const uint shift = (uint)(BITS * (t % PER_WORD)); /* 0 if TPI >= PER_WORD */
            for (int d = 0; d < SLICE_DIM; d++) {
                const ulong sidx = sidx0 + (ulong)d * (ulong)(kcap / GROUP);
                const float sc = f16_bits_to_f32(k_scale[sidx]);
                const float mn = f16_bits_to_f32(k_min[sidx]);
                float qs[HEADS];
#pragma unroll
                for (int h = 0; h < HEADS; h++) {
                    const float q = qv[h * HEAD_DIM + dlo + d];
                    qs[h] = q * sc;
                    bias[h] += q * mn;
                }
                __global const uint *wp = k_codes + widx0 + (ulong)d * (ulong)(kcap / PER_WORD);
#pragma unroll
                for (int w = 0; w < KEY_WORDS; w++) {
                    const uint word = wp[w] >> shift;
#pragma unroll
                    for (int j = 0; j < KEY_IN_WORD; j++) {
                        const float c = CODE_OF(word, j);
#pragma unroll
                        for (int h = 0; h < HEADS; h++)
                            acc[h][w * KEY_IN_WORD + j] += qs[h] * c;
                    }
                }
            }
#pragma unroll
            for (int h = 0; h < HEADS; h++) {
#pragma unroll
                for (int j = 0; j < TPI; j++)
                    acc[h][j] += bias[h];
            }
#endif
        } else if (i0 < nt) { /* residual keys, f16 rows of tokens [t, t + nj) */
            const int nj = min(TPI, nt - i0);
            const ulong row0 = (bkv * (ulong)krcap + (ulong)(t - k_quant)) * HEAD_DIM;
            for (int d = dlo; d < dlo + SLICE_DIM; d++) {
                float q[HEADS];
#pragma unroll
                for (int h = 0; h < HEADS; h++)
                    q[h] = qv[h * HEAD_DIM + d];
#pragma unroll
                for (int j = 0; j < TPI; j++) {
                    if (j < nj) {
                        const float k = vload_half(row0 + (ulong)(j * HEAD_DIM + d), k_resid);
#pragma unroll
                        for (int h = 0; h < HEADS; h++)
                            acc[h][j] += q[h] * k;
                    }
                }
            }
        }
        if (i0 < nt) {
#pragma unroll
            for (int h = 0; h < HEADS; h++) {
#pragma unroll
                for (int j = 0; j < TPI; j++)
                    if (i0 + j < nt)
                        score[(slice * HEADS + h) * SPLIT + SCORE_POS(i0 + j)] = acc[h][j];
            }
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);

    /* Softmax statistics per head: the slices' partial scores are added in
     * slice order (into slice 0's), then m = max, l = sum of e^(x - m). */
    const int rh = lid / SM_LANES, ri = lid % SM_LANES;
    float my_max = -INFINITY;
    for (int pos = ri; pos < SPLIT; pos += SM_LANES)
        if (TOKEN_AT(pos) < nt) {
            float x = score[rh * SPLIT + pos];
            for (int sl = 1; sl < KSLICES; sl++)
                x += score[(sl * HEADS + rh) * SPLIT + pos];
            score[rh * SPLIT + pos] = x;
            my_max = fmax(my_max, x);
        }
    SEGMENT_REDUCE(red, lid, ri, SM_LANES, OP_MAX, my_max)
    const float m = red[rh * SM_LANES];
    barrier(CLK_LOCAL_MEM_FENCE);
    float my_sum = 0.0f;
    for (int pos = ri; pos < SPLIT; pos += SM_LANES)
        if (TOKEN_AT(pos) < nt) {
            const float e = exp(score[rh * SPLIT + pos] - m);
            score[rh * SPLIT + pos] = e;
            my_sum += e;
        }
    SEGMENT_REDUCE(red, lid, ri, SM_LANES, OP_ADD, my_sum)
    if (ri == 0)
        part_store_stats(part, bq0 + (ulong)rh, nsplit, s, m, red[lid]);
    barrier(CLK_LOCAL_MEM_FENCE);

    /* Values: team vt takes tokens vt, vt + V_TEAMS, ...; lane vl the chunks
     * vl, vl + V_LANES, ... of VCH channels (all in one group). */
    const int vt = lid / V_LANES, vl = lid % V_LANES;
    float o[HEADS][V_PER_LANE * VCH], zs[HEADS][V_PER_LANE];
#pragma unroll
    for (int h = 0; h < HEADS; h++) {
#pragma unroll
        for (int j = 0; j < V_PER_LANE * VCH; j++)
            o[h][j] = 0.0f;
#pragma unroll
        for (int k = 0; k < V_PER_LANE; k++)
            zs[h][k] = 0.0f;
    }
    for (int i = vt; i < nt && vt < V_TEAMS; i += V_TEAMS) {
        const int t = t0 + i;
        float p[HEADS];
#pragma unroll
        for (int h = 0; h < HEADS; h++)
            p[h] = score[h * SPLIT + SCORE_POS(i)];
        if (t < v_quant) {
            const ulong row = bkv * (ulong)vcap + (ulong)t;
#pragma unroll
            for (int k = 0; k < V_PER_LANE; k++) {
                const int d0 = (vl + k * V_LANES) * VCH;
                if (d0 >= HEAD_DIM)
                    break;
                const ulong sidx = row * (HEAD_DIM / GROUP) + (ulong)(d0 / GROUP);
                const float sc = f16_bits_to_f32(v_scale[sidx]);
                const float mn = f16_bits_to_f32(v_min[sidx]);
                float ps[HEADS];
#pragma unroll
                for (int h = 0; h < HEADS; h++) {
                    ps[h] = p[h] * sc;
                    zs[h][k] += p[h] * mn;
                }
                __global const uint *wp =
                    v_codes + row * (HEAD_DIM / PER_WORD) + (ulong)(d0 / PER_WORD);
#pragma unroll
                for (int w = 0; w < V_WORDS; w++) {
                    const uint word = wp[w] >> (BITS * (d0 % PER_WORD));
#pragma unroll
                    for (int j = 0; j < V_IN_WORD; j++) {
                        const float c = CODE_OF(word, j);
#pragma unroll
                        for (int h = 0; h < HEADS; h++)
                            o[h][k * VCH + w * V_IN_WORD + j] += ps[h] * c;
                    }
                }
            }
        } else {
            const ulong row = (bkv * (ulong)vrcap + (ulong)(t - v_quant)) * HEAD_DIM;
#pragma unroll
            for (int k = 0; k < V_PER_LANE; k++) {
                const int d0 = (vl + k * V_LANES) * VCH;
                if (d0 >= HEAD_DIM)
                    break;
#pragma unroll
                for (int j = 0; j < VCH; j++) {
                    const float v = vload_half(row + (ulong)(d0 + j), v_resid);
#pragma unroll
                    for (int h = 0; h < HEADS; h++)
                        o[h][k * VCH + j] += p[h] * v;
                }
            }
        }
    }
    /* Per head: the teams' sums (o + zs) through red, added in team order
     * (unrolled, so o stays in registers). */
#pragma unroll
    for (int h = 0; h < HEADS; h++) {
        if (vt < V_TEAMS) {
#pragma unroll
            for (int k = 0; k < V_PER_LANE; k++) {
                const int d0 = (vl + k * V_LANES) * VCH;
                if (d0 >= HEAD_DIM)
                    break;
#pragma unroll
                for (int j = 0; j < VCH; j++)
                    red[vt * HEAD_DIM + RED_POS(d0 + j)] = o[h][k * VCH + j] + zs[h][k];
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        __global float *out = part_at(part, bq0 + (ulong)h, nsplit, s);
        for (int pos = lid; pos < HEAD_DIM; pos += WG) {
            float acc = 0.0f;
            for (int r = 0; r < V_TEAMS; r++)
                acc += red[r * HEAD_DIM + pos];
            out[CHANNEL_AT(pos)] = acc;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}
