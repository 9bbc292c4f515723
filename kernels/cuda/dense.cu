/* dense.cu - native CUDA f16 dense decode attention (the baseline of KIVI's
 * decode), the "cuda" variant of src/ops/dense/cuda_dense.c.  Same math as
 * kernels/opencl/dense.cl (FlashDecoding: pass 1 per split of SPLIT tokens
 * and group of HEADS query heads of one kv head, pass 2 attention_merge),
 * written for NVIDIA warps: rows read in 16-byte words (8 f16) where D
 * allows, teams of lanes combining their dot products by shuffles, dynamic
 * shared memory.
 *
 * Build-time macros (-D options from the host):
 *   HEAD_DIM  D (any, at most 256)         SPLIT  tokens per block
 *   HEADS     query heads per block (a power of two dividing Hq/Hkv,
 *             HEADS * V_CHANNELS <= 64)
 *   WARPS     warps per block              KLANES lanes sharing a key row
 * Layouts are those of qkv.h: query f32 [B*Hq, D], keys and values f16
 * [B*Hkv, capacity, D]; sizes are 32-bit ints checked by the host, offsets
 * 64-bit; buffers are 256-byte aligned. */
#include "common.cuh"

#ifndef HEAD_DIM
#define HEAD_DIM 128
#endif
#ifndef SPLIT
#define SPLIT 256
#endif
#ifndef HEADS
#define HEADS 8
#endif
#ifndef WARPS
#define WARPS 4
#endif
#ifndef KLANES
#define KLANES 16
#endif

#include "attention_merge.cuh"

#define THREADS (WARPS * 32)
/* f16 values per load: 8 (16 bytes) where D allows, else the widest fit. */
#define VW (HEAD_DIM % 8 == 0 ? 8 : HEAD_DIM % 4 == 0 ? 4 : HEAD_DIM % 2 == 0 ? 2 : 1)
#define NCH (HEAD_DIM / VW) /* loads per row */
/* Value phase: lanes per row (the largest power of two <= min(NCH, 32)),
 * rows a warp reads at once, loads per lane, channels per lane. */
#define V_LANES                                                                                \
    (NCH >= 32 ? 32 : NCH >= 16 ? 16 : NCH >= 8 ? 8 : NCH >= 4 ? 4 : NCH >= 2 ? 2 : 1)
#define V_ROWS (32 / V_LANES)
#define V_LOADS ((NCH + V_LANES - 1) / V_LANES)
#define V_CHANNELS (V_LOADS * VW)
#define V_TEAMS (WARPS * V_ROWS) /* value rows a block reads at once */

/* Dynamic shared memory, as the host computes it (cuda_dense.c): queries
 * [HEADS, D], scores [HEADS, SPLIT] and the value teams' sums [V_TEAMS, D],
 * f32. */

/* The VW f16 values of load c of a row, as f32. */
static __device__ __forceinline__ void load_row(const u16 *__restrict__ row, int c, float *x)
{
#if VW == 8
    unpack_f16x8(*(const uint4 *)(row + c * 8), x);
#elif VW == 4
    const uint2 w = *(const uint2 *)(row + c * 4);
    x[0] = h2f((u16)(w.x & 0xffffu));
    x[1] = h2f((u16)(w.x >> 16));
    x[2] = h2f((u16)(w.y & 0xffffu));
    x[3] = h2f((u16)(w.y >> 16));
#elif VW == 2
    const u32 w = *(const u32 *)(row + c * 2);
    x[0] = h2f((u16)(w & 0xffffu));
    x[1] = h2f((u16)(w >> 16));
#else
    x[0] = h2f(row[c]);
#endif
}

/* Pass 1: block (split s, head group g), g = (b*Hkv + h) * (Hq/Hkv /
 * HEADS) + j, serves query heads bq0 .. bq0 + HEADS - 1 (bq0 = b*Hq +
 * h*Hq/Hkv + j*HEADS) over tokens [s*SPLIT, min(N, (s+1)*SPLIT)), reading
 * each key and value row once for all HEADS heads.  Keys: a team of KLANES
 * lanes per row (lane tl takes loads tl, tl + KLANES, ...), the team's
 * partial dot products combined by team_reduce_scatter.  Softmax
 * statistics per head by a warp.  Values: V_LANES lanes per row, the
 * V_TEAMS teams' sums added through shared memory.  Writes the partial
 * results of attention_merge.cuh for scores x_t = sm_scale * q . k_t. */
