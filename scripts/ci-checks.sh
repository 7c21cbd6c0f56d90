#!/usr/bin/env bash
# CI's checks beyond the README's test command: the whole C++ test suite under ASan+UBSan, then every
# fuzz target for a bounded time (default 60 s each).
#
#   scripts/ci-checks.sh [FUZZ_SECONDS_PER_TARGET]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/packages.sh
install_missing_packages "${QKV_CHECK_PACKAGES[@]}"

start=$SECONDS
scripts/check-sanitizers.sh
echo "ci-checks: sanitizer build and tests took $((SECONDS - start)) s"
start=$SECONDS
scripts/fuzz.sh "${1:-60}"
echo "ci-checks: fuzzing took $((SECONDS - start)) s"
