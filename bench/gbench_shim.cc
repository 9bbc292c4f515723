// gbench_shim.cc - the C API of gbench_shim.h over Google Benchmark.
#include "gbench_shim.h"

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

void qkv_bench_init(int *argc, char **argv) { benchmark::Initialize(argc, argv); }

void qkv_bench_add_context(const char *key, const char *value)
{
    benchmark::AddCustomContext(key, value);
}

// A counter of one call, owning its name.
struct Counter {
    std::string name;
    double value;
    bool per_second;
};

// Counters of one call -> Google Benchmark counters; per-second ones are
// iteration-invariant rates (value * iterations / seconds).
static void set_counters(benchmark::State &state, const std::vector<Counter> &cs)
{
    for (const Counter &c : cs)
        state.counters[c.name] = benchmark::Counter(
            c.value, c.per_second ? benchmark::Counter::kIsIterationInvariantRate
                                  : benchmark::Counter::kDefaults);
}

void qkv_bench_register(const char *name, const char *label, qkv_bench_fn setup,
                        qkv_bench_timed_fn iteration, void *arg, int ncounters,
                        const qkv_bench_counter *counters)
{
    const std::string text = label ? label : "";
    std::vector<Counter> cs;
    for (int i = 0; i < ncounters; i++)
        cs.push_back({counters[i].name, counters[i].value, counters[i].per_second != 0});
    benchmark::RegisterBenchmark(name, [=](benchmark::State &state) {
        const char *err = setup ? setup(arg) : nullptr;
        if (err) {
            state.SkipWithError(err);
            return;
        }
        for (auto _ : state) {
            double seconds = 0.0;
            if ((err = iteration(arg, &seconds)) != nullptr) {
                state.SkipWithError(err);
                return;
            }
            state.SetIterationTime(seconds);
        }
        set_counters(state, cs);
        if (!text.empty())
            state.SetLabel(text);
    })->UseManualTime()->Unit(benchmark::kMicrosecond);
}

int qkv_bench_run(void) { return (int)benchmark::RunSpecifiedBenchmarks(); }

void qkv_bench_shutdown(void) { benchmark::Shutdown(); }
