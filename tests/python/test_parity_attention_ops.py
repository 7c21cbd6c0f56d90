"""qkv.masked_softmax, qkv.additive_attention and qkv.nadaraya_watson against torch (d2l's definitions).

References are d2l's formulas written with torch in float64; where d2l fills masked scores with
-1e6 (so a length-0 row becomes uniform), the reference masks with -inf and zeroes empty rows,
which is qkv's documented behaviour. Tolerance: 1e-5 × the reference's max abs value.
"""
import numpy as np
import pytest
import torch

import qkv

TOL = 1e-5


def assert_close(name, got, ref, tol=TOL):
    ref = ref.detach().numpy() if isinstance(ref, torch.Tensor) else np.asarray(ref)
    assert got.shape == ref.shape, f"{name}: shape {got.shape} vs {ref.shape}"
    assert got.dtype == np.float32
    scale = float(np.abs(ref).max()) or 1.0
    err = float(np.abs(got.astype(np.float64) - ref.astype(np.float64)).max())
    assert err <= tol * scale, f"{name}: max abs error {err:.3g} > {tol} × scale {scale:.3g}"


def ref_masked_softmax(x, valid_lens):
    x = torch.tensor(x, dtype=torch.float64)
    if valid_lens is None:
        return torch.softmax(x, -1)
    vl = torch.tensor(valid_lens)
    if vl.dim() == 1:
        vl = vl[:, None].expand(x.shape[0], x.shape[1])
    keep = torch.arange(x.shape[-1]) < vl[..., None]
    w = torch.softmax(x.masked_fill(~keep, float("-inf")), -1)
    return torch.nan_to_num(w, nan=0.0)


@pytest.mark.parametrize("lens", [None, "per_batch", "per_query", "with_zero"])
def test_masked_softmax(lens):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4, 7)).astype(np.float32)
    valid = {None: None, "per_batch": np.array([2, 7, 5]), "per_query": rng.integers(1, 8, size=(3, 4)),
             "with_zero": np.array([0, 3, 1])}[lens]
    y = qkv.masked_softmax(x, valid)
    assert_close("masked_softmax", y, ref_masked_softmax(x, valid))
    if lens == "with_zero":
        assert (y[0] == 0).all()
    # d2l's textbook example: rows past the valid length are exactly zero.
    y = qkv.masked_softmax(np.random.default_rng(2).random((2, 2, 4)), [2, 3])
    assert (y[0, :, 2:] == 0).all() and (y[1, :, 3:] == 0).all()
    np.testing.assert_allclose(y.sum(-1), 1.0, atol=1e-6)


@pytest.mark.parametrize("Lq,Lk,q_size,k_size,h,dv", [(1, 10, 20, 2, 8, 4), (3, 5, 4, 6, 7, 3), (2, 1, 3, 3, 2, 1)])
def test_additive_attention(Lq, Lk, q_size, k_size, h, dv):
    rng = np.random.default_rng(3)
    B = 2
    q = rng.standard_normal((B, Lq, q_size)).astype(np.float32)
    k = rng.standard_normal((B, Lk, k_size)).astype(np.float32)
    v = rng.standard_normal((B, Lk, dv)).astype(np.float32)
    W_q = rng.standard_normal((h, q_size)).astype(np.float32) * 0.5
    W_k = rng.standard_normal((h, k_size)).astype(np.float32) * 0.5
    w_v = rng.standard_normal((1, h)).astype(np.float32)
    valid = np.array([Lk, max(1, Lk // 2)])
    out, w = qkv.additive_attention(q, k, v, W_q, W_k, w_v, valid_lens=valid, return_weights=True)
    t = lambda a: torch.tensor(a, dtype=torch.float64)  # noqa: E731
    features = torch.tanh((t(q) @ t(W_q).T)[:, :, None, :] + (t(k) @ t(W_k).T)[:, None, :, :])
    scores = (features @ t(w_v).T).squeeze(-1)
    rw = ref_masked_softmax(scores.numpy(), valid)
    assert_close("weights", w, rw)
    assert_close("out", out, rw @ t(v))
    assert_close("out without weights", qkv.additive_attention(q, k, v, W_q, W_k, w_v, valid_lens=valid), rw @ t(v))


@pytest.mark.parametrize("w", [1.0, 2.5])
def test_nadaraya_watson(w):
    rng = np.random.default_rng(4)
    x_train = np.sort(rng.random(50) * 5).astype(np.float32)
    y_train = (2 * np.sin(x_train) + x_train ** 0.8 + rng.normal(0, 0.5, 50)).astype(np.float32)
    x_test = np.arange(0, 5, 0.1, dtype=np.float32)
    pred, weights = qkv.nadaraya_watson(x_test, x_train, y_train, w=w, return_weights=True)
    diff = torch.tensor(x_test, dtype=torch.float64)[:, None] - torch.tensor(x_train, dtype=torch.float64)[None]
    rw = torch.softmax(-((diff * w) ** 2) / 2, dim=1)
    assert_close("weights", weights, rw)
    assert_close("predictions", pred, rw @ torch.tensor(y_train, dtype=torch.float64))
