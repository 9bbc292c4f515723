/* test_tuning.c - tuning tables at run time (device, arch and default
 * levels, overrides by API and environment, corrupt/truncated/foreign
 * tables, entries that fail verification) and the tuner itself. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_util.h"
#include "tuner.h"
#include "harness.h"

#define OP "kivi_decode_attention"

static char dir[] = "/tmp/qkv-test-tuning-XXXXXX";
static char table[300];

/* Write the cpu device's table (this machine's keys) with `entries`. */
static void write_table(const char *device_line, const char *arch_line, const char *entries)
{
    qkv_context *ctx;
    ck_assert(qkv_open("cpu", &ctx) == QKV_OK);
    char dev[160], arch[160];
    qkv_device_key(&ctx->info, dev, sizeof dev);
    qkv_arch_key(&ctx->info, arch, sizeof arch);
    qkv_close(ctx);
    FILE *f = fopen(table, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "# test table\n");
    if (device_line)
        fprintf(f, "%s\n", device_line);
    else
        fprintf(f, "device cpu %s\n", dev);
    if (arch_line)
        fprintf(f, "%s\n", arch_line);
    else
        fprintf(f, "arch cpu %s\n", arch);
    fputs(entries, f);
    fclose(f);
}

/* Parameters and level a call of `size` gets on a fresh cpu context. */
static void resolve(size_t size, char *params, const char **level)
{
    qkv_context *ctx;
    ck_assert(qkv_open("cpu", &ctx) == QKV_OK);
    ck_assert(qkv_get_tile_params(ctx, OP, size, params, 256, NULL, level) == QKV_OK);
    qkv_close(ctx);
}

static void setup(void)
{
    snprintf(table, sizeof table, "%s/table.txt", dir);
    setenv("QKV_TUNING_PATH", table, 1);
    setenv("QKV_QUIET", "1", 1);
    setenv("QKV_TUNING_ONLY_PATH", "1", 1); /* committed tables stay out */
    unsetenv("QKV_TILE_PARAMS");
    qkv_tuning_set_verifier(NULL);
}

START_TEST(test_device_level_and_classes)
{
    write_table(NULL, NULL,
                "entry op=" OP " variant=scalar class=1024 params=split_tokens=256,omp_chunk=2\n"
                "entry op=" OP " variant=scalar class=max params=split_tokens=4096\n");
    char p[256];
    const char *level;
    resolve(1000, p, &level);
    ck_assert_str_eq(level, "device");
    ck_assert(strstr(p, "split_tokens=256,omp_chunk=2") != NULL);
    resolve(100000, p, &level); /* its own class */
    ck_assert(strstr(p, "split_tokens=4096") != NULL);
    resolve(3000, p, &level); /* class 4096: nearest is 1024 */
    ck_assert(strstr(p, "split_tokens=256") != NULL);
}
END_TEST

START_TEST(test_arch_level_and_default)
{
    /* another device of the same architecture */
    write_table("device cpu cpu-some-other-model", NULL,
                "entry op=" OP " variant=scalar class=4096 params=split_tokens=512\n");
    char p[256];
    const char *level;
    resolve(4096, p, &level);
    ck_assert_str_eq(level, "arch");
    ck_assert(strstr(p, "split_tokens=512") != NULL);
    /* another device and another architecture: defaults */
    write_table("device cpu cpu-some-other-model", "arch cpu cpu-other-arch",
                "entry op=" OP " variant=scalar class=4096 params=split_tokens=512\n");
    resolve(4096, p, &level);
    ck_assert_str_eq(level, "default");
    ck_assert(strstr(p, "split_tokens=1024") != NULL);
}
END_TEST

