/* gemm_bench_grid.h - the benchmark grid that w4a8_gemm's and f32_gemm's
 * "bench" shape sets share, so the two compare row by row under the same
 * labels: weights N x K (an LLM's square, FFN up and FFN down layers)
 * times tokens M. */
#ifndef QKV_GEMM_BENCH_GRID_H
#define QKV_GEMM_BENCH_GRID_H

#include <stddef.h>
#include <stdio.h>

enum { GEMM_GRID_WEIGHTS = 3, GEMM_GRID_TOKENS = 7 };
/* {N, K} of each weight shape. */
static const size_t gemm_grid_weights[GEMM_GRID_WEIGHTS][2] = {
    {4096, 4096}, {14336, 4096}, {4096, 14336}};
static const size_t gemm_grid_tokens[GEMM_GRID_TOKENS] = {1, 4, 16, 64, 256, 512, 1024};

/* The label of grid point (weights w, tokens t): "bench-nN-kK-mM". */
static inline void gemm_grid_label(char *label, size_t size, int w, int t)
{
    snprintf(label, size, "bench-n%zu-k%zu-m%zu", gemm_grid_weights[w][0],
             gemm_grid_weights[w][1], gemm_grid_tokens[t]);
}

#endif
