#!/usr/bin/python3
"""qkv's fused attention against PyTorch 1.13 on the same sweep, in the same run.

Runs `qkv bench attention --json` (arguments after the options below are passed through, e.g.
--quick, --n 512 1024, --d 64, --causal no), then times PyTorch on every row of that sweep:
materialised softmax(Q Kᵀ·scale [+ causal mask]) V, forward, and forward + backward through
autograd, float32, torch.set_num_threads(2) (or --threads). Prints per row the GFLOP/s of both
and the ratio qkv / PyTorch (forward = 4·B·H·N²·d, halved when causal; backward = 2.5× forward).

PyTorch here is Debian's python3-torch 1.13 (run with /usr/bin/python3). Its float32 matmul goes
through the system BLAS (libblas.so.3). Check which one with `ldd` on torch/lib/libtorch_cpu.so
and `update-alternatives --display libblas.so.3-x86_64-linux-gnu`: when it is the reference BLAS
(netlib) rather than OpenBLAS, no environment variable makes it faster (OPENBLAS_CORETYPE only
concerns OpenBLAS), and the script says so in its output.

    /usr/bin/python3 bench/compare_torch.py --qkv build/qkv [--torch-reps 1] [bench options...]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch

from timing import best_seconds  # bench/timing.py, beside this script


def blas_in_use():
    """The BLAS library libtorch_cpu.so loads, as the dynamic loader resolves it."""
    lib = os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so")
    try:
        out = subprocess.run(["ldd", lib], capture_output=True, text=True, check=False).stdout
    except OSError:
        return "unknown"
    for line in out.splitlines():
        if "libblas" in line or "openblas" in line or "mkl" in line:
            path = line.split("=>")[-1].split("(")[0].strip()
            return os.path.realpath(path) if path else line.strip()
    return "none found by ldd"


def attention(q, k, v, causal):
    s = (q @ k.transpose(-1, -2)) * (q.shape[-1] ** -0.5)
    if causal:
        n = s.shape[-1]
        mask = torch.ones(n, n, dtype=torch.bool).triu(1)
        s = s.masked_fill(mask, float("-inf"))
    return torch.softmax(s, dim=-1) @ v


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--qkv", default=os.path.join(os.path.dirname(__file__), "..", "build", "qkv"),
                    help="path of the qkv executable (default build/qkv)")
    ap.add_argument("--threads", type=int, default=2, help="threads for both (default 2)")
    ap.add_argument("--torch-reps", type=int, default=1, help="timed PyTorch repetitions per row after a warm-up")
    ap.add_argument("--json", help="write qkv's and PyTorch's figures and the ratios to this file")
    args, passthrough = ap.parse_known_args()

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        qkv_json = os.path.join(tmp, "qkv.json")
        cmd = [args.qkv, "--threads", str(args.threads), "bench", "attention", "--no-memory", "--json", qkv_json]
        cmd += passthrough
        print("running:", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
        with open(qkv_json) as f:
            qkv = json.load(f)

    print(f"\nPyTorch {torch.__version__}, {torch.get_num_threads()} threads, BLAS: {blas_in_use()}", flush=True)
    print(f"{'B':>3} {'H':>4} {'N':>5} {'d':>4} {'causal':>6} | {'qkv fwd':>8} {'torch':>7} {'ratio':>7} | "
          f"{'qkv f+b':>8} {'torch':>7} {'ratio':>7}   (GFLOP/s)", flush=True)
    rows = []
    for r in qkv["rows"]:
        B, H, N, d, causal = r["B"], r["H"], r["N"], r["d"], r["causal"]
        g = torch.Generator().manual_seed(N * 131 + d)
        q, k, v = (torch.randn(B, H, N, d, generator=g) for _ in range(3))
        flops = 4.0 * B * H * N * N * d * (0.5 if causal else 1.0)
        with torch.no_grad():
            t_fwd = best_seconds(lambda: attention(q, k, v, causal), args.torch_reps)
        qg, kg, vg = (t.clone().requires_grad_(True) for t in (q, k, v))
        dout = torch.randn(B, H, N, d, generator=g)

        def fwd_bwd():
            out = attention(qg, kg, vg, causal)
            out.backward(dout)

        t_fb = best_seconds(fwd_bwd, args.torch_reps)
        tf, tfb = flops / t_fwd / 1e9, 3.5 * flops / t_fb / 1e9
        qf, qfb = r["fwd_gflops"], r["fwdbwd_gflops"]
        row = dict(B=B, H=H, N=N, d=d, causal=causal, qkv_fwd_gflops=qf, torch_fwd_gflops=tf, fwd_ratio=qf / tf,
                   qkv_fwdbwd_gflops=qfb, torch_fwdbwd_gflops=tfb, fwdbwd_ratio=qfb / tfb if qfb else 0.0)
        rows.append(row)
        print(f"{B:>3} {H:>4} {N:>5} {d:>4} {'yes' if causal else 'no':>6} | {qf:8.1f} {tf:7.2f} {qf / tf:6.1f}x | "
              f"{qfb:8.1f} {tfb:7.2f} {row['fwdbwd_ratio']:6.1f}x", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"qkv": qkv, "torch": {"version": torch.__version__, "threads": torch.get_num_threads(),
                                             "blas": blas_in_use()}, "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
