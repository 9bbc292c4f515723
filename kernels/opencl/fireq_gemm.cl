/* fireq_gemm.cl - FireQ INT4 x FP8 GEMM (w4a8_gemm; spec w4a8-gemm.md,
 * both modes), OpenCL C 1.2.  The CUDA backend compiles this same text
 * through NVRTC after kernels/cuda/cl2cuda.h.
 *
 * A work-group computes a tile of BM tokens x BN outputs over a range of
 * K groups.  K is stepped KSTEP at a time: the step's activation codes are
 * decoded to f32 into local memory, its weight nibbles expanded to f32
 * through the 16-entry table of each output row and group (built in local
 * memory when a group begins), then each work-item adds the products of
 * its TM tokens x TN outputs in f32 FMA.  Every product is exact in f32.
 *
 * Build-time macros (the host passes them as -D options):
 *   WG     work-group size (work-items)
 *   WM     work-items along the tokens (a power of two dividing WG); WG / WM
 *          along the outputs
 *   TM, TN tokens and outputs per work-item (work-item i of the WM takes
 *          tokens i, i + WM, ...; likewise along the outputs)
 *   KSTEP  K per step, dividing 64 (so every group of 64, 128 or 256)
 *   EXACT  1: the exact mode's table q * dec(s); 0: the lut mode's
 *          E4M3-rounded one (q = 0 gives -0.0)
 *   Y_F32  1: y f32 (exact mode only); 0: y bf16 bits
 * Sizes are 32-bit ints checked by the host; offsets are computed in 64
 * bits.  Integer E4M3 and bf16 conversions: no denormal float anywhere. */
#include "bf16.cl"
#include "fp8.cl"

#ifndef WG
#define WG 128
#endif
#ifndef WM
#define WM 4
#endif
#ifndef TM
#define TM 4
#endif
#ifndef TN
#define TN 4
#endif
#ifndef KSTEP
#define KSTEP 32
#endif
#ifndef EXACT
#define EXACT 0
#endif
#ifndef Y_F32
#define Y_F32 0
#endif

#define WN (WG / WM)
#define BM (WM * TM)
#define BN (WN * TN)
/* Row stride of the local tiles: work-items reading rows r and r + 1 at
 * one column hit different banks. */
#define LDK (KSTEP + 1)

#if Y_F32
#define Y_TYPE float
#else
#define Y_TYPE ushort
#endif

/* f32 value of bf16 bits b (exact). */
QKV_FN float bf16_value(ushort b) { return as_float((uint)b << 16); }

/* The weight of nibble v (two's complement code q) under E4M3 scale code
 * s: q * dec(s), exact in f32; the lut mode rounds it to E4M3
 * (satfinite) and gives -0.0 for q = 0. */
QKV_FN float weight_value(uint v, uchar s)
{
    const float qs = (float)((int)v - (int)(v & 8u) * 2) * fp8_e4m3_to_f32(s);
#if EXACT
    return qs;
#else
    return v == 0u ? -0.0f : fp8_e4m3_to_f32(fp8_e4m3_from_bits(as_uint(qs)));
#endif
}

/* Y of accumulator a for token scale sx and ps = 2^ps_exp (the spec's
 * epilogue, the same f32 steps as the cpu kernel: lut Y = bf16(bf16(a) *
 * sx), then * 2^-ps_exp in bf16 when ps_exp > 0; exact Y = a * sx * 2^-ps_exp
 * in f32, stored as Y_TYPE). */
QKV_FN Y_TYPE epilogue(float a, float sx, int ps_exp)
{
    const float inv_ps = as_float((uint)(127 - ps_exp) << 23);
#if EXACT && Y_F32
    return a * sx * inv_ps;
#elif EXACT
    return f32_to_bf16_bits(a * sx * inv_ps);
#else
    const ushort y = f32_to_bf16_bits(bf16_value(f32_to_bf16_bits(a)) * sx);
    return ps_exp > 0 ? f32_to_bf16_bits(bf16_value(y) * inv_ps) : y;
#endif
}

/* xq [m, k] E4M3 bytes, sx [m] bf16 bits, wq [n, k/2] packed INT4, ws
 * [n, k/group] E4M3 -> the accumulators of groups slice * slice_groups ..
 * (slice + 1) * slice_groups - 1 (the last slice: to the end).  Work-group
 * w of the 1-D grid takes slice w / (mt * nt), token tile w / nt % mt and
 * output tile w % nt (mt, nt: the tiles along m and n).  partial = 1:
 * the accumulators go to acc [slices, m, n] at the slice's place (for
 * fireq_gemm_reduce); partial = 0 (a single slice): y [m, n] by the
 * epilogue, and acc [m, n] unless acc is NULL. */
