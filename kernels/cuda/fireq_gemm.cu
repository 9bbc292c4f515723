/* fireq_gemm.cu - native CUDA INT4 x FP8 GEMM of FireQ (w4a8_gemm), the
 * "cuda" variant of src/ops/fireq/cuda_gemm.c: FP8 tensor cores through
 * `mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32` (sm_89+; on older
 * archs the file compiles and the kernels trap, the host refuses them).
 * Compile-checked only: never run on a GPU yet.
 *
 * Y [M, N] = Xq [M, K] x W^T: the MMA's A operand is Xq (row major, K
 * contiguous), its B operand W as e4m3 bytes ("col": K contiguous per n,
 * as Wq's rows).  INT4 codes become e4m3 bytes by byte permutes (prmt)
 * over a 16-entry table: the lut mode's per-(n, group) table L[q] =
 * q == 0 ? -0 : e4m3_satfinite(q * dec(s)), the exact mode's constant
 * table of e4m3(q) (every q in -8..7 is exact), its group scale applied to
 * the group's f32 partial sums.  Both modes start each group's MMA sums at
 * zero and add them to an f32 accumulator at the group's end (promotion:
 * the MMA's internal accumulation is narrower than f32).
 *
 * Kernels:
 *   fireq_gemm_tiled    large M: a block tile of BM tokens x BN outputs,
 *                       K in steps of 64 through shared memory, warps of
 *                       WARPS_M x WARPS_N each computing several m16n8
 *                       tiles; the epilogue writes y (and acc).
 *   fireq_gemm_decode   M <= 16: one m16 row tile, a warp per n8 tile,
 *                       weights streamed in 16-byte loads, K split over
 *                       grid.y; f32 partial sums [splits, M, N] to scratch.
 *   fireq_gemm_reduce   adds the splits' partial sums in split order
 *                       (deterministic) and applies the epilogue.
 *
 * Build-time macros (-D options from the host):
 *   GROUP   G (64, 128, 256)      EXACT  1: exact mode, 0: lut
 *   Y_F32   1: y is f32 (exact mode only), 0: bf16
 *   BM, BN, WARPS_M, WARPS_N      fireq_gemm_tiled's tile
 *   SWARPS, UNROLL                fireq_gemm_decode's warps per block and
 *                                 128-K chunks loaded before use
 * Tensors as qkv.h's qkv_w4a8_gemm_params: xq [M, K] e4m3, sx [M] bf16
 * bits, wq [N, K/2] int4 (element k in the low nibble when k is even),
 * ws [N, K/G] e4m3, y [M, N], acc [M, N] f32 or NULL.  M, N, K are 32-bit
 * ints checked by the host, K % 64 == 0; offsets 64-bit; buffers 256-byte
 * aligned. */
#include "common.cuh"

#include <cuda_bf16.h>
#include <cuda_fp8.h>

#ifndef GROUP
#define GROUP 128
#endif
#ifndef EXACT
#define EXACT 0
#endif
#ifndef Y_F32
#define Y_F32 0
#endif
#ifndef BM
#define BM 64
#endif
#ifndef BN
#define BN 128
#endif
#ifndef WARPS_M
#define WARPS_M 2
#endif
#ifndef WARPS_N
#define WARPS_N 4
#endif
#ifndef SWARPS
#define SWARPS 4
#endif
#ifndef UNROLL
#define UNROLL 2
#endif

#define BK 64           /* K per step of fireq_gemm_tiled (divides every G) */
#define ROW_BYTES 80    /* shared-memory row stride of a 64-byte K step: no bank conflicts */
#define TILED_THREADS (WARPS_M * WARPS_N * 32)
#define WTM (BM / WARPS_M) /* a warp's tokens */
#define WTN (BN / WARPS_N) /* a warp's outputs */
#define FM (WTM / 16)      /* m16 tiles per warp */
#define FN (WTN / 8)       /* n8 tiles per warp */

static_assert(GROUP % BK == 0, "G must be a multiple of 64");
static_assert(WTM % 16 == 0 && WTN % 8 == 0, "warp tile must hold whole m16n8 tiles");

