/* roof.c - measured roofs: the timing loop, and the host probes of the ref
 * and cpu backends (an OpenMP copy; multiply-add chains in the widest FMA
 * the context may use, chosen at run time: AVX-512 where a cpu context's
 * ISA level is avx512 (Zen 5 runs twice the AVX2 rate there, Zen 4 the
 * same), AVX2 FMA where it has AVX2, else portable multiply + add). */
#include "roof.h"
#include "cpu_features.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define ROOF_X86 1
#else
#define ROOF_X86 0
#endif

#define MIN_RUN_S 0.05
#define HOST_COPY_BYTES ((size_t)256 << 20) /* per array: far beyond the caches */
#define COPY_BLOCK ((size_t)1 << 20)        /* bytes per memcpy */
#define FMA_CHAINS 12 /* independent 8-lane accumulators: > latency x FMA ports */
#define FMA_LANES 8
#define FMA_LANES_512 16

double bench_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double bench_best_rate(bench_work_fn fn, void *arg, int trials)
{
    long n = 1;
    double best = 0.0;
    for (int t = 0; t < trials;) {
        const double t0 = bench_seconds();
        const double work = fn(arg, n);
        const double dt = bench_seconds() - t0;
        if (work < 0.0)
            return -1.0;
        if (dt < MIN_RUN_S) {
            n *= 2; /* still calibrating: not a trial */
            continue;
        }
        if (work / dt > best)
            best = work / dt;
        t++;
    }
    return best;
}

/* Two host arrays of HOST_COPY_BYTES. */
typedef struct host_copy {
    char *src, *dst;
} host_copy;

/* n copies of src to dst, threads on blocks in static order (the same as
 * the first touch); work = bytes read + written. */
static double host_copy_run(void *arg, long n)
{
    const host_copy *c = arg;
    const long blocks = (long)(HOST_COPY_BYTES / COPY_BLOCK);
    for (long r = 0; r < n; r++) {
#pragma omp parallel for schedule(static)
        for (long b = 0; b < blocks; b++)
            memcpy(c->dst + (size_t)b * COPY_BLOCK, c->src + (size_t)b * COPY_BLOCK, COPY_BLOCK);
    }
    return 2.0 * (double)n * (double)HOST_COPY_BYTES;
}

/* Sum of the 64-bit words of block b (four independent chains, so the loads
 * and adds overlap); the compiler vectorizes it. */
static uint64_t read_block(const char *src, long b)
{
    const uint64_t *w = (const uint64_t *)(const void *)(src + (size_t)b * COPY_BLOCK);
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i < COPY_BLOCK / sizeof *w; i += 4) {
        s0 += w[i];
        s1 += w[i + 1];
        s2 += w[i + 2];
        s3 += w[i + 3];
    }
    return s0 ^ s1 ^ s2 ^ s3;
}

static volatile uint64_t read_sink; /* keeps the sums alive */

/* n reads of src, threads on blocks in static order (the first touch's);
 * work = bytes read. */
static double host_read_run(void *arg, long n)
{
    const host_copy *c = arg;
    const long blocks = (long)(HOST_COPY_BYTES / COPY_BLOCK);
    uint64_t total = 0;
    for (long r = 0; r < n; r++) {
#pragma omp parallel for schedule(static) reduction(^ : total)
        for (long b = 0; b < blocks; b++)
            total ^= read_block(c->src, b);
    }
    read_sink = total;
    return (double)n * (double)HOST_COPY_BYTES;
}

#if ROOF_X86
/* n rounds of FMA_CHAINS 8-lane FMAs x = x * a + b, in named registers
 * (an array would live in memory); the lanes' sum. */
