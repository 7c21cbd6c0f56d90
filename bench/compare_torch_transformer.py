#!/usr/bin/python3
"""Transformer speed: qkv vs PyTorch 1.13's nn.Transformer on the same grapheme-to-phoneme
configuration, in one run.

  training tokens/s   source + target tokens (padding excluded, <eos> counted) per second of
                      training steps on the CMU dictionary's training split, batches of --batch
                      examples, AdamW, clipping, dropout as configured
  greedy words/s      test words decoded greedily per second: qkv with its KV cache, PyTorch
                      recomputing the whole decoder over the prefix at every step (nn.Transformer
                      has no cache), both in batches (qkv: its translate command's batching)
  qkv cache speed-up  qkv's greedy words/s with its KV cache over its own words/s without it
                      (`translate --no-cache`: the decoder recomputed over the prefix at every
                      step, as PyTorch does); the two must print the same pronunciations

qkv side: `qkv transformer train --task cmudict --epochs 1` (one pass over the training split,
--eval-limit 1 so that the dev decoding after the epoch costs nothing); its tokens/s are the
split's tokens (computed here from the same data) over the epoch's "seconds" in metrics.jsonl.
Its decoding: `qkv transformer translate --model RUN [--no-cache] WORD…` on --decode-words test
words, minus the time of the same command on one word (loading the model and starting the
process); each time is the best of --decode-reps runs.
PyTorch side: bench/torch_transformer_g2p.py's model and training loop for --torch-steps steps
(its throughput does not depend on how many steps are timed once past the first few), and its
greedy decoding on the same words (with the weights it has after those steps; the number of
decoding steps depends on when each word emits <eos>: keep --max-decode at 64, the limit of
qkv's translate command, so that neither side may run longer).

PyTorch is a weak peer on this machine (slow elementwise kernels; notes/machine.md): say so next
to any ratio. Timing belongs to a quiet machine; on a shared one run it twice and compare.

Usage: PYTHONPATH=build/python /usr/bin/python3 bench/compare_torch_transformer.py [--qkv build/qkv]
       [--torch-steps 100] [--decode-words 500] [--threads 2] [model options as torch_transformer_g2p.py]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import torch_transformer_g2p as peer  # noqa: E402


def parse_arguments(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    peer.add_model_arguments(ap)
    ap.add_argument("--qkv", default=os.path.join(HERE, "..", "build", "qkv"))
    ap.add_argument("--torch-steps", type=int, default=100, help="PyTorch training steps timed")
    ap.add_argument("--decode-words", type=int, default=500, help="test words decoded by each side")
    ap.add_argument("--decode-batch", type=int, default=256, help="PyTorch's decoding batch")
    ap.add_argument("--decode-reps", type=int, default=3, help="qkv's decoding times: the best of this many runs")
    ap.add_argument("--skip-qkv", action="store_true", help="PyTorch only (e.g. before qkv's command exists)")
    ap.add_argument("--json", action="store_true", help="print one JSON line")
    args = ap.parse_args(argv)
    if args.torch_steps < 1 or args.decode_words < 2 or args.decode_reps < 1:
        ap.error(f"--torch-steps is {args.torch_steps}, --decode-words {args.decode_words} and --decode-reps "
                 f"{args.decode_reps}; expected >= 1, >= 2 and >= 1")
    if not args.stress and not args.skip_qkv:
        ap.error("--no-stress: qkv trains on phonemes with stress only")
    return args


def qkv_train_command(args, out_dir):
    cmd = [args.qkv, "--threads", str(args.threads), "transformer", "train", "--task", "cmudict", "--epochs", "1",
           "--eval-limit", "1", "--no-progress", "--out", out_dir, "--batch", str(args.batch), "--lr", str(args.lr),
           "--warmup", str(args.warmup), "--weight-decay", str(args.weight_decay), "--clip", str(args.clip),
           "--label-smoothing", str(args.label_smoothing), "--seed", str(args.seed), "--d-model", str(args.d_model),
           "--heads", str(args.nhead), "--encoder-layers", str(args.encoder_layers), "--decoder-layers",
           str(args.decoder_layers), "--ff", str(args.dim_feedforward), "--dropout", str(args.dropout),
           "--activation", args.activation, "--ema", "0", "--test-beams", "1"]  # the peer has no EMA
    if not args.norm_first:
        cmd.append("--post-norm")
    return cmd


def timed(cmd):
    start = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return time.perf_counter() - start, out.stdout


def decode_words_per_second(translate, words, reps):
    """Words/s of `translate` on `words` (start-up and model loading taken off: the time of one
    word), each time the best of `reps` runs; and the printed lines."""
    t_one = min(timed(translate + words[:1])[0] for _ in range(reps))
    runs = [timed(translate + words) for _ in range(reps)]
    lines = runs[0][1].strip().splitlines()
    if len(lines) != len(words):
        raise SystemExit(f"qkv transformer translate printed {len(lines)} lines for {len(words)} words")
    return (len(words) - 1) / max(min(t for t, _ in runs) - t_one, 1e-9), lines


def bench_qkv(args, data, words):
    with tempfile.TemporaryDirectory(prefix="qkv_compare_transformer_") as run:
        timed(qkv_train_command(args, run))
        with open(os.path.join(run, "metrics.jsonl")) as f:
            epoch = json.loads(f.read().strip().splitlines()[-1])
        tokens_per_second = data.tokens_per_epoch() / epoch["seconds"]
        translate = [args.qkv, "--threads", str(args.threads), "transformer", "translate", "--model", run]
        cached, lines = decode_words_per_second(translate, words, args.decode_reps)
        uncached, uncached_lines = decode_words_per_second(translate + ["--no-cache"], words, args.decode_reps)
        if uncached_lines != lines:
            raise SystemExit("qkv transformer translate --no-cache printed other pronunciations than with the cache")
    return {"tokens_per_second": tokens_per_second, "decode_words_per_second": cached,
            "uncached_decode_words_per_second": uncached, "cache_speedup": cached / uncached,
            "train_seconds": epoch["seconds"], "train_steps": epoch.get("step")}


def bench_torch(torch, args, data, words):
    torch.manual_seed(args.seed)
    model = peer.build_model(torch, args, len(data.graphemes), len(data.phonemes))
    # The same schedule as qkv's epoch, cut after --torch-steps steps (the throughput is the same).
    steps = peer.total_steps(argparse.Namespace(**dict(vars(args), steps=0, epochs=1)), data)
    seconds, tokens, _ = peer.train(torch, model, data, args, args.torch_steps, total=steps)
    _, decode_seconds = peer.greedy_decode(torch, model, data, words, args)
    return {"tokens_per_second": tokens / seconds, "decode_words_per_second": len(words) / decode_seconds,
            "train_seconds": seconds, "train_steps": args.torch_steps}


def main(argv=None):
    args = parse_arguments(argv)
    torch = peer.set_up_torch(args)
    import qkv
    data = peer.G2pData(qkv, args.stress, args.dict)
    words = sorted(data.split["test"])[:args.decode_words]
    result = {"config": {k: getattr(args, k) for k in ("d_model", "nhead", "encoder_layers", "decoder_layers",
                                                       "dim_feedforward", "dropout", "batch", "threads", "stress")}}
    if not args.skip_qkv:
        result["qkv"] = bench_qkv(args, data, words)
    result["torch"] = bench_torch(torch, args, data, words)
    if "qkv" in result:
        result["training_ratio"] = result["qkv"]["tokens_per_second"] / result["torch"]["tokens_per_second"]
        result["decoding_ratio"] = result["qkv"]["decode_words_per_second"] / result["torch"]["decode_words_per_second"]
    if args.json:
        print(json.dumps(result))
        return result
    print(f"configuration: {json.dumps(result['config'])}")
    print("| | qkv | PyTorch nn.Transformer | ratio |")
    print("|---|---|---|---|")
    q = result.get("qkv", {})
    t = result["torch"]
    for key, label, ratio in (("tokens_per_second", "training tokens/s", "training_ratio"),
                              ("decode_words_per_second", "greedy decoding words/s", "decoding_ratio")):
        qv = f"{q[key]:.0f}" if q else "-"
        r = f"{result[ratio]:.1f}x" if ratio in result else "-"
        print(f"| {label} | {qv} | {t[key]:.0f} | {r} |")
    if q:
        print(f"| greedy decoding words/s, qkv without its cache | {q['uncached_decode_words_per_second']:.0f} | - | - |")
        print(f"qkv's cached greedy decoding / its uncached: {q['cache_speedup']:.1f}x ({len(words)} test words)")
    return result


if __name__ == "__main__":
    main()
