"""`qkv transformer train|translate|attention` end to end on a tiny dates run: the run files, the
final line, resume, translation with greedy and beam decoding and without the cache (the same
outputs), the attention picture, and clear errors for a bad model file or option."""
import json

import pytest

from cli_run import CLI, run_cli

pytestmark = pytest.mark.skipif(not CLI, reason="QKV_CLI (the qkv executable) is not set")

TINY = ["transformer", "train", "--task", "dates", "--no-progress", "--d-model", "16", "--heads", "2",
        "--encoder-layers", "1", "--decoder-layers", "1", "--ff", "32", "--batch", "32", "--train-size", "128",
        "--dev-size", "16", "--test-size", "16"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("transformer") / "run"
    r = run_cli(TINY + ["--epochs", "2", "--out", out], timeout=120)
    assert r.status == 0, r.output
    return out, r.output


def test_train_writes_run_files_and_ends_with_exact_match(run_dir):
    out, output = run_dir
    assert output.strip().splitlines()[-1].startswith("exact match: 0.")
    assert output.count("dev exact match") == 2
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(l)["epoch"] for l in lines] == [1, 2]
    assert (out / "model.safetensors").exists() and (out / "checkpoint.safetensors").exists()


def test_resume_reads_the_checkpoint_and_keeps_the_metrics(run_dir):
    out, _ = run_dir
    r = run_cli(TINY + ["--epochs", "2", "--out", out, "--resume"], timeout=120)
    assert r.status == 0, r.output
    assert "resumed from" in r.output and "at epoch 2" in r.output
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    other = run_cli(TINY + ["--epochs", "3", "--out", out, "--resume"], timeout=120)
    assert other.status != 0 and "differ" in other.output


def test_translate_greedy_and_beam_and_attention_picture(run_dir, tmp_path):
    out, _ = run_dir
    for beam in ["1", "3"]:
        r = run_cli(["transformer", "translate", "--model", out, "--beam", beam, "3 March 1999", "21.11.26"])
        assert r.status == 0, r.output
        assert len(r.output.strip().splitlines()) == 2
    png = tmp_path / "att.png"
    r = run_cli(["transformer", "attention", "--model", out, "3 March 1999", "-o", png])
    assert r.status == 0, r.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    cross = tmp_path / "cross.png"
    r = run_cli(["transformer", "attention", "--model", out, "--cross-only", "3 March 1999", "-o", cross])
    assert r.status == 0, r.output
    # The tiny model has 1 encoder and 1 decoder layer: one panel of heads instead of three rows of them.
    (w_all, h_all), (w_cross, h_cross) = png_size(png), png_size(cross)
    assert w_cross <= w_all and h_cross < 0.5 * h_all


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_translate_without_the_cache_gives_the_cached_outputs(run_dir):
    out, _ = run_dir
    texts = ["3 March 1999", "21.11.26", "saturday 21 nov 2026", "Nov 5, 2001", "1 jan 00"]
    cached = run_cli(["transformer", "translate", "--model", out] + texts)
    uncached = run_cli(["transformer", "translate", "--model", out, "--no-cache"] + texts)
    assert cached.status == 0 and uncached.status == 0, cached.output + uncached.output
    assert len(cached.output.strip().splitlines()) == len(texts)
    assert uncached.output == cached.output
    beam = run_cli(["transformer", "translate", "--model", out, "--no-cache", "--beam", "3", "21.11.26"])
    assert beam.status != 0 and "--no-cache" in beam.output and "--beam is 3" in beam.output


def test_bad_model_and_options_are_clear_errors(tmp_path):
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(b"not a safetensors file")
    r = run_cli(["transformer", "translate", "--model", bad, "hello"])
    assert r.status != 0 and "model.safetensors" in r.output
    r = run_cli(["transformer", "translate", "--model", tmp_path, "--beam", "0", "hello"])
    assert r.status != 0 and "--beam" in r.output
    three_heads = list(TINY)
    three_heads[three_heads.index("--heads") + 1] = "3"  # does not divide d_model 16
    r = run_cli(three_heads + ["--epochs", "1"])
    assert r.status != 0 and "nhead" in r.output


def safetensors_tensors(path):
    """name -> raw bytes of each tensor of a safetensors file."""
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    return {k: body[v["data_offsets"][0]:v["data_offsets"][1]] for k, v in header.items() if k != "__metadata__"}


def test_ema_is_decoded_saved_and_checkpointed(tmp_path):
    out = tmp_path / "ema"
    r = run_cli(TINY + ["--epochs", "2", "--ema", "0.9", "--ema-warmup", "--out", out], timeout=120)
    assert r.status == 0, r.output
    assert r.output.count("dev (EMA)") == 2 and r.output.strip().splitlines()[-1].startswith("exact match: 0.")
    checkpoint = safetensors_tensors(out / "checkpoint.safetensors")
    model = safetensors_tensors(out / "model.safetensors")
    assert model and all(checkpoint["ema." + name] == data for name, data in model.items())
    assert any(checkpoint[name] != data for name, data in model.items()), "the EMA equals the live weights"
    r = run_cli(TINY + ["--epochs", "1", "--ema", "1"])
    assert r.status != 0 and "--ema" in r.output
