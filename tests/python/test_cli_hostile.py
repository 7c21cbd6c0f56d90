"""Hostile arguments and environment for the qkv CLI (issue 10, items 1, 2, 7, 17, 18, 19): each ends
quickly with an error naming the option (or variable), the expected and the actual value — no
signal, no bare std::bad_alloc or stoll, no NaN printed with exit 0, no more than a few hundred MB."""
import gzip
import shutil
import struct

import pytest

from cli_run import CLI, TINY, run_cli

pytestmark = pytest.mark.skipif(not CLI, reason="QKV_CLI (the qkv executable) is not set")

BASE = {"--data": TINY, "--epochs": "1", "--dim": "16", "--depth": "1", "--heads": "2", "--mlp-hidden": "16",
        "--limit-train": "100", "--limit-test": "50"}


def train(*pairs):
    """`qkv train` on the fixture with a tiny model; pairs ("--lr", "inf", ...) replace or add options."""
    opts = dict(BASE)
    opts.update(zip(pairs[::2], pairs[1::2]))
    return ["train", "--no-progress"] + [x for kv in opts.items() for x in kv]



# (id, arguments, extra environment, words the message must contain)
CASES = [
    ("bench n 0", ["bench", "attention", "--n", "0"], {}, ["--n", "[1, 1048576]", "0"]),
    ("bench n huge", ["bench", "attention", "--n", "1e9"], {}, ["--n", "1e9"]),
    ("bench peak-n 1e5", ["bench", "attention", "--peak-n", "1e5"], {}, ["--peak-n", "[1, 65536]"]),
    ("bench peak-n memory", ["bench", "attention", "--peak-n", "60000"], {}, ["--peak-n 60000", "needs about", "GB"]),
    ("bench memory-n 1e9", ["bench", "attention", "--memory-n", "1e9"], {}, ["--memory-n", "1e9"]),
    ("bench memory-n memory", ["bench", "attention", "--memory-n", "16000000"], {}, ["--memory-n 16000000", "needs about"]),
    ("bench reps 0 readable", ["bench", "attention", "--reps", "0"], {}, ["--reps", "[1, 1000]"]),
    ("bench d 0", ["bench", "attention", "--d", "0"], {}, ["--d"]),
    ("bench json empty", ["bench", "attention", "--json", ""], {}, ["--json", "non-empty"]),
    ("bench vit steps 0", ["bench", "vit", "--steps", "0"], {}, ["--steps", "0"]),
    ("bench vit dim 40000", ["bench", "vit", "--dim", "40000", "--heads", "4"], {}, ["--dim", "[1, 4096]", "40000"]),
    ("bench vit batch memory", ["bench", "vit", "--batch", "900000"], {}, ["needs about", "--batch"]),
    ("threads 100000", ["--threads", "100000", "info"], {}, ["--threads", "[1, 1024]", "100000"]),
    ("threads -1", ["--threads", "-1", "info"], {}, ["--threads"]),
    ("env threads 100000", ["info"], {"QKV_NUM_THREADS": "100000"}, ["QKV_NUM_THREADS", "'100000'", "[1, 1024]"]),
    ("env threads atoi overflow", ["info"], {"QKV_NUM_THREADS": "99999999999"}, ["QKV_NUM_THREADS", "99999999999"]),
    ("env threads 4abc", ["info"], {"QKV_NUM_THREADS": "4abc"}, ["QKV_NUM_THREADS", "'4abc'"]),
    ("env threads 0", ["info"], {"QKV_NUM_THREADS": "0"}, ["QKV_NUM_THREADS", "'0'"]),
    ("seq2seq threads", ["seq2seq", "--threads", "100000"], {}, ["--threads", "[1, 1024]"]),
    ("train depth 1e6", train("--depth", "1e6"), {}, ["--depth", "1e6", "[0, 256]"]),
    ("train dim 1e5", train("--dim", "1e5"), {}, ["--dim", "1e5"]),
    ("train dim 60000", train("--dim", "60000", "--heads", "4"), {}, ["--dim", "[1, 4096]", "60000"]),
    ("train parameters", train("--dim", "4096", "--heads", "4"), {}, ["dim=4096", "parameters; the limit is"]),
    ("train epochs 2^63-1", train("--epochs", "9223372036854775807"), {}, ["--epochs", "[1, 1000000]"]),
    ("train lr inf", train("--lr", "inf"), {}, ["--lr", "finite", "inf"]),
    ("train lr nan", train("--lr", "nan"), {}, ["--lr", "nan"]),
    ("train lr 0", train("--lr", "0"), {}, ["--lr", "> 0"]),
    ("train warmup inf", train("--warmup-epochs", "inf"), {}, ["--warmup-epochs", "inf"]),
    ("train min-lr -1", train("--min-lr", "-1"), {}, ["--min-lr", ">= 0"]),
    ("train beta2 2", train("--beta2", "2"), {}, ["--beta2", "[0, 1]"]),
    ("train clip inf", train("--clip", "inf"), {}, ["--clip"]),
    ("train erase 1.5", train("--erase", "1.5"), {}, ["--erase", "[0, 1]"]),
    ("train stem conv patch 7", train("--stem", "conv", "--patch", "7"), {},
     ["stem=conv", "stem_channels=24,48", "total stride 4", "patch=7"]),
    ("train stem conv stride 8", train("--stem", "conv", "--stem-channels", "4,4,4"), {}, ["patch=8", "image_size=28"]),
    ("train stem-channels 0", train("--stem", "conv", "--stem-channels", "8,0"), {}, ["--stem-channels", "0"]),
    ("train stem pyramid", train("--stem", "pyramid"), {}, ["--stem", "pyramid", "patch,conv"]),
    ("train pool max", train("--pool", "max"), {}, ["--pool", "max", "cls,mean"]),
    ("train drop-path 1", train("--drop-path", "1"), {}, ["drop_path=1", "[0, 1)"]),
    ("train drop-path nan", train("--drop-path", "nan"), {}, ["--drop-path", "nan"]),
    ("train limit-train -5", train("--limit-train", "-5"), {}, ["--limit-train", "-5"]),
    ("train limit-test -1", train("--limit-test", "-1"), {}, ["--limit-test", "-1"]),
    ("train stop-after -1", train("--stop-after", "-1"), {}, ["--stop-after", "-1"]),
    ("train data empty", train("--data", ""), {}, ["--data", "non-empty"]),
    ("train out empty", train("--out", ""), {}, ["--out", "non-empty"]),
    ("train dropout 1", train("--dropout", "1"), {}, ["dropout"]),
    ("train mixup -1", train("--mixup", "-1"), {}, ["--mixup", "-1"]),
    ("train cutmix inf", train("--cutmix", "inf"), {}, ["--cutmix", "inf"]),
    ("train mix-prob 2", train("--mix-prob", "2", "--mixup", "1"), {}, ["--mix-prob", "[0, 1]"]),
    ("train ema 1", train("--ema", "1"), {}, ["--ema", "1"]),
    ("train ema nan", train("--ema", "nan"), {}, ["--ema", "nan"]),
    ("eval confusion-png empty", ["eval", "model.safetensors", "--confusion-png", ""], {}, ["--confusion-png"]),
    ("curve missing", ["curve", "/nonexistent/run"], {}, ["metrics file '/nonexistent/run'"]),
    ("eval limit -3", ["eval", "model.safetensors", "--limit", "-3"], {}, ["--limit", "-3"]),
    ("eval batch 0", ["eval", "model.safetensors", "--batch", "0"], {}, ["--batch"]),
    ("eval data empty", ["eval", "model.safetensors", "--data", ""], {}, ["--data"]),
    ("attention-map index -2", ["attention-map", "m.safetensors", "--index", "-2"], {}, ["--index"]),
    ("attention-map scale 0", ["attention-map", "m.safetensors", "--scale", "0"], {}, ["--scale"]),
    ("explain tokens empty", ["explain", "--tokens", ""], {}, ["--tokens", "at least one token"]),
    ("explain tokens blank", ["explain", "--tokens", "   "], {}, ["--tokens", "at least one token"]),
    ("explain heads huge", ["explain", "--heads", "1000000000"], {}, ["--heads"]),
    ("nw width 1e6", ["nw", "--width", "1e6"], {}, ["--width", "1e6"]),
    ("nw train memory", ["nw", "--train", "100000", "--test", "100000"], {}, ["needs about", "--train"]),
    ("nw lr 1e30", ["nw", "--lr", "1e30", "--epochs", "5"], {}, ["--lr"]),
    ("nw lr inf", ["nw", "--lr", "inf"], {}, ["--lr", "inf"]),
    ("seq2seq eval-size 1e10", ["seq2seq", "--eval-size", "1e10"], {}, ["--eval-size", "1e10"]),
    ("seq2seq hidden 1e6", ["seq2seq", "--hidden", "1e6"], {}, ["--hidden", "1e6"]),
    ("seq2seq hidden memory", ["seq2seq", "--hidden", "8000", "--steps", "1"], {}, ["needs about", "--hidden"]),
    ("seq2seq lr inf", ["seq2seq", "--lr", "inf"], {}, ["--lr", "inf"]),
    ("seq2seq steps 0", ["seq2seq", "--steps", "0"], {}, ["--steps"]),
]

