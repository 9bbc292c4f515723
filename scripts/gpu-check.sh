#!/bin/sh
# gpu-check.sh - one command for a lent GPU machine: builds qkv from the
# carried dist tarball with CUDA, runs every test (Check carried by
# scripts/gpu-prep.sh; CUDA is one of the backends every suite iterates),
# `qkv validate --backend cuda` over all shapes (and over every backend
# present), a short `qkv tune --backend cuda`, the benchmarks on the CUDA
# device with cuBLASLt FP8 beside w4a8_gemm (when Google Benchmark was
# carried; QKV_BENCH=0 skips them), and
# writes its tables and logs under $OUT (default ./gpu-out): at most 8 files.
#   usage: scripts/gpu-check.sh   (from the repository root, .carry/ present)
set -u
top=$(pwd)
out=${OUT:-$top/gpu-out}
mkdir -p "$out"
jobs=$(nproc 2>/dev/null || echo 8)
log() { echo "== $*" | tee -a "$out/summary.txt"; }

log "machine: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)"
log "date: $(date -u +%Y-%m-%dT%H:%MZ)  nvcc: $(nvcc --version 2>/dev/null | tail -1)"
tarball=$(ls "$top"/.carry/qkv-*.tar.gz 2>/dev/null | head -1)
[ -n "$tarball" ] || { log "no .carry/qkv-*.tar.gz: run scripts/gpu-prep.sh first"; exit 2; }
deps="$top/.carry/deps"
sed -i "s|/DEPS|$deps|" "$deps"/lib/pkgconfig/*.pc 2>/dev/null
work=/tmp/qkv-gpu
rm -rf "$work" && mkdir -p "$work" && tar -xzf "$tarball" -C "$work"
src=$(ls -d "$work"/qkv-*/ | head -1)
cd "$src" || exit 2

log "configure"
PKG_CONFIG_PATH="$deps/lib/pkgconfig" ./configure --with-cuda >"$out/build.log" 2>&1 \
    || { tail -30 "$out/build.log"; log "configure FAILED"; exit 1; }
tail -8 "$out/build.log" | tee -a "$out/summary.txt"
log "build"
make -j"$jobs" >>"$out/build.log" 2>&1 || { tail -40 "$out/build.log"; log "build FAILED"; exit 1; }
grep -i "warning" "$out/build.log" | head -20 | tee -a "$out/summary.txt"

status=0
log "qkv info"
./qkv info 2>&1 | tee -a "$out/summary.txt"
log "qkv validate --backend cuda --shapes all"
./qkv validate --backend cuda --shapes all --report "$out/validate-cuda.md" >/tmp/validate-cuda.txt 2>&1 \
    || status=1
tail -3 /tmp/validate-cuda.txt | tee -a "$out/summary.txt"
grep FAIL /tmp/validate-cuda.txt | head -20 | tee -a "$out/summary.txt"
log "qkv tune --backend cuda (short: anneal, ${QKV_TUNE_EVALS:-16} evaluations per op)"
./qkv tune --backend cuda --max-evals "${QKV_TUNE_EVALS:-16}" --out /tmp/tuning >"$out/tune-cuda.txt" 2>&1 \
    || status=1
grep -E "on |default|tuned|evaluated" "$out/tune-cuda.txt" | tee -a "$out/summary.txt"
cat /tmp/tuning/cuda-*.txt >>"$out/tune-cuda.txt" 2>/dev/null
if [ -z "${QKV_QUICK:-}" ]; then # QKV_QUICK=1: make check covers the other backends
    log "qkv validate (every backend present) --shapes all"
    ./qkv validate --shapes all --report "$out/validate-all.md" >/tmp/validate-all.txt 2>&1 || status=1
    grep -E "^backend|passed|FAIL" /tmp/validate-all.txt | head -30 | tee -a "$out/summary.txt"
fi
log "make check (every suite runs on cpu, each OpenCL device and cuda:0)"
OMP_NUM_THREADS=$jobs make -j4 check >"$out/check.log" 2>&1 || status=1
grep -E "^(PASS|FAIL|SKIP|ERROR|# )" "$out/check.log" | tee -a "$out/summary.txt"
for f in tests/*.log; do
    grep -E "Checks:|SKIPPED|Failure|Error" "$f" | sed "s|^|$(basename "$f"): |" | tee -a "$out/summary.txt"
done
cat tests/*.log >"$out/tests.log" 2>/dev/null
if [ "${QKV_BENCH:-1}" != 0 ] && [ -x bench/qkv-bench ]; then
    log "benchmarks on cuda:0 (make bench, 3 repetitions)"
    mkdir -p results/bench
    make bench BENCH_NAME=gpu-cuda0 BENCH_FLAGS="--qkv_backends=cuda:0 --benchmark_repetitions=3 --benchmark_report_aggregates_only=true" >results/bench/bench.log 2>&1 || status=1
    tail -3 results/bench/bench.log | tee -a "$out/summary.txt"
    log "w4a8_gemm against cuBLASLt FP8 (cublaslt_fp8 rows)"
    grep "cublaslt_fp8 peer skipped" results/bench/bench.log | tee -a "$out/summary.txt"
    sed -n '/^## w4a8_gemm against cuBLASLt FP8/,/^## /p' results/bench/*.md | grep '^|' \
        | tee -a "$out/summary.txt"
    tar -czf "$out/bench.tar.gz" results/bench 2>/dev/null
else
    log "benchmarks SKIPPED (no bench/qkv-bench: Google Benchmark not carried, or QKV_BENCH=0)"
fi
log "status $status"
exit $status
