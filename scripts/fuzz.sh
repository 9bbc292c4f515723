#!/bin/sh
# fuzz.sh - build the libFuzzer targets of tests/fuzz/ with clang (ASan +
# UBSan) in their own build folder and run each for a bounded time.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#     SECONDS   -max_total_time per target (default 60; CI uses 15)
#     TARGET    fuzz_npy fuzz_tuning fuzz_run (default: all three)
#   scripts/fuzz.sh --build     build only
# Environment: CLANG (default clang-14, else clang), QKV_FUZZ_BUILD (default
# _fuzz), QKV_FUZZ_FLAGS (extra libFuzzer flags, e.g. -jobs=2).
# Findings go to tests/fuzz/crashes/TARGET/ (crash-*, leak-*, timeout-*,
# oom-*); new inputs go to the build folder's corpus, not to the seed corpus
# in tests/fuzz/corpus/TARGET/.  Reproduce one:  _fuzz/fuzz_npy FILE
# The normal build (gcc) is not touched: this one configures _fuzz with
# CC=clang, without OpenCL and CUDA (only the parsers and cpu/ref run here).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${QKV_FUZZ_BUILD:-_fuzz}
case $build in /*) ;; *) build=$top/$build ;; esac
secs=60
build_only=no
case ${1:-} in
    --build) build_only=yes; shift ;;
    ''|*[!0-9]*) ;;
    *) secs=$1; shift ;;
esac
targets=${*:-fuzz_npy fuzz_tuning fuzz_run}
cc=${CLANG:-}
[ -n "$cc" ] || { command -v clang-14 >/dev/null 2>&1 && cc=clang-14 || cc=clang; }
command -v "$cc" >/dev/null 2>&1 || { echo "fuzz.sh: $cc not found (libFuzzer needs clang)" >&2; exit 1; }

san='-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer'
# The source tree may be configured in place, which a VPATH build refuses:
# build the library in a copy of its files.
. "$top/scripts/source-copy.sh"
qkv_source_copy "$top" "$build/src"
cd "$build/src"
if [ ! -f Makefile ] || [ configure -nt config.status ]; then
    echo "== configure $build/src (CC=$cc, library only)"
    # QKV_FUZZ_LEAN: without the avx512bf16 GEMM kernels (minutes to
    # instrument; kernels/cpu/fireq_gemm_cpu_avx512bf16.c)
    ./configure -q CC="$cc" CFLAGS="-fsanitize=fuzzer-no-link $san -g -O1 -DQKV_FUZZ_LEAN" \
        LDFLAGS="$san" \
        --without-opencl --without-cuda --without-benchmark --disable-shared
fi
echo "== build libqkv_dev (clang, ASan+UBSan, fuzzer instrumentation)"
make ${MAKEFLAGS:--j2} libqkv_dev.la >/dev/null
omp=`sed -n 's/^OPENMP_CFLAGS = //p' Makefile`
inc="-I$top/include -I$top/src/core -I$top/src/backends -I$top/src/ops -I$top/src/dev \
 -I$top/reference -I$top/kernels/cpu -I$top/tuner -I$top/tools -I$build/src -D_DEFAULT_SOURCE"
cflags="-std=c11 -g -O1 -Wall -Wextra $san $omp"
libs="$build/src/.libs/libqkv_dev.a $build/src/.libs/libqkv_core.a -lm -ldl"
for t in $targets; do
    extra=
    [ "$t" = fuzz_run ] && extra="$top/tools/cmd_run.c $top/tools/cmd_info.c $top/tools/cmd_validate.c $top/tools/cmd_tune.c $top/tools/cmd_quantize_weights.c $top/tools/qkv.c -Dmain=qkv_cli_main"
    echo "== build $t"
    # shellcheck disable=SC2086
    $cc $cflags -fsanitize=fuzzer $inc -o "$t" "$top/tests/fuzz/$t.c" $extra $libs
done
[ "$build_only" = no ] || exit 0

export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
fail=0
for t in $targets; do
    seeds=$top/tests/fuzz/corpus/$t
    work=$build/corpus/$t
    crashes=$top/tests/fuzz/crashes/$t
    mkdir -p "$work" "$crashes"
    echo "== $t: ${secs} s (seeds $seeds, corpus $work)"
    # -close_fd_mask=3: the code under test prints warnings and usage text
    # shellcheck disable=SC2086
    if ./"$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -close_fd_mask=3 \
            -print_final_stats=1 -artifact_prefix="$crashes/" ${QKV_FUZZ_FLAGS:-} \
            "$work" "$seeds" >"$t.log" 2>&1; then
        grep -E "^(stat::number_of_executed_units|stat::new_units_added)|cov:" "$t.log" | tail -3
    else
        fail=1
        grep -E -A40 "ERROR: |runtime error|==ERROR|deadly signal|Test unit written" "$t.log" | head -60
        echo "== $t: FAILED, reproducer in $crashes/ (log $build/src/$t.log)"
    fi
done
exit $fail
