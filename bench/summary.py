#!/usr/bin/env python3
"""summary.py - markdown summaries of qkv-bench JSON reports, one file per
device: <out>/<device slug>.md with a table per op (median time, GB/s,
GFLOP/s, % of the measured copy and multiply-add roofs), the KIVI decode
sweep (2-bit vs the f16 dense decode: speedup and crossover context), the
KIVI quantizers as a fraction of copy bandwidth and w4a8_gemm against its
cuBLASLt FP8 peer (CUDA devices).

usage: bench/summary.py [--out DIR] REPORT.json...   (DIR default: results/bench)
"""
import argparse
import math
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_json  # noqa: E402

KIVI_DECODE = "kivi_decode_attention"
F16_DECODE = "f16_decode_attention"
QUANT_OPS = ("kivi_quant_keys", "kivi_quant_values")
GEMM = "w4a8_gemm"
PEER = "cublaslt_fp8"  # bench/bench_peer.c: cuBLASLt FP8 at w4a8_gemm's bench sizes
SWEEP = re.compile(r"^sweep-b(\d+)-ctx(\d+)$")
CLOCK_TEXT = {"device events": "device events (from a mark enqueued before the launch to one "
                               "after it, on the device's clock)",
              "host clock": "the host clock (around the launch and `qkv_finish`)"}


def pct(x):
    return "%.0f%%" % (100.0 * x) if x else "-"


