/* bench_case.c - one benchmark case: inputs prepared and uploaded once
 * (outside the timing), each iteration one launch until its work is done,
 * timed by qkv_time_launch (device events on GPUs, else the host clock).
 * On a cold cache (the default) the case is uploaded as several copies
 * that together exceed the last-level cache, and each iteration runs on the
 * next copy, so a call finds none of its inputs cached, as a decode step of
 * a real model would (the other layers' caches evict it). */
#include "bench.h"
#include "gbench_shim.h"
#include "harness.h"
#include "timer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SEED 20240601u
#define COLD_FLOOR_BYTES ((double)(128 << 20)) /* beyond an H100's 50 MB L2 too */

/* The case held now: host data of one (op, shape), `copies` uploads of it
 * on one backend, the one the next iteration runs on. */
static struct {
    const bench_item *host_for, *dev_for;
    qkv_op_case c;
    qkv_buffer *bufs[BENCH_MAX_COPIES][QKV_CASE_MAX_TENSORS];
    int copies, next;
} held;

static bool cold_cache = true;

void bench_case_set_cold(bool cold) { cold_cache = cold; }

static char message[512];

/* The last failure as a benchmark error message. */
static const char *failure(qkv_status st)
{
    snprintf(message, sizeof message, "%s: %s", qkv_status_name(st), qkv_last_error());
    return message;
}

static bool same_case(const bench_item *a, const bench_item *b)
{
    return a->op == b->op && strcmp(a->shape.label, b->shape.label) == 0;
}

static void release_device(void)
{
    for (int k = 0; k < held.copies; k++)
        qkv_case_release(&held.c, held.bufs[k]);
    held.copies = 0;
    held.dev_for = NULL;
}

void bench_case_release(void)
{
    release_device();
    qkv_case_free(&held.c);
    held.host_for = NULL;
}

/* Input (or all) bytes of a case. */
static double case_bytes(const qkv_op_case *c, bool outputs)
{
    double bytes = 0.0;
    for (int i = 0; i < c->ntensors; i++)
        if (outputs || !c->t[i].output)
            bytes += (double)qkv_tensor_bytes(&c->t[i]);
    return bytes;
}

/* Bytes of the host's last-level cache (sysfs, else sysconf; 32 MiB if
 * neither answers). */
double bench_llc_bytes(void)
{
    for (int index = 4; index >= 2; index--) {
        char path[96], text[32];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", index);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        char unit = 0;
        double size = 0.0;
        const bool ok = fgets(text, sizeof text, f) && sscanf(text, "%lf%c", &size, &unit) >= 1;
        fclose(f);
        if (ok && size > 0.0)
            return size * (unit == 'K' ? 1024.0 : unit == 'M' ? 1048576.0 : 1.0);
    }
#ifdef _SC_LEVEL3_CACHE_SIZE
    const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (l3 > 0)
        return (double)l3;
#endif
    return 32.0 * 1048576.0;
}

int bench_cold_copies(double bytes)
{
    if (!cold_cache)
        return 1;
    const double target = 4.0 * bench_llc_bytes();
    const double want = (target > COLD_FLOOR_BYTES ? target : COLD_FLOOR_BYTES) / bytes;
    return want >= BENCH_MAX_COPIES ? BENCH_MAX_COPIES : want < 1.0 ? 1 : (int)want + 1;
}

void bench_add_shapes(const qkv_op_desc *op, const char *set, qkv_op_shape *out, int *n)
{
    qkv_op_shape got[BENCH_MAX_SHAPES + 1]; /* one more, to see an overflow */
    const int k = op->shapes(set, got, BENCH_MAX_SHAPES + 1);
    if (*n + k > BENCH_MAX_SHAPES) {
        fprintf(stderr,
                "qkv-bench: op %s has more than %d benchmark shapes (llm and bench sets): "
                "raise BENCH_MAX_SHAPES in bench/bench.h\n",
                op->info->name, BENCH_MAX_SHAPES);
        exit(2);
    }
    memcpy(out + *n, got, (size_t)k * sizeof *got);
    *n += k;
}

