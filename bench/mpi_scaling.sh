#!/usr/bin/env bash
# The README's MPI scaling table (issue 14), measured in one run on this machine:
#   1. `qkv train` of the default ViT, 1 process x 2 threads: training images/s
#   2. the same under `mpirun -np 2`, 2 ranks x 1 thread: images/s and rank 0's allreduce time
#   3. `mpirun -np 2 qkv bench allreduce`: one allreduce of the ViT's gradient and of one float
# then a paper estimate for 8 and 64 machines (ring allreduce: 2(p-1)/p of the gradient through
# each link, 2(p-1) latencies), each machine doing what this one does with 2 threads on a batch of
# 128 per machine, with the link as fast as this machine's shared memory (measured) and as 10 Gb/s
# Ethernet (assumed: 1.25 GB/s, 25 us per message).
#
#   bench/mpi_scaling.sh [QKV_CLI] [IMAGES]      defaults: build/qkv, 12800 training images (100 steps)
set -euo pipefail
QKV=${1:-build/qkv}
IMAGES=${2:-12800}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
as_root=()
[ "$(id -u)" -eq 0 ] && as_root=(--allow-run-as-root)
mpirun_2=(mpirun -np 2 --oversubscribe --bind-to none "${as_root[@]}")
train=(train --no-progress --epochs 1 --limit-train "$IMAGES" --limit-test 256)

echo "1 process x 2 threads ..." >&2
"$QKV" --threads 2 "${train[@]}" --out "$work/threads" >/dev/null
echo "2 ranks x 1 thread ..." >&2
"${mpirun_2[@]}" "$QKV" --threads 1 "${train[@]}" --out "$work/ranks" >/dev/null
echo "allreduce ..." >&2
"${mpirun_2[@]}" "$QKV" --threads 1 bench allreduce --json >"$work/allreduce.json"

/usr/bin/python3 - "$work" "$IMAGES" <<'EOF'
import json, sys
work, images = sys.argv[1], int(sys.argv[2])
def metrics(run):
    with open(f"{work}/{run}/metrics.jsonl") as f:
        return json.loads(f.read().splitlines()[-1])
threads, ranks = metrics("threads"), metrics("ranks")
ar = json.load(open(f"{work}/allreduce.json"))
steps = images // 128
t_grad, t_one, nbytes = ar["gradient_seconds"], ar["one_float_seconds"], ar["bytes"]
print(f"default ViT, batch 128, {steps} steps; gradient {ar['floats']} floats ({nbytes / 1e6:.2f} MB)\n")
print("| run | images/s | allreduce per step |")
print("|---|---|---|")
print(f"| 1 process x 2 threads | {threads['images_per_second']:.0f} | - |")
per_step = ranks["allreduce_seconds"] / steps
print(f"| 2 ranks x 1 thread (mpirun -np 2) | {ranks['images_per_second']:.0f} "
      f"({ranks['images_per_second'] / threads['images_per_second']:.2f}x) | {per_step * 1e3:.2f} ms in training; "
      f"{t_grad * 1e3:.3f} ms alone, {t_one * 1e3:.3f} ms for one float |")

X = threads["images_per_second"]   # one machine = this machine with 2 threads
compute = 128 / X                  # seconds per step of 128 images on one machine
print(f"\npaper estimate: each machine {X:.0f} images/s (a step of 128 images: {compute * 1e3:.1f} ms), "
      "global batch 128 x machines, no overlap of allreduce and backward\n")
print("| machines | link | allreduce per step | communication share of a step | images/s | speed-up over 1 machine |")
print("|---|---|---|---|---|---|")
links = {"shared memory, as measured here": (t_grad - t_one, t_one / 2),
         "10 Gb/s Ethernet (assumed 1.25 GB/s, 25 us)": (nbytes / 1.25e9, 25e-6)}
for p in (8, 64):
    for name, (bandwidth_time, latency) in links.items():
        t = 2 * (p - 1) / p * max(bandwidth_time, 0) + 2 * (p - 1) * latency
        step = compute + t
        print(f"| {p} | {name} | {t * 1e3:.2f} ms | {100 * t / step:.1f}% | {p * 128 / step:.0f} | {p * compute / step:.1f}x |")
EOF
