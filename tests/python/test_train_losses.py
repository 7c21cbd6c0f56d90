"""train/cross_entropy through qkv.cross_entropy against torch.nn.functional.cross_entropy:
class-index and probability targets (mixup / cutmix), with and without label smoothing, loss and
gradient; bad targets give clear errors."""
import numpy as np
import pytest
import torch

import qkv


def torch_ce(logits, target, smoothing):
    z = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(target)
    if t.is_floating_point():
        t = t.double()
    loss = torch.nn.functional.cross_entropy(z, t, label_smoothing=smoothing)
    loss.backward()
    return loss.item(), z.grad.numpy()


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("n,c", [(1, 2), (7, 10), (33, 5)])
def test_soft_targets_match_torch(n, c, smoothing):
    rng = np.random.default_rng(n * 100 + c)
    logits = (rng.standard_normal((n, c)) * 3).astype(np.float32)
    # A mixup target: lam * onehot(a) + (1 - lam) * onehot(b), and a dense random one.
    a, b = rng.integers(0, c, n), rng.integers(0, c, n)[::-1]
    lam = 0.3
    mixed = np.zeros((n, c), np.float32)
    mixed[np.arange(n), a] += lam
    mixed[np.arange(n), b] += 1 - lam
    dense = rng.random((n, c)).astype(np.float32)
    dense /= dense.sum(1, keepdims=True)
    for target in (mixed, dense):
        loss, grad = qkv.cross_entropy(logits, target, label_smoothing=smoothing)
        ref_loss, ref_grad = torch_ce(logits, target, smoothing)
        assert loss == pytest.approx(ref_loss, rel=1e-5)
        np.testing.assert_allclose(grad, ref_grad, rtol=1e-4, atol=1e-6)


def test_class_targets_match_torch():
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((9, 4)).astype(np.float32)
    labels = rng.integers(0, 4, 9)
    for smoothing in (0.0, 0.2):
        loss, grad = qkv.cross_entropy(logits, labels, label_smoothing=smoothing)
        ref_loss, ref_grad = torch_ce(logits, labels, smoothing)
        assert loss == pytest.approx(ref_loss, rel=1e-5)
        np.testing.assert_allclose(grad, ref_grad, rtol=1e-4, atol=1e-6)


def test_bad_targets_are_refused_naming_them():
    logits = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="sums to"):
        qkv.cross_entropy(logits, np.array([[0.5, 0.2, 0.1], [1, 0, 0]], np.float32))
    with pytest.raises(ValueError, match="expected a probability >= 0"):
        qkv.cross_entropy(logits, np.array([[1.5, -0.5, 0], [1, 0, 0]], np.float32))
    with pytest.raises(ValueError, match="targets"):
        qkv.cross_entropy(logits, np.ones((2, 4), np.float32) / 4)
    with pytest.raises(ValueError, match="labels\\[1\\] is 3"):
        qkv.cross_entropy(logits, np.array([0, 3]))
    with pytest.raises(TypeError, match="target"):
        qkv.cross_entropy(logits, np.array(["a", "b"]))
