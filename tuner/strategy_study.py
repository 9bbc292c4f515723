#!/usr/bin/env python3
"""strategy_study.py - how many evaluations random search and simulated
annealing need to come within 5% of the exhaustive optimum.

For each (backend, op): one exhaustive `qkv tune` fills a measurement cache;
then random and anneal run for several seeds against the same cache, so they
replay the exhaustive measurements (same numbers, no re-timing).  From each
run's progress lines we take the first evaluation whose best-so-far time is
within 5% of the optimum, and report the median over seeds.

usage: tuner/strategy_study.py [--qkv ./qkv] [--seeds 15] [--out results/strategy-study.md]
                               BACKEND:OP ...
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

PROGRESS = re.compile(r"^\s*\[\s*(\d+)\]\s+(\S+)\s+(FAIL|[\d.]+ us).*best ([\d.]+) us")


def tune(qkv, backend, op, cache, out, strategy, extra):
    """Run qkv tune; return [(evaluation, best_us)] from its progress lines."""
    cmd = [qkv, "tune", "--backend", backend, "--op", op, "--strategy", strategy,
           "--cache", cache, "--out", out] + extra
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        sys.exit("qkv tune failed: %s\n%s" % (" ".join(cmd), res.stderr))
    steps = []
    for line in res.stdout.splitlines():
        m = PROGRESS.match(line)
        if m:
            steps.append((int(m.group(1)), float(m.group(4))))
    return steps


def optimum(cache, op):
    """Fastest verified time of op in the cache (microseconds)."""
    best = None
    with open(cache, encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 5 and fields[1] == op and fields[-1] != "FAIL":
                t = float(fields[-1])
                best = t if best is None else min(best, t)
    return best


def evals_to_within(steps, target):
    """First evaluation whose best-so-far is within target, or None."""
    for n, best in steps:
        if best <= target:
            return n
    return None


def study(args, spec, tmp):
    backend, op = spec.split(":", 1) if spec.count(":") == 1 else spec.rsplit(":", 1)
    cache = os.path.join(tmp, "cache-%s-%s.log" % (backend.replace(":", "-"), op))
    out = os.path.join(tmp, "tables")
    steps = tune(args.qkv, backend, op, cache, out, "exhaustive",
                 ["--max-evals", "0", "--repeats", str(args.repeats)])
    space = steps[-1][0] if steps else 0
    opt = optimum(cache, op)
    rows = {"space": space, "optimum_us": opt, "default_us": steps[0][1] if steps else None}
    for strategy in ("random", "anneal"):
        needed, missed = [], 0
        for seed in range(1, args.seeds + 1):
            extra = ["--seed", str(seed), "--max-evals", str(space)]
            if strategy == "random":
                extra += ["--count", str(space)]
            s = tune(args.qkv, backend, op, cache, out, strategy, extra)
            n = evals_to_within(s, 1.05 * opt)
            if n is None:
                missed += 1
            else:
                needed.append(n)
        rows[strategy] = (statistics.median(needed) if needed else None, missed)
    return backend, op, rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--qkv", default="./qkv")
    ap.add_argument("--seeds", type=int, default=15)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default="results/strategy-study.md")
    ap.add_argument("specs", nargs="+", help="BACKEND:OP, e.g. cpu:kivi_decode_attention")
    args = ap.parse_args()
    lines = ["# Tuning strategies: evaluations to come within 5% of the exhaustive optimum",
             "",
             "Median over %d seeds (the default configuration is evaluation 1; a run that never "
             "got within 5%% within the whole space counts as a miss). Random and anneal "
             "replay the exhaustive run's measurements through the tuner's cache." % args.seeds,
             "",
             "| backend | op | valid points | default (us) | optimum (us) | random | anneal |",
             "|---|---|---:|---:|---:|---:|---:|"]
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.specs:
            backend, op, r = study(args, spec, tmp)
            cell = lambda v: "%s%s" % ("-" if v[0] is None else "%g" % v[0],
                                       " (%d missed)" % v[1] if v[1] else "")
            lines.append("| %s | %s | %d | %.1f | %.1f | %s | %s |" % (
                backend, op, r["space"], r["default_us"], r["optimum_us"],
                cell(r["random"]), cell(r["anneal"])))
            print(lines[-1], flush=True)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
