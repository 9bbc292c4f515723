/* test_util.h - helpers shared by the Check suites. */
#ifndef QKV_TEST_UTIL_H
#define QKV_TEST_UTIL_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "qkv.h"

#define TEST_MAX_TARGETS 8

/* Specs of every non-reference device present: cpu, opencl:N, cuda:N.
 * Prints what is skipped so a run without a GPU says so. */
static inline int test_targets(char (*specs)[32], int max)
{
    int n = 0;
    snprintf(specs[n++], 32, "cpu");
    const qkv_backend_kind gpus[] = {QKV_BACKEND_OPENCL, QKV_BACKEND_CUDA};
    for (int g = 0; g < 2; g++) {
        const int count = qkv_device_count(gpus[g]);
        if (!count)
            fprintf(stderr, "note: %s: %s: its execution tests are SKIPPED\n",
                    qkv_backend_name(gpus[g]),
                    qkv_backend_compiled(gpus[g]) ? "no device" : "not compiled in");
        for (int i = 0; i < count && n < max; i++)
            snprintf(specs[n++], 32, "%s:%d", qkv_backend_name(gpus[g]), i);
    }
    return n;
}

/* Run a suite; exit status for make check.  Tests run in this process, not
 * in forked children: OpenCL (PoCL's thread pool) and CUDA do not survive a
 * fork after the parent has initialised them. */
static inline int test_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* Run `s` with a fresh temporary directory (template `dir`, ending in
 * XXXXXX, filled in for the tests to use), removed afterwards. */
static inline int test_run_suite_in_temp_dir(Suite *s, char *dir)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return EXIT_FAILURE;
    }
    const int rc = test_run_suite(s);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return rc;
}

#endif
