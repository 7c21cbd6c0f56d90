#!/usr/bin/env python3
"""Before/after figures of `qkv bench attention` for two builds, measured in one run.

Runs the two binaries alternately (before, after, after, before, …) with the same arguments and
keeps, per row and figure, the best of the rounds, so a disturbance on this shared machine hurts
both sides alike. Prints each row's GFLOP/s for both builds and after/before.

  bench/compare_builds.py --before OLD/qkv --after build/qkv [--rounds 3] [-- bench options]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

FIGURES = [("fwd_gflops", "fwd"), ("bwd_gflops", "bwd"), ("bf16_fwd_gflops", "bf16 fwd"),
           ("bf16_bwd_gflops", "bf16 bwd")]


def run_once(binary: str, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "bench.json")
        cmd = [binary, "bench", "attention", "--no-memory", "--json", out, *extra]
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if done.returncode != 0:
            sys.exit(f"compare_builds: {' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}")
        with open(out) as f:
            return json.load(f)


def key(row: dict) -> tuple:
    return (row["B"], row["H"], row["N"], row["d"], row["causal"])


def merge_best(best: dict, result: dict) -> None:
    for row in result["rows"]:
        slot = best.setdefault(key(row), {})
        for name, _ in FIGURES:
            if row.get(name) is not None:
                slot[name] = max(slot.get(name, 0.0), row[name])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, help="the build before the change (a qkv binary)")
    parser.add_argument("--after", required=True, help="the build after the change (a qkv binary)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs of each binary (default 3)")
    parser.add_argument("bench_args", nargs=argparse.REMAINDER, help="-- then options of `qkv bench attention`")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds is {args.rounds}; expected >= 1")
    for name in ("before", "after"):
        path = getattr(args, name)
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            parser.error(f"--{name} '{path}' is not an executable file")
    extra = [a for a in args.bench_args if a != "--"]
    best = {"before": {}, "after": {}}
    for r in range(args.rounds):
        # Each build goes first in every other round, so neither always runs on a fresher machine.
        for name in ("before", "after") if r % 2 == 0 else ("after", "before"):
            print(f"round {r + 1}/{args.rounds}: {name}", file=sys.stderr, flush=True)
            merge_best(best[name], run_once(getattr(args, name), extra))
    header = "  H     N    d causal |" + "|".join(f" {label:>8} before   after  ratio " for _, label in FIGURES)
    print(f"best of {args.rounds} alternating rounds; GFLOP/s; ratio = after / before")
    print(header)
    ratios = []
    for k in sorted(best["before"], key=lambda k: (k[3], k[2], k[4])):
        b, a = best["before"][k], best["after"].get(k, {})
        cells = []
        for name, _ in FIGURES:
            if name in b and name in a and b[name] > 0:
                ratio = a[name] / b[name]
                ratios.append(ratio)
                cells.append(f" {'':>8} {b[name]:6.1f}  {a[name]:6.1f}  {ratio:5.2f}x ")
            else:
                cells.append(f" {'':>8} {'-':>6}  {'-':>6}  {'-':>6} ")
        print(f"{k[1]:3d} {k[2]:5d} {k[3]:4d} {'yes' if k[4] else 'no':>6} |" + "|".join(cells))
    if ratios:
        ratios.sort()
        print(f"after/before over {len(ratios)} figures: min {ratios[0]:.3f}x, median {ratios[len(ratios) // 2]:.3f}x, "
              f"max {ratios[-1]:.3f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
