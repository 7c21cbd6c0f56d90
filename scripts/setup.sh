#!/usr/bin/env bash
# Installs qkv's Debian 12 dependencies (those missing) and builds everything into build/.
#
#   scripts/setup.sh              Release build: CLI, library, Python module, tests
#   scripts/setup.sh --no-build   only install the packages
#   scripts/setup.sh --bench      also the packages of the ONNX Runtime comparison (python3-onnx,
#                                 and Node.js with npm unless npm is already on PATH)
#
# Works on a minimal Debian 12 (the `minbase` variant plus git, ca-certificates and sudo), as root or
# as a user who may use sudo. scripts/fresh-machine-check.sh proves that on a freshly made root.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/packages.sh

build=1
bench=0
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    --bench) bench=1 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup: unknown option '$arg' (expected --no-build, --bench or --help)" >&2; exit 2 ;;
  esac
done

install_missing_packages "${QKV_PACKAGES[@]}"
if [ "$bench" -eq 1 ]; then
  install_missing_packages "${QKV_BENCH_PACKAGES[@]}"
  command -v npm >/dev/null || install_missing_packages "${QKV_NODE_PACKAGES[@]}"
fi

if [ "$build" -eq 1 ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
  cmake --build build -j "$(nproc)"
fi