/* One call of the item (a bench_item) on its backend's buffers (not waited
 * for). */
static qkv_status launch(void *arg)
{
    const bench_item *it = arg;
    return it->op->launch(it->backend->ctx, &it->shape, held.bufs[held.next]);
}

/* Untimed: make the item's case current (inputs filled once per op and
 * shape, uploaded once per backend) and warm it up with one call. */
static const char *setup(void *arg)
{
    const bench_item *it = arg;
    qkv_status st = qkv_set_variant(it->backend->ctx, it->op->info->name, it->variant->name);
    if (st != QKV_OK)
        return failure(st);
    if (held.dev_for == it)
        return NULL;
    release_device();
    if (!held.host_for || !same_case(held.host_for, it)) {
        bench_case_release();
        if ((st = qkv_case_inputs(it->op, &it->shape, SEED, &held.c)) != QKV_OK)
            return failure(st);
        held.host_for = it;
        fprintf(stderr, "qkv-bench: prepared %s %s (%.1f MB of inputs)\n", it->op->info->name,
                it->shape.label, case_bytes(&held.c, false) / 1e6);
    }
    held.dev_for = it;
    const int copies = bench_cold_copies(case_bytes(&held.c, true));
    for (held.copies = 0; held.copies < copies; held.copies++)
        if ((st = qkv_case_upload(&held.c, it->backend->ctx, held.bufs[held.copies])) != QKV_OK)
            return failure(st);
    for (held.next = 0; held.next < held.copies; held.next++)
        if ((st = launch(arg)) != QKV_OK)
            return failure(st);
    held.next = 0;
    if ((st = qkv_finish(it->backend->ctx)) != QKV_OK)
        return failure(st);
    return NULL;
}

/* Timed: one call until its work is done, in seconds on the backend's
 * clock (qkv_time_launch). */
static const char *iteration(void *arg, double *seconds)
{
    const bench_item *it = arg;
    double us = 0.0;
    held.next = (held.next + 1) % held.copies;
    const qkv_status st = qkv_time_launch(it->backend->ctx, launch, arg, &us);
    *seconds = us * 1e-6;
    return st == QKV_OK ? NULL : failure(st);
}

void bench_case_register(bench_item *item)
{
    const double bytes = item->op->bytes(&item->shape), flops = item->op->flops(&item->shape);
    const bench_roof *roof = &item->backend->roof;
    qkv_bench_counter counters[7] = {
        {"bytes", bytes, 0},
        {"flops", flops, 0},
        {"bytes_per_second", bytes, 1},
        {"flops_per_second", flops, 1},
    };
    int n = 4;
    /* seconds a call would take at the roof, per second of measured time */
    if (roof->copy_bytes_per_s > 0.0)
        counters[n++] = (qkv_bench_counter){"copy_roof", bytes / roof->copy_bytes_per_s, 1};
    if (roof->read_bytes_per_s > 0.0)
        counters[n++] = (qkv_bench_counter){"read_roof", bytes / roof->read_bytes_per_s, 1};
    if (roof->fma_flops_per_s > 0.0)
        counters[n++] = (qkv_bench_counter){"fma_roof", flops / roof->fma_flops_per_s, 1};
    char name[160], tiles[160] = "", label[192] = "";
    snprintf(name, sizeof name, "%s%s%s/%s/%s", item->op->info->name,
             item->first_variant ? "" : "@", item->first_variant ? "" : item->variant->name,
             item->shape.label, item->backend->spec);
    char op_variant[96];
    snprintf(op_variant, sizeof op_variant, "%s/%s", item->op->info->name, item->variant->name);
    const char *level = NULL;
    if (qkv_get_tile_params(item->backend->ctx, op_variant, item->op->class_size(&item->shape),
                            tiles, sizeof tiles, NULL, &level) == QKV_OK)
        snprintf(label, sizeof label, "%s tiles %s (%s)", item->variant->name,
                 *tiles ? tiles : "-", level);
    qkv_bench_register(name, label, setup, iteration, item, n, counters);
}
