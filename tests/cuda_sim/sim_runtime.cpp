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
