#!/usr/bin/env python3
"""roofline.py - roofline plots of qkv-bench JSON reports, one PNG per
device: <out>/<device slug>-roofline.png with the roof min(multiply-add
GFLOP/s, intensity x copy GB/s) from the measured roofs and one point per
benchmark at (flops / bytes, achieved GFLOP/s), colored by op.

usage: bench/roofline.py [--out DIR] REPORT.json...   (DIR default: results/bench)
Needs matplotlib (pip install matplotlib)."""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_json  # noqa: E402

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("roofline.py needs matplotlib: pip install matplotlib")


def intensity_points(dev):
    """{op: ([flops/byte], [GFLOP/s])} of the device's successful results."""
    points = {}
    for op, results in dev.results.items():
        for r in results:
            if r.error or not r.get("bytes") or not r.get("flops"):
                continue
            xs, ys = points.setdefault(op, ([], []))
            xs.append(r.get("flops") / r.get("bytes"))
            ys.append(r.get("flops_per_second") / 1e9)
    return points


def plot_device(dev, path):
    """One log-log roofline of dev written to path."""
    points = intensity_points(dev)
    fig, ax = plt.subplots(figsize=(10.5, 5.5))
    all_x = [x for xs, _ in points.values() for x in xs] or [1.0]
    lo, hi = min(all_x + [0.1]) / 2, max(all_x + [dev.fma_gflops / max(dev.copy_gbps, 1e-9)]) * 4
    if dev.copy_gbps and dev.fma_gflops:
        xs = [lo * (hi / lo) ** (i / 200) for i in range(201)]
        ax.plot(xs, [min(dev.fma_gflops, x * dev.copy_gbps) for x in xs], "k-", lw=2,
                label="roof: copy %.0f GB/s, FMA %.0f GFLOP/s" % (dev.copy_gbps, dev.fma_gflops))
    for op, (xs, ys) in sorted(points.items()):
        ax.scatter(xs, ys, s=28, label=op, alpha=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (flops / minimum bytes)")
    ax.set_ylabel("GFLOP/s (median)")
    ax.set_title("qkv roofline: %s (%s)" % (dev.name, dev.spec))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="results/bench", help="directory of the PNG files")
    ap.add_argument("reports", nargs="+", help="qkv-bench JSON reports")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for path in args.reports:
        devices, _ = bench_json.load(path)
        for dev in devices:
            if dev.results:
                out = os.path.join(args.out, dev.slug + "-roofline.png")
                plot_device(dev, out)
                print("wrote", out)


if __name__ == "__main__":
    main()