/* Corrupt, truncated or impossible entries are ignored, never used. */
START_TEST(test_bad_tables_ignored)
{
    static const char *const bad[] = {
        "entry op=" OP " variant=scalar class=4096 params=split_tokens=777\n",        /* not a candidate */
        "entry op=" OP " variant=scalar class=4096 params=no_such=1\n",               /* unknown name */
        "entry op=" OP " variant=scalar class=4096 params=split_tokens=512,omp_ch",   /* truncated */
        "entry op=" OP " variant=scalar class=4000 params=split_tokens=512\n",        /* not a class */
        "entry op=no_such_op class=4096 params=x=1\n",                 /* unknown op */
        "entry op=" OP " params=split_tokens=512\n",                   /* missing class */
        "entry op=" OP " class=4096 params=split_tokens=512\n",        /* missing variant */
        "entry op=" OP " variant=avx9 class=4096 params=split_tokens=512\n", /* unknown variant */
        "entry op=" OP " variant=generic class=4096 params=wg=64\n",   /* another backend's */
        "\x01\x02garbage\xff\n",                                       /* binary junk */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_table(NULL, NULL, bad[i]);
        char p[256];
        const char *level;
        resolve(4096, p, &level);
        ck_assert_msg(strcmp(level, "default") == 0, "bad table %zu used: %s", i, p);
    }
    write_table("device", NULL, "entry op=" OP " variant=scalar class=4096 params=split_tokens=512\n");
    char p[256];
    const char *level;
    resolve(4096, p, &level);
    ck_assert_str_eq(level, "default");
}
END_TEST

/* Strict parsing: class bounds written exactly, plain decimal tile values,
 * no repeated names or fields, no trailing comma, no line split at the
 * buffer's size; a bad entry line is ignored, the lines after it count. */
START_TEST(test_strict_entries)
{
    static const char *const bad[] = {
        "entry op=" OP " variant=scalar class=-1 params=split_tokens=512\n",
        "entry op=" OP " variant=scalar class=18446744073709551615 params=split_tokens=512\n",
        "entry op=" OP " variant=scalar class=99999999999999999999999 params=split_tokens=512\n",
        "entry op=" OP " variant=scalar class=04096 params=split_tokens=512\n",
        "entry op=" OP " variant=scalar class=max params=split_tokens=+512\n",
        "entry op=" OP " variant=scalar class=max params=split_tokens=-512\n",
        "entry op=" OP " variant=scalar class=max params=split_tokens=512x\n",
        "entry op=" OP " variant=scalar class=max params=split_tokens=0x200\n",
        "entry op=" OP " variant=scalar class=max params=split_tokens=512,split_tokens=512\n",
        "entry op=" OP " variant=scalar class=max params=split_tokens=512,\n",
        "entry op=" OP " variant=scalar class=max params=split_tokens=512,,omp_chunk=2\n",
        "entry op=" OP " variant=scalar class=max class=16 params=split_tokens=512\n",
        "entry op=" OP " variant=scalar class=max params=split_tokens=512 tuned_us=fast\n",
    };
    char p[256];
    const char *level;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_table(NULL, NULL, bad[i]);
        resolve(100000, p, &level);
        ck_assert_msg(strcmp(level, "default") == 0, "bad entry %zu used: %s", i, p);
    }
    /* a comment longer than the line buffer whose tail reads as an entry */
    char entries[4096], comment[1100];
    memset(comment, 'x', sizeof comment);
    comment[0] = '#';
    snprintf(entries, sizeof entries,
             "%.*sentry op=" OP " variant=scalar class=max params=split_tokens=512\n",
             (int)sizeof comment, comment);
    write_table(NULL, NULL, entries);
    resolve(100000, p, &level);
    ck_assert_msg(strcmp(level, "default") == 0, "tail of a long line used: %s", p);
    /* line by line: a bad entry does not take the good one after it along */
    write_table(NULL, NULL,
                "entry op=" OP " variant=scalar class=max params=split_tokens=+512\n"
                "entry op=" OP " variant=scalar class=max params=split_tokens=512\n");
    resolve(100000, p, &level);
    ck_assert_str_eq(level, "device");
    ck_assert(strstr(p, "split_tokens=512") != NULL);
}
END_TEST

/* A structurally broken file is ignored whole, as its warning says: the
 * entries above the bad line are not used either. */
