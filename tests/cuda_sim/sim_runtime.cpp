/* sim_runtime.cpp - the host simulation's CUDA runtime (include/cuda_fp16.h):
 * a block's threads are host threads, __syncthreads a barrier over them,
 * a warp shuffle a barrier over the lanes of its mask around an exchange
 * array, dynamic shared memory one array (smem4). */
#include <barrier>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "cuda_fp16.h"

#define MAX_WARPS 32

thread_local dim3 threadIdx;
dim3 blockIdx, blockDim, gridDim;
float4 smem4[1 << 16]; /* the kernels' extern __shared__ array: 1 MiB */

static std::unique_ptr<std::barrier<>> block_barrier;
static std::mutex groups_lock;
static std::map<std::pair<int, unsigned>, std::unique_ptr<std::barrier<>>> lane_groups;
static unsigned exchange[MAX_WARPS][32];

void __syncthreads() { block_barrier->arrive_and_wait(); }

/* The barrier of the lanes of `mask` in warp `warp`, made on first use. */
static std::barrier<> *group_barrier(int warp, unsigned mask)
{
    std::lock_guard<std::mutex> hold(groups_lock);
    auto &b = lane_groups[{warp, mask}];
    if (!b)
        b = std::make_unique<std::barrier<>>(__builtin_popcount(mask));
    return b.get();
}

unsigned sim_lane_exchange(unsigned mask, unsigned value, int off, bool do_or)
{
    const int warp = (int)threadIdx.x / 32, lane = (int)threadIdx.x % 32;
    const int src = lane ^ off;
    if (!(mask >> lane & 1u) || (!do_or && !(mask >> src & 1u))) {
        std::fprintf(stderr, "cuda_sim: lane %d or %d outside mask %08x\n", lane, src, mask);
        std::abort();
    }
    std::barrier<> *b = group_barrier(warp, mask);
    exchange[warp][lane] = value;
    b->arrive_and_wait();
    unsigned r = 0;
    if (do_or) {
        for (int l = 0; l < 32; l++)
            if (mask >> l & 1u)
                r |= exchange[warp][l];
    } else {
        r = exchange[warp][src];
    }
    b->arrive_and_wait();
    return r;
}

void sim_launch(dim3 grid, dim3 block, const std::function<void()> &kernel)
{
    if (block.x % 32 || block.x / 32 > MAX_WARPS) {
        std::fprintf(stderr, "cuda_sim: blocks of whole warps, at most %d\n", MAX_WARPS);
        std::abort();
    }
    gridDim = grid;
    blockDim = block;
    for (unsigned by = 0; by < grid.y; by++)
        for (unsigned bx = 0; bx < grid.x; bx++) {
            blockIdx.x = bx;
            blockIdx.y = by;
            block_barrier = std::make_unique<std::barrier<>>(block.x);
            lane_groups.clear();
            std::vector<std::thread> threads;
            for (unsigned t = 0; t < block.x; t++)
                threads.emplace_back([&kernel, t] {
                    threadIdx.x = t;
                    kernel();
                });
            for (auto &t : threads)
                t.join();
        }
}

/* The warp's MMA operands, one slot per lane. */
static unsigned mma_a[MAX_WARPS][32][4], mma_b[MAX_WARPS][32][2];
static float mma_c[MAX_WARPS][32][4];

extern "C" float qkv_e4m3_to_f32(uint8_t b);

/* Byte j of fragment register r. */
static uint8_t fragment_byte(unsigned r, int j) { return (uint8_t)(r >> (8 * j)); }

/* m16n8k32 e4m3 over the calling warp.  PTX ISA layouts, lane = 4g + t:
 * A element a_e (e = 0..15, byte e % 4 of register e / 4) is row g for e
 * in 0..3 and 8..11, else g + 8, column 4t + e % 4, plus 16 for e >= 8;
 * B element b_e (e = 0..7) is row (k) 4t + e % 4, plus 16 for e >= 4,
 * column g; C element c_e is row g for e < 2, else g + 8, column 2t + e % 2. */
void sim_mma_m16n8k32_e4m3(float (&c)[4], const unsigned (&a)[4], const unsigned (&b)[2])
{
    const int warp = (int)threadIdx.x / 32, lane = (int)threadIdx.x % 32;
    std::barrier<> *bar = group_barrier(warp, 0xffffffffu);
    for (int i = 0; i < 4; i++) {
        mma_a[warp][lane][i] = a[i];
        mma_c[warp][lane][i] = c[i];
    }
    mma_b[warp][lane][0] = b[0];
    mma_b[warp][lane][1] = b[1];
    bar->arrive_and_wait();
    double A[16][32], B[32][8], C[16][8];
    for (int l = 0; l < 32; l++) {
        const int g = l / 4, t = l % 4;
        for (int e = 0; e < 16; e++) {
            const int row = (e < 4 || (e >= 8 && e < 12)) ? g : g + 8;
            const int col = 4 * t + e % 4 + (e >= 8 ? 16 : 0);
            A[row][col] = qkv_e4m3_to_f32(fragment_byte(mma_a[warp][l][e / 4], e % 4));
        }
        for (int e = 0; e < 8; e++)
            B[4 * t + e % 4 + (e >= 4 ? 16 : 0)][g] =
                qkv_e4m3_to_f32(fragment_byte(mma_b[warp][l][e / 4], e % 4));
        for (int e = 0; e < 4; e++)
            C[e < 2 ? g : g + 8][2 * t + e % 2] = mma_c[warp][l][e];
    }
    bar->arrive_and_wait(); /* every lane has read the operands */
    const int g = lane / 4, t = lane % 4;
    for (int e = 0; e < 4; e++) {
        const int row = e < 2 ? g : g + 8, col = 2 * t + e % 2;
        double sum = C[row][col];
        for (int k = 0; k < 32; k++)
            sum += A[row][k] * B[k][col];
        c[e] = (float)sum;
    }
}
