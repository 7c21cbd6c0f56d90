"""qkv.conv2d (the float backend: oneDNN's convolution) against torch.nn.functional.conv2d and its
autograd on odd shapes: strides 1-3, padding 0-2, kernels 1-5, non-square inputs, with and
without bias; bad arguments raise naming the argument."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import qkv

CASES = [  # (B, C, H, W, O, k, stride, padding, bias)
    (2, 3, 7, 5, 4, 3, 1, 1, True),
    (1, 24, 28, 28, 48, 3, 2, 1, True),
    (3, 5, 13, 11, 7, 5, 3, 2, False),
    (2, 1, 28, 28, 16, 7, 7, 0, True),
    (4, 2, 6, 9, 3, 1, 1, 0, True),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c[:4])) + f"-O{c[4]}-k{c[5]}-s{c[6]}-p{c[7]}")
def test_forward_and_backward_match_torch(case):
    B, C, H, W, O, k, stride, padding, bias = case
    rng = np.random.default_rng(B * 100 + k)
    x = rng.standard_normal((B, C, H, W)).astype(np.float32)
    w = (0.3 * rng.standard_normal((O, C, k, k))).astype(np.float32)
    b = rng.standard_normal(O).astype(np.float32) if bias else None
    xt = torch.from_numpy(x).requires_grad_()
    wt = torch.from_numpy(w).requires_grad_()
    bt = torch.from_numpy(b).requires_grad_() if bias else None
    yt = F.conv2d(xt, wt, bt, stride=stride, padding=padding)
    y = qkv.conv2d(x, w, b, stride=stride, padding=padding)
    assert y.shape == tuple(yt.shape)
    scale = float(yt.abs().max())
    assert np.max(np.abs(y - yt.detach().numpy())) <= 1e-5 * scale
    dy = rng.standard_normal(y.shape).astype(np.float32)
    yt.backward(torch.from_numpy(dy))
    dx, dw, db = qkv.conv2d_backward(dy, x, w, bias=bias, stride=stride, padding=padding)
    for name, ours, theirs in (("dx", dx, xt.grad), ("dw", dw, wt.grad)) + ((("db", db, bt.grad),) if bias else ()):
        t = theirs.numpy()
        assert np.max(np.abs(ours - t)) <= 1e-5 * max(1.0, float(np.max(np.abs(t)))), name
    if not bias:
        assert db is None


def test_bad_arguments_name_the_argument():
    x = np.zeros((1, 2, 5, 5), np.float32)
    w = np.zeros((3, 2, 3, 3), np.float32)
    with pytest.raises(ValueError, match="weight"):
        qkv.conv2d(x, np.zeros((3, 1, 3, 3), np.float32))
    with pytest.raises(ValueError, match="stride=0"):
        qkv.conv2d(x, w, stride=0)
    with pytest.raises(ValueError, match="padding=3"):
        qkv.conv2d(x, w, padding=3)
    with pytest.raises(ValueError, match="bias"):
        qkv.conv2d(x, w, np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="x"):
        qkv.conv2d(np.full((1, 2, 5, 5), np.nan, np.float32), w)
    with pytest.raises(ValueError, match="dy"):
        qkv.conv2d_backward(np.zeros((1, 3, 4, 4), np.float32), x, w)
