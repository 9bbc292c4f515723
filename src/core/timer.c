/* timer.c - the time of one op launch (see timer.h). */
#include "timer.h"

#include <time.h>

/* Name of a clock, for progress lines and reports. */
const char *qkv_clock_name(qkv_clock clock)
{
    return clock == QKV_CLOCK_DEVICE ? "device events" : "host clock";
}

/* Name of a clock as one word, for key=value provenance. */
const char *qkv_clock_key(qkv_clock clock)
{
    return clock == QKV_CLOCK_DEVICE ? "device_events" : "host_clock";
}

/* Device events where the backend has a timer and open found it working. */
qkv_clock qkv_timer_clock(const qkv_context *ctx)
{
    return ctx->device_timer && ctx->backend->timer_begin ? QKV_CLOCK_DEVICE : QKV_CLOCK_HOST;
}

/* The host's monotonic clock, in microseconds. */
static double host_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e6 * (double)ts.tv_sec + 1e-3 * (double)ts.tv_nsec;
}

/* Device microseconds between the backend's timer marks around launch(arg). */
static qkv_status device_time(qkv_context *ctx, qkv_launch_fn launch, void *arg, double *us)
{
    qkv_status st = ctx->backend->timer_begin(ctx);
    if (st != QKV_OK)
        return st;
    st = launch(arg);
    const qkv_status end = ctx->backend->timer_end(ctx, us); /* always, to release the mark */
    return st != QKV_OK ? st : end;
}

/* Microseconds of one launch until its work has finished (timer.h). */
/* The timed launch itself (ctx locked). */
static qkv_status time_locked(qkv_context *ctx, qkv_launch_fn launch, void *arg, double *us)
{
    if (qkv_timer_clock(ctx) == QKV_CLOCK_DEVICE) {
        const qkv_status st = device_time(ctx, launch, arg, us);
        return st == QKV_OK ? qkv_finish(ctx) : st;
    }
    const double t0 = host_us();
    qkv_status st = launch(arg);
    if (st == QKV_OK)
        st = qkv_finish(ctx);
    *us = host_us() - t0;
    return st;
}

qkv_status qkv_time_launch(qkv_context *ctx, qkv_launch_fn launch, void *arg, double *us)
{
    qkv_context_lock(ctx); /* no other thread's work between the marks */
    const qkv_status st = time_locked(ctx, launch, arg, us);
    qkv_context_unlock(ctx);
    return st;
}