START_TEST(test_broken_file_ignored_whole)
{
    write_table(NULL, NULL,
                "entry op=" OP " variant=scalar class=max params=split_tokens=512\n"
                "bogus line\n");
    char p[256];
    const char *level;
    resolve(100000, p, &level);
    ck_assert_msg(strcmp(level, "default") == 0, "entry of an ignored file used: %s", p);
}
END_TEST

static void hung(int sig)
{
    (void)sig;
    _exit(3); /* reading a special file blocked */
}

/* Only regular files are read as tables: a FIFO nobody writes, /dev/zero
 * and a directory named *.txt are refused without blocking, and the
 * regular tables beside them still load. */
START_TEST(test_special_files_refused)
{
    write_table(NULL, NULL, "entry op=" OP " variant=scalar class=max params=split_tokens=512\n");
    char fifo[300], subdir[300], p[256];
    snprintf(fifo, sizeof fifo, "%s/fifo.txt", dir);
    snprintf(subdir, sizeof subdir, "%s/folder.txt", dir);
    ck_assert(mkfifo(fifo, 0600) == 0 || access(fifo, F_OK) == 0);
    ck_assert(mkdir(subdir, 0700) == 0 || access(subdir, F_OK) == 0);
    signal(SIGALRM, hung);
    alarm(20);
    const char *level;
    const char *const refused[] = {fifo, "/dev/zero", "/dev/full", subdir};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        setenv("QKV_TUNING_PATH", refused[i], 1);
        resolve(100000, p, &level);
        ck_assert_str_eq(level, "default");
    }
    setenv("QKV_TUNING_PATH", dir, 1); /* table.txt, fifo.txt, folder.txt */
    resolve(100000, p, &level);
    ck_assert_str_eq(level, "device");
    alarm(0);
    unlink(fifo);
    rmdir(subdir);
}
END_TEST

/* Rewrite every line of the measurement cache at path: the time becomes
 * `time` (or `default_time` on the line of `default_params`), and the
 * build field, with `build` not NULL, becomes build. */
static void doctor_cache(const char *path, const char *default_params, const char *time,
                         const char *default_time, const char *build)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char text[65536] = "", line[1024];
    size_t len = 0;
    while (fgets(line, sizeof line, f)) {
        char *last = strrchr(line, ' '), *b = strstr(line, " build=");
        ck_assert_ptr_nonnull(last);
        *last = '\0';
        if (build && b)
            memcpy(b + 7, build, strlen(build)); /* same length as the hash */
        const char *params = strrchr(line, ' ') + 1;
        len += (size_t)snprintf(text + len, sizeof text - len, "%s %s\n", line,
                                strcmp(params, default_params) == 0 ? default_time : time);
        ck_assert(len < sizeof text);
    }
    fclose(f);
    f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

/* Test check: only the defaults of a variant pass. */
static bool only_defaults_pass(const qkv_variant *v, const qkv_tile_params *tile)
{
    qkv_tile_params def;
    qkv_tile_defaults(v, &def);
    return memcmp(def.value, tile->value, sizeof def.value) == 0;
}

/* Cached times are never trusted blindly: a cached point that would win
 * (or is the incumbent) is verified on this run, and times cached by
 * another build of the executable are not reused at all. */
