"""qkv's ViT and a PyTorch model of the same architecture give the same logits for the same
weights (loaded from the safetensors file qkv writes), and qkv.load_vit rejects bad input."""
import os
import subprocess
import tempfile

import numpy as np
import pytest
import torch

import qkv
from torch_vit import TorchViT

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "..", "fixtures", "fashion-mnist-tiny")
CLI = os.environ.get("QKV_CLI")


def load_safetensors(path):
    """A minimal safetensors reader (the format: 8-byte LE length, JSON header, raw data)."""
    import json
    import struct

    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        dt = {"F32": np.float32, "F64": np.float64, "I64": np.int64}[e["dtype"]]
        out[name] = np.frombuffer(data[8 + n + b:8 + n + end], dtype=dt).reshape(e["shape"])
    return out, header.get("__metadata__", {})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    if not CLI:
        pytest.skip("QKV_CLI (path of the qkv executable) is not set")
    out = tmp_path_factory.mktemp("vit")
    subprocess.run([CLI, "train", "--data", FIXTURE, "--out", str(out), "--epochs", "1", "--patch", "7",
                    "--dim", "32", "--depth", "2", "--heads", "4", "--mlp-hidden", "48", "--batch-size", "50",
                    "--no-progress"], check=True, capture_output=True)
    return str(out / "model.safetensors")


def images(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 28, 28)).astype(np.float32)


def test_logits_match_pytorch_with_the_same_weights(trained):
    torch.set_num_threads(2)
    vit = qkv.load_vit(trained)
    weights, meta = load_safetensors(trained)
    assert "vit_config" in meta
    tm = TorchViT(vit.config)
    missing, unexpected = tm.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in weights.items()}, strict=True)
    assert not missing and not unexpected
    tm.eval()
    x = images(9)
    ours = vit(x)
    with torch.no_grad():
        theirs = tm(torch.from_numpy(x).unsqueeze(1)).numpy()
    assert ours.shape == (9, 10)
    assert np.max(np.abs(ours - theirs)) <= 1e-4
    # (N, 1, 28, 28) works too and gives the same logits.
    assert np.array_equal(vit(x[:, None]), ours)
    # state_dict() exposes the same tensors.
    sd = vit.state_dict()
    assert set(sd) == set(weights)
    assert np.array_equal(sd["blocks.1.attn.in_proj_weight"], weights["blocks.1.attn.in_proj_weight"])


def test_random_model_matches_pytorch_in_both_directions(tmp_path):
    """PyTorch initialises, qkv loads the file PyTorch's weights were written to."""
    torch.manual_seed(0)
    cfg = dict(image_size=28, channels=1, patch=4, dim=64, depth=6, heads=4, mlp_hidden=128, classes=10)
    tm = TorchViT(cfg)
    with torch.no_grad():
        for p in tm.parameters():
            p.add_(0.02 * torch.randn_like(p))
    import json
    import struct

    tensors = {k: v.detach().numpy().astype(np.float32) for k, v in tm.state_dict().items()}
    header, blobs, off = {}, [], 0
    for k in sorted(tensors):
        b = tensors[k].tobytes()
        header[k] = {"dtype": "F32", "shape": list(tensors[k].shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    cfg_json = dict(cfg, dropout=0.0, attn_dropout=0.0)
    header["__metadata__"] = {"vit_config": json.dumps(cfg_json)}
    h = json.dumps(header).encode()
    path = tmp_path / "torch.safetensors"
    path.write_bytes(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    vit = qkv.load_vit(str(path))
    x = images(16, seed=1)
    tm.eval()
    with torch.no_grad():
        theirs = tm(torch.from_numpy(x).unsqueeze(1)).numpy()
    assert np.max(np.abs(vit(x) - theirs)) <= 1e-4


def test_bad_inputs_raise(trained, tmp_path):
    vit = qkv.load_vit(trained)
    with pytest.raises(ValueError, match="images"):
        vit(np.zeros((2, 27, 28), np.float32))
    with pytest.raises(ValueError, match="images"):
        vit(np.zeros((2, 3, 28, 28), np.float32))
    with pytest.raises(TypeError, match="images"):
        vit(np.zeros((2, 28, 28), np.int32))
    with pytest.raises(ValueError, match="NaN|finite"):
        vit(np.full((1, 28, 28), np.nan, np.float32))
    with pytest.raises(ValueError, match="nonexistent"):
        qkv.load_vit(str(tmp_path / "nonexistent.safetensors"))
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(ValueError, match="bad.safetensors"):
        qkv.load_vit(str(bad))
