#!/usr/bin/python3
"""The README's performance table from one run: `qkv bench attention` and ONNX Runtime, one command.

Runs `QKV bench attention --no-memory --json` over the sweep (float32 forward and backward, bf16
forward and backward, the FMA-loop, vdpbf16ps-loop and oneDNN peaks and the memory bandwidth,
all measured in that run), then bench/compare_onnxruntime.py on the same rows (qkv through the
Python module vs ONNX Runtime, forward, best of its two models per row), and prints the peaks
and one Markdown table: GFLOP/s, % of the FMA loop (bf16: of the vdpbf16ps loop), % of oneDNN's
product, bf16 / float32, and qkv / ORT.

    PYTHONPATH=build/python /usr/bin/python3 bench/performance_table.py --qkv build/qkv \\
        [--n 17 50 256 1024 2048 4096] [--d 64 128] [--causal both] [--reps 5] [--no-ort] [--cpu-time]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd: list) -> None:
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    done = subprocess.run(cmd, stdout=sys.stderr)
    if done.returncode != 0:
        sys.exit(f"performance_table: {' '.join(cmd)} failed ({done.returncode})")


def pct(x):
    return "n/a" if x is None else f"{100 * x:.0f}%"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--qkv", default="build/qkv", help="the qkv binary (default build/qkv)")
    parser.add_argument("--n", type=int, nargs="+", default=[17, 50, 256, 1024, 2048, 4096])
    parser.add_argument("--d", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--causal", choices=["both", "yes", "no"], default="both")
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions per row (best counts)")
    parser.add_argument("--no-ort", action="store_true", help="leave out ONNX Runtime")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time qkv bench attention (rows and peaks) by process CPU time / threads, for a machine "
                             "shared with other jobs (set OMP_WAIT_POLICY=passive); ORT stays on wall clock")
    args = parser.parse_args()
    if not (os.path.isfile(args.qkv) and os.access(args.qkv, os.X_OK)):
        parser.error(f"--qkv '{args.qkv}' is not an executable file")
    sweep = ["--n", *map(str, args.n), "--d", *map(str, args.d), "--causal", args.causal]
    with tempfile.TemporaryDirectory() as tmp:
        bench_json, ort_json = os.path.join(tmp, "bench.json"), os.path.join(tmp, "ort.json")
        run([args.qkv, "bench", "attention", "--no-memory", "--reps", str(args.reps), "--json", bench_json, *sweep,
             *(["--cpu-time"] if args.cpu_time else [])])
        with open(bench_json) as f:
            bench = json.load(f)
        ort = {}
        if not args.no_ort:
            run([sys.executable, os.path.join(HERE, "compare_onnxruntime.py"), "--reps", str(args.reps), "--json",
                 ort_json, *sweep])
            with open(ort_json) as f:
                for r in json.load(f)["rows"]:
                    key = (r["H"], r["N"], r["d"], r["causal"])
                    if key not in ort or r["ort_gflops"] > ort[key]["ort_gflops"]:
                        ort[key] = r
    dot = bench.get("peak_bf16_loop_gflops")
    print(f"Peaks in this run ({bench['threads']} threads, {bench['simd_target']}): FMA loop "
          f"{bench['peak_fma_loop_gflops']:.0f} GFLOP/s, vdpbf16ps loop {'n/a' if dot is None else f'{dot:.0f}'} "
          f"GFLOP/s, oneDNN 2048³ float32 {bench['peak_f32_gflops']:.0f} / bf16 {bench['peak_bf16_gflops']:.0f} "
          f"GFLOP/s; memory read {bench.get('bandwidth_read_gbs', 0):.1f} GB/s, copy "
          f"{bench.get('bandwidth_copy_gbs', 0):.1f} GB/s.\n")
    print("| H | N | d | causal | fwd GFLOP/s | % FMA loop | % oneDNN | bwd GFLOP/s | % FMA loop | bf16 fwd GFLOP/s "
          "| % bf16 loop | × f32 | bf16 bwd GFLOP/s | × f32 bwd | ORT fwd GFLOP/s | qkv fwd (Python) | × ORT |")
    print("|" + "---|" * 17)
    for r in bench["rows"]:
        o = ort.get((r["H"], r["N"], r["d"], r["causal"]))
        ort_cells = (f"{o['ort_gflops']:.1f} ({o['op']}) | {o['qkv_gflops']:.1f} | {o['qkv_over_ort']:.2f}×" if o
                     else "– | – | –")
        print(f"| {r['H']} | {r['N']} | {r['d']} | {'yes' if r['causal'] else 'no'} | {r['fwd_gflops']:.1f} | "
              f"{pct(r.get('fwd_frac_fma'))} | {pct(r['fwd_frac_peak'])} | {r['bwd_gflops']:.1f} | "
              f"{pct(r.get('bwd_frac_fma'))} | {r['bf16_fwd_gflops']:.1f} | {pct(r.get('bf16_fwd_frac_bf16_loop'))} | "
              f"{r['bf16_over_f32']:.2f}× | {r.get('bf16_bwd_gflops', 0):.1f} | {r.get('bf16_bwd_over_f32', 0):.2f}× | "
              f"{ort_cells} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
