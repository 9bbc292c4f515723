/* attention_merge.cl - FlashDecoding's partial results and their merge,
 * shared by the decode attention programs (dense.cl, kivi.cl), which
 * include it after defining HEAD_DIM (D).  OpenCL C 1.2; the CUDA backend
 * compiles the same text after kernels/cuda/cl2cuda.h.
 *
 * Pass 1 of a program writes, for query head bq and split s of nsplit, the
 * partial result part[(bq*nsplit + s)*(D+2)]: D unnormalised outputs
 * sum_t e^(x_t - m) v_t over the split's tokens, then m (max score) and
 * l = sum_t e^(x_t - m).  Pass 2 (attention_decode_merge) merges them. */
#include "common.cl"

/* The partial result [D + 2] of query head bq, split s of nsplit. */
QKV_FN __global float *part_at(__global float *part, ulong bq, int nsplit, int s)
{
    return part + (bq * (ulong)nsplit + (ulong)s) * (HEAD_DIM + 2);
}

/* Store the softmax statistics m and l of query head bq, split s. */
QKV_FN void part_store_stats(__global float *part, ulong bq, int nsplit, int s, float m, float l)
{
    __global float *out = part_at(part, bq, nsplit, s);
    out[HEAD_DIM] = m;
    out[HEAD_DIM + 1] = l;
}

/* Pass 2: merge the nsplit partials of query head bq (work-item (d, bq))
 * into output f32 [B*Hq, D]. */
__kernel void attention_decode_merge(__global const float *restrict part,
                                     __global float *restrict output, int nsplit)
{
    const int d = (int)get_global_id(0);
    const ulong bq = get_global_id(1);
    if (d >= HEAD_DIM)
        return;
    __global const float *p = part + bq * (ulong)nsplit * (HEAD_DIM + 2);
    float m = -INFINITY;
    for (int s = 0; s < nsplit; s++)
        m = fmax(m, p[s * (HEAD_DIM + 2) + HEAD_DIM]);
    float l = 0.0f, acc = 0.0f;
    for (int s = 0; s < nsplit; s++) {
        const float w = exp(p[s * (HEAD_DIM + 2) + HEAD_DIM] - m);
        l += w * p[s * (HEAD_DIM + 2) + HEAD_DIM + 1];
        acc += w * p[s * (HEAD_DIM + 2) + d];
    }
    output[bq * HEAD_DIM + (ulong)d] = acc / l;
}
