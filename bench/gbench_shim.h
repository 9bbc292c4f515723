/* gbench_shim.h - a small C API over Google Benchmark (C++): register named
 * benchmarks with C callbacks and per-call counters, run them with the usual
 * --benchmark_* flags (--benchmark_out=FILE --benchmark_out_format=json,
 * --benchmark_repetitions=N for medians, --benchmark_filter=REGEX ...). */
#ifndef QKV_GBENCH_SHIM_H
#define QKV_GBENCH_SHIM_H

#ifdef __cplusplus
extern "C" {
#endif

/* A callback on the benchmark's argument: NULL on success, else a message
 * (the benchmark is then reported as skipped with that error). */
typedef const char *(*qkv_bench_fn)(void *arg);
/* One timed iteration: as qkv_bench_fn, and its time in *seconds. */
typedef const char *(*qkv_bench_timed_fn)(void *arg, double *seconds);

/* A counter of one call.  per_second = 0: reported as is (e.g. bytes of a
 * call); 1: value * iterations / timed seconds (e.g. bytes -> bytes/s). */
typedef struct qkv_bench_counter {
    const char *name;
    double value;
    int per_second;
} qkv_bench_counter;

/* Parse and remove the --benchmark_* flags from argv (others stay). */
void qkv_bench_init(int *argc, char **argv);
/* Add a key/value pair to the JSON report's "context". */
void qkv_bench_add_context(const char *key, const char *value);
/* Register benchmark `name`: setup(arg) runs untimed before each batch of
 * iterations (may be NULL); iteration(arg, &seconds) is one iteration that
 * measures itself: Google Benchmark's manual time, reported in
 * microseconds.  `label` (may be NULL) is reported with each run; it and
 * the counters are copied. */
void qkv_bench_register(const char *name, const char *label, qkv_bench_fn setup,
                        qkv_bench_timed_fn iteration, void *arg, int ncounters,
                        const qkv_bench_counter *counters);
/* Run the benchmarks selected by the flags; the number run. */
int qkv_bench_run(void);
void qkv_bench_shutdown(void);

#ifdef __cplusplus
}
#endif
#endif
