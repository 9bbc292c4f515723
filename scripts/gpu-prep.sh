#!/bin/sh
# gpu-prep.sh - run on the development machine before a GPU session: builds
# the dist tarball (configure already generated) and gathers the test
# framework (Check, as static libraries) and Google Benchmark (its shared
# library and headers, for bench/qkv-bench) into .carry/, which the device
# tool carries to the GPU machine where scripts/gpu-check.sh uses them.
#   usage: scripts/gpu-prep.sh [BUILD_DIR]   (BUILD_DIR: a configured tree)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top}
carry="$top/.carry"
rm -rf "$carry"
mkdir -p "$carry/deps/include" "$carry/deps/lib/pkgconfig"
make -C "$build" dist >/dev/null
cp "$build"/qkv-*.tar.gz "$carry/"
libdir=$(pkg-config --variable=libdir check)
incdir=$(pkg-config --variable=includedir check)
cp "$incdir/check.h" "$incdir/check_stdint.h" "$carry/deps/include/"
cp "$libdir/libcheck_pic.a" "$libdir/libsubunit.a" "$carry/deps/lib/"
cat >"$carry/deps/lib/pkgconfig/check.pc" <<PC
prefix=/DEPS
Name: Check
Description: Check carried for the GPU machine (static)
Version: $(pkg-config --modversion check)
Libs: -L\${prefix}/lib -lcheck_pic -lsubunit -lrt -lm -pthread
Cflags: -I\${prefix}/include -pthread
PC
if pkg-config --exists benchmark; then
    blib=$(pkg-config --variable=libdir benchmark)
    binc=$(pkg-config --variable=includedir benchmark)
    cp -r "$binc/benchmark" "$carry/deps/include/"
    so=$(readlink -f "$blib/libbenchmark.so")
    soname=$(objdump -p "$so" | awk '/SONAME/ {print $2}')
    cp "$so" "$carry/deps/lib/$soname"
    cp "$so" "$carry/deps/lib/libbenchmark.so" # a copy: the carry may drop links
    cat >"$carry/deps/lib/pkgconfig/benchmark.pc" <<PC
prefix=/DEPS
Name: benchmark
Description: Google Benchmark carried for the GPU machine (shared, rpath)
Version: $(pkg-config --modversion benchmark)
Libs: -L\${prefix}/lib -Wl,-rpath,\${prefix}/lib -lbenchmark -lpthread
Cflags: -I\${prefix}/include
PC
else
    echo "gpu-prep: Google Benchmark not found: the GPU run will skip the benchmarks"
fi
ls -la "$carry" "$carry/deps/lib"