extern "C" __global__ void __launch_bounds__(THREADS)
    dense_decode_split(const float *__restrict__ query, const u16 *__restrict__ keys,
                       const u16 *__restrict__ values, float *__restrict__ part, int q_per_kv,
                       int n_tokens, int capacity, float sm_scale)
{
    extern __shared__ float4 smem4[];
    float *qs = (float *)smem4;
    float *score = qs + HEADS * HEAD_DIM;
    float *red = score + HEADS * SPLIT;
    const int tid = (int)threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int s = (int)blockIdx.x, nsplit = (int)gridDim.x;
    const u64 g = blockIdx.y, ngroups = (u64)(q_per_kv / HEADS);
    const u64 bkv = g / ngroups, bq0 = bkv * (u64)q_per_kv + (g % ngroups) * HEADS;
    const int t0 = s * SPLIT, nt = min(SPLIT, n_tokens - t0);
    const u64 row0 = (bkv * (u64)capacity + (u64)t0) * HEAD_DIM; /* the split's first row */

    for (int i = tid; i < HEADS * HEAD_DIM; i += THREADS)
        qs[i] = query[bq0 * HEAD_DIM + (u64)i] * sm_scale;
    __syncthreads();

    /* Scores: team tid / KLANES takes rows i, i + THREADS / KLANES, ... */
    const int tl = lane % KLANES;
    const u32 mask = team_mask<KLANES>(lane);
    for (int i = tid / KLANES; i < nt; i += THREADS / KLANES) {
        const u16 *row = keys + row0 + (u64)i * HEAD_DIM;
        float acc[HEADS];
#pragma unroll
        for (int h = 0; h < HEADS; h++)
            acc[h] = 0.0f;
        for (int c = tl; c < NCH; c += KLANES) {
            float x[VW];
            load_row(row, c, x);
#pragma unroll
            for (int v = 0; v < VW; v++)
#pragma unroll
                for (int h = 0; h < HEADS; h++)
                    acc[h] = fmaf(qs[h * HEAD_DIM + c * VW + v], x[v], acc[h]);
        }
        int base;
        team_reduce_scatter<HEADS, KLANES>(acc, mask, tl, &base);
        if (reduce_scatter_writer<HEADS, KLANES>(tl))
#pragma unroll
            for (int k = 0; k < reduce_scatter_kept<HEADS, KLANES>::value; k++)
                score[(base + k) * SPLIT + i] = acc[k];
    }
    __syncthreads();

    /* Softmax statistics per head; the scores become e^(x - m). */
    split_softmax_stats(score, nt, HEADS, WARPS, SPLIT, warp, lane, part, bq0, nsplit, s);
    __syncthreads();

    /* Values: team vt = warp * V_ROWS + lane / V_LANES takes rows vt,
     * vt + V_TEAMS, ...; lane vl = lane % V_LANES the loads vl, vl +
     * V_LANES, ... of each. */
    const int vt = warp * V_ROWS + lane / V_LANES, vl = lane % V_LANES;
    float o[HEADS][V_CHANNELS];
#pragma unroll
    for (int h = 0; h < HEADS; h++)
#pragma unroll
        for (int j = 0; j < V_CHANNELS; j++)
            o[h][j] = 0.0f;
    for (int i = vt; i < nt; i += V_TEAMS) {
        const u16 *row = values + row0 + (u64)i * HEAD_DIM;
        float p[HEADS];
#pragma unroll
        for (int h = 0; h < HEADS; h++)
            p[h] = score[h * SPLIT + i];
#pragma unroll
        for (int k = 0; k < V_LOADS; k++) {
            const int c = vl + k * V_LANES;
            if (c < NCH) {
                float x[VW];
                load_row(row, c, x);
#pragma unroll
                for (int v = 0; v < VW; v++)
#pragma unroll
                    for (int h = 0; h < HEADS; h++)
                        o[h][k * VW + v] = fmaf(p[h], x[v], o[h][k * VW + v]);
            }
        }
    }
    /* Per head: the teams' sums through red, added in team order. */
#pragma unroll
    for (int h = 0; h < HEADS; h++) {
#pragma unroll
        for (int k = 0; k < V_LOADS; k++) {
            const int c = vl + k * V_LANES;
            if (c < NCH)
#pragma unroll
                for (int v = 0; v < VW; v++)
                    red[vt * HEAD_DIM + c * VW + v] = o[h][k * VW + v];
        }
        __syncthreads();
        float *out = part_at(part, bq0 + (u64)h, nsplit, s);
        for (int d = tid; d < HEAD_DIM; d += THREADS) {
            float acc = 0.0f;
            for (int r = 0; r < V_TEAMS; r++)
                acc += red[r * HEAD_DIM + d];
            out[d] = acc;
        }
        __syncthreads();
    }
}
