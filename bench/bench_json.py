"""bench_json.py - reads a qkv-bench JSON report (Google Benchmark format,
written with --benchmark_out) into devices and their benchmark medians.

Benchmark names are "<op>/<shape>/<backend spec>" (plus Google Benchmark's
"/manual_time", or "/real_time" in older reports); the report context holds,
per backend spec, "qkv/<spec>/device", "qkv/<spec>/slug",
"qkv/<spec>/copy_GBps", "qkv/<spec>/read_GBps" (host devices; absent in older
reports), "qkv/<spec>/fma_GFLOPs" and "qkv/<spec>/clock" (what
timed the iterations: "device events" or "host clock"; reports without it
were timed with the host clock); "qkv/cache" says whether inputs rotated over
copies beyond the last-level cache ("cold"; older reports: "warm")."""
import json
import statistics

UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
COUNTERS = ("bytes", "flops", "bytes_per_second", "flops_per_second", "copy_roof",
            "read_roof", "fma_roof")


class Device:
    """One backend device of a run: roofs and benchmark results by op."""

    def __init__(self, spec, context):
        key = "qkv/%s/" % spec
        self.spec = spec
        self.name = context.get(key + "device", spec)
        self.slug = context.get(key + "slug", spec.replace(":", ""))
        self.copy_gbps = float(context.get(key + "copy_GBps", 0) or 0)
        self.read_gbps = float(context.get(key + "read_GBps", 0) or 0)
        self.fma_gflops = float(context.get(key + "fma_GFLOPs", 0) or 0)
        self.cache = context.get("qkv/cache", "warm")
        self.roof_trials = context.get(key + "roof_trials", "?")
        self.clock = context.get(key + "clock", "host clock")
        self.results = {}  # op -> list of Result, in run order


class Result:
    """Median of one benchmark: seconds per call, its counters and label
    (the tile parameters used), or the error."""

    def __init__(self, op, shape, seconds, counters, label="", error=None):
        self.op, self.shape, self.seconds, self.error = op, shape, seconds, error
        self.counters, self.label = counters, label

    def get(self, name, default=0.0):
        return self.counters.get(name, default)


def _split_name(run_name):
    """'op/shape/spec[/manual_time|/real_time]' -> (op, shape, spec)."""
    parts = run_name.split("/")
    if parts and parts[-1] in ("real_time", "manual_time"):
        parts = parts[:-1]
    if len(parts) < 3:
        return None
    return parts[0], "/".join(parts[1:-1]), parts[-1]


def _median_entry(entries):
    """The 'median' aggregate of a benchmark, else the median of its runs."""
    for e in entries:
        if e.get("run_type") == "aggregate" and e.get("aggregate_name") == "median":
            return e
    runs = [e for e in entries if e.get("run_type", "iteration") == "iteration"]
    if not runs:
        return None
    if any(r.get("error_occurred") for r in runs):
        return next(r for r in runs if r.get("error_occurred"))
    merged = dict(runs[0])
    for key in ["real_time"] + list(COUNTERS):
        values = [r[key] for r in runs if key in r]
        if values:
            merged[key] = statistics.median(values)
    return merged


def load(path):
    """Devices of a report by spec (in the run's order) and the context."""
    with open(path) as f:
        report = json.load(f)
    context = report.get("context", {})
    specs = [s for s in context.get("qkv/backends", "").split(",") if s]
    devices = {spec: Device(spec, context) for spec in specs}
    grouped = {}
    for e in report.get("benchmarks", []):
        grouped.setdefault(e.get("run_name", e.get("name", "")), []).append(e)
    for run_name, entries in grouped.items():
        parsed = _split_name(run_name)
        entry = _median_entry(entries)
        if not parsed or entry is None:
            continue
        op, shape, spec = parsed
        dev = devices.setdefault(spec, Device(spec, context))
        if entry.get("error_occurred"):
            res = Result(op, shape, None, {}, error=entry.get("error_message", "error"))
        else:
            seconds = entry["real_time"] * UNIT_SECONDS[entry.get("time_unit", "ns")]
            res = Result(op, shape, seconds, {k: entry[k] for k in COUNTERS if k in entry},
                         label=entry.get("label", ""))
        dev.results.setdefault(op, []).append(res)
    return list(devices.values()), context
