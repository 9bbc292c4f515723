/* f32_gemm.cl - the f32 GEMM baseline, y [M, N] = x [M, K] x w [N, K]^T,
 * OpenCL C 1.2.  The CUDA backend compiles this same text through NVRTC
 * after kernels/cuda/cl2cuda.h.
 *
 * Build-time macros (the host passes them as -D options):
 *   TILE   outputs per work-group along M and along N (TILE x TILE)
 *   WORK   outputs per work-item along each (WORK x WORK; WORK divides TILE)
 *   TK     channels per step staged in local memory
 * A work-group has (TILE / WORK)^2 work-items.  Sizes are 32-bit ints
 * checked by the host; offsets are computed in 64 bits. */

#ifndef TILE
#define TILE 64
#endif
#ifndef WORK
#define WORK 4
#endif
#ifndef TK
#define TK 16
#endif

#define SIDE (TILE / WORK)  /* work-items along each side of the tile */
#define ITEMS (SIDE * SIDE) /* work-items per work-group */

/* One TILE x TILE block of y per work-group (dim 0: blocks along N, dim 1:
 * along M).  Per step of TK channels the block's x and w rows are staged
 * transposed in local memory ([TK][TILE], one padding column against bank
 * conflicts; zeros past M, N and K), then each work-item accumulates its
 * WORK x WORK outputs, spread SIDE apart so neighbours read neighbouring
 * words, with one f32 fma per product in k order. */
__kernel void f32_gemm(__global const float *restrict x, __global const float *restrict w,
                       __global float *restrict y, int M, int N, int K)
{
    __local float xs[TK][TILE + 1];
    __local float ws[TK][TILE + 1];
    const int lid = (int)get_local_id(0);
    const int tm = lid / SIDE, tn = lid % SIDE;
    const int m0 = (int)get_group_id(1) * TILE, n0 = (int)get_group_id(0) * TILE;
    float acc[WORK][WORK];
    for (int i = 0; i < WORK; i++)
        for (int j = 0; j < WORK; j++)
            acc[i][j] = 0.0f;
    for (int k0 = 0; k0 < K; k0 += TK) {
        for (int e = lid; e < TILE * TK; e += ITEMS) {
            const int r = e / TK, kk = e % TK, k = k0 + kk;
            const int m = m0 + r, n = n0 + r;
            xs[kk][r] = m < M && k < K ? x[(ulong)m * (ulong)K + (ulong)k] : 0.0f;
            ws[kk][r] = n < N && k < K ? w[(ulong)n * (ulong)K + (ulong)k] : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int kk = 0; kk < TK; kk++) {
            float a[WORK], b[WORK];
            for (int i = 0; i < WORK; i++)
                a[i] = xs[kk][tm + i * SIDE];
            for (int j = 0; j < WORK; j++)
                b[j] = ws[kk][tn + j * SIDE];
            for (int i = 0; i < WORK; i++)
                for (int j = 0; j < WORK; j++)
                    acc[i][j] = fma(a[i], b[j], acc[i][j]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (int i = 0; i < WORK; i++) {
        const int m = m0 + tm + i * SIDE;
        for (int j = 0; j < WORK; j++) {
            const int n = n0 + tn + j * SIDE;
            if (m < M && n < N)
                y[(ulong)m * (ulong)N + (ulong)n] = acc[i][j];
        }
    }
}
