"""The files of a training run (issue 10, items 8-11, 14): hostile checkpoint metadata, a directory
where metrics.jsonl should be, temporary files left by kills, and a resume killed while it rewrites
metrics.jsonl — each ends in a clear error or loses nothing already written."""
import json
import os
import resource
import struct
import subprocess

import pytest

from cli_run import CLI, TINY, run_cli

pytestmark = pytest.mark.skipif(not CLI, reason="QKV_CLI (the qkv executable) is not set")

TRAIN = ["train", "--data", TINY, "--no-progress", "--dim", "16", "--depth", "1", "--heads", "2", "--mlp-hidden", "16",
         "--batch-size", "50", "--limit-train", "100", "--limit-test", "50"]


def train(out, *extra, **kw):
    return run_cli(TRAIN + ["--out", out] + list(extra), **kw)


def set_metadata(path, key, value):
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    header["__metadata__"][key] = value
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + n:])


def metrics_epochs(out):
    return [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines() if line]


@pytest.fixture
def stopped_run(tmp_path):
    """A run of 4 epochs stopped after 2: checkpoint at epoch 2, metrics for epochs 1 and 2."""
    out = tmp_path / "run"
    r = train(out, "--epochs", "4", "--stop-after", "2")
    assert r.status == 0, r.output
    assert metrics_epochs(out) == [1, 2]
    return out


@pytest.mark.parametrize("epoch", ["-5", "1xyz", "abc", "", "99", "9223372036854775808", " 1"])
def test_resume_refuses_hostile_epoch_metadata(stopped_run, epoch):
    ck = stopped_run / "checkpoint.safetensors"
    set_metadata(ck, "epoch", epoch)
    r = train(stopped_run, "--epochs", "4", "--resume")
    assert r.status == 2, r.output
    for w in [str(ck), "'epoch'", f"'{epoch}'", "[0, 4]"]:
        assert w in r.output, f"{w!r} not in {r.output!r}"
    assert "stoll" not in r.output and "epoch 3" not in r.output
    assert metrics_epochs(stopped_run) == [1, 2], "a refused resume changes nothing"


def test_resume_refuses_a_step_that_does_not_match_the_epoch(stopped_run):
    set_metadata(stopped_run / "checkpoint.safetensors", "step", "3")
    r = train(stopped_run, "--epochs", "4", "--resume")
    assert r.status == 2, r.output
    assert "'step' is '3'" in r.output and "expected 4 (epoch 2" in r.output, r.output


def test_metrics_path_that_is_a_directory_is_an_error(stopped_run):
    (stopped_run / "metrics.jsonl").unlink()
    (stopped_run / "metrics.jsonl").mkdir()
    r = train(stopped_run, "--epochs", "4", "--resume")
    assert r.status == 2, r.output
    assert "metrics.jsonl" in r.output and "not a regular file" in r.output, r.output
    r = train(stopped_run, "--epochs", "4")
    assert r.status == 2 and "not a regular file" in r.output, r.output


def test_out_that_is_a_file_is_an_error(tmp_path):
    (tmp_path / "file").write_text("x")
    r = train(tmp_path / "file", "--epochs", "1")
    assert r.status == 2 and "not a directory" in r.output, r.output


def test_stale_temporary_files_are_removed_on_start_and_on_resume(stopped_run):
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = [stopped_run / f"checkpoint.safetensors.tmp.{dead.pid}", stopped_run / f"metrics.jsonl.tmp.{dead.pid}",
             stopped_run / f"model.safetensors.tmp.{dead.pid}", stopped_run / f"curve.png.tmp.{dead.pid}.0"]
    alive = stopped_run / f"checkpoint.safetensors.tmp.{os.getpid()}"  # a process that still runs: kept
    other = stopped_run / "notes.tmp.1"  # not a file of the run: kept
    for p in stale + [alive, other]:
        p.write_bytes(b"half a checkpoint")
    r = train(stopped_run, "--epochs", "4", "--resume", "--stop-after", "1")
    assert r.status == 0, r.output
    assert "removed 4 temporary files" in r.output, r.output
    assert not any(p.exists() for p in stale)
    assert alive.exists() and other.exists()
    stale[0].write_bytes(b"x")
    r = train(stopped_run, "--epochs", "1")
    assert r.status == 0 and not stale[0].exists(), r.output


def test_a_resume_killed_while_rewriting_metrics_keeps_the_history(stopped_run):
    """The rewrite is killed by SIGXFSZ when it has written half of metrics.jsonl; an in-place
    truncate-and-rewrite would leave half the history."""
    before = (stopped_run / "metrics.jsonl").read_bytes()
    limit = len(before) // 2

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    r = train(stopped_run, "--epochs", "4", "--resume", preexec_fn=small_files)
    assert r.status != 0, r.output
    assert (stopped_run / "metrics.jsonl").read_bytes() == before
    r = train(stopped_run, "--epochs", "4", "--resume")
    assert r.status == 0, r.output
    assert metrics_epochs(stopped_run) == [1, 2, 3, 4]
    assert not list(stopped_run.glob("*.tmp.*"))


def test_resume_drops_a_metrics_line_whose_checkpoint_did_not_land(stopped_run):
    """A kill between the metrics append and the checkpoint rename leaves a line for epoch 3 with
    the checkpoint at epoch 2 (and maybe a torn line): the resume keeps epochs 1-2 once each."""
    m = stopped_run / "metrics.jsonl"
    lines = m.read_text().splitlines()
    m.write_text("\n".join(lines + [lines[1], lines[1].replace('"epoch":2', '"epoch":3'), '{"epoch": 4, "tr']) + "\n")
    r = train(stopped_run, "--epochs", "4", "--resume")
    assert r.status == 0, r.output
    assert "dropped" in r.output, r.output
    assert metrics_epochs(stopped_run) == [1, 2, 3, 4]
