#!/usr/bin/python3
"""qkv vs PyTorch 1.13's nn.Transformer at the same number of training steps: test WER and PER on
the CMU dictionary, so that qkv's speed is not bought with worse training (issue 12's target:
qkv's test WER within 1 point of PyTorch's).

Both sides train the same recipe for --epochs passes over the training split (the same number of
steps: ceil(examples / batch) per epoch on both), every option given to both explicitly:
  qkv      `qkv transformer train --task cmudict --epochs N --test-beams 1 --ema 0 ...` (its own trainer;
           the last lines "test (greedy): WER .. PER .. without stress; WER .. PER .. with stress")
  PyTorch  bench/torch_transformer_g2p.py (the same model, initialisation, batching, AdamW with
           the same decay groups, warm-up + cosine to 2% of the peak, clipping, label smoothing,
           dropout), then greedy decoding of every test word
Both are scored by qkv's one metrics code (data/g2p_metrics: the C++ run directly, PyTorch's
predictions through qkv.score_g2p) against every pronunciation of each test word. Random draws
(initial weights, batch order, dropout) differ between the two: the difference printed is that
of two seeds of one recipe plus any difference of the implementations; run --seeds 0 1 to see
the seed-to-seed spread of each side next to it.

Usage: PYTHONPATH=build/python /usr/bin/python3 bench/compare_torch_transformer_wer.py [--qkv build/qkv]
       [--epochs 2] [--seeds 0] [model and training options as torch_transformer_g2p.py]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import compare_torch_transformer as speed  # noqa: E402
import torch_transformer_g2p as peer  # noqa: E402

TEST_LINE = re.compile(r"^test \(greedy\): WER ([0-9.]+) PER ([0-9.]+) without stress; "
                       r"WER ([0-9.]+) PER ([0-9.]+) with stress$", re.M)


def parse_arguments(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    peer.add_model_arguments(ap)
    ap.add_argument("--qkv", default=os.path.join(HERE, "..", "build", "qkv"))
    ap.add_argument("--epochs", type=int, default=2, help="passes over the training split, both sides")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], help="one run of each side per seed")
    ap.add_argument("--json", action="store_true", help="print one JSON line")
    args = ap.parse_args(argv)
    if args.epochs < 1:
        ap.error(f"--epochs is {args.epochs}; expected at least 1")
    if not args.stress:
        ap.error("--no-stress: qkv trains on phonemes with stress only")
    return args


def qkv_command(args, seed, out_dir):
    cmd = speed.qkv_train_command(argparse.Namespace(**dict(vars(args), seed=seed)), out_dir)
    cmd[cmd.index("--epochs") + 1] = str(args.epochs)
    cmd[cmd.index("--eval-limit") + 1] = "1000"
    return cmd


def run_qkv(args, seed):
    with tempfile.TemporaryDirectory(prefix="qkv_compare_wer_") as run:
        start = time.perf_counter()
        out = subprocess.run(qkv_command(args, seed, run), capture_output=True, text=True)
        seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"qkv transformer train failed ({out.returncode}):\n{out.stdout}{out.stderr}")
    m = TEST_LINE.search(out.stdout)
    if not m:
        raise SystemExit(f"qkv transformer train printed no 'test (greedy)' line:\n{out.stdout}")
    wer, per, wer_s, per_s = map(float, m.groups())
    return {"test_wer": wer, "test_per": per, "test_wer_stress": wer_s, "test_per_stress": per_s, "seconds": seconds}


def run_torch(args, seed):
    argv = ["--json", "--epochs", str(args.epochs), "--seed", str(seed)]
    for action in peer_actions():
        name = action.dest
        if name in ("epochs", "seed", "steps", "eval_limit", "json", "decode_batch", "help", "dict"):
            continue
        value = getattr(args, name)
        flag = action.option_strings[0]
        if isinstance(action, argparse.BooleanOptionalAction):
            argv.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, bool):
            if value:
                argv.append(flag)
        else:
            argv += [flag, str(value)]
    if args.dict:
        argv += ["--dict", args.dict]
    start = time.perf_counter()
    r = peer.main(argv)
    r["seconds"] = time.perf_counter() - start
    return r


def peer_actions():
    ap = argparse.ArgumentParser()
    peer.add_model_arguments(ap)
    return [a for a in ap._actions if a.option_strings and a.dest != "help"]


def main(argv=None):
    args = parse_arguments(argv)
    rows = []
    for seed in args.seeds:
        q = run_qkv(args, seed)
        t = run_torch(args, seed)
        rows.append({"seed": seed, "qkv": q, "torch": {k: t[k] for k in q}, "steps": t["steps"]})
    mean = lambda side, key: sum(r[side][key] for r in rows) / len(rows)  # noqa: E731
    result = {"epochs": args.epochs, "steps": rows[0]["steps"], "runs": rows,
              "qkv_test_wer": mean("qkv", "test_wer"), "torch_test_wer": mean("torch", "test_wer"),
              "qkv_test_per": mean("qkv", "test_per"), "torch_test_per": mean("torch", "test_per")}
    result["wer_difference_points"] = 100 * (result["qkv_test_wer"] - result["torch_test_wer"])
    if args.json:
        print(json.dumps(result))
        return result
    print(f"{args.epochs} epochs = {result['steps']} steps of {args.batch}; d_model {args.d_model}, "
          f"{args.encoder_layers}+{args.decoder_layers} layers, {args.nhead} heads, ff {args.dim_feedforward}, "
          f"dropout {args.dropout}, label smoothing {args.label_smoothing}")
    print("| seed | side | test WER | test PER | WER (stress) | PER (stress) | wall time |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        for side, label in (("qkv", "qkv"), ("torch", "PyTorch")):
            s = r[side]
            print(f"| {r['seed']} | {label} | {s['test_wer']:.4f} | {s['test_per']:.4f} | {s['test_wer_stress']:.4f} | "
                  f"{s['test_per_stress']:.4f} | {s['seconds']:.0f} s |")
    print(f"test WER qkv {result['qkv_test_wer']:.4f}, PyTorch {result['torch_test_wer']:.4f}: "
          f"qkv - PyTorch = {result['wer_difference_points']:+.2f} points")
    return result


if __name__ == "__main__":
    main()
