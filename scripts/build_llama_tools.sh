#!/usr/bin/env bash
# Builds llama.cpp's own tools (llama-bench, llama-perplexity, llama-tokenize) from the
# llama.cpp that PyPI's llama-cpp-python==0.3.36 source distribution vendors under
# vendor/llama.cpp, with cmake and ninja from PyPI, into $GEMMA_HOME/llama.cpp-0.3.36/.
# About 15 minutes on 2 cores; later runs reuse the build. Prints the bin directory.
#
# Not part of CI: the side-by-side benchmark (scripts/bench_vs_llama.py) and the perplexity
# comparison call it.
#
# `--no-amx` builds a second copy (build-noamx/) without Intel AMX: on CPUs that report AMX but
# where the kernel does not grant AMX state (some virtual machines), llama.cpp's AMX weight
# buffers crash, and with them its default weight repacking; without AMX the other repacked
# (CPU_REPACK) kernels stay available.
set -euo pipefail
VERSION=0.3.36
HOME_DIR=${GEMMA_HOME:-$HOME/.cache/gemma-rs}
ROOT=$HOME_DIR/llama.cpp-$VERSION
BUILD=build
EXTRA_FLAGS=()
if [ "${1:-}" = "--no-amx" ]; then
  BUILD=build-noamx
  NOAMX="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
  EXTRA_FLAGS=(-DCMAKE_C_FLAGS="$NOAMX" -DCMAKE_CXX_FLAGS="$NOAMX")
fi
BIN=$ROOT/$BUILD/bin
TOOLS=(llama-bench llama-perplexity llama-tokenize)
done_already=1
for t in "${TOOLS[@]}"; do [ -x "$BIN/$t" ] || done_already=0; done
if [ $done_already = 1 ]; then echo "$BIN"; exit 0; fi
mkdir -p "$ROOT"
log() { echo "[build_llama_tools] $*" >&2; }
if [ ! -x "$ROOT/venv/bin/cmake" ]; then
  log "installing cmake and ninja from PyPI into $ROOT/venv"
  python3 -m venv "$ROOT/venv"
  "$ROOT/venv/bin/pip" install -q cmake ninja scikit-build-core
fi
SRC=$ROOT/src/llama_cpp_python-$VERSION/vendor/llama.cpp
if [ ! -d "$SRC" ]; then
  log "downloading the llama-cpp-python==$VERSION source distribution"
  mkdir -p "$ROOT/src"
  "$ROOT/venv/bin/pip" download -q --no-deps --no-binary :all: --no-build-isolation \
    "llama-cpp-python==$VERSION" -d "$ROOT/src"
  tar xzf "$ROOT/src/llama_cpp_python-$VERSION.tar.gz" -C "$ROOT/src"
fi
export PATH=$ROOT/venv/bin:$PATH
log "configuring (Release, native CPU features, no network, no GPU)"
cmake -S "$SRC" -B "$ROOT/$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
  -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TOOLS=ON -DBUILD_SHARED_LIBS=OFF \
  ${EXTRA_FLAGS[@]+"${EXTRA_FLAGS[@]}"} >&2
log "building ${TOOLS[*]} (about 15 minutes on 2 cores)"
cmake --build "$ROOT/$BUILD" --target "${TOOLS[@]}" -j "$(nproc)" >&2
echo "$BIN"
