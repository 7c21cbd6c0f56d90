#!/usr/bin/env bash
# Heap allocations per ViT training step in steady state: runs `qkv bench vit` for S and S + 10
# timed steps under an LD_PRELOAD malloc counter and prints the difference / 10.
#   bench/count_allocations.sh [path/to/qkv] [bench vit options...]
set -euo pipefail
qkv=${1:-build/qkv}
shift || true
here=$(cd "$(dirname "$0")" && pwd)
lib=$(mktemp -d)/malloc_count.so
cc -O2 -shared -fPIC -o "$lib" "$here/malloc_count.c"
count() {
  local steps=$1
  shift
  LD_PRELOAD="$lib" "$qkv" bench vit --steps "$steps" --warmup 2 "$@" 2>&1 >/dev/null | sed -n 's/^mallocs=\([0-9]*\) bytes=\([0-9]*\)$/\1 \2/p' | tail -1
}
read -r m5 b5 < <(count 5 "$@")
read -r m15 b15 < <(count 15 "$@")
echo "allocations per training step: $(( (m15 - m5) / 10 )) ($(( (b15 - b5) / 10 )) bytes)"
