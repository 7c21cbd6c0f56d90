"""`qkv train` with the recipe options (mixup, cutmix, EMA, test-time flip) end to end on the
fixture: listed in --help, the EMA named in the log and in metrics.jsonl, curve.png written, and
an interrupted run resumed with --resume ends exactly as the uninterrupted one; `qkv eval
--tta-flip --confusion-png` on its model."""
import json

import pytest

from cli_run import CLI, TINY, run_cli

pytestmark = pytest.mark.skipif(not CLI, reason="QKV_CLI (the qkv executable) is not set")

RECIPE = ["train", "--data", TINY, "--no-progress", "--dim", "16", "--depth", "1", "--heads", "2", "--mlp-hidden",
          "16", "--batch-size", "50", "--limit-train", "200", "--limit-test", "100", "--epochs", "3",
          "--mixup", "0.8", "--cutmix", "1.0", "--mix-prob", "0.8", "--ema", "0.9", "--ema-warmup", "--tta-flip"]


def test_help_lists_the_recipe_options():
    r = run_cli(["train", "--help"])
    assert r.status == 0
    for option in ("--mixup", "--cutmix", "--mix-prob", "--ema", "--ema-warmup", "--tta-flip"):
        assert option in r.output, option
    r = run_cli(["eval", "--help"])
    assert "--tta-flip" in r.output and "--confusion-png" in r.output


def test_recipe_run_resumes_exactly_and_draws_its_pictures(tmp_path):
    full = run_cli(RECIPE + ["--out", tmp_path / "full"], timeout=120)
    assert full.status == 0, full.output
    assert "test (EMA) loss" in full.output
    assert full.output.strip().splitlines()[-1].startswith("test accuracy: 0.")
    lines = [json.loads(x) for x in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in lines] == [1, 2, 3]
    assert all(m["test_weights"] == "ema" for m in lines)
    assert (tmp_path / "full" / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    part = run_cli(RECIPE + ["--out", tmp_path / "part", "--stop-after", "1"], timeout=120)
    assert part.status == 0 and "continue with --resume" in part.output, part.output
    rest = run_cli(RECIPE + ["--out", tmp_path / "part", "--resume"], timeout=120)
    assert rest.status == 0, rest.output
    assert rest.output.strip().splitlines()[-1] == full.output.strip().splitlines()[-1]
    assert (tmp_path / "part" / "model.safetensors").read_bytes() == (tmp_path / "full" / "model.safetensors").read_bytes()
    # The same run without --ema cannot resume from this checkpoint (another train_config).
    without = [a for a in RECIPE if a not in ("--ema", "0.9", "--ema-warmup")]
    r = run_cli(without + ["--out", tmp_path / "part", "--resume"], timeout=60)
    assert r.status == 2 and "differ from the run" in r.output, r.output

    png = tmp_path / "confusion.png"
    ev = run_cli(["eval", tmp_path / "full" / "model.safetensors", "--data", TINY, "--tta-flip", "--confusion-png", png])
    assert ev.status == 0, ev.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_the_default_is_the_measured_recipe_and_each_part_turns_off(tmp_path):
    tiny = RECIPE[:RECIPE.index("--epochs")] + ["--epochs", "1"]
    default = run_cli(tiny + ["--out", tmp_path / "default"], timeout=120)
    assert default.status == 0, default.output
    assert "test (EMA) loss" in default.output
    config = (tmp_path / "default" / "metrics.jsonl").read_text()
    plain = run_cli(tiny + ["--out", tmp_path / "plain", "--ema", "0", "--no-tta-flip", "--erase", "0"], timeout=120)
    assert plain.status == 0, plain.output
    assert "(EMA)" not in plain.output
    assert json.loads(config.splitlines()[0])["test_weights"] == "ema"
    both = run_cli(tiny + ["--tta-flip", "--no-tta-flip"])
    assert both.status != 0 and "excludes" in both.output.lower(), both.output
