#!/bin/sh
# Builds the libFuzzer targets of fuzz/ (build-fuzz/: clang, ASan + UBSan, only the parsers'
# sources) and runs each one for SECONDS_PER_TARGET (default 60) from its committed seed corpus
# fuzz/corpus/<target>/. New inputs go to build-fuzz/fuzz-work/<target>/ (the committed corpus
# is not modified); a crash, leak, UB report, timeout or memory past the limits leaves its input
# in build-fuzz/fuzz-artifacts/ and makes the script exit non-zero.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]       (needs clang and libfuzzer-14-dev)
set -eu
seconds=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${QKV_FUZZ_BUILD_DIR:-$root/build-fuzz}

CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DQKV_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target qkv_fuzz -j 2 >/dev/null

export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
mkdir -p "$build/fuzz-artifacts"
status=0
for source in "$root"/fuzz/fuzz_*.cpp; do
  target=$(basename "$source" .cpp | sed 's/^fuzz_//')
  work="$build/fuzz-work/$target"
  log="$build/fuzz-work/$target.log"
  mkdir -p "$work"
  if "$build/fuzz/fuzz_$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 -malloc_limit_mb=400 \
      -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$target-" \
      "$work" "$root/fuzz/corpus/$target" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "fuzz_$target: ok, $runs executions in ${seconds} s"
  else
    status=1
    echo "fuzz_$target: FAILED (log: $log)"
    grep -E "ERROR|SUMMARY|runtime error|Test unit written" "$log" | head -20
  fi
done
exit $status
