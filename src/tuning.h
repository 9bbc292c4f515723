/* tuning.h - per-device tuning tables at run time: loading, the layered
 * lookup (override -> device -> architecture -> backend default), and the
 * checks that keep a stale or foreign entry from ever being used. */
#ifndef QKV_TUNING_H
#define QKV_TUNING_H

#include "qkv_internal.h"

typedef enum qkv_tile_level {
    QKV_LEVEL_DEFAULT = 0, /* the implementation's declared defaults */
    QKV_LEVEL_ARCH,        /* a table of another device of the same architecture */
    QKV_LEVEL_DEVICE,      /* this device's table */
    QKV_LEVEL_OVERRIDE,    /* qkv_set_tile_params or QKV_TILE_PARAMS */
} qkv_tile_level;

const char *qkv_tile_level_name(qkv_tile_level level);

/* Shape classes: a call's size (op-specific, e.g. context length) falls in
 * the first class whose upper bound holds it. */
#define QKV_SIZE_CLASSES 7
extern const size_t qkv_size_class_bound[QKV_SIZE_CLASSES];
int qkv_size_class(size_t size);

/* "backend-normalised-name" and "backend-normalised-arch" of a device:
 * lower case, runs of other characters folded to '-'. */
void qkv_device_key(const qkv_device_info *dev, char *out, size_t size);
void qkv_arch_key(const qkv_device_info *dev, char *out, size_t size);

/* "wg=64,split=512" <-> tile values of impl; parse fails (message in why)
 * on unknown names, values outside the candidates, or a configuration the
 * device cannot run.  Missing names keep their defaults. */
bool qkv_tile_parse(const qkv_kernel_impl *impl, const qkv_device_info *dev, const char *text,
                    qkv_tile_params *tile, char *why, size_t why_size);
void qkv_tile_format(const qkv_kernel_impl *impl, const qkv_tile_params *tile, char *out,
                     size_t size);

/* Load the tables for ctx (installed data dir, the source tree's
 * results/tuning, $QKV_TUNING_PATH; only the last when
 * QKV_TUNING_ONLY_PATH=1) and $QKV_TILE_PARAMS overrides. */
void qkv_tuning_load(qkv_context *ctx);
void qkv_tuning_free(qkv_context *ctx);

/* Parameters a call of `size` of op uses on ctx, and their level. */
qkv_tile_level qkv_tile_resolve(qkv_context *ctx, qkv_op_id op, const qkv_kernel_impl *impl,
                                size_t size, qkv_tile_params *tile);

/* How a table entry is checked before its first use on a context: runs op
 * on ctx (with the entry's parameters forced) against the reference. */
typedef bool (*qkv_tile_verifier)(qkv_context *ctx, qkv_op_id op);
/* Replace the verifier (tests); NULL restores the default. */
void qkv_tuning_set_verifier(qkv_tile_verifier verifier);
/* Force `tile` for op on ctx until cleared with NULL. */
void qkv_tile_force(qkv_context *ctx, qkv_op_id op, const qkv_tile_params *tile);

#endif
