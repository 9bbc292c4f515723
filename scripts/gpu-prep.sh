#!/bin/sh
# gpu-prep.sh - run on the development machine before a GPU session: builds
# the dist tarball (configure already generated) and gathers the test
# framework (Check, as static libraries) into .carry/, which the device tool
# carries to the GPU machine where scripts/gpu-check.sh uses it.
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
ls -la "$carry" "$carry/deps/lib"