FORBIDDEN = ["bad_alloc", "stoll", "stoi", "-nan", "309", "terminate called", "Segmentation"]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_hostile_arguments_end_in_a_clear_error(case):
    _, args, env, words = case
    r = run_cli(args, env=env, timeout=60)
    assert r.status > 0, f"exit {r.status} (negative: killed by a signal)\n{r.output}"
    for w in words:
        assert w in r.output, f"{w!r} not in {r.output!r}"
    for w in FORBIDDEN:
        assert w not in r.output, f"{w!r} in {r.output!r}"
    last = [line for line in r.output.splitlines() if line.strip()][-1]
    assert last.startswith("error:") or last.startswith("Run with --help"), f"expected an error at the end:\n{r.output}"
    assert r.max_rss_mb < 400, f"{r.max_rss_mb:.0f} MB before the error"
    assert r.seconds < 30


def write_idx_images(path, count, rows, cols):
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">iiii", 0x803, count, rows, cols) + bytes(count * rows * cols))


def write_idx_labels(path, count):
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">ii", 0x801, count) + bytes(count))


def dataset_with_test_set(tmp_path, count, side):
    d = tmp_path / "data"
    d.mkdir()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        shutil.copy(TINY / name, d / name)
    write_idx_images(d / "t10k-images-idx3-ubyte.gz", count, side, side)
    write_idx_labels(d / "t10k-labels-idx1-ubyte.gz", count)
    return d


