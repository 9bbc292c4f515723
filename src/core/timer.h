/* timer.h - the time of one op launch for the tuner and the benchmarks:
 * device events where the context's backend has a device timer that works
 * on its device (OpenCL markers on a profiling queue, CUDA events), else
 * the host monotonic clock around the launch and qkv_finish. */
#ifndef QKV_TIMER_H
#define QKV_TIMER_H

#include "qkv_internal.h"

typedef enum { QKV_CLOCK_HOST, QKV_CLOCK_DEVICE } qkv_clock;

/* "host clock" or "device events". */
const char *qkv_clock_name(qkv_clock clock);
/* The same as one word for key=value provenance: "host_clock",
 * "device_events". */
const char *qkv_clock_key(qkv_clock clock);
/* The clock qkv_time_launch uses on ctx. */
qkv_clock qkv_timer_clock(const qkv_context *ctx);

/* One launch: enqueues an op's work on the context (not waited for). */
typedef qkv_status (*qkv_launch_fn)(void *arg);

/* Microseconds of launch(arg) on ctx, until all it enqueued has finished,
 * on the clock qkv_timer_clock(ctx) names: device events bracket everything
 * launch enqueues (several kernels, a blocking read between them) and
 * count the device's time from the first mark's completion to the last
 * one's, idle gaps included; the host clock counts the launch call and
 * qkv_finish.  Either way qkv_finish is called, so errors of the launched
 * work are reported. */
qkv_status qkv_time_launch(qkv_context *ctx, qkv_launch_fn launch, void *arg, double *us);

#endif
