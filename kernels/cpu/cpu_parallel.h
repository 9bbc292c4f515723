/* cpu_parallel.h - the team size of the cpu backend's OpenMP regions, and
 * the probe that lowers it while the machine is oversubscribed.
 *
 * When other processes hold the cores, a thread of a team can lose its core
 * for a whole scheduler slice (milliseconds), and the region cannot end
 * before that thread runs again: a 0.1 ms decode then takes 10 ms.  Each
 * region run by a full team measures how long its threads were runnable but
 * off-core (wall time in the region minus the thread's CPU time); when one
 * thread lost more than a quarter of the region and at least
 * CPU_REGION_STALL_NS, the following regions run on one thread (which waits
 * for nobody) for a back-off time that doubles while the stalls persist (up
 * to a second) and halves when a full team runs clean again.  The state is
 * the process's, like OpenMP's thread pool.
 *
 * Use:
 *     cpu_region region;
 *     cpu_region_begin(&region);
 *     #pragma omp parallel num_threads(region.threads)
 *     {
 *         const int64_t cpu0 = cpu_region_enter(&region);
 *         ... work, loops `nowait` ...
 *         cpu_region_leave(&region, cpu0);
 *     }
 *     cpu_region_end(&region);
 */
#ifndef QKV_CPU_PARALLEL_H
#define QKV_CPU_PARALLEL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* A thread off-core for less than this (ns) is not a stall: waking an idle
 * worker takes tens of microseconds even on a quiet machine. */
#define CPU_REGION_STALL_NS 300000

typedef struct cpu_region {
    int threads;                   /* team size to ask OpenMP for */
    bool probing;                  /* a full team: measure its stalls */
    int64_t start_ns;              /* CLOCK_MONOTONIC at cpu_region_begin */
    _Atomic int64_t max_stall_ns;  /* the largest off-core time of a thread */
} cpu_region;

/* Choose the team size of the next region (OpenMP's maximum, or 1 while
 * the machine is found oversubscribed) and start its clock. */
void cpu_region_begin(cpu_region *r);
/* First statement of each thread in the region: its CPU time now (ns). */
int64_t cpu_region_enter(const cpu_region *r);
/* Last statement of each thread: record its off-core time since
 * cpu_region_begin (cpu0 from cpu_region_enter). */
void cpu_region_leave(cpu_region *r, int64_t cpu0);
/* After the region: update the back-off from what the team measured. */
void cpu_region_end(const cpu_region *r);

#endif
