"""qkv.Transformer against torch.nn.Transformer (PyTorch 1.13), float32, seeded.

Weights move torch → qkv with load_state_dict({k: v.numpy()}) unchanged (same names and
layouts) and back with state_dict(). Compared: the output (max abs error <= 1e-5 × the torch
output's max abs), the input gradients and every parameter gradient (1e-4), for every mask kind
(src_mask, src_key_padding_mask, tgt_mask as bool, as float and as tgt_is_causal,
tgt_key_padding_mask, memory_mask, memory_key_padding_mask), post- and pre-norm, relu and gelu,
both layouts. torch 1.13 has no tgt_is_causal: it gets generate_square_subsequent_mask. torch runs
with gradients enabled, so its inference fast path (which zeroes padded rows) stays off.
"""
import numpy as np
import pytest
import torch

import qkv

E, H, F = 16, 4, 24
B, S, T = 3, 7, 5


def assert_close(name, got, ref, tol):
    ref = ref.detach().numpy() if isinstance(ref, torch.Tensor) else np.asarray(ref)
    assert got.shape == ref.shape, f"{name}: shape {got.shape} vs {ref.shape}"
    scale = float(np.abs(ref).max()) or 1.0
    err = float(np.abs(got.astype(np.float64) - ref.astype(np.float64)).max())
    assert err <= tol * scale, f"{name}: max abs error {err:.3g} > {tol} × scale {scale:.3g}"


def make_pair(seed, norm_first, activation, batch_first):
    torch.manual_seed(seed)
    kw = dict(d_model=E, nhead=H, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=F, dropout=0.0,
              activation=activation, batch_first=batch_first, norm_first=norm_first)
    t = torch.nn.Transformer(**kw)
    with torch.no_grad():  # torch starts biases at 0 and norms at 1; make them matter
        for name, p in t.named_parameters():
            if "bias" in name or "norm" in name:
                p.add_(torch.randn_like(p) * 0.3)
    m = qkv.Transformer(**kw)
    assert sorted(m.state_dict()) == sorted(t.state_dict())
    m.load_state_dict({k: v.numpy() for k, v in t.state_dict().items()})
    return t, m


def padding(lengths, L):
    return np.arange(L)[None, :] >= np.asarray(lengths)[:, None]


def causal_float(L):
    return torch.nn.Transformer.generate_square_subsequent_mask(L).numpy()


rng = np.random.default_rng(0)
MASK_CASES = {
    "none": ({}, {}),
    "padding_and_causal": (
        dict(src_key_padding_mask=padding([7, 4, 6], S), tgt_key_padding_mask=padding([5, 3, 2], T),
             memory_key_padding_mask=padding([7, 4, 6], S), tgt_mask=causal_float(T)),
        dict(tgt_mask=None, tgt_is_causal=True)),
    "bool_masks": (
        dict(src_mask=(rng.random((S, S)) < 0.3) & ~np.eye(S, dtype=bool), tgt_mask=np.triu(np.ones((T, T), bool), 1),
             memory_mask=np.concatenate([(rng.random((T, S - 1)) < 0.4), np.zeros((T, 1), bool)], axis=1)),
        {}),
    "float_masks": (
        dict(src_mask=rng.standard_normal((S, S)).astype(np.float32), tgt_mask=causal_float(T),
             memory_mask=rng.standard_normal((T, S)).astype(np.float32),
             src_key_padding_mask=padding([7, 5, 3], S), memory_key_padding_mask=padding([7, 5, 3], S)),
        {}),
}


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("masks", sorted(MASK_CASES))
def test_forward_and_gradients_match_torch(norm_first, activation, batch_first, masks):
    t, m = make_pair(11, norm_first, activation, batch_first)
    torch_masks, qkv_override = MASK_CASES[masks]
    qkv_masks = {**torch_masks, **qkv_override}
    g = np.random.default_rng(1)
    shape = (lambda L: (B, L, E)) if batch_first else (lambda L: (L, B, E))
    src = g.standard_normal(shape(S)).astype(np.float32)
    tgt = g.standard_normal(shape(T)).astype(np.float32)
    ts, tt = torch.tensor(src, requires_grad=True), torch.tensor(tgt, requires_grad=True)
    out = t(ts, tt, **{k: torch.tensor(v) for k, v in torch_masks.items()})
    mo = m(src, tgt, **qkv_masks)
    assert_close("out", mo, out, 1e-5)
    dout = g.standard_normal(out.shape).astype(np.float32)
    out.backward(torch.tensor(dout))
    m.zero_grad()
    dsrc, dtgt = m.backward(dout)
    assert_close("dsrc", dsrc, ts.grad, 1e-4)
    assert_close("dtgt", dtgt, tt.grad, 1e-4)
    grads = m.grads()
    for name, p in t.named_parameters():
        assert_close(name, grads[name], p.grad, 1e-4)


def test_state_dict_round_trip_and_errors():
    t, m = make_pair(3, False, "relu", True)
    back = m.state_dict()
    for k, v in t.state_dict().items():
        np.testing.assert_array_equal(back[k], v.numpy())
    with pytest.raises(ValueError, match="activation"):
        qkv.Transformer(d_model=8, nhead=2, activation="tanh")
    with pytest.raises(ValueError, match="nhead"):
        qkv.Transformer(d_model=8, nhead=3)
    with pytest.raises(ValueError, match="'src'"):
        m(np.zeros((2, 3, E + 1), np.float32), np.zeros((2, 3, E), np.float32))
    with pytest.raises(ValueError, match="src_key_padding_mask|key_padding_mask"):
        m(np.zeros((2, 3, E), np.float32), np.zeros((2, 3, E), np.float32), src_key_padding_mask=np.zeros((2, 4), bool))
    with pytest.raises(TypeError, match="tgt_mask"):
        m(np.zeros((2, 3, E), np.float32), np.zeros((2, 3, E), np.float32), tgt_mask=np.zeros((3, 3), np.int32))
    bad = dict(back)
    bad["encoder.norm.weight"] = np.zeros(E + 1, np.float32)
    with pytest.raises(ValueError, match="encoder.norm.weight"):
        m.load_state_dict(bad)