START_TEST(test_tuner_cache_verified_and_keyed_by_build)
{
    qkv_context *ctx;
    ck_assert(qkv_open("cpu", &ctx) == QKV_OK);
    const qkv_op_desc *op = qkv_op_by_name("kivi_dequant_values");
    const qkv_variant *v = qkv_variant_find(op->info->id, QKV_BACKEND_CPU, "scalar");
    qkv_op_shape shapes[32];
    op->shapes("small", shapes, 32);
    char cache[400], def[256];
    snprintf(cache, sizeof cache, "%s/cache-verified.log", dir);
    qkv_tile_params def_tile;
    qkv_tile_defaults(v, &def_tile);
    qkv_tile_format(v, &def_tile, def, sizeof def);
    qkv_tune_options opt = {.strategy = QKV_TUNE_EXHAUSTIVE, .warmup = 1, .repeats = 3,
                            .seed = 1, .cache_path = cache};
    qkv_tune_result r;
    ck_assert(qkv_tune_op(ctx, op, v, &shapes[1], &opt, &r) == QKV_OK);
    ck_assert_int_eq(r.failed, 0);
    /* every other point cached as far faster; none of them verifies now */
    doctor_cache(cache, def, "0.001", "1000000.000", NULL);
    opt.check = only_defaults_pass;
    ck_assert(qkv_tune_op(ctx, op, v, &shapes[1], &opt, &r) == QKV_OK);
    ck_assert_msg(memcmp(r.best.value, def_tile.value, sizeof def_tile.value) == 0,
                  "an unverified cached point won (%.3f us)", r.best_us);
    ck_assert_int_eq(r.failed, r.space - 1);
    /* times of another build: measured again, so no 0.001 us winner */
    opt.check = NULL;
    doctor_cache(cache, def, "0.001", "0.001", "0123456789abcdef");
    ck_assert(qkv_tune_op(ctx, op, v, &shapes[1], &opt, &r) == QKV_OK);
    ck_assert_msg(r.best_us > 0.01 && r.default_us > 0.01,
                  "times of another build reused: best %.3f us", r.best_us);
    qkv_close(ctx);
}
END_TEST

/* Rewriting a table whose last line lacks a newline keeps that entry and
 * adds the new one on its own line; no temporary file is left behind. */
START_TEST(test_table_rewrite_after_unterminated_line)
{
    qkv_context *ctx;
    ck_assert(qkv_open("cpu", &ctx) == QKV_OK);
    char folder[300], path[600], dev[160], arch[160];
    snprintf(folder, sizeof folder, "%s/unterminated", dir);
    ck_assert(mkdir(folder, 0700) == 0);
    qkv_device_key(&ctx->info, dev, sizeof dev);
    qkv_arch_key(&ctx->info, arch, sizeof arch);
    snprintf(path, sizeof path, "%s/%s.txt", folder, dev);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "device cpu %s\narch cpu %s\n"
               "entry op=" OP " variant=scalar class=max params=split_tokens=512", dev, arch);
    fclose(f);
    const qkv_op_desc *op = qkv_op_by_name("kivi_dequant_values");
    const qkv_variant *v = qkv_variant_find(op->info->id, QKV_BACKEND_CPU, "scalar");
    qkv_op_shape shapes[32];
    op->shapes("small", shapes, 32);
    qkv_tune_options opt = {.strategy = QKV_TUNE_EXHAUSTIVE};
    qkv_tune_result res = {.best_us = 1.0, .default_us = 1.0, .evals = 1, .space = 1};
    qkv_tile_defaults(v, &res.best);
    ck_assert(qkv_tune_write_table(folder, ctx, op, v, &shapes[1], &opt, &res) == QKV_OK);
    qkv_close(ctx);
    setenv("QKV_TUNING_PATH", folder, 1);
    char p[256];
    const char *level;
    resolve(100000, p, &level); /* the old entry */
    ck_assert_str_eq(level, "device");
    ck_assert(strstr(p, "split_tokens=512") != NULL);
    ck_assert(qkv_open("cpu", &ctx) == QKV_OK); /* the new one */
    ck_assert(qkv_get_tile_params(ctx, "kivi_dequant_values/scalar", op->class_size(&shapes[1]),
                                  p, sizeof p, NULL, &level) == QKV_OK);
    qkv_close(ctx);
    ck_assert_str_eq(level, "device");
    char cmd[700];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 1", folder);
    ck_assert_msg(system(cmd) == 0, "a temporary file was left in %s", folder);
}
END_TEST

/* Variants: the fastest tuned one of a class is chosen; qkv_set_variant
 * and $QKV_VARIANT select one; bad names are refused. */
