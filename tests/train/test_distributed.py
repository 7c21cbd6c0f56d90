#!/usr/bin/env python3
"""Data-parallel training across MPI ranks (train/distributed.h, issue 14), end to end with
`mpirun -np R build/qkv train` on the tiny Fashion-MNIST fixture.

  tests/train/test_distributed.py --cli build/qkv --mpirun mpirun --case CASE [--work DIR]

Cases (one ctest entry each):
  same_as_one_process  2 ranks x 1 thread against 1 process x 1 thread on the same global batch:
                       every step's loss within 1e-5 relative over 20 steps, the final weights
                       within 1e-5 (but the key bias: see without_key_bias); with dropout, against 1 process x 2 threads (the same shards,
                       masks and sums): the same losses and weights bit for bit
  deterministic        2 ranks twice: the same losses and weights bit for bit
  resume_any_n         2 ranks stopped after 10 steps, resumed by 1 process (and the other way):
                       the uninterrupted run's weights within 1e-5
  bad_combinations     batch not a multiple of the ranks, ranks > batch: clear errors, no hang
  failed_rank          rank 0 fails (--resume without a checkpoint) while rank 1 waits in a
                       broadcast; a rank killed with SIGKILL mid-run: the job ends with a message
                       within the timeout instead of hanging
Each run uses 1-step epochs (batch 16 of 16 images), so metrics.jsonl holds every step's loss.
"""
import argparse
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / "fixtures" / "fashion-mnist-tiny"
STEPS = 20
TRAIN = ["train", "--data", str(DATA), "--no-progress", "--epochs", str(STEPS), "--dim", "16", "--depth", "1",
         "--heads", "2", "--mlp-hidden", "32", "--batch-size", "16", "--limit-train", "16", "--limit-test", "50",
         "--crop-pad", "1", "--erase", "0.5", "--seed", "5", "--warmup-epochs", "2"]
DROPOUT = ["--dropout", "0.1", "--attn-dropout", "0.1"]  # masks drawn per worker: G workers anywhere, the same masks
TIMEOUT = 60  # seconds for any one run; a hang fails the test instead of stalling ctest


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def mpirun_args(args, ranks):
    extra = ["--allow-run-as-root"] if os.geteuid() == 0 else []
    return [args.mpirun, "-np", str(ranks), "--oversubscribe", "--bind-to", "none", *extra]


