/* cpu_team.h - the team size of the cpu backend's OpenMP regions on a
 * shared machine.
 *
 * When more threads are runnable than the machine has CPUs, a team thread
 * that loses its core holds the region's end for a scheduler slice while
 * its partners spin in libgomp's barrier (results/bench/
 * issue9-zen4-2026-11-30.md: 2-3x slower beside one busy process than on
 * one thread).  So a region asks for only as many threads as there are
 * CPUs left by the other runnable threads of the machine, at least one:
 * the kernel's Linux run-queue count (/proc/loadavg, "running/total",
 * sampled at most every CPU_TEAM_SAMPLE_NS) less the threads this process's
 * last team may still have running. */
#ifndef QKV_CPU_TEAM_H
#define QKV_CPU_TEAM_H

/* How often the run-queue count is read (ns). */
#define CPU_TEAM_SAMPLE_NS 10000000

/* Threads for the next parallel region: OpenMP's maximum, fewer while other
 * processes keep the CPUs busy. */
int cpu_team_size(void);

#endif