START_TEST(test_variant_choice)
{
    write_table(NULL, NULL,
                "entry op=" OP " variant=scalar class=4096 params=split_tokens=512 tuned_us=90\n"
                "entry op=" OP " variant=avx2 class=4096 params=split_tokens=256 tuned_us=80\n");
    qkv_context *ctx;
    ck_assert(qkv_open("cpu", &ctx) == QKV_OK);
    const bool avx2 = qkv_variant_nth(QKV_OP_KIVI_DECODE_ATTENTION, ctx, 1) != NULL;
    char p[256];
    const char *variant, *level;
    ck_assert(qkv_get_tile_params(ctx, OP, 4096, p, sizeof p, &variant, &level) == QKV_OK);
    ck_assert_str_eq(level, "device");
    ck_assert_str_eq(variant, avx2 ? "avx2" : "scalar"); /* avx2's entry is faster */
    ck_assert(strstr(p, avx2 ? "split_tokens=256" : "split_tokens=512") != NULL);
    ck_assert(qkv_set_variant(ctx, OP, "scalar") == QKV_OK);
    ck_assert(qkv_get_tile_params(ctx, OP, 4096, p, sizeof p, &variant, &level) == QKV_OK);
    ck_assert_str_eq(variant, "scalar");
    ck_assert(strstr(p, "split_tokens=512") != NULL); /* scalar's own entry */
    ck_assert(qkv_get_tile_params(ctx, OP "/scalar", 4096, p, sizeof p, &variant, NULL) ==
              QKV_OK);
    ck_assert_int_eq(qkv_set_variant(ctx, OP, "avx9"), QKV_ERR_INVALID_ARG);
    ck_assert_int_eq(qkv_set_variant(ctx, OP, "generic"), QKV_ERR_INVALID_ARG);
    ck_assert_int_eq(qkv_set_variant(ctx, "no_op", "scalar"), QKV_ERR_INVALID_ARG);
    ck_assert_int_eq(qkv_get_tile_params(ctx, OP "/avx9", 4096, p, sizeof p, NULL, NULL),
                     QKV_ERR_INVALID_ARG);
    ck_assert(qkv_set_variant(ctx, OP, NULL) == QKV_OK);
    ck_assert(qkv_get_tile_params(ctx, OP, 4096, p, sizeof p, &variant, NULL) == QKV_OK);
    ck_assert_str_eq(variant, avx2 ? "avx2" : "scalar");
    ck_assert(qkv_get_tile_params(ctx, OP "/scalar", 4096, p, sizeof p, &variant, &level) ==
              QKV_OK); /* one variant's own entry, without selecting it */
    ck_assert_str_eq(variant, "scalar");
    ck_assert(strstr(p, "split_tokens=512") != NULL);
    qkv_close(ctx);
    setenv("QKV_VARIANT", "cpu.*=scalar", 1);
    ck_assert(qkv_open("cpu", &ctx) == QKV_OK);
    for (int o = 0; o < QKV_OP_COUNT; o++) {
        ck_assert(qkv_get_tile_params(ctx, qkv_ops[o]->name, 4096, p, sizeof p, &variant,
                                      NULL) == QKV_OK);
        ck_assert_str_eq(variant, "scalar");
    }
    qkv_close(ctx);
    unsetenv("QKV_VARIANT");
}
END_TEST

/* A call a selected variant does not support is refused, not run with
 * another: the avx2 f16 decode takes head dims that are multiples of 8. */
START_TEST(test_unsupported_call_refused)
{
    qkv_context *ctx;
    ck_assert(qkv_open("cpu", &ctx) == QKV_OK);
    if (qkv_set_variant(ctx, "f16_decode_attention", "avx2") != QKV_OK) {
        fprintf(stderr, "note: no AVX2: unsupported-call test SKIPPED\n");
        qkv_close(ctx);
        return;
    }
    const size_t D = 36, T = 5;
    qkv_buffer *q, *kv, *out;
    ck_assert(qkv_buffer_create(ctx, D * 4, &q) == QKV_OK);
    ck_assert(qkv_buffer_create(ctx, T * D * 2, &kv) == QKV_OK);
    ck_assert(qkv_buffer_create(ctx, D * 4, &out) == QKV_OK);
    const qkv_f16_decode_params prm = {.batch = 1, .q_heads = 1, .kv_heads = 1, .head_dim = D,
                                       .tokens = T, .query = q, .keys = kv, .values = kv,
                                       .output = out};
    ck_assert_int_eq(qkv_f16_decode_attention(ctx, &prm), QKV_ERR_UNSUPPORTED);
    ck_assert(strstr(qkv_last_error(), "avx2") != NULL);
    ck_assert(qkv_set_variant(ctx, "f16_decode_attention", NULL) == QKV_OK);
    ck_assert(qkv_f16_decode_attention(ctx, &prm) == QKV_OK); /* scalar takes it */
    qkv_buffer_destroy(q);
    qkv_buffer_destroy(kv);
    qkv_buffer_destroy(out);
    qkv_close(ctx);
}
END_TEST