__attribute__((target("avx2,fma"))) static float fma_avx2(long n, float a, float b)
{
    const __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b);
    __m256 x0 = _mm256_set1_ps(1.0f), x1 = _mm256_set1_ps(2.0f), x2 = _mm256_set1_ps(3.0f);
    __m256 x3 = _mm256_set1_ps(4.0f), x4 = _mm256_set1_ps(5.0f), x5 = _mm256_set1_ps(6.0f);
    __m256 x6 = _mm256_set1_ps(7.0f), x7 = _mm256_set1_ps(8.0f), x8 = _mm256_set1_ps(9.0f);
    __m256 x9 = _mm256_set1_ps(10.0f), x10 = _mm256_set1_ps(11.0f), x11 = _mm256_set1_ps(12.0f);
    for (long i = 0; i < n; i++) {
        x0 = _mm256_fmadd_ps(x0, va, vb);
        x1 = _mm256_fmadd_ps(x1, va, vb);
        x2 = _mm256_fmadd_ps(x2, va, vb);
        x3 = _mm256_fmadd_ps(x3, va, vb);
        x4 = _mm256_fmadd_ps(x4, va, vb);
        x5 = _mm256_fmadd_ps(x5, va, vb);
        x6 = _mm256_fmadd_ps(x6, va, vb);
        x7 = _mm256_fmadd_ps(x7, va, vb);
        x8 = _mm256_fmadd_ps(x8, va, vb);
        x9 = _mm256_fmadd_ps(x9, va, vb);
        x10 = _mm256_fmadd_ps(x10, va, vb);
        x11 = _mm256_fmadd_ps(x11, va, vb);
    }
    const __m256 s = _mm256_add_ps(
        _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(x0, x1), _mm256_add_ps(x2, x3)),
                      _mm256_add_ps(_mm256_add_ps(x4, x5), _mm256_add_ps(x6, x7))),
        _mm256_add_ps(_mm256_add_ps(x8, x9), _mm256_add_ps(x10, x11)));
    float lanes[FMA_LANES], sum = 0.0f;
    _mm256_storeu_ps(lanes, s);
    for (int l = 0; l < FMA_LANES; l++)
        sum += lanes[l];
    return sum;
}

/* fma_avx2 in 16-lane zmm FMAs. */
__attribute__((target("avx512f"))) static float fma_avx512(long n, float a, float b)
{
    const __m512 va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b);
    __m512 x0 = _mm512_set1_ps(1.0f), x1 = _mm512_set1_ps(2.0f), x2 = _mm512_set1_ps(3.0f);
    __m512 x3 = _mm512_set1_ps(4.0f), x4 = _mm512_set1_ps(5.0f), x5 = _mm512_set1_ps(6.0f);
    __m512 x6 = _mm512_set1_ps(7.0f), x7 = _mm512_set1_ps(8.0f), x8 = _mm512_set1_ps(9.0f);
    __m512 x9 = _mm512_set1_ps(10.0f), x10 = _mm512_set1_ps(11.0f), x11 = _mm512_set1_ps(12.0f);
    for (long i = 0; i < n; i++) {
        x0 = _mm512_fmadd_ps(x0, va, vb);
        x1 = _mm512_fmadd_ps(x1, va, vb);
        x2 = _mm512_fmadd_ps(x2, va, vb);
        x3 = _mm512_fmadd_ps(x3, va, vb);
        x4 = _mm512_fmadd_ps(x4, va, vb);
        x5 = _mm512_fmadd_ps(x5, va, vb);
        x6 = _mm512_fmadd_ps(x6, va, vb);
        x7 = _mm512_fmadd_ps(x7, va, vb);
        x8 = _mm512_fmadd_ps(x8, va, vb);
        x9 = _mm512_fmadd_ps(x9, va, vb);
        x10 = _mm512_fmadd_ps(x10, va, vb);
        x11 = _mm512_fmadd_ps(x11, va, vb);
    }
    const __m512 s = _mm512_add_ps(
        _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(x0, x1), _mm512_add_ps(x2, x3)),
                      _mm512_add_ps(_mm512_add_ps(x4, x5), _mm512_add_ps(x6, x7))),
        _mm512_add_ps(_mm512_add_ps(x8, x9), _mm512_add_ps(x10, x11)));
    return _mm512_reduce_add_ps(s);
}
#endif

