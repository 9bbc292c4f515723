/* cpu_parallel.c - team sizes of the cpu backend's OpenMP regions on a
 * busy machine (see cpu_parallel.h). */
#include "cpu_parallel.h"

#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define BACKOFF_MIN_NS 16000000LL   /* 16 ms: a few scheduler slices */
#define BACKOFF_MAX_NS 1000000000LL /* 1 s */

/* Until when regions run on one thread, and the back-off that set it. */
static _Atomic int64_t solo_until_ns;
static _Atomic int64_t backoff_ns = BACKOFF_MIN_NS;

static int64_t clock_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void cpu_region_begin(cpu_region *r)
{
#ifdef _OPENMP
    const int max = omp_get_max_threads();
#else
    const int max = 1;
#endif
    r->start_ns = clock_ns(CLOCK_MONOTONIC);
    const bool solo = r->start_ns < atomic_load_explicit(&solo_until_ns, memory_order_relaxed);
    r->threads = solo ? 1 : max;
    r->probing = r->threads > 1;
    atomic_init(&r->max_stall_ns, 0);
}

int64_t cpu_region_enter(const cpu_region *r)
{
    return r->probing ? clock_ns(CLOCK_THREAD_CPUTIME_ID) : 0;
}

void cpu_region_leave(cpu_region *r, int64_t cpu0)
{
    if (!r->probing)
        return;
    const int64_t on_core = clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
    const int64_t stall = clock_ns(CLOCK_MONOTONIC) - r->start_ns - on_core;
    int64_t seen = atomic_load_explicit(&r->max_stall_ns, memory_order_relaxed);
    while (stall > seen && !atomic_compare_exchange_weak(&r->max_stall_ns, &seen, stall))
        ;
}

void cpu_region_end(const cpu_region *r)
{
    if (!r->probing)
        return;
    const int64_t now = clock_ns(CLOCK_MONOTONIC);
    const int64_t stall = atomic_load(&r->max_stall_ns);
    int64_t backoff = atomic_load_explicit(&backoff_ns, memory_order_relaxed);
    if (stall >= CPU_REGION_STALL_NS && 4 * stall > now - r->start_ns) {
        atomic_store_explicit(&solo_until_ns, now + backoff, memory_order_relaxed);
        backoff = backoff * 2 < BACKOFF_MAX_NS ? backoff * 2 : BACKOFF_MAX_NS;
    } else {
        backoff = backoff / 2 > BACKOFF_MIN_NS ? backoff / 2 : BACKOFF_MIN_NS;
    }
    atomic_store_explicit(&backoff_ns, backoff, memory_order_relaxed);
}
