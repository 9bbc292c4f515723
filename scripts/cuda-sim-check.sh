#!/bin/sh
# cuda-sim-check.sh [BUILD_DIR] - runs the native CUDA kernels
# (kernels/cuda/*.cu) on the CPU: each program is compiled as host C++20
# against a stand-in for the CUDA runtime (tests/cuda_sim/include: a block's
# threads are host threads, warp shuffles barriers over their lane masks)
# for a matrix of tile parameters, and its results are compared with the
# ref backend of the libqkv built in BUILD_DIR (default: the current
# folder).  Checks the kernels' index math where no GPU is at hand; says
# nothing of their speed.  Needs a C++20 compiler ($CXX, default g++);
# a few minutes.
set -e
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-.}" && pwd)
lib="$build/.libs"
if [ ! -e "$lib/libqkv.so" ]; then
    echo "cuda-sim-check: no $lib/libqkv.so: build the library first (make)" >&2
    exit 2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sim="$src/tests/cuda_sim"
failed=0

# run DRIVER "DEFINES" "ARGS"... - build DRIVER.cpp with DEFINES, run it
# once per ARGS.
run() {
    driver=$1
    defines=$2
    shift 2
    echo "== $driver $defines"
    # shellcheck disable=SC2086 # DEFINES are separate words
    ${CXX:-g++} -std=c++20 -O1 -w -pthread -I"$sim/include" -I"$sim" -I"$src/include" \
        -I"$src/kernels/cuda" $defines "$sim/$driver.cpp" "$sim/sim_runtime.cpp" \
        -L"$lib" -lqkv -Wl,-rpath,"$lib" -o "$tmp/$driver"
    for args in "$@"; do
        # shellcheck disable=SC2086 # ARGS are separate words
        "$tmp/$driver" $args || failed=1
    done
}

run kivi_quant_sim "-DBITS=2 -DGROUP=32 -DIN_F16=1" "64 64 32"
run kivi_quant_sim "-DBITS=4 -DGROUP=32 -DIN_F16=0" "96 64 0" "32 32 64"
run kivi_quant_sim "-DBITS=8 -DGROUP=64 -DIN_F16=1" "128 128 64"
run kivi_quant_sim "-DBITS=2 -DGROUP=128 -DIN_F16=0" "256 128 0"
run kivi_quant_sim "-DBITS=8 -DGROUP=32 -DIN_F16=0" "64 96 32"
run kivi_decode_sim "-DBITS=2 -DGROUP=32 -DHEAD_DIM=128 -DHEADS=4 -DWARPS=4 -DSPLIT=256 -DKLANES=8" \
    "128 37 100 256" "256 300 400 256" "0 50 0 32"
run kivi_decode_sim "-DBITS=4 -DGROUP=32 -DHEAD_DIM=128 -DHEADS=8 -DWARPS=4 -DSPLIT=64 -DKLANES=8" \
    "128 37 100 160" "96 1 65 128"
run kivi_decode_sim "-DBITS=2 -DGROUP=128 -DHEAD_DIM=256 -DHEADS=1 -DWARPS=4 -DSPLIT=128 -DKLANES=32" \
    "256 10 138 384"
run kivi_decode_sim "-DBITS=4 -DGROUP=64 -DHEAD_DIM=64 -DHEADS=2 -DWARPS=8 -DSPLIT=128 -DKLANES=4" \
    "192 70 200 256" "64 0 64 64"
run kivi_decode_sim "-DBITS=2 -DGROUP=32 -DHEAD_DIM=96 -DHEADS=4 -DWARPS=2 -DSPLIT=64 -DKLANES=16" \
    "160 5 150 192"
run dense_decode_sim "-DHEAD_DIM=128 -DHEADS=8 -DWARPS=4 -DSPLIT=256 -DKLANES=16" "300 310 8" "1 1 8"
run dense_decode_sim "-DHEAD_DIM=100 -DHEADS=2 -DWARPS=2 -DSPLIT=64 -DKLANES=16" "150 151 6"
run dense_decode_sim "-DHEAD_DIM=66 -DHEADS=8 -DWARPS=4 -DSPLIT=64 -DKLANES=32" "130 140 8"
run dense_decode_sim "-DHEAD_DIM=33 -DHEADS=1 -DWARPS=8 -DSPLIT=128 -DKLANES=4" "200 200 3"
# fireq_gemm: M N K splits prescale_exp
run fireq_gemm_sim "-DGROUP=64 -DEXACT=0 -DBM=32 -DBN=64 -DWARPS_M=1 -DWARPS_N=2 -DSWARPS=2 -DUNROLL=2" \
    "5 70 192 2 2" "20 70 192 2 0" "16 33 64 1 0"
run fireq_gemm_sim "-DGROUP=128 -DEXACT=0 -DBM=64 -DBN=128 -DWARPS_M=2 -DWARPS_N=4 -DSWARPS=4 -DUNROLL=2" \
    "1 200 384 4 0" "70 130 256 8 3"
run fireq_gemm_sim "-DGROUP=256 -DEXACT=0 -DBM=128 -DBN=128 -DWARPS_M=4 -DWARPS_N=2 -DSWARPS=8 -DUNROLL=4" \
    "130 150 512 32 0" "3 70 768 2 1"
run fireq_gemm_sim "-DGROUP=64 -DEXACT=1 -DY_F32=1 -DBM=32 -DBN=64 -DWARPS_M=2 -DWARPS_N=1 -DSWARPS=2 -DUNROLL=2" \
    "9 40 320 3 1" "33 17 128 1 0"
run fireq_gemm_sim "-DGROUP=128 -DEXACT=1 -DY_F32=0 -DBM=64 -DBN=64 -DWARPS_M=4 -DWARPS_N=2 -DSWARPS=4 -DUNROLL=1" \
    "16 64 640 4 2" "17 64 640 4 2"
run fireq_gemm_sim "-DGROUP=256 -DEXACT=1 -DY_F32=1 -DBM=32 -DBN=256 -DWARPS_M=1 -DWARPS_N=8 -DSWARPS=8 -DUNROLL=4" \
    "40 300 512 2 0" "2 300 768 8 0"

if [ "$failed" = 0 ]; then
    echo "cuda-sim-check: every native kernel matches the reference"
else
    echo "cuda-sim-check: FAILURES above" >&2
fi
exit "$failed"