/* The exact mode's table, e4m3(q) for nibble c = 0..15 (q = c < 8 ? c :
 * c - 16), 4 entries per word, entry c in byte c % 4 of word c / 4. */
#define EXACT_TABLE make_uint4(0x44403800u, 0x4E4C4A48u, 0xCACCCED0u, 0xB8C0C4C8u)

/* e4m3 bits -> f32 (exact; 0x7F/0xFF give NaN). */
static __device__ __forceinline__ float e4m3_to_f32(unsigned char b)
{
    return __half2float(__ushort_as_half(__nv_cvt_fp8_to_halfraw(b, __NV_E4M3).x));
}

/* Word w (0..3) of the lut table of scale s: entries c = 4w .. 4w+3,
 * L[c] = c == 0 ? -0 (0x80) : e4m3_satfinite(q * s), q = c < 8 ? c : c - 16
 * (q * s exact in f32, one rounding). */
static __device__ __forceinline__ u32 lut_word(float s, int w)
{
    u32 word = 0;
#pragma unroll
    for (int i = 0; i < 4; i += 2) {
        const int c0 = 4 * w + i, c1 = c0 + 1;
        const float2 v = make_float2((float)(c0 < 8 ? c0 : c0 - 16) * s,
                                     (float)(c1 < 8 ? c1 : c1 - 16) * s);
        u32 pair = __nv_cvt_float2_to_fp8x2(v, __NV_SATFINITE, __NV_E4M3);
        if (c0 == 0)
            pair = (pair & 0xff00u) | 0x80u;
        word |= pair << (8 * i);
    }
    return word;
}

/* Four INT4 codes (the 16 low bits of `codes`, element j in nibble j) ->
 * four e4m3 bytes (element j in byte j) through table t: one permute over
 * each 8-byte half of the table by the codes' low 3 bits, a third picking
 * the half by each code's top bit. */
static __device__ __forceinline__ u32 int4x4_to_e4m3(u32 codes, uint4 t)
{
    const u32 low = __byte_perm(t.x, t.y, codes & 0x7777u);
    const u32 high = __byte_perm(t.z, t.w, codes & 0x7777u);
    return __byte_perm(low, high, 0x3210u | ((codes >> 1) & 0x4444u));
}

/* C += A x B for one m16n8k32 tile: a[4] the A fragment (4 e4m3 bytes
 * per register), b[2] the B fragment, c[4] f32.  PTX ISA fragment layouts
 * for .e4m3 m16n8k32, lane = 4g + t: a[0] row g, k 4t..4t+3; a[1] row
 * g+8, same k; a[2] row g, k 16+4t..16+4t+3; a[3] row g+8, same k; b[0]
 * column g, k 4t..4t+3; b[1] column g, k 16+4t..; c[0], c[1] row g,
 * columns 2t, 2t+1; c[2], c[3] row g+8.  The kernels rely on the rows,
 * the columns and on byte j of a[0]/a[1] meeting byte j of b[0] (a[2]/a[3]
 * of b[1]) of the same lane, not on which k that is: they load A and B
 * with the same K order, and any common permutation of K gives the same
 * sums.  The host simulation (tests/cuda_sim) stands in for the
 * instruction with an emulation of these layouts. */
static __device__ __forceinline__ void mma_e4m3(float (&c)[4], const u32 (&a)[4],
                                                const u32 (&b)[2])
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
    asm volatile("mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 "
                 "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#elif defined(QKV_CUDA_SIM)
    sim_mma_m16n8k32_e4m3(c, a, b);
#else
    (void)c, (void)a, (void)b;
    __trap(); /* no FP8 MMA below sm_89: the host never launches these */
#endif
}

/* bf16 bits of x, round to nearest even. */
static __device__ __forceinline__ u16 f2bf(float x)
{
    return __bfloat16_as_ushort(__float2bfloat16_rn(x));
}

static __device__ __forceinline__ float bf2f(u16 b) { return __uint_as_float((u32)b << 16); }

