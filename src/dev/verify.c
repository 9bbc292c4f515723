/* verify.c - the check of a tuning-table entry before its first use on a
 * context, which the tools, tests and benchmarks install
 * (qkv_dev_install_verifier): the op on its small validation shapes
 * against the reference, guard regions and all. */
#include "harness.h"
#include "tuning.h"

#define VERIFY_SEED 77

/* Runs op on ctx (its forced variant and parameters) on the first small
 * shape the variant supports, preferring the second (an odd one); false if
 * none runs or the outputs differ from the reference's. */
static bool verify_against_reference(qkv_context *ctx, qkv_op_id op)
{
    const qkv_op_desc *desc = qkv_op_descs[op];
    qkv_op_shape shapes[32];
    const int n = desc->shapes("small", shapes, 32);
    for (int k = 0; k < n; k++) {
        const int i = k == 0 && n > 1 ? 1 : k == 1 ? 0 : k; /* 1, 0, 2, 3, ... */
        qkv_op_case c;
        if (qkv_case_prepare(desc, &shapes[i], VERIFY_SEED, &c) != QKV_OK)
            return false;
        qkv_check_result r;
        qkv_case_check(desc, &c, ctx, &r);
        qkv_case_free(&c);
        if (r.status != QKV_ERR_UNSUPPORTED)
            return r.pass;
    }
    return false;
}

void qkv_dev_install_verifier(void) { qkv_tuning_set_verifier(verify_against_reference); }
