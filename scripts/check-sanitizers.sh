#!/usr/bin/env bash
# Builds the library, the CLI and the C++ test suite with AddressSanitizer and UndefinedBehaviorSanitizer
# into build-asan/ and runs every C++ test there (the installed-package check included). Any finding
# stops the program under test, so it fails its test.
#
#   scripts/check-sanitizers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/packages.sh
install_missing_packages "${QKV_PACKAGES[@]}"

# -O1, as the AddressSanitizer documentation advises for a fast build with usable reports.
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" -DQKV_SANITIZE=ON \
  -DQKV_BUILD_PYTHON=OFF
cmake --build build-asan -j "$(nproc)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir build-asan --output-on-failure -j "$(nproc)"