/* The epilogue of element i = m * N + n: acc (when given) and y from
 * accumulator a, token scale sx and 1/ps (spec: lut Y = bf16(bf16(a) *
 * sx), then * 1/ps in bf16 when ps != 1; exact Y = a * sx / ps in f32,
 * stored as y's dtype). */
static __device__ __forceinline__ void store_output(void *__restrict__ y, float *__restrict__ acc,
                                                    u64 i, float a, float sx, float inv_ps)
{
    if (acc)
        acc[i] = a;
#if EXACT
    const float v = a * sx * inv_ps;
#if Y_F32
    ((float *)y)[i] = v;
#else
    ((u16 *)y)[i] = f2bf(v);
#endif
#else
    u16 b = f2bf(bf2f(f2bf(a)) * sx);
    if (inv_ps != 1.0f)
        b = f2bf(bf2f(b) * inv_ps);
    ((u16 *)y)[i] = b;
#endif
}

/* ---- large M ------------------------------------------------------------------ */

/* Dynamic shared memory of fireq_gemm_tiled, as the host computes it
 * (cuda_gemm.c's tiled_smem_bytes): the Xq step [BM][ROW_BYTES], the W
 * step as e4m3 [BN][ROW_BYTES], the lut tables [BN] (16 bytes each) and
 * the exact mode's scales [BN] (f32). */

/* Block (bx, by) computes Y rows m0 = by * BM .. and columns n0 = bx * BN
 * .. (tails masked).  Per 64-K step: the Xq tile copied to shared memory
 * (16-byte words, rows past M zero), at a group's start the group's lut
 * tables or scales of the BN rows, then the INT4 tile converted to e4m3
 * into shared memory, then warp (wm, wn) runs its FM x FN m16n8 tiles over
 * the step's two k32 slices.  At a group's end each tile's MMA sums go
 * into the f32 accumulator (times the scale in the exact mode). */
