"""Hostile files and arguments reaching the library through Python: qkv.Error keeps a readable
message when the C++ text holds bytes that are not UTF-8; a NUL inside a path is refused instead
of opening the shorter path; NaN weights are refused at load time; an input NumPy cannot copy
to a contiguous float32 array gives a MemoryError naming the argument and its size; scores that
overflow float32 are an error, not zeros."""
import json
import struct

import numpy as np
import pytest

import qkv


def write_safetensors(path, header_bytes, data=b""):
    header_bytes += b" " * ((8 - len(header_bytes) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header_bytes)) + header_bytes + data)


def tiny_vit_file(path, patch=None):
    """A valid checkpoint of a 4x4-image ViT (patch 2, dim 4, depth 1); patch edits tensors."""
    cfg = {"image_size": 4, "channels": 1, "patch": 2, "dim": 4, "depth": 1, "heads": 2,
           "mlp_hidden": 4, "classes": 3}
    shapes = {"cls_token": [1, 1, 4], "pos_embed": [1, 5, 4], "patch_embed.proj.weight": [4, 1, 2, 2],
              "patch_embed.proj.bias": [4], "norm.weight": [4], "norm.bias": [4], "head.weight": [3, 4],
              "head.bias": [3]}
    for k, s in {"norm1.weight": [4], "norm1.bias": [4], "attn.in_proj_weight": [12, 4],
                 "attn.in_proj_bias": [12], "attn.out_proj.weight": [4, 4], "attn.out_proj.bias": [4],
                 "norm2.weight": [4], "norm2.bias": [4], "mlp.fc1.weight": [4, 4], "mlp.fc1.bias": [4],
                 "mlp.fc2.weight": [4, 4], "mlp.fc2.bias": [4]}.items():
        shapes["blocks.0." + k] = s
    arrays = {k: np.full(s, 0.1, np.float32) for k, s in shapes.items()}
    if patch:
        patch(arrays)
    header, blobs, off = {}, [], 0
    for k, a in arrays.items():
        b = a.tobytes()
        header[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"vit_config": json.dumps(cfg)}
    write_safetensors(path, json.dumps(header).encode(), b"".join(blobs))


def test_the_tiny_checkpoint_loads(tmp_path):
    path = str(tmp_path / "m.safetensors")
    tiny_vit_file(path)
    assert qkv.load_vit(path)(np.zeros((1, 4, 4), np.float32)).shape == (1, 3)


def test_error_with_bytes_that_are_not_utf8_keeps_its_message(tmp_path):
    path = str(tmp_path / "bad.safetensors")
    write_safetensors(path, b'{"w\xff\xfe": 1')
    with pytest.raises(qkv.Error) as e:
        qkv.load_vit(path)
    assert "not valid JSON" in str(e.value)
    assert path in str(e.value)


def test_nul_inside_the_path_is_refused(tmp_path):
    path = str(tmp_path / "m.safetensors")
    tiny_vit_file(path)
    with pytest.raises(qkv.Error, match="NUL byte"):
        qkv.load_vit(path + "\0.backup")


def test_nan_weights_are_refused_at_load_time(tmp_path):
    path = str(tmp_path / "m.safetensors")

    def poison(arrays):
        arrays["head.weight"][1, 2] = np.nan

    tiny_vit_file(path, poison)
    with pytest.raises(qkv.Error, match=r"tensor 'head.weight' holds NaN at index 6"):
        qkv.load_vit(path)


def test_float_config_value_is_refused(tmp_path):
    path = str(tmp_path / "m.safetensors")
    tiny_vit_file(path)
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    cfg = json.loads(header["__metadata__"]["vit_config"])
    cfg["dim"] = 32.7
    header["__metadata__"]["vit_config"] = json.dumps(cfg)
    write_safetensors(path, json.dumps(header).encode(), raw[8 + n:])
    with pytest.raises(qkv.Error, match=r"'dim' is 32.7; expected an integer"):
        qkv.load_vit(path)


def test_input_too_large_to_copy_names_the_argument():
    huge = np.broadcast_to(np.float64(1.0), (100000, 100000, 1000, 16))  # 1.6e14 float64 → float32
    small = np.zeros((1, 1, 2, 16), np.float32)
    with pytest.raises(MemoryError, match=r"argument 'q' of shape \(100000, 100000, 1000, 16\)"):
        qkv.scaled_dot_product_attention(huge, small, small)


def test_overflowing_scores_are_an_error_not_zeros():
    q = np.full((1, 1, 3, 8), 1e20, np.float32)
    with pytest.raises(qkv.Error, match="too large for float32"):
        qkv.scaled_dot_product_attention(q, q, q)
    x = np.random.default_rng(0).standard_normal((1, 1, 3, 8)).astype(np.float32)
    with pytest.raises(qkv.Error, match="too large"):
        qkv.scaled_dot_product_attention(x, x, x, scale=1e30)
