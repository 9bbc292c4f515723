/* tuner.h - searches an op's tile-parameter space on one device: every
 * candidate verified against the reference (tuning shape and an odd shape,
 * guard regions), timed as the median of repeated runs after warm-up (device
 * events where the backend has them, else the host clock: timer.h), and
 * remembered in a resumable cache; winners go to a per-device table. */
#ifndef QKV_TUNER_H
#define QKV_TUNER_H

#include <stdio.h>

#include "harness.h"
#include "timer.h"
#include "tuning.h"

typedef enum { QKV_TUNE_EXHAUSTIVE, QKV_TUNE_RANDOM, QKV_TUNE_ANNEAL } qkv_tune_strategy;

const char *qkv_tune_strategy_name(qkv_tune_strategy s);

typedef struct qkv_tune_options {
    qkv_tune_strategy strategy;
    double fraction;     /* random: share of the valid points (0, 1] ... */
    int count;           /* ... or this many (count wins when > 0) */
    int max_evals;       /* budget in evaluations (0: no limit) */
    double max_seconds;  /* budget in seconds (0: no limit) */
    int warmup, repeats; /* runs before timing; timed runs (median) */
    uint64_t seed;
    const char *cache_path; /* resumable measurement cache, NULL: none */
    FILE *progress;         /* progress lines, NULL: quiet */
    /* replaces the check against the reference (NULL: the reference check;
     * tests use it to make chosen points fail) */
    bool (*check)(const qkv_variant *v, const qkv_tile_params *tile);
} qkv_tune_options;

/* Largest measurement cache read (bytes); a larger one is not used. */
#define QKV_TUNE_CACHE_MAX_BYTES (64LL << 20)

typedef struct qkv_tune_result {
    qkv_tile_params best, defaults;
    double best_us, default_us; /* medians, microseconds on `clock` */
    qkv_clock clock;            /* what timed them */
    int evals;                  /* configurations measured (cache hits too) */
    int failed;                 /* configurations that did not verify */
    int space;                  /* valid configurations for the device */
} qkv_tune_result;

/* Tune variant v of op on ctx for `shape` (its class: op->class_size). */
qkv_status qkv_tune_op(qkv_context *ctx, const qkv_op_desc *op, const qkv_variant *v,
                       const qkv_op_shape *shape, const qkv_tune_options *opt,
                       qkv_tune_result *res);

/* Check, before a search, that its results can be kept: dir exists (or is
 * created) and a file can be created in it, and cache_path (NULL: none),
 * if it exists, is a regular file.  Fails with the reason otherwise. */
qkv_status qkv_tune_check_output(const char *dir, const char *cache_path);

/* Write (or update) dir/<device-key>.txt with the result of tuning variant
 * v of op on shape: one entry line per (op, variant, class), provenance
 * included.  The table is replaced atomically (temporary file, fsync,
 * rename): on any error the old one stays as it was. */
qkv_status qkv_tune_write_table(const char *dir, const qkv_context *ctx, const qkv_op_desc *op,
                                const qkv_variant *v, const qkv_op_shape *shape,
                                const qkv_tune_options *opt, const qkv_tune_result *res);

#endif