static int verifications;
static bool failing_verifier(qkv_context *ctx, qkv_op_id op)
{
    (void)ctx;
    (void)op;
    verifications++;
    return false;
}

/* An entry that fails verification on first use falls back to the next
 * level, and is not verified again on that context. */
START_TEST(test_failed_verification_ignored)
{
    write_table(NULL, NULL, "entry op=" OP " variant=scalar class=4096 params=split_tokens=512\n");
    qkv_tuning_set_verifier(failing_verifier);
    verifications = 0;
    qkv_context *ctx;
    ck_assert(qkv_open("cpu", &ctx) == QKV_OK);
    char p[256];
    const char *level;
    for (int k = 0; k < 3; k++) {
        ck_assert(qkv_get_tile_params(ctx, OP, 4096, p, sizeof p, NULL, &level) == QKV_OK);
        ck_assert_str_eq(level, "default");
    }
    ck_assert_int_eq(verifications, 1);
    qkv_close(ctx);
}
END_TEST

/* The real verifier passes a correct entry, and calls use it. */
START_TEST(test_verified_entry_used_by_calls)
{
    qkv_dev_install_verifier();
    write_table(NULL, NULL, "entry op=" OP " variant=scalar class=128 params=split_tokens=128,omp_chunk=2\n");
    qkv_context *ctx;
    ck_assert(qkv_open("cpu", &ctx) == QKV_OK);
    char p[256];
    const char *level;
    ck_assert(qkv_get_tile_params(ctx, OP, 100, p, sizeof p, NULL, &level) == QKV_OK);
    ck_assert_str_eq(level, "device");
    qkv_close(ctx);
}
END_TEST

START_TEST(test_overrides)
{
    write_table(NULL, NULL, "entry op=" OP " variant=scalar class=4096 params=split_tokens=512\n");
    qkv_context *ctx;
    ck_assert(qkv_open("cpu", &ctx) == QKV_OK);
    char p[256];
    const char *level;
    ck_assert(qkv_set_tile_params(ctx, OP, "split_tokens=2048") == QKV_OK);
    ck_assert(qkv_get_tile_params(ctx, OP, 4096, p, sizeof p, NULL, &level) == QKV_OK);
    ck_assert_str_eq(level, "override");
    ck_assert(strstr(p, "split_tokens=2048") != NULL);
    ck_assert_int_eq(qkv_set_tile_params(ctx, OP, "split_tokens=3"), QKV_ERR_INVALID_ARG);
    ck_assert_int_eq(qkv_set_tile_params(ctx, "no_op", "a=1"), QKV_ERR_INVALID_ARG);
    ck_assert_int_eq(qkv_set_tile_params(NULL, OP, "a=1"), QKV_ERR_INVALID_ARG);
    ck_assert(qkv_set_tile_params(ctx, OP, NULL) == QKV_OK); /* back to the table */
    ck_assert(qkv_get_tile_params(ctx, OP, 4096, p, sizeof p, NULL, &level) == QKV_OK);
    ck_assert_str_eq(level, "device");
    qkv_close(ctx);
    setenv("QKV_TILE_PARAMS", "cpu." OP ":split_tokens=256;opencl." OP ":wg=64", 1);
    resolve(4096, p, &level);
    ck_assert_str_eq(level, "override");
    ck_assert(strstr(p, "split_tokens=256") != NULL);
    setenv("QKV_TILE_PARAMS", OP ":split_tokens=999", 1); /* invalid: ignored */
    resolve(4096, p, &level);
    ck_assert_str_eq(level, "device");
}
END_TEST