extern "C" __global__ void __launch_bounds__(TILED_THREADS)
    fireq_gemm_tiled(const unsigned char *__restrict__ xq, const u16 *__restrict__ sx,
                     const unsigned char *__restrict__ wq, const unsigned char *__restrict__ ws,
                     void *__restrict__ y, float *__restrict__ acc_out, int M, int N, int K,
                     float inv_ps)
{
    extern __shared__ float4 smem4[];
    unsigned char *xs = (unsigned char *)smem4, *w8 = xs + BM * ROW_BYTES;
#if EXACT
    float *scales = (float *)(w8 + BN * ROW_BYTES + BN * 16);
#else
    uint4 *tables = (uint4 *)(w8 + BN * ROW_BYTES);
#endif
    const int tid = (int)threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int g = lane >> 2, t = lane & 3;
    const int wm = warp % WARPS_M, wn = warp / WARPS_M;
    const int m0 = (int)blockIdx.y * BM, n0 = (int)blockIdx.x * BN;
    const u64 ngroups = (u64)(K / GROUP);

    float acc[FM][FN][4], part[FM][FN][4];
#pragma unroll
    for (int i = 0; i < FM; i++)
#pragma unroll
        for (int j = 0; j < FN; j++)
#pragma unroll
            for (int r = 0; r < 4; r++)
                acc[i][j][r] = part[i][j][r] = 0.0f;

    for (int k0 = 0; k0 < K; k0 += BK) {
        __syncthreads(); /* the previous step's readers are done */
        for (int i = tid; i < BM * (BK / 16); i += TILED_THREADS) {
            const int r = i / (BK / 16), c = i % (BK / 16), m = m0 + r;
            uint4 v = make_uint4(0, 0, 0, 0);
            if (m < M)
                v = *(const uint4 *)(xq + (u64)m * (u64)K + (u64)(k0 + c * 16));
            *(uint4 *)(xs + r * ROW_BYTES + c * 16) = v;
        }
        if (k0 % GROUP == 0) /* the group's scales (exact) or table words (lut) */
            for (int i = tid; i < BN * (EXACT ? 1 : 4); i += TILED_THREADS) {
                const int r = EXACT ? i : i / 4, n = n0 + r;
                const float s = n < N ? e4m3_to_f32(ws[(u64)n * ngroups + (u64)(k0 / GROUP)])
                                      : 0.0f;
#if EXACT
                scales[r] = s;
#else
                ((u32 *)&tables[r])[i % 4] = lut_word(s, i % 4);
#endif
            }
        __syncthreads();
        /* INT4 -> e4m3: 16-byte words of 32 codes, two per row */
        for (int i = tid; i < BN * 2; i += TILED_THREADS) {
            const int r = i / 2, h = i % 2, n = n0 + r;
            uint4 codes = make_uint4(0, 0, 0, 0);
            if (n < N)
                codes = *(const uint4 *)(wq + (u64)n * (u64)(K / 2) + (u64)(k0 / 2 + h * 16));
#if EXACT
            const uint4 tab = EXACT_TABLE;
#else
            const uint4 tab = tables[r];
#endif
            const u32 cw[4] = {codes.x, codes.y, codes.z, codes.w};
            u32 out[8];
#pragma unroll
            for (int j = 0; j < 4; j++) {
                out[2 * j] = int4x4_to_e4m3(cw[j] & 0xffffu, tab);
                out[2 * j + 1] = int4x4_to_e4m3(cw[j] >> 16, tab);
            }
            uint4 *dst = (uint4 *)(w8 + r * ROW_BYTES + h * 32);
            dst[0] = make_uint4(out[0], out[1], out[2], out[3]);
            dst[1] = make_uint4(out[4], out[5], out[6], out[7]);
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < BK; kk += 32) {
            u32 a[FM][4], b[FN][2];
#pragma unroll
            for (int i = 0; i < FM; i++) {
                const unsigned char *row = xs + (wm * WTM + i * 16 + g) * ROW_BYTES + kk + 4 * t;
                a[i][0] = *(const u32 *)row;
                a[i][1] = *(const u32 *)(row + 8 * ROW_BYTES);
                a[i][2] = *(const u32 *)(row + 16);
                a[i][3] = *(const u32 *)(row + 8 * ROW_BYTES + 16);
            }
#pragma unroll
            for (int j = 0; j < FN; j++) {
                const unsigned char *row = w8 + (wn * WTN + j * 8 + g) * ROW_BYTES + kk + 4 * t;
                b[j][0] = *(const u32 *)row;
                b[j][1] = *(const u32 *)(row + 16);
            }
#pragma unroll
            for (int i = 0; i < FM; i++)
#pragma unroll
                for (int j = 0; j < FN; j++)
                    mma_e4m3(part[i][j], a[i], b[j]);
        }
        if ((k0 + BK) % GROUP == 0) /* the group's end: promote */
#pragma unroll
            for (int j = 0; j < FN; j++) {
#if EXACT
                const float s0 = scales[wn * WTN + j * 8 + 2 * t];
                const float s1 = scales[wn * WTN + j * 8 + 2 * t + 1];
#else
                const float s0 = 1.0f, s1 = 1.0f;
#endif
#pragma unroll
                for (int i = 0; i < FM; i++) {
                    acc[i][j][0] = fmaf(s0, part[i][j][0], acc[i][j][0]);
                    acc[i][j][1] = fmaf(s1, part[i][j][1], acc[i][j][1]);
                    acc[i][j][2] = fmaf(s0, part[i][j][2], acc[i][j][2]);
                    acc[i][j][3] = fmaf(s1, part[i][j][3], acc[i][j][3]);
#pragma unroll
                    for (int r = 0; r < 4; r++)
                        part[i][j][r] = 0.0f;
                }
            }
    }

#pragma unroll
    for (int i = 0; i < FM; i++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const int m = m0 + wm * WTM + i * 16 + g + 8 * h;
            if (m >= M)
                continue;
            const float s = bf2f(sx[m]);
#pragma unroll
            for (int j = 0; j < FN; j++)
#pragma unroll
                for (int e = 0; e < 2; e++) {
                    const int n = n0 + wn * WTN + j * 8 + 2 * t + e;
                    if (n < N)
                        store_output(y, acc_out, (u64)m * (u64)N + (u64)n, acc[i][j][2 * h + e],
                                     s, inv_ps);
                }
        }
}

