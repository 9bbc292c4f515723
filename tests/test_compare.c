/* test_compare.c - the harness's comparison hooks on a synthetic op whose
 * outputs the test chooses: exact bytes and index sets (with ties at the
 * cut), each shown to pass what the spec allows and fail what it does not. */
#include <string.h>

#include "harness.h"
#include "test_util.h"

enum { IDS, BYTES, NTENSORS };
enum { ROWS = 2, WIDTH = 4, NBYTES = 5 };

/* What the synthetic op writes: the reference's outputs while the case is
 * prepared, then the ones under test. */
static int32_t ids_out[ROWS * WIDTH];
static uint8_t bytes_out[NBYTES];
static const int32_t ref_ids[ROWS * WIDTH] = {3, 1, 4, -1, 10, 11, 12, 13};
static const uint8_t ref_bytes[NBYTES] = {1, 2, 3, 4, 5};

static void describe(qkv_op_case *c)
{
    c->ntensors = NTENSORS;
    c->t[IDS] = (qkv_tensor_desc){"ids", QKV_I32, 2, {ROWS, WIDTH}, true, QKV_CMP_INDEX_SET, 0};
    c->t[BYTES] = (qkv_tensor_desc){"bytes", QKV_U8, 1, {NBYTES}, true, QKV_CMP_EXACT, 0};
}

static void fill(qkv_op_case *c, uint64_t seed)
{
    (void)c;
    (void)seed;
}

static qkv_status launch(qkv_context *ctx, const qkv_op_shape *s, qkv_buffer *const *b)
{
    (void)ctx;
    (void)s;
    qkv_status st = qkv_buffer_write(b[IDS], 0, ids_out, sizeof ids_out);
    return st != QKV_OK ? st : qkv_buffer_write(b[BYTES], 0, bytes_out, sizeof bytes_out);
}

/* Index 13 of row 1 lies at the cut (its score ties another's). */
static void mark_ties(qkv_op_case *c) { c->tie[IDS][WIDTH + 3] = 1; }

static int shapes(const char *set, qkv_op_shape *out, int max)
{
    (void)set;
    if (max < 1)
        return 0;
    out[0] = qkv_make_shape("synthetic", NULL, 0);
    return 1;
}

static const qkv_op_desc synthetic = {
    .info = NULL, .describe = describe, .fill_inputs = fill, .launch = launch,
    .mark_ties = mark_ties, .shapes = shapes,
};

/* The check of outputs (ids, bytes) against the reference outputs. */
static qkv_check_result check(const int32_t *ids, const uint8_t *bytes)
{
    memcpy(ids_out, ref_ids, sizeof ids_out);
    memcpy(bytes_out, ref_bytes, sizeof bytes_out);
    qkv_op_shape shape;
    shapes("", &shape, 1);
    qkv_op_case c;
    ck_assert(qkv_case_prepare(&synthetic, &shape, 1, &c) == QKV_OK);
    memcpy(ids_out, ids, sizeof ids_out);
    memcpy(bytes_out, bytes, sizeof bytes_out);
    qkv_context *ctx;
    ck_assert(qkv_open("cpu", &ctx) == QKV_OK);
    qkv_check_result r;
    qkv_case_check(&synthetic, &c, ctx, &r);
    qkv_close(ctx);
    qkv_case_free(&c);
    return r;
}

START_TEST(test_index_sets)
{
    qkv_check_result r = check(ref_ids, ref_bytes);
    ck_assert(r.pass && r.mismatches == 0 && r.ties == 0);
    const int32_t permuted[] = {-1, 4, 3, 1, 13, 12, 11, 10};
    r = check(permuted, ref_bytes);
    ck_assert_msg(r.pass && r.ties == 0, "%s", r.message);
    const int32_t swapped_at_cut[] = {3, 1, 4, -1, 10, 11, 12, 14};
    r = check(swapped_at_cut, ref_bytes);
    ck_assert_msg(r.pass && r.ties == 1, "%s", r.message);
    const int32_t swapped_elsewhere[] = {3, 1, 5, -1, 10, 11, 12, 13};
    r = check(swapped_elsewhere, ref_bytes);
    ck_assert(!r.pass && r.mismatches == 1);
    const int32_t repeated[] = {3, 3, 4, -1, 10, 11, 12, 13};
    r = check(repeated, ref_bytes);
    ck_assert(!r.pass && r.mismatches >= 1);
    const int32_t short_row[] = {3, 1, -1, -1, 10, 11, 12, 13};
    r = check(short_row, ref_bytes);
    ck_assert(!r.pass);
}
END_TEST

START_TEST(test_exact_bytes)
{
    const uint8_t off_by_one[NBYTES] = {1, 2, 3, 4, 6};
    qkv_check_result r = check(ref_ids, off_by_one);
    ck_assert(!r.pass && r.mismatches == 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("compare");
    TCase *tc = tcase_create("hooks");
    tcase_add_test(tc, test_index_sets);
    tcase_add_test(tc, test_exact_bytes);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
