/* attention_merge.cuh - FlashDecoding's partial results and their merge for
 * the native decode attention programs (kivi.cu, dense.cu), which include
 * it after defining HEAD_DIM (D).  The layout and the math are those of
 * kernels/opencl/attention_merge.cl: split s of nsplit of query head bq
 * writes part[(bq*nsplit + s)*(D+2)]: D unnormalised outputs
 * sum_t e^(x_t - m) v_t, then m (max score) and l = sum_t e^(x_t - m). */
#ifndef QKV_CUDA_ATTENTION_MERGE_CUH
#define QKV_CUDA_ATTENTION_MERGE_CUH

#include "common.cuh"

/* The partial result [D + 2] of query head bq, split s of nsplit. */
static __device__ __forceinline__ float *part_at(float *part, u64 bq, int nsplit, int s)
{
    return part + (bq * (u64)nsplit + (u64)s) * (HEAD_DIM + 2);
}

/* Softmax statistics of one split for `heads` query heads of a block, warp
 * h, h + warps, ... taking head h: over score[h * split + i], i < nt, m =
 * max and l = sum of e^(x - m); the scores become e^(x - m), and lane 0
 * writes m and l after the D outputs of query head bq0 + h's partial s of
 * nsplit.  Every lane of the block's warps calls it. */
static __device__ __forceinline__ void split_softmax_stats(float *score, int nt, int heads,
                                                           int warps, int split, int warp,
                                                           int lane, float *part, u64 bq0,
                                                           int nsplit, int s)
{
    for (int h = warp; h < heads; h += warps) {
        float m = NEG_INFINITY;
        for (int i = lane; i < nt; i += 32)
            m = fmaxf(m, score[h * split + i]);
        m = warp_max(m);
        float l = 0.0f;
        for (int i = lane; i < nt; i += 32) {
            const float e = expf(score[h * split + i] - m);
            score[h * split + i] = e;
            l += e;
        }
        l = warp_sum(l);
        if (lane == 0) {
            float *out = part_at(part, bq0 + (u64)h, nsplit, s);
            out[HEAD_DIM] = m;
            out[HEAD_DIM + 1] = l;
        }
    }
}

/* Pass 2: block bq (one per query head), thread d < D: merge the nsplit
 * partials of query head bq into output f32 [B*Hq, D]. */
extern "C" __global__ void attention_merge(const float *__restrict__ part,
                                           float *__restrict__ output, int nsplit)
{
    const int d = (int)threadIdx.x;
    const u64 bq = blockIdx.x;
    if (d >= HEAD_DIM)
        return;
    const float *p = part + bq * (u64)nsplit * (HEAD_DIM + 2);
    float m = NEG_INFINITY;
    for (int s = 0; s < nsplit; s++)
        m = fmaxf(m, p[s * (HEAD_DIM + 2) + HEAD_DIM]);
    float l = 0.0f, acc = 0.0f;
    for (int s = 0; s < nsplit; s++) {
        const float w = expf(p[s * (HEAD_DIM + 2) + HEAD_DIM] - m);
        l += w * p[s * (HEAD_DIM + 2) + HEAD_DIM + 1];
        acc += w * p[s * (HEAD_DIM + 2) + d];
    }
    output[bq * HEAD_DIM + (u64)d] = acc / l;
}

#endif
