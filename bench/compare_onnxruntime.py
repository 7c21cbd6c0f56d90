#!/usr/bin/python3
"""qkv's fused attention forward against ONNX Runtime 1.30 on the CPU, the same shapes, in one run.

Per row (B = 1, H = max(1, 8192 / N) heads of width d, as `qkv bench attention`), float32:
  qkv   qkv.scaled_dot_product_attention through the Python module (q, k, v of shape (B, H, N, d));
  ORT   two models written with Debian's python3-onnx and run by onnxruntime-node (npm) on the CPU
        execution provider: `mha`, com.microsoft.MultiHeadAttention (q, k, v as (B, N, H·d),
        num_heads H, scale 1/sqrt(d), unidirectional = causal), and `attention`, ONNX Attention
        of opset 23 (q, k, v as (B, H, N, d), is_causal). python3-onnx 1.12 predates opset 23, so
        the nodes are written with onnx.helper without the checker; ORT validates them on load.
Both with 2 threads (--threads), each the best of --reps runs after a warm-up, rows alternating
qkv and ORT so a disturbance on a shared machine hurts both alike. Prints GFLOP/s of both and
qkv / ORT per row (forward = 4·B·H·N²·d, halved when causal), and checks that ORT's output
matches qkv's (max |difference|).

Needs: /usr/bin/python3 with numpy and python3-onnx (Debian), the qkv module built
(PYTHONPATH=build/python), Node.js + npm (Debian's nodejs, npm) and onnxruntime-node 1.30.0 in
a cache folder outside the repository (default ~/.cache/qkv-bench/ort). Without it the script
prints the command that installs it; --install runs that command:

    mkdir -p ~/.cache/qkv-bench/ort && cd ~/.cache/qkv-bench/ort && \\
        npm install --ignore-scripts onnxruntime-node@1.30.0

    PYTHONPATH=build/python /usr/bin/python3 bench/compare_onnxruntime.py [--n 256 1024 4096] [--d 64 128]
        [--causal both|yes|no] [--ops mha attention] [--threads 2] [--reps 5] [--install] [--json FILE]
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

from timing import best_seconds  # bench/timing.py, beside this script

ORT_VERSION = "1.30.0"
HERE = os.path.dirname(os.path.abspath(__file__))


def install_command(ort_dir: str) -> str:
    return (f"mkdir -p {ort_dir} && cd {ort_dir} && "
            f"npm install --ignore-scripts onnxruntime-node@{ORT_VERSION}")


def ensure_ort(ort_dir: str, install: bool) -> str:
    """The installed onnxruntime-node version; installs it with --install, else exits with the command."""
    pkg = os.path.join(ort_dir, "node_modules", "onnxruntime-node", "package.json")
    if not os.path.isfile(pkg):
        if not install:
            sys.exit(f"compare_onnxruntime: onnxruntime-node is not installed in {ort_dir}; install it with\n"
                     f"  {install_command(ort_dir)}\nor run this script with --install")
        if shutil.which("npm") is None:
            sys.exit("compare_onnxruntime: npm is not on PATH; install Debian's nodejs and npm packages "
                     "(apt-get install nodejs npm)")
        os.makedirs(ort_dir, exist_ok=True)
        print(f"installing: {install_command(ort_dir)}", file=sys.stderr, flush=True)
        subprocess.run(["npm", "install", "--ignore-scripts", "--no-audit", "--no-fund",
                        f"onnxruntime-node@{ORT_VERSION}"], cwd=ort_dir, check=True)
    with open(pkg) as f:
        version = json.load(f)["version"]
    if version != ORT_VERSION:
        print(f"warning: onnxruntime-node {version} in {ort_dir}, expected {ORT_VERSION}", file=sys.stderr)
    return version


def write_model(op: str, B: int, H: int, N: int, d: int, causal: bool, path: str) -> list:
    """Writes the model; returns its inputs as (name, shape)."""
    import onnx
    from onnx import TensorProto, helper

    scale = 1.0 / math.sqrt(d)
    if op == "mha":
        shape = [B, N, H * d]
        node = helper.make_node("MultiHeadAttention", ["query", "key", "value"], ["output"], domain="com.microsoft",
                                num_heads=H, scale=scale, unidirectional=int(causal))
        names = ["query", "key", "value"]
        opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    else:
        shape = [B, H, N, d]
        node = helper.make_node("Attention", ["Q", "K", "V"], ["Y"], is_causal=int(causal), scale=scale)
        names = ["Q", "K", "V"]
        opsets = [helper.make_opsetid("", 23)]
    graph = helper.make_graph(
        [node], f"qkv_bench_{op}",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n in names],
        [helper.make_tensor_value_info(node.output[0], TensorProto.FLOAT, shape)])
    model = helper.make_model(graph, opset_imports=opsets, producer_name="qkv bench/compare_onnxruntime.py")
    model.ir_version = 10  # opset 23 needs IR >= 10; python3-onnx 1.12 would write 8
    onnx.save(model, path)
    return [(n, shape) for n in names]


def time_ort(ort_dir: str, model: str, inputs: list, arrays: list, threads: int, reps: int, tmp: str):
    specs = []
    for (name, shape), a in zip(inputs, arrays):
        f = os.path.join(tmp, f"{name}.bin")
        np.ascontiguousarray(a, dtype="<f4").tofile(f)
        specs.append(f"{name}={'x'.join(map(str, shape))}={f}")
    out_bin = os.path.join(tmp, "out.bin")
    cmd = ["node", os.path.join(HERE, "ort_time.js"), ort_dir, model, str(threads), str(reps), out_bin, *specs]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"compare_onnxruntime: ONNX Runtime failed on {os.path.basename(model)}:\n{done.stderr.strip()}")
    ms = json.loads(done.stdout.strip().splitlines()[-1])["best_ms"]
    return ms / 1e3, np.fromfile(out_bin, dtype="<f4")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", default=[256, 512, 1024, 2048, 4096], help="sequence lengths")
    parser.add_argument("--d", type=int, nargs="+", default=[64, 128], help="head dims")
    parser.add_argument("--causal", choices=["both", "yes", "no"], default="both")
    parser.add_argument("--ops", nargs="+", choices=["mha", "attention"], default=["mha", "attention"],
                        help="ORT models: com.microsoft.MultiHeadAttention and/or ONNX Attention (opset 23)")
    parser.add_argument("--threads", type=int, default=2, help="threads of both (default 2)")
    parser.add_argument("--reps", type=int, default=5, help="timed runs per row after a warm-up; the best counts")
    parser.add_argument("--ort-dir", default=os.path.expanduser("~/.cache/qkv-bench/ort"),
                        help="folder with node_modules/onnxruntime-node (default ~/.cache/qkv-bench/ort)")
    parser.add_argument("--install", action="store_true", help="install onnxruntime-node there with npm if missing")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args()
    for name in ("threads", "reps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} is {getattr(args, name)}; expected >= 1")
    for n in args.n + args.d:
        if n < 1:
            parser.error(f"--n and --d take positive integers; got {n}")
    if shutil.which("node") is None:
        sys.exit("compare_onnxruntime: node is not on PATH; install Debian's nodejs and npm packages "
                 "(scripts/setup.sh --bench installs them)")
    try:
        import qkv
    except ImportError as e:
        sys.exit(f"compare_onnxruntime: cannot import qkv ({e}); run with PYTHONPATH=build/python")
    try:
        import onnx  # noqa: F401 (write_model uses it)
    except ImportError as e:
        sys.exit(f"compare_onnxruntime: cannot import onnx ({e}); install Debian's python3-onnx "
                 "(scripts/setup.sh --bench installs it)")
    version = ensure_ort(args.ort_dir, args.install)
    qkv.set_num_threads(args.threads)
    causals = {"both": [False, True], "yes": [True], "no": [False]}[args.causal]
    print(f"qkv (Python module, {qkv.get_num_threads()} threads) vs ONNX Runtime {version} "
          f"(onnxruntime-node, CPU, {args.threads} intra-op threads); float32 forward, best of {args.reps}")
    print(f"{'op':>9} {'B':>2} {'H':>4} {'N':>5} {'d':>4} {'causal':>6} | {'qkv ms':>8} {'GFLOP/s':>8} | "
          f"{'ORT ms':>8} {'GFLOP/s':>8} | {'qkv/ORT':>7} | {'max|diff|':>9}")
    ratios, rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for d in args.d:
            for n in args.n:
                for causal in causals:
                    B, H = 1, max(1, 8192 // n)
                    rng = np.random.default_rng(n * 131 + d)
                    q, k, v = (rng.standard_normal((B, H, n, d), dtype=np.float32) for _ in range(3))
                    flops = 4.0 * B * H * n * n * d * (0.5 if causal else 1.0)
                    for op in args.ops:
                        model = os.path.join(tmp, f"{op}.onnx")
                        inputs = write_model(op, B, H, n, d, causal, model)
                        if op == "mha":
                            arrays = [x.transpose(0, 2, 1, 3).reshape(B, n, H * d) for x in (q, k, v)]
                        else:
                            arrays = [q, k, v]
                        out = None

                        def run_qkv():
                            nonlocal out
                            out = qkv.scaled_dot_product_attention(q, k, v, is_causal=causal)

                        t_qkv = best_seconds(run_qkv, args.reps)
                        t_ort, got = time_ort(args.ort_dir, model, inputs, arrays, args.threads, args.reps, tmp)
                        want = out.transpose(0, 2, 1, 3).reshape(-1) if op == "mha" else out.reshape(-1)
                        diff = float(np.max(np.abs(got - want)))
                        g_qkv, g_ort = flops / t_qkv / 1e9, flops / t_ort / 1e9
                        ratios.append(g_qkv / g_ort)
                        rows.append({"op": op, "B": B, "H": H, "N": n, "d": d, "causal": causal, "qkv_ms": t_qkv * 1e3,
                                     "qkv_gflops": g_qkv, "ort_ms": t_ort * 1e3, "ort_gflops": g_ort,
                                     "qkv_over_ort": g_qkv / g_ort, "max_abs_diff": diff})
                        print(f"{op:>9} {B:2d} {H:4d} {n:5d} {d:4d} {'yes' if causal else 'no':>6} | "
                              f"{t_qkv * 1e3:8.3f} {g_qkv:8.1f} | {t_ort * 1e3:8.3f} {g_ort:8.1f} | "
                              f"{g_qkv / g_ort:6.2f}x | {diff:9.2e}", flush=True)
                        if not diff < 1e-3:
                            sys.exit(f"compare_onnxruntime: ORT's output differs from qkv's by {diff} ({op}, N {n}, "
                                     f"d {d}, causal {causal}); the models do not compute the same attention")
    ratios.sort()
    print(f"qkv / ORT over {len(ratios)} rows: min {ratios[0]:.2f}x, median {ratios[len(ratios) // 2]:.2f}x, "
          f"max {ratios[-1]:.2f}x; rows below 2x: {sum(r < 2 for r in ratios)}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"ort_version": version, "threads": args.threads, "reps": args.reps, "rows": rows}, f, indent=2)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