def run(args, ranks, threads, out, *more, expect_ok=True, batch=16):
    train = list(TRAIN)
    train[train.index("--batch-size") + 1] = str(batch)
    cmd = [args.cli, "--threads", str(threads), *train, "--out", str(out), *more]
    if ranks > 0:
        cmd = mpirun_args(args, ranks) + cmd
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        fail(f"no result after {TIMEOUT} s (a hang): {' '.join(cmd)}")
    print(f"{' '.join(cmd)}\n  -> exit {p.returncode} in {time.monotonic() - t0:.1f} s", flush=True)
    if expect_ok and p.returncode != 0:
        fail(f"exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return p


def losses(out):
    lines = [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines()]
    return np.array([m["train_loss"] for m in lines]), np.array([m["test_loss"] for m in lines])


def weights(out):
    raw = (Path(out) / "model.safetensors").read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    body = raw[8 + n:]
    return {k: np.frombuffer(body[v["data_offsets"][0]:v["data_offsets"][1]], dtype=np.float32)
            for k, v in sorted(header.items())}


def check_close(what, a, b, rtol):
    err = np.max(np.abs(a - b) / np.maximum(np.abs(b), 1.0))
    print(f"  {what}: max relative difference {err:.3g} (limit {rtol:g})", flush=True)
    if not err <= rtol:
        fail(f"{what}: {err:.3g} > {rtol:g}\n  {a}\n  {b}")


def without_key_bias(w):
    """The key projection's bias has a zero gradient in exact arithmetic (softmax ignores a shift of
    all of a row's scores), so AdamW, which divides by the gradient's scale, turns its rounding
    noise into steps of about lr whose sign depends on the summation order: it is left out of the
    comparisons across summation orders (the losses show it changes nothing)."""
    out = dict(w)
    for k, v in w.items():
        if k.endswith("attn.in_proj_bias"):
            e = v.size // 3
            out[k] = np.concatenate([v[:e], v[2 * e:]])
    return out


def check_weights(what, a, b, tol):
    if a.keys() != b.keys():
        fail(f"{what}: different tensors {sorted(a)} vs {sorted(b)}")
    if tol > 0:
        a, b = without_key_bias(a), without_key_bias(b)
    err = max(float(np.max(np.abs(a[k] - b[k]) / np.maximum(np.abs(b[k]), 1.0))) for k in a)
    print(f"  {what}: max weight difference {err:.3g} (limit {tol:g})", flush=True)
    if not err <= tol:
        fail(f"{what}: weights differ by {err:.3g} > {tol:g}")


def case_same_as_one_process(args, work):
    run(args, 0, 1, work / "one")
    run(args, 2, 1, work / "two")
    (l1, t1), (l2, t2) = losses(work / "one"), losses(work / "two")
    if len(l1) != STEPS or len(l2) != STEPS:
        fail(f"expected {STEPS} steps, got {len(l1)} and {len(l2)}")
    check_close("train loss of each step, 2 ranks vs 1 process", l2, l1, 1e-5)
    check_close("test loss after each step, 2 ranks vs 1 process", t2, t1, 1e-5)
    check_weights("2 ranks vs 1 process", weights(work / "two"), weights(work / "one"), 1e-5)
    if l1[-1] >= l1[0]:
        fail(f"the loss did not go down in {STEPS} steps: {l1}")
    # With dropout, and against 1 process x 2 threads: the same shards, masks and sums.
    run(args, 2, 1, work / "two_dropout", *DROPOUT)
    run(args, 0, 2, work / "threads_dropout", *DROPOUT)
    (l2, t2), (lt, tt) = losses(work / "two_dropout"), losses(work / "threads_dropout")
    if not np.array_equal(l2, lt):
        fail(f"with dropout, 2 ranks x 1 thread and 1 process x 2 threads differ:\n  {l2}\n  {lt}")
    # The test loss: each rank's share of the per-batch float32 means, then summed over the ranks.
    check_close("with dropout, test loss, 2 ranks x 1 thread vs 1 process x 2 threads", t2, tt, 1e-7)
    check_weights("with dropout, 2 ranks x 1 thread vs 1 process x 2 threads", weights(work / "two_dropout"),
                  weights(work / "threads_dropout"), 0)


RECIPE = ["--mixup", "0.8", "--cutmix", "1.0", "--ema", "0.9", "--ema-warmup", "--tta-flip"]


def case_recipe_same_as_one_process(args, work):
    """Mixup/cutmix (each rank mixes its rows with partners it prepares itself), the EMA (updated on
    every rank from the synchronised weights) and test-time flip: 2 ranks x 1 thread equal 1 process
    x 2 threads bit for bit (the same shards and sums), and a run stopped on 2 ranks and resumed in
    1 process (the EMA broadcast from the checkpoint) ends with the uninterrupted run's EMA."""
    run(args, 2, 1, work / "two", *RECIPE)
    run(args, 0, 2, work / "threads", *RECIPE)
    (l2, t2), (lt, tt) = losses(work / "two"), losses(work / "threads")
    if not np.array_equal(l2, lt):
        fail(f"with mixing and EMA, 2 ranks x 1 thread and 1 process x 2 threads differ:\n  {l2}\n  {lt}")
    check_close("with mixing and EMA, test loss (EMA, flip), 2 ranks vs 1 process x 2 threads", t2, tt, 1e-7)
    check_weights("EMA model file, 2 ranks vs 1 process x 2 threads", weights(work / "two"), weights(work / "threads"), 0)
    out = work / "resumed"
    run(args, 2, 1, out, *RECIPE, "--stop-after", str(STEPS // 2))
    run(args, 0, 2, out, *RECIPE, "--resume")
    check_weights("EMA model file, stopped on 2 ranks and resumed in 1 process x 2 threads", weights(out),
                  weights(work / "threads"), 0)


def case_deterministic(args, work):
    run(args, 2, 1, work / "a")
    run(args, 2, 1, work / "b")
    if not np.array_equal(losses(work / "a")[0], losses(work / "b")[0]):
        fail("two runs with 2 ranks gave different losses")
    if (work / "a" / "model.safetensors").read_bytes() != (work / "b" / "model.safetensors").read_bytes():
        fail("two runs with 2 ranks gave different model files")
    print("  2 ranks twice: the same losses and model file bit for bit", flush=True)


def case_resume_any_n(args, work):
    run(args, 0, 1, work / "whole")
    whole = weights(work / "whole")
    for first, then, name in ((2, 0, "2 ranks then 1 process"), (0, 2, "1 process then 2 ranks")):
        out = work / name.replace(" ", "_")
        p = run(args, first, 1, out, "--stop-after", str(STEPS // 2))
        if "continue with --resume" not in p.stdout:
            fail(f"{name}: the first part did not stop early:\n{p.stdout}")
        run(args, then, 1, out, "--resume")
        check_weights(f"resumed ({name}) vs uninterrupted", weights(out), whole, 1e-5)
        if len(losses(out)[0]) != STEPS:
            fail(f"{name}: metrics.jsonl has {len(losses(out)[0])} lines; expected {STEPS}")


def case_bad_combinations(args, work):
    for ranks, batch, want in ((3, 16, "--batch-size 16 is not a multiple of the 3 MPI ranks"),
                               (3, 2, "--batch-size 2 is smaller than the 3 MPI ranks")):
        p = run(args, ranks, 1, work / f"bad{ranks}_{batch}", expect_ok=False, batch=batch)
        if p.returncode == 0 or want not in p.stderr:
            fail(f"expected an error containing {want!r}, got exit {p.returncode}:\n{p.stderr}")
        if p.stderr.count(want) != 1:
            fail(f"the error every rank meets should be printed once, by rank 0:\n{p.stderr}")
        print(f"  -np {ranks} --batch-size {batch}: {want}", flush=True)


def case_failed_rank(args, work):
    # Rank 0 cannot resume (no checkpoint); rank 1 waits for its state in a broadcast.
    p = run(args, 2, 1, work / "empty", "--resume", expect_ok=False)
    for want in ("checkpoint", "qkv: rank 0 of 2 failed; ending every rank of the job"):
        if p.returncode == 0 or want not in p.stderr:
            fail(f"failed resume: expected {want!r} and a non-zero exit, got {p.returncode}:\n{p.stderr}")
    print("  rank 0 failed while rank 1 waited: the job ended with its message", flush=True)

    # A rank killed mid-run: mpirun must end the job.
    cmd = mpirun_args(args, 2) + [args.cli, "--threads", "1", *TRAIN, "--out", str(work / "killed")]
    cmd[cmd.index("--epochs") + 1] = "100000"
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = work / "killed" / "metrics.jsonl"
    deadline = time.monotonic() + TIMEOUT
    while not (metrics.exists() and metrics.read_text().count("\n") >= 2):
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            fail(f"the run to kill did not start training: {proc.communicate()}")
        time.sleep(0.1)
    victim = None
    for pid in os.listdir("/proc"):
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            if (f"OMPI_COMM_WORLD_RANK=1".encode() in env and Path(f"/proc/{pid}/exe").resolve() ==
                    Path(args.cli).resolve() and str(work / "killed") in Path(f"/proc/{pid}/cmdline").read_text()):
                victim = int(pid)
        except (OSError, ValueError):
            continue
    if victim is None:
        proc.kill()
        fail("found no process of rank 1 to kill")
    t0 = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    try:
        _, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        fail(f"rank 1 was killed and the job still runs after {TIMEOUT} s (a hang)")
    print(f"  rank 1 killed: mpirun ended the job in {time.monotonic() - t0:.1f} s, exit {proc.returncode}",
          flush=True)
    if proc.returncode == 0 or "signal 9" not in err:
        fail(f"expected a non-zero exit and a message naming signal 9, got {proc.returncode}:\n{err}")


TRANSFORMER = ["transformer", "train", "--task", "dates", "--epochs", "2", "--train-size", "512", "--dev-size", "32",
               "--test-size", "32", "--batch", "64", "--eval-limit", "32", "--d-model", "16", "--heads", "2",
               "--ff", "32", "--encoder-layers", "1", "--decoder-layers", "1", "--warmup", "4", "--no-progress"]


def case_transformer_same_as_one_process(args, work):
    """The Transformer trains through the same trainer: 2 ranks x 1 thread against 1 process x 1
    and x 2 threads (its shards are weighted by their target tokens, summed over every worker)."""
    outs = {}
    for name, ranks, threads in (("one", 0, 1), ("threads", 0, 2), ("two", 2, 1)):
        out = work / name
        cmd = [args.cli, *TRANSFORMER, "--threads", str(threads), "--out", str(out)]
        if ranks > 0:
            cmd = mpirun_args(args, ranks) + cmd
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            fail(f"no result after {TIMEOUT} s (a hang): {' '.join(cmd)}")
        print(f"{' '.join(cmd)}\n  -> exit {p.returncode}", flush=True)
        if p.returncode != 0:
            fail(f"exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}")
        if p.stdout.count("exact match:") != 1:
            fail(f"expected one 'exact match:' line (rank 0 alone reports), got:\n{p.stdout}")
        outs[name] = out
    (l1, _), (lt, _), (l2, _) = losses(outs["one"]), losses(outs["threads"]), losses(outs["two"])
    check_close("transformer train loss per epoch, 2 ranks vs 1 process", l2, l1, 1e-5)
    check_close("transformer train loss per epoch, 2 ranks vs 1 process x 2 threads", l2, lt, 1e-5)
    check_weights("transformer, 2 ranks vs 1 process", weights(outs["two"]), weights(outs["one"]), 1e-5)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--mpirun", default="mpirun")
    ap.add_argument("--case", required=True, choices=[n[5:] for n in globals() if n.startswith("case_")])
    ap.add_argument("--work")
    args = ap.parse_args()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="qkv-mpi-"))
    shutil.rmtree(work / args.case, ignore_errors=True)
    (work / args.case).mkdir(parents=True)
    globals()["case_" + args.case](args, work / args.case)
    print(f"PASS: {args.case}", flush=True)


if __name__ == "__main__":
    main()
