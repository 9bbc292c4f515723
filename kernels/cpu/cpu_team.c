/* cpu_team.c - team sizes of the cpu backend's OpenMP regions from the
 * machine's run queue (see cpu_team.h). */
#include "cpu_team.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static _Atomic int64_t sampled_ns = INT64_MIN; /* when `team` was last computed */
static _Atomic int team;                       /* its value (0: not yet) */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Runnable threads on the machine now (the first number of /proc/loadavg's
 * fourth field), or -1 where it cannot be read. */
static int runnable_threads(void)
{
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f)
        return -1;
    int running = -1;
    if (fscanf(f, "%*f %*f %*f %d/", &running) != 1)
        running = -1;
    fclose(f);
    return running;
}

int cpu_team_size(void)
{
#ifdef _OPENMP
    const int max = omp_get_max_threads(), cpus = omp_get_num_procs(); /* affinity-aware */
#else
    const int max = 1, cpus = 1;
#endif
    if (max <= 1)
        return 1;
    const int64_t now = now_ns();
    const int last = atomic_load_explicit(&team, memory_order_relaxed);
    if (last && now - atomic_load_explicit(&sampled_ns, memory_order_relaxed) < CPU_TEAM_SAMPLE_NS)
        return last;
    atomic_store_explicit(&sampled_ns, now, memory_order_relaxed);
    const int running = runnable_threads();
    int size = max;
    if (running > 0) {
        /* ours: this thread, or the last team if its threads still spin */
        const int others = running - (last ? last : 1);
        const int free_cpus = cpus - (others > 0 ? others : 0);
        size = free_cpus < 1 ? 1 : free_cpus < max ? free_cpus : max;
    }
    atomic_store_explicit(&team, size, memory_order_relaxed);
    return size;
}
