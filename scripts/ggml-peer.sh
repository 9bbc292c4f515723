#!/bin/sh
# ggml-peer.sh - the CPU peer benchmark of w4a8_gemm: builds ggml's CPU
# library once (cached), compiles bench/peers/ggml_matmul.c against it and
# runs it with the arguments given (docs/benchmarks.md, "Peers: ggml's CPU
# matmul").  A developer tool: not part of configure or `make check`.
#
#   scripts/ggml-peer.sh [--build-only] [ggml_matmul options...]
#   e.g. scripts/ggml-peer.sh --types q4_0,q4_K --shapes 14336x4096 --m 1,16 --repack
#        scripts/ggml-peer.sh --help          # the benchmark's options
#
# Environment:
#   GGML_PREFIX  a ggml install (include/ggml.h, lib/libggml{,-base,-cpu}.a);
#                built there when missing (default $GGML_CACHE/install)
#   GGML_DIR     ggml sources to build from: a llama.cpp tree (holding ggml/)
#                or a ggml git checkout; default: llama-cpp-python's sdist
#                ($GGML_PY_VERSION, default 0.3.36, vendor/llama.cpp), fetched
#                with `pip download` into $GGML_CACHE/src
#   GGML_BUILD   the cmake build folder (default $GGML_CACHE/build)
#   GGML_CACHE   default ${XDG_CACHE_HOME:-$HOME/.cache}/qkv-ggml-peer
#   GGML_JOBS    build jobs (default 1); builds and compiles run under
#                `nice -n ${GGML_NICE:-19}` so they do not disturb timings
#   CC           the C compiler for the benchmark (default cc)
# ggml is built Release, static, CPU only (-DGGML_NATIVE=ON, OpenMP on,
# llamafile sgemm on as in llama.cpp; no CUDA, Vulkan, Metal or BLAS).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
src=$here/bench/peers/ggml_matmul.c
cache=${GGML_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qkv-ggml-peer}
prefix=${GGML_PREFIX:-$cache/install}
build=${GGML_BUILD:-$cache/build}
jobs=${GGML_JOBS:-1}
nice="nice -n ${GGML_NICE:-19}"
pyver=${GGML_PY_VERSION:-0.3.36}
build_only=0
if [ "${1:-}" = --build-only ]; then build_only=1; shift; fi

# ggml sources: GGML_DIR or the llama-cpp-python sdist.
fetch_sources() {
    if [ -n "${GGML_DIR:-}" ]; then echo "$GGML_DIR"; return; fi
    tree=$cache/src/llama_cpp_python-$pyver/vendor/llama.cpp
    if [ ! -f "$tree/ggml/include/ggml.h" ]; then
        mkdir -p "$cache/src"
        echo "ggml-peer: fetching llama-cpp-python $pyver sources" >&2
        python3 -m pip download --no-deps --no-binary :all: \
            "llama-cpp-python==$pyver" -d "$cache/src" >&2
        tar -xzf "$cache/src/llama_cpp_python-$pyver.tar.gz" -C "$cache/src"
    fi
    echo "$tree"
}

# Configure and build ggml's CPU library, then copy headers and static
# libraries into $prefix.
build_ggml() {
    dir=$(fetch_sources)
    if [ -f "$dir/ggml/CMakeLists.txt" ]; then          # a llama.cpp tree
        inc=$dir/ggml/include
        extra="-DLLAMA_BUILD_COMMON=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF
               -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF
               -DLLAMA_OPENSSL=OFF"
    elif [ -f "$dir/include/ggml.h" ]; then             # a ggml checkout
        inc=$dir/include
        extra="-DGGML_BUILD_TESTS=OFF -DGGML_BUILD_EXAMPLES=OFF"
    else
        echo "ggml-peer: $dir holds neither ggml/ nor include/ggml.h" >&2; exit 1
    fi
    # shellcheck disable=SC2086
    $nice cmake -S "$dir" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
        -DGGML_NATIVE=ON -DGGML_OPENMP=ON -DGGML_CUDA=OFF -DGGML_VULKAN=OFF \
        -DGGML_METAL=OFF -DGGML_BLAS=OFF -DGGML_CCACHE=OFF $extra >&2
    $nice cmake --build "$build" -j"$jobs" --target ggml ggml-base ggml-cpu >&2
    mkdir -p "$prefix/include" "$prefix/lib"
    cp "$inc"/*.h "$prefix/include/"
    for lib in ggml ggml-base ggml-cpu; do
        cp "$(find "$build" -name "lib$lib.a" | head -n 1)" "$prefix/lib/"
    done
}

if [ ! -f "$prefix/include/ggml.h" ] || [ ! -f "$prefix/lib/libggml-cpu.a" ]; then
    build_ggml
fi

# The benchmark, recompiled when its source, ggml or the prefix changed.
bin=$cache/ggml_matmul
mkdir -p "$cache"
newer() { [ -n "$(find "$1" -newer "$bin" 2>/dev/null)" ]; }
if [ ! -x "$bin" ] || newer "$src" || newer "$prefix/lib/libggml-cpu.a" ||
   [ "$(cat "$bin.prefix" 2>/dev/null)" != "$prefix" ]; then
    $nice "${CC:-cc}" -std=c11 -O2 -Wall -Wextra -I"$prefix/include" "$src" -o "$bin" \
        -L"$prefix/lib" -Wl,--start-group -lggml -lggml-cpu -lggml-base -Wl,--end-group \
        -lstdc++ -lm -fopenmp -pthread
    echo "$prefix" > "$bin.prefix"
fi
[ "$build_only" = 1 ] && { echo "$bin"; exit 0; }
exec "$bin" "$@"
