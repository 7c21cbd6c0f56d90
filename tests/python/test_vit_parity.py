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


def write_torch_model(tm, cfg, path):
    """Writes a torch model's state_dict and qkv's vit_config metadata as safetensors."""
    import json
    import struct

    tensors = {k: v.detach().numpy().astype(np.float32) for k, v in tm.state_dict().items()}
    header, blobs, off = {}, [], 0
    for k in sorted(tensors):
        b = tensors[k].tobytes()
        header[k] = {"dtype": "F32", "shape": list(tensors[k].shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"vit_config": json.dumps(dict(cfg, dropout=0.0, attn_dropout=0.0))}
    h = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def torch_model_in_qkv(cfg, path):
    """A TorchViT of cfg with its initial weights perturbed (so biases are not zero), written to
    path and loaded by qkv: (torch model, qkv model)."""
    tm = TorchViT(cfg)
    with torch.no_grad():
        for p in tm.parameters():
            p.add_(0.02 * torch.randn_like(p))
    write_torch_model(tm, cfg, path)
    return tm, qkv.load_vit(str(path))


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
    tm, vit = torch_model_in_qkv(cfg, tmp_path / "torch.safetensors")
    x = images(16, seed=1)
    tm.eval()
    with torch.no_grad():
        theirs = tm(torch.from_numpy(x).unsqueeze(1)).numpy()
    assert np.max(np.abs(vit(x) - theirs)) <= 1e-4


RECIPE_MODELS = [
    dict(stem="conv", stem_channels=[24, 48], patch=4, pool="cls"),
    dict(stem="conv", stem_channels=[8, 12], patch=4, pool="mean"),
    dict(stem="conv", stem_channels=[6], patch=2, pool="cls", image_size=14),
    dict(stem="patch", patch=7, pool="mean"),
]


@pytest.mark.parametrize("options", RECIPE_MODELS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_recipe_models_match_pytorch_logits_and_gradients(tmp_path, options):
    """The conv stem and mean pooling: torch initialises, qkv loads the file; logits and every
    parameter's gradient of sum(g * logits) agree with torch's autograd."""
    torch.manual_seed(1)
    torch.set_num_threads(2)
    cfg = dict(image_size=28, channels=1, dim=32, depth=3, heads=4, mlp_hidden=48, classes=10, drop_path=0.0)
    cfg.update(options)
    tm, vit = torch_model_in_qkv(cfg, tmp_path / "torch.safetensors")
    for key in ("stem", "pool"):
        assert vit.config[key] == cfg[key]
    s = cfg["image_size"]
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, s, s)).astype(np.float32)
    g = rng.standard_normal((5, 10)).astype(np.float32)
    tm.eval()
    xt = torch.from_numpy(x).unsqueeze(1)
    theirs = tm(xt)
    (theirs * torch.from_numpy(g)).sum().backward()
    ours = vit(x)
    assert np.max(np.abs(ours - theirs.detach().numpy())) <= 1e-4
    grads = vit.gradients(x, g)
    torch_grads = {k: p.grad.numpy() for k, p in tm.named_parameters()}
    assert set(grads) == set(torch_grads)
    for k, tg in torch_grads.items():
        scale = max(1e-3, float(np.max(np.abs(tg))))
        assert np.max(np.abs(grads[k] - tg)) <= 1e-4 * scale, k
    if cfg["stem"] == "conv":
        assert "patch_embed.stem.0.weight" in grads and "patch_embed.proj.weight" not in grads
    if cfg["pool"] == "mean":
        assert "cls_token" not in grads


def test_config_errors_name_the_field(tmp_path):
    """A conv stem whose stride is not the patch, or unknown stem/pool names, are rejected by name."""
    torch.manual_seed(0)
    cfg = dict(image_size=28, channels=1, patch=4, dim=16, depth=1, heads=2, mlp_hidden=16, classes=10,
               stem="conv", stem_channels=[4, 8], pool="cls")
    tm = TorchViT(cfg)
    for bad, match in ((dict(patch=7), "patch"), (dict(stem="convolution"), "stem"), (dict(pool="max"), "pool"),
                       (dict(stem_channels=[4, 0]), "stem_channels"), (dict(drop_path=1.5), "drop_path")):
        path = tmp_path / "bad.safetensors"
        write_torch_model(tm, dict(cfg, **bad), path)
        with pytest.raises(ValueError, match=match):
            qkv.load_vit(str(path))


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