__kernel void fireq_gemm(__global const uchar *restrict xq, __global const ushort *restrict sx,
                         __global const uchar *restrict wq, __global const uchar *restrict ws,
                         __global Y_TYPE *restrict y, __global float *restrict acc, int m, int n,
                         int k, int group, int slice_groups, int ps_exp, int partial)
{
    __local float xs[BM * LDK];
    __local float wl[BN * LDK];
    __local float table[BN * 16];
    const int lid = (int)get_local_id(0), wi_m = lid / WN, wi_n = lid % WN;
    const int mt = (m + BM - 1) / BM, nt = (n + BN - 1) / BN, w = (int)get_group_id(0);
    const int slice = w / (mt * nt), m0 = w / nt % mt * BM, n0 = w % nt * BN;
    const int groups = k / group, g0 = slice * slice_groups;
    const int g1 = min(groups, g0 + slice_groups);
    float a[TM][TN];
    for (int i = 0; i < TM; i++)
        for (int j = 0; j < TN; j++)
            a[i][j] = 0.0f;
    for (int kb = g0 * group; kb < g1 * group; kb += KSTEP) {
        if (kb % group == 0) { /* uniform: the tables of group kb / group */
            for (int e = lid; e < BN * 16; e += WG) {
                const int row = n0 + e / 16;
                table[e] = row < n ? weight_value((uint)(e % 16),
                                                  ws[(ulong)row * (ulong)groups + kb / group])
                                   : 0.0f;
            }
            barrier(CLK_LOCAL_MEM_FENCE);
        }
        /* one loop over both tiles: the step's activations, then its
         * weights, a byte (two nibbles) per element (as two loops, PoCL 3.1
         * lost stores of the second where the first had at most one trip) */
        for (int e = lid; e < BM * KSTEP + BN * KSTEP / 2; e += WG) {
            if (e < BM * KSTEP) {
                const int r = e / KSTEP, c = e % KSTEP, row = m0 + r;
                xs[r * LDK + c] = row < m ? fp8_e4m3_to_f32(xq[(ulong)row * (ulong)k +
                                                               (ulong)(kb + c)])
                                          : 0.0f;
                continue;
            }
            const int f = e - BM * KSTEP, r = f / (KSTEP / 2), c = f % (KSTEP / 2);
            const int row = n0 + r;
            /* rows past n: table entries 0 */
            const uint b = row < n ? wq[(ulong)row * (ulong)(k / 2) + (ulong)(kb / 2 + c)] : 0u;
            wl[r * LDK + 2 * c] = table[r * 16 + (int)(b & 15u)];
            wl[r * LDK + 2 * c + 1] = table[r * 16 + (int)(b >> 4)];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int kk = 0; kk < KSTEP; kk++) {
            float xv[TM], wv[TN];
            for (int i = 0; i < TM; i++)
                xv[i] = xs[(wi_m + i * WM) * LDK + kk];
            for (int j = 0; j < TN; j++)
                wv[j] = wl[(wi_n + j * WN) * LDK + kk];
            for (int i = 0; i < TM; i++)
                for (int j = 0; j < TN; j++)
                    a[i][j] = fma(xv[i], wv[j], a[i][j]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const ulong mn = (ulong)m * (ulong)n;
    for (int i = 0; i < TM; i++) {
        const int row = m0 + wi_m + i * WM;
        if (row >= m)
            break;
        for (int j = 0; j < TN; j++) {
            const int col = n0 + wi_n + j * WN;
            if (col >= n)
                break;
            const ulong at = (ulong)row * (ulong)n + (ulong)col;
            if (partial) {
                acc[(ulong)slice * mn + at] = a[i][j];
                continue;
            }
            if (acc)
                acc[at] = a[i][j];
            y[at] = epilogue(a[i][j], bf16_value(sx[row]), ps_exp);
        }
    }
}

/* part [slices, m, n] f32 (fireq_gemm's partial accumulators) -> y [m, n]
 * by the epilogue of their sum in slice order, and acc [m, n] unless acc
 * is NULL.  One work-item per output. */
__kernel void fireq_gemm_reduce(__global const float *restrict part,
                                __global const ushort *restrict sx, __global Y_TYPE *restrict y,
                                __global float *restrict acc, int m, int n, int slices,
                                int ps_exp)
{
    const ulong at = get_global_id(0), mn = (ulong)m * (ulong)n;
    if (at >= mn)
        return;
    float sum = part[at];
    for (int s = 1; s < slices; s++)
        sum += part[(ulong)s * mn + at];
    if (acc)
        acc[at] = sum;
    y[at] = epilogue(sum, bf16_value(sx[at / (ulong)n]), ps_exp);
}
