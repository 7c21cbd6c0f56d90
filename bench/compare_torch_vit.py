#!/usr/bin/python3
"""ViT training throughput: qkv vs PyTorch on the same architecture, in the same run.

Runs `qkv bench vit --json` (data-parallel C++ training step: forward, cross-entropy, backward,
clipping, AdamW), then trains the same model in PyTorch (torch.set_num_threads(threads),
nn.MultiheadAttention, AdamW, clip_grad_norm_) for the same number of steps on random images,
and prints both images/s and the ratio.

OpenBLAS in Debian does not recognise recent CPUs and falls back to slow kernels; like the
figures in notes/machine.md, PyTorch runs with OPENBLAS_CORETYPE=SKYLAKEX unless
--no-openblas-override is given (set before torch is imported).

The default architecture is qkv's default ViT (patch 7, width 64, depth 6, 4 heads, MLP 128);
--patch 4 gives the model of the PyTorch figure in notes/machine.md (about 270 images/s).

Usage: /usr/bin/python3 bench/compare_torch_vit.py [--qkv build/qkv] [--steps 20] [--threads 2] [--patch 4]
"""
import argparse
import json
import os
import subprocess
import sys
import time

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--qkv", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "qkv"))
ap.add_argument("--steps", type=int, default=20)
ap.add_argument("--warmup", type=int, default=3)
ap.add_argument("--batch", type=int, default=128)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--patch", type=int, default=7)
ap.add_argument("--dim", type=int, default=64)
ap.add_argument("--depth", type=int, default=6)
ap.add_argument("--heads", type=int, default=4)
ap.add_argument("--mlp-hidden", type=int, default=128)
ap.add_argument("--no-openblas-override", action="store_true")
args = ap.parse_args()

if not args.no_openblas_override:
    os.environ.setdefault("OPENBLAS_CORETYPE", "SKYLAKEX")

import torch  # noqa: E402
from torch import nn  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))
from torch_vit import TorchViT  # noqa: E402  (the same model as the parity tests)


def bench_qkv():
    cmd = [args.qkv, "--threads", str(args.threads), "bench", "vit", "--json", "--steps", str(args.steps),
           "--warmup", str(args.warmup), "--batch", str(args.batch), "--patch", str(args.patch), "--dim",
           str(args.dim), "--depth", str(args.depth), "--heads", str(args.heads), "--mlp-hidden",
           str(args.mlp_hidden)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["images_per_second"]


def bench_torch():
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = TorchViT(dict(image_size=28, channels=1, patch=args.patch, dim=args.dim, depth=args.depth,
                          heads=args.heads, mlp_hidden=args.mlp_hidden, classes=10))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    x = torch.randn(args.batch, 1, 28, 28)
    y = torch.randint(0, 10, (args.batch,))
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    for _ in range(args.warmup):
        step()
    t = time.perf_counter()
    for _ in range(args.steps):
        step()
    return args.batch * args.steps / (time.perf_counter() - t)


def main():
    arch = (f"patch {args.patch}, width {args.dim}, depth {args.depth}, {args.heads} heads, MLP {args.mlp_hidden}, "
            f"batch {args.batch}, {args.threads} threads, {args.steps} timed steps")
    print(f"ViT training throughput ({arch})")
    q = bench_qkv()
    print(f"  qkv:            {q:8.0f} images/s")
    t = bench_torch()
    blas = os.environ.get("OPENBLAS_CORETYPE", "default")
    print(f"  PyTorch {torch.__version__}: {t:8.0f} images/s (OPENBLAS_CORETYPE={blas})")
    print(f"  ratio qkv / PyTorch: {q / t:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
