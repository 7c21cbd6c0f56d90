#!/usr/bin/env bash
# Installs qkv's Debian 12 dependencies (those missing) and builds everything into build/.
#
#   scripts/setup.sh              Release build: CLI, library, Python module, tests
#   scripts/setup.sh --no-build   only install the packages
#
# Works on a minimal Debian 12 (the `minbase` variant plus git, ca-certificates and sudo), as root or
# as a user who may use sudo. scripts/fresh-machine-check.sh proves that on a freshly made root.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/packages.sh

build=1
case "${1:-}" in
  "") ;;
  --no-build) build=0 ;;
  -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "setup: unknown option '$1' (expected --no-build or --help)" >&2; exit 2 ;;
esac

install_missing_packages "${QKV_PACKAGES[@]}"

if [ "$build" -eq 1 ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
  cmake --build build -j "$(nproc)"
fi
