#!/bin/sh
# check-sanitize.sh - build qkv with AddressSanitizer + UndefinedBehaviorSanitizer
# in a separate VPATH build folder and run the Check suites and
# `qkv validate --shapes small` on ref, cpu and opencl (if built).
#   scripts/check-sanitize.sh [BUILD_DIR]      (default: _sanitize)
# Environment: CC (default gcc), MAKEFLAGS (default -j2), QKV_SANITIZE_FLAGS
# (extra configure flags), QKV_SANITIZE_SHAPES (default small).
# Any ASan or UBSan report fails the run; LeakSanitizer leaks are fatal except
# those inside PoCL / LLVM / the OpenCL ICD loader, suppressed in
# tests/sanitize/lsan.supp (each entry justified there).  CUDA is configured
# out (--without-cuda): its driver and NVRTC are dlopen'ed at run time and
# there is no GPU here, so a sanitized CUDA build tests nothing more.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-_sanitize}
case $build in /*) ;; *) build=$top/$build ;; esac
shapes=${QKV_SANITIZE_SHAPES:-small}
: "${MAKEFLAGS:=-j2}"
export MAKEFLAGS
start=$(date +%s)

san='-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer'
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:print_suppressions=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export LSAN_OPTIONS="suppressions=$top/tests/sanitize/lsan.supp:print_suppressions=0"
# Check forks each test; keep it (CK_FORK=yes) so a report inside one test
# fails that test with its own log.

# The source tree may be configured in place, which a VPATH build refuses:
# build in a copy of its files (tracked and untracked-but-not-ignored ones).
. "$top/scripts/source-copy.sh"
qkv_source_copy "$top" "$build/src"
cd "$build/src"
if [ ! -f Makefile ] || [ configure -nt config.status ]; then
    echo "== configure ($build/src)"
    ./configure -q CC="${CC:-gcc}" CFLAGS="$san -g -O1" LDFLAGS="$san" \
        --without-cuda --without-benchmark --disable-shared ${QKV_SANITIZE_FLAGS:-}
fi
echo "== build"
make >/dev/null
echo "== make check (ASan+UBSan)"
if ! make check >/dev/null 2>&1; then
    for f in tests/*.log; do
        grep -q -E "^(FAIL|ERROR)|Sanitizer|runtime error" "$f" 2>/dev/null && { echo "--- $f"; tail -60 "$f"; }
    done
    grep -E "^(# |FAIL|ERROR)" test-suite.log 2>/dev/null | head -20
    echo "== check-sanitize: make check FAILED"; exit 1
fi
grep -h -E "Checks:|SKIPPED" tests/test_*.log || true
backends="ref cpu"
./qkv info 2>/dev/null | grep -q "^  opencl:0 " && backends="$backends opencl"
for b in $backends; do
    echo "== qkv validate --backend $b --shapes $shapes (ASan+UBSan)"
    ./qkv validate --backend "$b" --shapes "$shapes" >"validate-$b.out" 2>&1 || {
        tail -60 "validate-$b.out"; echo "== check-sanitize: validate $b FAILED"; exit 1; }
    tail -3 "validate-$b.out"
done
echo "== check-sanitize passed in $(( $(date +%s) - start )) s"