def op_table(results):
    """Rows: shape, median time, GB/s, GFLOP/s, % of the roofs, tiles."""
    lines = ["| shape | time (us) | GB/s | GFLOP/s | % copy roof | % read roof | % FMA roof "
             "| tiles |", "|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        if r.error:
            lines.append("| %s | error: %s | | | | | | |" % (r.shape, r.error))
            continue
        tiles = r.label[len("tiles "):] if r.label.startswith("tiles ") else r.label
        lines.append("| %s | %.1f | %.2f | %.2f | %s | %s | %s | %s |" % (
            r.shape, r.seconds * 1e6, r.get("bytes_per_second") / 1e9,
            r.get("flops_per_second") / 1e9, pct(r.get("copy_roof")), pct(r.get("read_roof")),
            pct(r.get("fma_roof")), tiles or "-"))
    return lines


def sweep_points(results):
    """{batch: {context: seconds}} of the sweep shapes of one op."""
    points = {}
    for r in results or []:
        m = SWEEP.match(r.shape)
        if m and not r.error:
            points.setdefault(int(m.group(1)), {})[int(m.group(2))] = r.seconds
    return points


def ctx_label(n):
    return "%dK" % (n // 1024) if n % 1024 == 0 else str(n)


def crossover(speedups):
    """Context from which the 2-bit kernel is faster than f16 (speedup >= 1)
    up to the end of the sweep, interpolated in log2(context); a text."""
    ctxs = sorted(speedups)
    tail = len(ctxs)
    while tail > 0 and speedups[ctxs[tail - 1]] >= 1.0:
        tail -= 1
    if tail == len(ctxs):
        return "none: f16 is faster up to %s" % ctx_label(ctxs[-1])
    if tail == 0:
        return "below %s: 2-bit is faster across the sweep" % ctx_label(ctxs[0])
    lo, hi = ctxs[tail - 1], ctxs[tail]
    s_lo, s_hi = speedups[lo], speedups[hi]
    frac = (1.0 - s_lo) / (s_hi - s_lo) if s_hi != s_lo else 0.0
    at = lo * math.pow(hi / lo, frac)
    return "between %s and %s (about %.1fK)" % (ctx_label(lo), ctx_label(hi), at / 1024)


def sweep_section(dev):
    """The KIVI decode sweep: 2-bit vs f16 per batch and context."""
    kivi, dense = sweep_points(dev.results.get(KIVI_DECODE)), sweep_points(
        dev.results.get(F16_DECODE))
    if not kivi:
        return []
    lines = ["## KIVI decode attention: 2-bit vs f16 dense", ""]
    if not dense:
        lines += ["`%s` was not benchmarked in this run (not in the op table yet, or "
                  "filtered out): 2-bit timings only." % F16_DECODE, ""]
    lines += ["Hq 32, Hkv 8, D 128, 2-bit keys and values (G 32, 128-token residual); "
              "speedup = f16 time / 2-bit time.", ""]
    for batch in sorted(kivi):
        lines += ["**batch %d**" % batch, "",
                  "| context | 2-bit (us) | f16 (us) | speedup |", "|---:|---:|---:|---:|"]
        speedups = {}
        for n in sorted(kivi[batch]):
            t2, t16 = kivi[batch][n], dense.get(batch, {}).get(n)
            if t16:
                speedups[n] = t16 / t2
            lines.append("| %s | %.1f | %s | %s |" % (
                ctx_label(n), t2 * 1e6, "%.1f" % (t16 * 1e6) if t16 else "-",
                "%.2fx" % speedups[n] if n in speedups else "-"))
        if speedups:
            lines += ["", "crossover: " + crossover(speedups)]
        lines.append("")
    return lines


def quant_section(dev):
    """The quantizers' achieved bandwidth as a fraction of copy bandwidth."""
    rows = [(op, r) for op in QUANT_OPS for r in dev.results.get(op, []) if not r.error]
    if not rows or not dev.copy_gbps:
        return []
    lines = ["## KIVI quantizers as a fraction of copy bandwidth", "",
             "Shapes `*-unchecked`: the kernel alone, without the NaN/range scan of the "
             "input (`unchecked = 1`).", "",
             "| op | shape | GB/s | %% of copy (%.1f GB/s) |" % dev.copy_gbps,
             "|---|---|---:|---:|"]
    for op, r in rows:
        lines.append("| %s | %s | %.2f | %s |" % (op, r.shape, r.get("bytes_per_second") / 1e9,
                                                  pct(r.get("copy_roof"))))
    return lines + [""]


def peer_section(dev):
    """w4a8_gemm's variants against cuBLASLt FP8 at the same shapes, same run:
    times and qkv's speed relative to cuBLASLt (cuBLASLt time / qkv time)."""
    peer = [r for r in dev.results.get(PEER, []) if not r.error]
    if not peer:
        return []
    ops = [op for op in dev.results if op == GEMM or op.startswith(GEMM + "@")]
    qkv = {op: {r.shape: r for r in dev.results[op] if not r.error} for op in ops}
    lines = ["## w4a8_gemm against cuBLASLt FP8", "",
             "cuBLASLt: e4m3 x e4m3 -> bf16, f32 compute, its heuristic's first algorithm, "
             "libcublasLt loaded at run time. Per qkv variant: time in us and, in brackets, "
             "its speed relative to cuBLASLt (cuBLASLt time / qkv time; above 1: qkv faster).",
             "", "| shape | cuBLASLt (us) | cuBLASLt TFLOP/s | " +
             " | ".join("`%s` (us)" % op for op in ops) + " |",
             "|---|---:|---:|" + "---:|" * len(ops)]
    for r in peer:
        cells = []
        for op in ops:
            q = qkv[op].get(r.shape)
            cells.append("%.1f (%.2fx)" % (q.seconds * 1e6, r.seconds / q.seconds) if q else "-")
        lines.append("| %s | %.1f | %.1f | %s |" % (r.shape, r.seconds * 1e6,
                                                    r.get("flops_per_second") / 1e12,
                                                    " | ".join(cells)))
    return lines + [""]


def device_markdown(dev, context, source):
    """The whole summary of one device."""
    lines = ["# Benchmarks: %s (`%s`)" % (dev.name, dev.spec), "",
             "Source `%s`, %s, host %s (%s CPUs). Medians over repetitions; "
             "each iteration is one launch until its work has finished, timed with %s." % (
                 os.path.basename(source), context.get("date", "?"),
                 context.get("host_name", "?"), context.get("num_cpus", "?"),
                 CLOCK_TEXT.get(dev.clock, dev.clock)), "",
             "Measured roofs (best of %s): copy %.1f GB/s (bytes read + written), "
             "read %s, multiply-add %.1f GFLOP/s. Cache: %s." % (
                 dev.roof_trials, dev.copy_gbps,
                 "%.1f GB/s" % dev.read_gbps if dev.read_gbps else "not measured",
                 dev.fma_gflops,
                 "cold (inputs rotated over copies beyond the last-level cache)"
                 if dev.cache == "cold" else "warm (one copy of the inputs)"),
             ""]
    lines += sweep_section(dev)
    lines += quant_section(dev)
    lines += peer_section(dev)
    for op, results in dev.results.items():
        lines += ["## %s" % op, ""] + op_table(results) + [""]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="results/bench", help="directory of the .md files")
    ap.add_argument("reports", nargs="+", help="qkv-bench JSON reports")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for path in args.reports:
        devices, context = bench_json.load(path)
        for dev in devices:
            if not dev.results:
                continue
            out = os.path.join(args.out, dev.slug + ".md")
            with open(out, "w") as f:
                f.write(device_markdown(dev, context, path))
            print("wrote", out)


if __name__ == "__main__":
    main()