def test_empty_test_set_is_an_error_not_accuracy_zero(tmp_path):
    d = dataset_with_test_set(tmp_path, 0, 28)
    r = run_cli(train("--data", d, "--out", tmp_path / "run", "--limit-test", "0"))
    assert r.status > 0, r.output
    assert "t10k-images-idx3-ubyte.gz" in r.output and "holds no images" in r.output, r.output
    assert "test accuracy" not in r.output, r.output
    assert r.seconds < 20


def test_test_images_of_another_size_fail_before_training(tmp_path):
    d = dataset_with_test_set(tmp_path, 5, 14)
    r = run_cli(train("--data", d, "--epochs", "3"))
    assert r.status > 0, r.output
    assert "test images are 14x14" in r.output and "28x28" in r.output, r.output
    assert "epoch 1" not in r.output, "the check must come before the first epoch"


def test_eval_of_an_empty_test_set_is_an_error(tmp_path):
    run_dir = tmp_path / "run"
    r = run_cli(train("--out", run_dir))
    assert r.status == 0, r.output
    d = dataset_with_test_set(tmp_path, 0, 28)
    r = run_cli(["eval", run_dir / "model.safetensors", "--data", d])
    assert r.status > 0, r.output
    assert "empty" in r.output and "test accuracy" not in r.output, r.output


def test_huge_learning_rate_in_training_names_lr(tmp_path):
    r = run_cli(train("--lr", "1e30", "--clip", "0", "--epochs", "2", "--out", tmp_path / "run"))
    assert r.status > 0, r.output
    assert "--lr 1e+30" in r.output and ("diverged" in r.output or "became" in r.output), r.output
    assert "test accuracy" not in r.output, r.output


def test_good_values_still_work():
    r = run_cli(["--threads", "1", "nw", "--train", "20", "--test", "10", "--epochs", "2", "--width", "1000"])
    assert r.status == 0, r.output
    r = run_cli(["info"], env={"QKV_NUM_THREADS": ""})
    assert r.status == 0, r.output


def test_out_of_memory_names_the_command_and_its_options():
    """With the estimate turned off (QKV_MAX_MEMORY_GB) and 1 GB of address space, the allocation
    fails: the message says what ran out and which options sized it, not a bare std::bad_alloc."""
    import resource

    def one_gigabyte():
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    r = run_cli(["nw", "--train", "20000", "--test", "20000", "--epochs", "0"], env={"QKV_MAX_MEMORY_GB": "100"},
                preexec_fn=one_gigabyte)
    assert r.status == 2, r.output
    assert "out of memory in 'qkv nw'" in r.output and "--train 20000 --test 20000" in r.output, r.output
    assert "bad_alloc" not in r.output


def test_curve_of_hostile_metrics_names_the_line(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"epoch":1,"train_loss":1,"train_accuracy":0.5}\n{"epoch":2,"train_loss":"x"}\n')
    r = run_cli(["curve", tmp_path])
    assert r.status == 2, r.output
    assert "line 2" in r.output and '"train_loss" is "x"' in r.output, r.output
    assert not (tmp_path / "curve.png").exists()