/* ---- small M (decode) ------------------------------------------------------------ */

/* K is walked in chunks of 128: lane (g, t) of a warp owns the 32 K
 * positions kc + 32t .. kc + 32t + 31 of chunk kc, for W row n0 + g (one
 * 16-byte load of codes) and Xq rows g and g + 8 (two 16-byte loads each).
 * MMA step j (0..3) of the chunk feeds fragment position 4t + i the K
 * position kc + 32t + 8j + i and position 16 + 4t + i the K position
 * kc + 32t + 8j + 4 + i, in A and B alike, so each lane's loads are
 * contiguous; the sum over K does not depend on that order.  A lane's 32
 * positions lie in one group; with G = 64 lanes t = 0, 1 and t = 2, 3 lie
 * in different groups, which the exact mode keeps apart by running each
 * step twice with the other half's B zeroed. */
#define CHUNK 128

/* The chunk's loads of a lane: 32 codes of its W row, 32 Xq bytes of rows
 * g and g + 8 (zero past M, N or K). */
typedef struct decode_chunk {
    uint4 codes, x0[2], x1[2];
} decode_chunk;

/* Load the chunk at kc for lane (g, t) of the warp serving columns n0.. */
static __device__ __forceinline__ void load_chunk(decode_chunk *c, const unsigned char *xq,
                                                  const unsigned char *wq, int M, int N, int K,
                                                  int n0, int kc, int g, int t)
{
    const uint4 zero = make_uint4(0, 0, 0, 0);
    const int k = kc + 32 * t, n = n0 + g;
    c->codes = zero;
    c->x0[0] = c->x0[1] = c->x1[0] = c->x1[1] = zero;
    if (k >= K)
        return;
    if (n < N)
        c->codes = *(const uint4 *)(wq + (u64)n * (u64)(K / 2) + (u64)(k / 2));
    if (g < M) {
        const uint4 *x = (const uint4 *)(xq + (u64)g * (u64)K + (u64)k);
        c->x0[0] = x[0];
        c->x0[1] = x[1];
    }
    if (g + 8 < M) {
        const uint4 *x = (const uint4 *)(xq + (u64)(g + 8) * (u64)K + (u64)k);
        c->x1[0] = x[0];
        c->x1[1] = x[1];
    }
}

/* Word j of a 16-byte value. */
static __device__ __forceinline__ u32 word_of(const uint4 &v, int j)
{
    return j == 0 ? v.x : j == 1 ? v.y : j == 2 ? v.z : v.w;
}

/* Block (bx, split): warp w serves columns n0 = (bx * SWARPS + w) * 8 ..
 * over the chunks [split * chunks_per_split, ...) of K; writes its f32
 * sums of rows < M to part [splits, M, N]. */
