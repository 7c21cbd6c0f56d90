"""qkv.rotary_embedding against RoPE written with torch in float64 (Hugging Face's rotate_half for the
half-split layout, RoFormer's pairs for the interleaved one), its gradient against torch autograd,
and errors for hostile arguments. Tolerance: 1e-5 x the reference's max abs value."""
import numpy as np
import pytest
import torch

import qkv

TOL = 1e-5


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def ref_rope(x, base=10000.0, rotary_dim=None, interleaved=False, offsets=0):
    """x (B, H, L, d) float64 torch; offsets int or (B,)."""
    B, H, L, d = x.shape
    r = rotary_dim or d
    inv_freq = base ** (-torch.arange(0, r, 2, dtype=torch.float64) / r)
    offs = torch.as_tensor(offsets, dtype=torch.float64).reshape(-1, 1)  # (B or 1, 1)
    pos = offs + torch.arange(L, dtype=torch.float64)  # (B or 1, L)
    ang = pos[..., None] * inv_freq  # (B or 1, L, r/2)
    rot, rest = x[..., :r], x[..., r:]
    if interleaved:
        cos = torch.cos(ang).repeat_interleave(2, -1)[:, None]
        sin = torch.sin(ang).repeat_interleave(2, -1)[:, None]
        pairs = torch.stack((-rot[..., 1::2], rot[..., 0::2]), -1).flatten(-2)
        out = rot * cos + pairs * sin
    else:
        cos = torch.cat((torch.cos(ang), torch.cos(ang)), -1)[:, None]
        sin = torch.cat((torch.sin(ang), torch.sin(ang)), -1)[:, None]
        out = rot * cos + rotate_half(rot) * sin
    return torch.cat((out, rest), -1)


def assert_close(name, got, ref):
    ref = ref.detach().numpy()
    assert got.shape == ref.shape, f"{name}: shape {got.shape} vs {ref.shape}"
    assert got.dtype == np.float32
    scale = float(np.abs(ref).max()) or 1.0
    err = float(np.abs(got.astype(np.float64) - ref).max())
    assert err <= TOL * scale, f"{name}: max abs error {err:.3g} > {TOL} x scale {scale:.3g}"


@pytest.mark.parametrize("interleaved", [False, True])
@pytest.mark.parametrize("rotary_dim", [None, 8])
@pytest.mark.parametrize("offsets", [0, 37, "per_batch"])
def test_rope_forward_and_backward_match_torch(interleaved, rotary_dim, offsets):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 3, 9, 12)).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    off = np.array([5, 100]) if offsets == "per_batch" else offsets
    kw = dict(rotary_dim=rotary_dim, interleaved=interleaved, position_offset=off)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    ref = ref_rope(xt, rotary_dim=rotary_dim, interleaved=interleaved, offsets=off)
    ref.backward(torch.tensor(dy, dtype=torch.float64))
    assert_close("y", qkv.rotary_embedding(x, **kw), ref)
    assert_close("dx", qkv.rotary_embedding_backward(dy, **kw), xt.grad)


def test_rope_shapes_of_rank_2_and_3():
    rng = np.random.default_rng(12)
    x = rng.standard_normal((4, 7, 6)).astype(np.float32)
    ref = ref_rope(torch.tensor(x, dtype=torch.float64)[:, None], base=500.0, offsets=[0, 1, 2, 3])[:, 0]
    assert_close("(B, L, d)", qkv.rotary_embedding(x, base=500.0, position_offset=np.arange(4)), ref)
    ref2 = ref_rope(torch.tensor(x[0], dtype=torch.float64)[None, None])[0, 0]
    assert_close("(L, d)", qkv.rotary_embedding(x[0]), ref2)


@pytest.mark.parametrize("kwargs, message", [
    (dict(rotary_dim=5), "rotary_dim=5"),
    (dict(rotary_dim=0), "rotary_dim=0"),
    (dict(base=0.5), "base=0.5"),
    (dict(position_offset=-3), "position offset -3"),
    (dict(position_offset=np.array([1, 2, 3])), "position_offset"),
])
def test_rope_hostile_arguments(kwargs, message):
    x = np.zeros((2, 2, 3, 8), np.float32)
    with pytest.raises(ValueError, match=message):
        qkv.rotary_embedding(x, **kwargs)


def test_rope_rejects_bad_arrays():
    with pytest.raises(ValueError, match="expected \\(L, d\\)"):
        qkv.rotary_embedding(np.zeros(8, np.float32))
    with pytest.raises(ValueError, match="NaN"):
        qkv.rotary_embedding(np.full((3, 4), np.nan, np.float32))
    with pytest.raises(TypeError, match="'x'"):
        qkv.rotary_embedding(np.zeros((3, 4), bool))
