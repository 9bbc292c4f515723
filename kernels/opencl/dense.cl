/* dense.cl - f16 dense decode attention (the baseline of KIVI's decode),
 * OpenCL C 1.2.  The CUDA backend compiles this same text through NVRTC
 * after kernels/cuda/cl2cuda.h.
 *
 * FlashDecoding: pass 1 gives every (split of SPLIT tokens, group of HEADS
 * query heads of one kv head) a work-group that reads its key and value
 * rows once for its HEADS heads and writes a partial result per head; pass 2
 * (attention_decode_merge, attention_merge.cl) merges the splits.  A row is
 * read by a team of ROW_LANES work-items, lane l holding channels l,
 * l + ROW_LANES, ... (coalesced loads), so a lane keeps its channels of the
 * HEADS queries in registers.
 *
 * Build-time macros (the host passes them as -D options, the tile
 * parameters under their names upper-cased):
 *   HEAD_DIM   D                      WG      work-group size, a multiple
 *   SPLIT      tokens per work-group          of ROW_LANES
 *   HEADS      query heads per work-group (1, 2, 4 or 8; divides Hq/Hkv)
 *   ROW_LANES  work-items per key/value row (32; HEADS <= ROW_LANES)
 * Layouts are those of qkv.h; sizes are 32-bit ints checked by the host,
 * offsets are computed in 64 bits. */
#ifndef HEAD_DIM
#define HEAD_DIM 128
#endif
#ifndef WG
#define WG 128
#endif
#ifndef SPLIT
#define SPLIT 256
#endif
#ifndef HEADS
#define HEADS 4
#endif
#ifndef ROW_LANES
#define ROW_LANES 32
#endif

#include "attention_merge.cl"

#define CPT ((HEAD_DIM + ROW_LANES - 1) / ROW_LANES) /* channels per lane */
#define TEAMS (WG / ROW_LANES)                       /* rows read at once */
#define CHUNK (WG / HEADS)       /* tokens per score chunk: one (head, token) per work-item */
#define RED_STRIDE (ROW_LANES + 1) /* padded: conflict-free in both directions */

/* Pass 1: work-group (split s, head group g) with g = (b*Hkv + h) * (Hq/Hkv
 * / HEADS) + j covering query heads bq0 + 0 .. HEADS-1, bq0 = b*Hq + h*Hq/Hkv +
 * j*HEADS.  query f32 [B*Hq, D]; keys, values f16 [B*Hkv, capacity, D].
 * Writes the partial results (attention_merge.cl) of scores
 * x_t = sm_scale * q . k_t over tokens [s*SPLIT, min(N, (s+1)*SPLIT)). */
__kernel void dense_decode_partial(__global const float *restrict query,
                                   __global const half *restrict keys,
                                   __global const half *restrict values,
                                   __global float *restrict part, int q_per_kv, int n_tokens,
                                   int capacity, float sm_scale)
{
    __local float red[WG * RED_STRIDE];
    __local float score[HEADS * SPLIT];
    const int lid = (int)get_local_id(0), s = (int)get_group_id(0);
    const int nsplit = (int)get_num_groups(0);
    const int team = lid / ROW_LANES, lane = lid % ROW_LANES;
    const int rh = lid / CHUNK, ri = lid % CHUNK; /* (head, token) this item reduces */
    const ulong g = get_global_id(1), ngroups = (ulong)(q_per_kv / HEADS);
    const ulong bkv = g / ngroups, bq0 = bkv * (ulong)q_per_kv + (g % ngroups) * HEADS;
    const int t0 = s * SPLIT, nt = min(SPLIT, n_tokens - t0);
    const ulong row0 = (bkv * (ulong)capacity + (ulong)t0) * HEAD_DIM;

    float qr[HEADS][CPT];
    for (int h = 0; h < HEADS; h++)
        for (int j = 0; j < CPT; j++) {
            const int d = lane + ROW_LANES * j;
            qr[h][j] = d < HEAD_DIM ? query[(bq0 + (ulong)h) * HEAD_DIM + (ulong)d] * sm_scale
                                    : 0.0f;
        }

    /* Scores, CHUNK tokens at a time: lanes' partial dot products to red,
     * then work-item (rh, ri) sums the ROW_LANES partials of its pair. */
    float my_max = -INFINITY;
    for (int c0 = 0; c0 < nt; c0 += CHUNK) {
        for (int r = 0; r < CHUNK / TEAMS; r++) {
            const int i = r * TEAMS + team;
            float acc[HEADS];
            for (int h = 0; h < HEADS; h++)
                acc[h] = 0.0f;
            if (c0 + i < nt) {
                const ulong row = row0 + (ulong)(c0 + i) * HEAD_DIM;
                for (int j = 0; j < CPT; j++) {
                    const int d = lane + ROW_LANES * j;
                    if (d < HEAD_DIM) {
                        const float k = vload_half(row + (ulong)d, keys);
                        for (int h = 0; h < HEADS; h++)
                            acc[h] += qr[h][j] * k;
                    }
                }
            }
            for (int h = 0; h < HEADS; h++)
                red[(h * CHUNK + i) * RED_STRIDE + lane] = acc[h];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        float x = 0.0f;
        for (int l = 0; l < ROW_LANES; l++)
            x += red[lid * RED_STRIDE + l];
        if (c0 + ri < nt) {
            score[rh * SPLIT + c0 + ri] = x;
            my_max = fmax(my_max, x);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }

    /* Softmax statistics per head: m = max, l = sum of e^(x - m). */
    SEGMENT_REDUCE(red, lid, ri, CHUNK, OP_MAX, my_max)
    const float m = red[rh * CHUNK];
    barrier(CLK_LOCAL_MEM_FENCE);
    float my_sum = 0.0f;
    for (int t = ri; t < nt; t += CHUNK) {
        const float e = exp(score[rh * SPLIT + t] - m);
        score[rh * SPLIT + t] = e;
        my_sum += e;
    }
    SEGMENT_REDUCE(red, lid, ri, CHUNK, OP_ADD, my_sum)
    if (ri == 0)
        part_store_stats(part, bq0 + (ulong)rh, nsplit, s, m, red[lid]);
    barrier(CLK_LOCAL_MEM_FENCE);

    /* Values: team rows t = team, team + TEAMS, ...; then the TEAMS partial
     * outputs of each head are summed through red. */
    float o[HEADS][CPT];
    for (int h = 0; h < HEADS; h++)
        for (int j = 0; j < CPT; j++)
            o[h][j] = 0.0f;
    for (int t = team; t < nt; t += TEAMS) {
        const ulong row = row0 + (ulong)t * HEAD_DIM;
        float v[CPT];
        for (int j = 0; j < CPT; j++) {
            const int d = lane + ROW_LANES * j;
            v[j] = d < HEAD_DIM ? vload_half(row + (ulong)d, values) : 0.0f;
        }
        for (int h = 0; h < HEADS; h++) {
            const float p = score[h * SPLIT + t];
            for (int j = 0; j < CPT; j++)
                o[h][j] += p * v[j];
        }
    }
    for (int h = 0; h < HEADS; h++) {
        for (int j = 0; j < CPT; j++) {
            const int d = lane + ROW_LANES * j;
            if (d < HEAD_DIM)
                red[team * HEAD_DIM + d] = o[h][j];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        __global float *out = part_at(part, bq0 + (ulong)h, nsplit, s);
        for (int d = lid; d < HEAD_DIM; d += WG) {
            float acc = 0.0f;
            for (int r = 0; r < TEAMS; r++)
                acc += red[r * HEAD_DIM + d];
            out[d] = acc;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}