extern "C" __global__ void __launch_bounds__(SWARPS * 32)
    fireq_gemm_decode(const unsigned char *__restrict__ xq, const unsigned char *__restrict__ wq,
                      const unsigned char *__restrict__ ws, float *__restrict__ part, int M,
                      int N, int K, int chunks_per_split)
{
    const int lane = (int)threadIdx.x & 31, warp = (int)threadIdx.x >> 5;
    const int g = lane >> 2, t = lane & 3;
    const int n0 = ((int)blockIdx.x * SWARPS + warp) * 8;
    const int split = (int)blockIdx.y, nchunks = (K + CHUNK - 1) / CHUNK;
    const int c0 = split * chunks_per_split, c1 = min(nchunks, c0 + chunks_per_split);
    const u64 ngroups = (u64)(K / GROUP);
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};

    for (int cb = c0; cb < c1; cb += UNROLL) {
        decode_chunk ch[UNROLL];
#pragma unroll
        for (int u = 0; u < UNROLL; u++)
            load_chunk(&ch[u], xq, wq, M, N, K, n0, (cb + u) * CHUNK, g, t);
#pragma unroll
        for (int u = 0; u < UNROLL; u++) {
            if (cb + u >= c1)
                break;
            const int kc = (cb + u) * CHUNK;
#if EXACT
            const uint4 tab = EXACT_TABLE;
#else
            /* the lane's group table: words 2p, 2p+1 here, the others from
             * lane t ^ 1 (same group: both in one 64-aligned K range) */
            const int kt = min(kc + 32 * t, K - 1), p = t & 1, n = min(n0 + g, N - 1);
            const float s = e4m3_to_f32(ws[(u64)n * ngroups + (u64)(kt / GROUP)]);
            const u32 w0 = lut_word(s, 2 * p), w1 = lut_word(s, 2 * p + 1);
            const u32 o0 = __shfl_xor_sync(FULL_MASK, w0, 1);
            const u32 o1 = __shfl_xor_sync(FULL_MASK, w1, 1);
            const uint4 tab = p == 0 ? make_uint4(w0, w1, o0, o1) : make_uint4(o0, o1, w0, w1);
#endif
            float sums[2][4] = {{0.0f, 0.0f, 0.0f, 0.0f}, {0.0f, 0.0f, 0.0f, 0.0f}};
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const u32 cw = word_of(ch[u].codes, j);
                const u32 b[2] = {int4x4_to_e4m3(cw & 0xffffu, tab), int4x4_to_e4m3(cw >> 16, tab)};
                const u32 a[4] = {word_of(ch[u].x0[j / 2], 2 * (j % 2)),
                                  word_of(ch[u].x1[j / 2], 2 * (j % 2)),
                                  word_of(ch[u].x0[j / 2], 2 * (j % 2) + 1),
                                  word_of(ch[u].x1[j / 2], 2 * (j % 2) + 1)};
#if EXACT && GROUP == 64
                const u32 zero[2] = {0u, 0u};
                mma_e4m3(sums[0], a, t < 2 ? b : zero);
                mma_e4m3(sums[1], a, t < 2 ? zero : b);
#else
                mma_e4m3(sums[0], a, b);
#endif
            }
            /* promote: the chunk's sums (per group in the exact mode) into acc */
#if EXACT
#pragma unroll
            for (int h = 0; h < (GROUP == 64 ? 2 : 1); h++) {
                const int kg = min(kc + 64 * h, K - 1) / GROUP;
#pragma unroll
                for (int e = 0; e < 2; e++) {
                    const int n = min(n0 + 2 * t + e, N - 1);
                    const float s = e4m3_to_f32(ws[(u64)n * ngroups + (u64)kg]);
                    acc[e] = fmaf(s, sums[h][e], acc[e]);
                    acc[2 + e] = fmaf(s, sums[h][2 + e], acc[2 + e]);
                }
            }
#else
#pragma unroll
            for (int r = 0; r < 4; r++)
                acc[r] += sums[0][r];
#endif
        }
    }
#pragma unroll
    for (int r = 0; r < 4; r++) {
        const int m = g + 8 * (r / 2), n = n0 + 2 * t + (r % 2);
        if (m < M && n < N)
            part[((u64)split * (u64)M + (u64)m) * (u64)N + (u64)n] = acc[r];
    }
}

/* Element i (grid-stride over M * N): acc = the sum of the `splits`
 * partial sums part [splits, M, N] in split order, then the epilogue. */
extern "C" __global__ void fireq_gemm_reduce(const float *__restrict__ part,
                                             const u16 *__restrict__ sx, void *__restrict__ y,
                                             float *__restrict__ acc_out, int M, int N,
                                             int splits, float inv_ps)
{
    const u64 total = (u64)M * (u64)N;
    for (u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (u64)gridDim.x * blockDim.x) {
        float a = 0.0f;
        for (int s = 0; s < splits; s++)
            a += part[(u64)s * total + i];
        store_output(y, acc_out, i, a, bf2f(sx[i / (u64)N]), inv_ps);
    }
}