/* Exhaustive search over a small space writes a table line the runtime
 * then uses; a rerun is served from the cache. */
START_TEST(test_tuner_end_to_end)
{
    unsetenv("QKV_TUNING_PATH");
    qkv_context *ctx;
    ck_assert(qkv_open("cpu", &ctx) == QKV_OK);
    const qkv_op_desc *op = qkv_op_by_name("kivi_dequant_values");
    const qkv_variant *v = qkv_variant_find(op->info->id, QKV_BACKEND_CPU, "scalar");
    qkv_op_shape shapes[32];
    op->shapes("small", shapes, 32);
    char cache[400];
    snprintf(cache, sizeof cache, "%s/cache.log", dir);
    qkv_tune_options opt = {QKV_TUNE_EXHAUSTIVE, 1.0, 0, 0, 0.0, 1, 3, 1, cache, NULL, NULL};
    qkv_tune_result r;
    ck_assert(qkv_tune_op(ctx, op, v, &shapes[1], &opt, &r) == QKV_OK);
    ck_assert_int_gt(r.space, 1);
    ck_assert_int_eq(r.evals, r.space); /* every point, the default once */
    ck_assert_int_eq(r.failed, 0);
    ck_assert(r.best_us > 0 && r.best_us <= r.default_us);
    ck_assert_int_eq(r.clock, QKV_CLOCK_HOST);
    ck_assert(qkv_tune_write_table(dir, ctx, op, v, &shapes[1], &opt, &r) == QKV_OK);
    qkv_tune_result again;
    opt.strategy = QKV_TUNE_RANDOM, opt.count = 2;
    ck_assert(qkv_tune_op(ctx, op, v, &shapes[1], &opt, &again) == QKV_OK);
    ck_assert_int_eq(again.evals, 3);
    char dev[160], path[400];
    qkv_device_key(&ctx->info, dev, sizeof dev);
    qkv_close(ctx);
    snprintf(path, sizeof path, "%s/%s.txt", dir, dev);
    char line[1024] = "";
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof line, f) && strncmp(line, "entry ", 6) != 0)
        continue;
    fclose(f);
    ck_assert_msg(strstr(line, " clock=host_clock ") != NULL, "entry: %s", line);
    setenv("QKV_TUNING_PATH", path, 1);
    ck_assert(qkv_open("cpu", &ctx) == QKV_OK);
    char p[256];
    const char *level;
    const char *variant;
    ck_assert(qkv_get_tile_params(ctx, "kivi_dequant_values", op->class_size(&shapes[1]), p,
                                  sizeof p, &variant, &level) == QKV_OK);
    ck_assert_str_eq(level, "device");
    ck_assert_str_eq(variant, "scalar");
    qkv_close(ctx);
    opt.strategy = QKV_TUNE_ANNEAL, opt.max_evals = 4, opt.cache_path = NULL;
    ck_assert(qkv_open("cpu", &ctx) == QKV_OK);
    ck_assert(qkv_tune_op(ctx, op, v, &shapes[1], &opt, &again) == QKV_OK);
    ck_assert_int_le(again.evals, 4);
    qkv_close(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tuning");
    TCase *tc = tcase_create("tables");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_device_level_and_classes);
    tcase_add_test(tc, test_arch_level_and_default);
    tcase_add_test(tc, test_bad_tables_ignored);
    tcase_add_test(tc, test_strict_entries);
    tcase_add_test(tc, test_broken_file_ignored_whole);
    tcase_add_test(tc, test_special_files_refused);
    tcase_add_test(tc, test_failed_verification_ignored);
    tcase_add_test(tc, test_verified_entry_used_by_calls);
    tcase_add_test(tc, test_overrides);
    tcase_add_test(tc, test_tuner_end_to_end);
    tcase_add_test(tc, test_table_rewrite_after_unterminated_line);
    tcase_add_test(tc, test_tuner_cache_verified_and_keyed_by_build);
    tcase_add_test(tc, test_variant_choice);
    tcase_add_test(tc, test_unsupported_call_refused);
    suite_add_tcase(s, tc);
    return test_run_suite_in_temp_dir(s, dir);
}
