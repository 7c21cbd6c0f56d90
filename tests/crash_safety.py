#!/usr/bin/env python3
"""Crash-safety test: kill a small `qkv train` run with SIGKILL at random moments, resume it, and
check after every kill that nothing already written is lost (issue 10).

After each kill: the checkpoint, if any, is a complete safetensors file; its epoch never goes back;
metrics.jsonl holds epochs 1..e exactly once (e = the checkpoint's epoch), or 1..e+1 when the kill
came between the next epoch's metrics line and its checkpoint; temporary files come only from the
process just killed or from runs killed before they got through start-up (a run that started
cleaned the older ones). At the end the resumed run's
checkpoint.safetensors and model.safetensors are byte-identical to an uninterrupted run's, and no
temporary file is left.

  tests/crash_safety.py --cli build/qkv [--kills 30] [--seed 0] [--work DIR]
Kill times are drawn from random.Random(seed): uniform over the start-up and 1.5 epochs of the
uninterrupted run (so kills land in start-up, resume, epochs and checkpoint writes alike).
"""
import argparse
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parent / "fixtures" / "fashion-mnist-tiny"
TRAIN = ["train", "--data", str(DATA), "--no-progress", "--epochs", "20", "--dim", "16", "--depth", "1",
         "--heads", "2", "--mlp-hidden", "32", "--batch-size", "50", "--limit-train", "300", "--limit-test", "100",
         "--crop-pad", "1", "--seed", "3"]
DTYPE_SIZE = {"F32": 4, "F64": 8, "I64": 8, "U8": 1}


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def read_checkpoint(path):
    """Validates a safetensors file completely (header, dtypes, every tensor inside the file)."""
    raw = path.read_bytes()
    if len(raw) < 8:
        fail(f"{path}: {len(raw)} bytes")
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__")
    end = 0
    for name, t in header.items():
        b, e = t["data_offsets"]
        count = 1
        for s in t["shape"]:
            count *= s
        if e - b != count * DTYPE_SIZE[t["dtype"]] or 8 + n + e > len(raw):
            fail(f"{path}: tensor {name} is cut or inconsistent")
        end = max(end, e)
    if 8 + n + end != len(raw):
        fail(f"{path}: {len(raw)} bytes, expected {8 + n + end}")
    return int(meta["epoch"])


def metrics_epochs(out):
    path = out / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["epoch"] for line in path.read_text().splitlines() if line]


def launch(cli, out, resume, env):
    args = [cli] + TRAIN + ["--out", str(out)] + (["--resume"] if resume else [])
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)


def one_round(a, out, ref, epochs, window, rng, landed, max_kills, env):
    """Kills (at most max_kills times) and resumes one run until it finishes; checks after each kill
    and at the end. Returns (kills, runs)."""
    last_epoch, kills, runs = 0, 0, 0
    while True:
        has_checkpoint = (out / "checkpoint.safetensors").exists()
        p = launch(a.cli, out, has_checkpoint, env)
        runs += 1
        if kills < max_kills:
            try:
                p.wait(timeout=rng.uniform(0.0, window))
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGKILL)
                p.wait()
                kills += 1
        else:
            p.wait()
        stderr = p.stderr.read().decode()
        if p.returncode not in (0, -signal.SIGKILL):
            fail(f"run {runs} exited {p.returncode}: {stderr}")

        epoch = read_checkpoint(out / "checkpoint.safetensors") if (out / "checkpoint.safetensors").exists() else 0
        if epoch < last_epoch:
            fail(f"after kill {kills}: checkpoint epoch went back from {last_epoch} to {epoch}")
        last_epoch = epoch
        got = metrics_epochs(out)
        if got not in (list(range(1, epoch + 1)), list(range(1, epoch + 2))):
            fail(f"after kill {kills}: metrics epochs {got} with the checkpoint at epoch {epoch}")
        temps = [t.name for t in out.glob("*.tmp.*")]
        started = "resumed from" in stderr or epoch > 0 and not has_checkpoint
        # The process just killed: "<name>.tmp.<pid>", or "curve.png.tmp.<pid>.<n>" for the PNG.
        if started and any(t.split(".tmp.")[1].split(".")[0] != str(p.pid) for t in temps):
            fail(f"after kill {kills}: the run started but temporary files of earlier runs are left: {temps}")
        landed["cleaned temporary files"] += "temporary file" in stderr
        landed["before any checkpoint"] += epoch == 0
        landed["with a temporary file"] += bool(temps)
        landed["with the next epoch's line"] += len(got) == epoch + 1
        if p.returncode == 0:
            break

    if metrics_epochs(out) != list(range(1, epochs + 1)):
        fail(f"final metrics epochs {metrics_epochs(out)}")
    if list(out.glob("*.tmp.*")):
        fail(f"temporary files left at the end: {[t.name for t in out.glob('*.tmp.*')]}")
    for name in ("checkpoint.safetensors", "model.safetensors"):
        if (out / name).read_bytes() != (ref / name).read_bytes():
            fail(f"{name} of the resumed run differs from the uninterrupted run's")
    return kills, runs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--kills", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", default=None)
    a = ap.parse_args()
    env = dict(os.environ, QKV_NUM_THREADS=os.environ.get("QKV_NUM_THREADS", "2"))
    work = Path(a.work or tempfile.mkdtemp(prefix="qkv_crash_safety_"))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    ref = work / "uninterrupted"

    start = time.monotonic()
    p = launch(a.cli, ref, False, env)
    _, err = p.communicate()
    full_seconds = time.monotonic() - start
    if p.returncode != 0:
        fail(f"uninterrupted run exited {p.returncode}: {err.decode()}")
    epochs = int(TRAIN[TRAIN.index("--epochs") + 1])
    if metrics_epochs(ref) != list(range(1, epochs + 1)):
        fail(f"uninterrupted run: metrics epochs {metrics_epochs(ref)}")

    # metrics "seconds" counts from the start of training: the rest of the run time is start-up and exit.
    seconds = [json.loads(line)["seconds"] for line in (ref / "metrics.jsonl").read_text().splitlines()]
    window = (full_seconds - seconds[-1]) + 1.5 * seconds[-1] / epochs
    rng = random.Random(a.seed)
    landed = {"before any checkpoint": 0, "with a temporary file": 0, "with the next epoch's line": 0,
              "cleaned temporary files": 0}
    kills, runs, rounds = 0, 0, 0
    # A round kills and resumes one run until it finishes; rounds repeat (fresh directories) until
    # the kills are made, since how far each run gets before its kill depends on the machine's load.
    while kills < a.kills and rounds < 10:
        rounds += 1
        k, r = one_round(a, work / f"killed-{rounds}", ref, epochs, window, rng, landed, a.kills - kills, env)
        kills, runs = kills + k, runs + r
    print(f"crash safety: {kills} kills over {runs} runs in {rounds} round(s) ({time.monotonic() - start:.1f} s; uninterrupted run "
          f"{full_seconds:.2f} s); kills that landed {landed}; every check held; final checkpoint and model "
          f"byte-identical to the uninterrupted run's")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
