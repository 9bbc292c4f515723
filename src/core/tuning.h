/* tuning.h - per-device tuning tables at run time: loading, the layered
 * lookup (override -> device -> architecture -> backend default), and the
 * checks that keep a stale or foreign entry from ever being used. */
#ifndef QKV_TUNING_H
#define QKV_TUNING_H

#include "qkv_internal.h"

#include <stdio.h>

typedef enum qkv_tile_level {
    QKV_LEVEL_DEFAULT = 0, /* the variant's declared defaults */
    QKV_LEVEL_ARCH,        /* a table of another device of the same architecture */
    QKV_LEVEL_DEVICE,      /* this device's table */
    QKV_LEVEL_OVERRIDE,    /* qkv_set_tile_params or QKV_TILE_PARAMS */
} qkv_tile_level;

const char *qkv_tile_level_name(qkv_tile_level level);

/* Open `path` for reading only if it is a regular file of at most
 * max_bytes (0: any size); its size in *size when size is not NULL.  The
 * open does not block, so a FIFO nobody writes is refused, as are devices
 * (/dev/zero) and directories.  NULL with the reason in why otherwise. */
FILE *qkv_open_regular(const char *path, long long max_bytes, long long *size, char *why,
                       size_t why_size);

/* Largest tuning table file read (bytes). */
#define QKV_TABLE_MAX_BYTES (4LL << 20)

/* Shape classes: a call's size (op-specific, e.g. context length) falls in
 * the first class whose upper bound holds it. */
#define QKV_SIZE_CLASSES 7
extern const size_t qkv_size_class_bound[QKV_SIZE_CLASSES];
int qkv_size_class(size_t size);

/* Keys of a device's tuning tables, lower case with runs of other
 * characters folded to '-': the device key is backend, name and
 * microarchitecture ("cpu-amd-epyc-amd-zen4", "cuda-nvidia-h100-80gb-hbm3-sm-90"),
 * so a table tuned on another generation sold under the same name is not
 * applied; the arch key is backend and microarchitecture ("cpu-amd-zen4",
 * "cuda-sm-90"), or the backend's arch string where that is unknown. */
void qkv_device_key(const qkv_device_info *dev, char *out, size_t size);
void qkv_arch_key(const qkv_device_info *dev, char *out, size_t size);

/* "wg=64,split=512" <-> tile values of v; parse fails (message in why)
 * on unknown names, values outside the candidates, or a configuration the
 * device cannot run.  Missing names keep their defaults. */
bool qkv_tile_parse(const qkv_variant *v, const qkv_device_info *dev, const char *text,
                    qkv_tile_params *tile, char *why, size_t why_size);
void qkv_tile_format(const qkv_variant *v, const qkv_tile_params *tile, char *out,
                     size_t size);

/* Load the tables for ctx (installed data dir, the source tree's
 * results/tuning, $QKV_TUNING_PATH; only the last when
 * QKV_TUNING_ONLY_PATH=1) and $QKV_TILE_PARAMS overrides. */
void qkv_tuning_load(qkv_context *ctx);
void qkv_tuning_free(qkv_context *ctx);

/* What a call runs: a variant, its tile parameters, and where they come
 * from. */
typedef struct qkv_choice {
    const qkv_variant *variant;
    qkv_tile_params tile;
    qkv_tile_level level;
} qkv_choice;

/* The variant and parameters a call of op of `size` (its shape class) uses
 * on ctx: a forced (qkv_tile_force) variant, else `asked` or the selected
 * one (qkv_set_variant, $QKV_VARIANT) with its override, table entry or
 * defaults, else a tile override's variant, else the fastest table entry of
 * the nearest class (device, then arch level), else the first variant that
 * supports the call.  `params` is the op's params struct, or NULL for the
 * device's choice without a call.  QKV_ERR_UNSUPPORTED when nothing
 * supports the call. */
qkv_status qkv_choose(qkv_context *ctx, qkv_op_id op, const qkv_variant *asked,
                      const void *params, size_t size, qkv_choice *out);

/* How a table entry is checked before its first use on a context (the
 * tools install one that runs op against the reference; without one,
 * entries are trusted: qkv tune verified them when it wrote them).  It runs
 * op on ctx, where the entry's variant and parameters are forced. */
typedef bool (*qkv_tile_verifier)(qkv_context *ctx, qkv_op_id op);
/* Install a verifier; NULL removes it. */
void qkv_tuning_set_verifier(qkv_tile_verifier verifier);
/* Force variant v with `tile` for v's op on ctx, for calls from this
 * thread only, until cleared with tile NULL (a thread forces on one context
 * at a time: forcing on another context clears what it forced before). */
void qkv_tile_force(qkv_context *ctx, const qkv_variant *v, const qkv_tile_params *tile);

#endif