/* The same rounds as separate multiply and add (the compiler vectorizes). */
static float fma_portable(long n, float a, float b)
{
    float x[FMA_CHAINS * FMA_LANES], sum = 0.0f;
    for (int k = 0; k < FMA_CHAINS * FMA_LANES; k++)
        x[k] = 1.0f + (float)k;
    for (long i = 0; i < n; i++)
        for (int k = 0; k < FMA_CHAINS * FMA_LANES; k++)
            x[k] = x[k] * a + b;
    for (int k = 0; k < FMA_CHAINS * FMA_LANES; k++)
        sum += x[k];
    return sum;
}

static volatile float fma_sink; /* keeps the chains' results alive */

/* n rounds on every OpenMP thread in the FMA of ISA level *arg (a
 * qkv_cpu_isa); work = flops (2 per multiply-add per lane). */
static double host_fma_run(void *arg, long n)
{
    const qkv_cpu_isa isa = ROOF_X86 ? *(const qkv_cpu_isa *)arg : QKV_CPU_ISA_SCALAR;
    const int lanes = isa >= QKV_CPU_ISA_AVX512 ? FMA_LANES_512 : FMA_LANES;
    double threads = 1.0;
    float total = 0.0f;
#pragma omp parallel reduction(+ : total)
    {
#if ROOF_X86
        total += isa >= QKV_CPU_ISA_AVX512 ? fma_avx512(n, 0.999f, 1e-3f)
                 : isa >= QKV_CPU_ISA_AVX2 ? fma_avx2(n, 0.999f, 1e-3f)
                                           : fma_portable(n, 0.999f, 1e-3f);
#else
        total += fma_portable(n, 0.999f, 1e-3f);
#endif
#ifdef _OPENMP
#pragma omp master
        threads = (double)omp_get_num_threads();
#endif
    }
    fma_sink = total;
    return threads * (double)n * FMA_CHAINS * lanes * 2.0;
}

/* Host roofs: copy between two first-touched arrays, a read of one, FMA
 * chains at ISA level isa. */
static qkv_status host_roof(int trials, qkv_cpu_isa isa, bench_roof *roof)
{
    host_copy c = {malloc(HOST_COPY_BYTES), malloc(HOST_COPY_BYTES)};
    if (!c.src || !c.dst) {
        free(c.src);
        free(c.dst);
        return qkv_fail(QKV_ERR_NO_MEMORY, "roof: out of host memory");
    }
    const long blocks = (long)(HOST_COPY_BYTES / COPY_BLOCK);
#pragma omp parallel for schedule(static)
    for (long b = 0; b < blocks; b++) {
        memset(c.src + (size_t)b * COPY_BLOCK, 1, COPY_BLOCK);
        memset(c.dst + (size_t)b * COPY_BLOCK, 0, COPY_BLOCK);
    }
    roof->copy_bytes_per_s = bench_best_rate(host_copy_run, &c, trials);
    roof->read_bytes_per_s = bench_best_rate(host_read_run, &c, trials);
    free(c.src);
    free(c.dst);
    roof->fma_flops_per_s = bench_best_rate(host_fma_run, &isa, trials);
    return QKV_OK;
}

qkv_status bench_roof_measure(qkv_context *ctx, int trials, bench_roof *roof)
{
    qkv_device_info info;
    const qkv_status st = qkv_context_info(ctx, &info);
    if (st != QKV_OK)
        return st;
#if defined(QKV_HAVE_OPENCL) || defined(QKV_HAVE_CUDA)
    if (info.backend == QKV_BACKEND_OPENCL || info.backend == QKV_BACKEND_CUDA)
        return bench_roof_gpu(ctx, trials, roof);
#endif
    /* cpu: the level its variants may use; ref: the machine's */
    const qkv_cpu_isa isa = info.backend == QKV_BACKEND_CPU ? (qkv_cpu_isa)ctx->cpu_isa
                                                             : qkv_cpu_isa_detected();
    return host_roof(trials, isa, roof);
}
