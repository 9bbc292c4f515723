#!/bin/sh
# quickstart.sh - set up a fresh Debian machine and run qkv.
#   scripts/quickstart.sh validate   install, build, `qkv validate` on every backend
#   scripts/quickstart.sh test       install, build, `make check` (the Check suites)
# Debian packages (installed only if missing, needs root or sudo):
#   build-essential                  C compiler (C11, OpenMP via libgomp), make
#   autoconf automake libtool        the autotools build (autoreconf)
#   pkg-config check                 the Check unit-test framework for make check
#   ocl-icd-opencl-dev opencl-headers  OpenCL ICD loader and CL/cl.h
#   pocl-opencl-icd                  PoCL: an OpenCL device on the CPU
# The CUDA backend is enabled when configure finds a CUDA toolkit (nvcc /
# /usr/local/cuda); the driver is loaded at run time, so no GPU is needed
# to build or test.  Extra configure options: QKV_CONFIGURE_FLAGS.
set -eu
mode=${1:-validate}
case $mode in validate|test) ;; *) echo "usage: $0 validate|test" >&2; exit 2 ;; esac
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

packages="build-essential autoconf automake libtool pkg-config check ocl-icd-opencl-dev
          opencl-headers pocl-opencl-icd"
missing=
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    sudo=
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    echo "== installing:$missing"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
fi

echo "== bootstrap, configure, build"
[ -x configure ] || autoreconf -fi >/dev/null
[ -f Makefile ] || ./configure ${QKV_CONFIGURE_FLAGS:-}
make -j"$(nproc)" >/dev/null

if [ "$mode" = test ]; then
    echo "== make check"
    make -j"$(nproc)" check || { cat tests/*.log 2>/dev/null | tail -60; exit 1; }
    cat tests/test_*.log | grep -E "Checks:|SKIPPED|note:"
else
    echo "== qkv validate (every backend with a device)"
    ./qkv validate --shapes "${QKV_SHAPES:-all}"
fi
