"""qkv.scaled_dot_product_attention (+ backward) against PyTorch 1.13, float32, seeded.

torch 1.13 has no F.scaled_dot_product_attention, so the reference is softmax(q kᵀ·scale + mask) v
with autograd in float64, with F.scaled_dot_product_attention's conventions (bool True = may attend,
float masks added, is_causal top-left). Where every key of a query is masked torch gives NaN and
qkv gives zeros: the plain reference is checked to be NaN there and the other rows compared, and
gradients are compared against the same reference with those rows' weights set to zero.
Tolerance: max abs error <= 1e-5 × the reference's max abs value.
"""
import numpy as np
import pytest
import torch

import qkv

TOL = 1e-5


def assert_close(name, got, ref, tol=TOL):
    ref = np.asarray(ref, dtype=np.float64)
    assert got.shape == ref.shape, f"{name}: shape {got.shape} vs {ref.shape}"
    assert got.dtype == np.float32, f"{name}: dtype {got.dtype}"
    scale = max(float(np.abs(ref).max()) if ref.size else 1.0, 1e-8)  # floor: a vanishing gradient
    err = float(np.abs(got.astype(np.float64) - ref).max()) if ref.size else 0.0
    assert err <= tol * scale, f"{name}: max abs error {err:.3g} > {tol} × scale {scale:.3g}"


def torch_reference(q, k, v, dout, allowed=None, bias=None, is_causal=False, scale=None, valid_lens=None,
                    zero_empty_rows=True):
    """float64 autograd reference. Returns out, weights, dq, dk, dv and the mask of empty rows."""
    tq, tk, tv = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (q, k, v))
    d, Lq, Lk = q.shape[-1], q.shape[-2], k.shape[-2]
    s = tq @ tk.transpose(-1, -2) * (1.0 / np.sqrt(d) if scale is None else scale)
    visible = torch.ones(s.shape, dtype=torch.bool)
    if allowed is not None:
        visible = visible & torch.tensor(allowed)
    if is_causal:
        visible = visible & torch.ones(Lq, Lk, dtype=torch.bool).tril()
    if valid_lens is not None:
        vl = torch.tensor(valid_lens)
        if vl.dim() == s.dim() - 3 or (s.dim() == 3 and vl.dim() == 1) or (s.dim() == 2 and vl.dim() == 0):
            vl = vl[..., None]  # one length per batch entry, for every query
        if s.dim() >= 4:
            vl = vl.unsqueeze(-2)  # broadcast over heads
        visible = visible & (torch.arange(Lk) < vl[..., None])
    add = torch.zeros(s.shape, dtype=torch.float64)
    if bias is not None:
        add = add + torch.tensor(bias, dtype=torch.float64)
    add = add.masked_fill(~visible, float("-inf"))
    empty = torch.isneginf(add).all(-1)
    if zero_empty_rows:
        add = add.masked_fill(empty[..., None], 0.0)
    w = torch.softmax(s + add, dim=-1)
    if zero_empty_rows:
        w = w.masked_fill(empty[..., None], 0.0)
    out = w @ tv
    out.backward(torch.tensor(dout, dtype=torch.float64))
    return (out.detach().numpy(), w.detach().numpy(), tq.grad.numpy(), tk.grad.numpy(), tv.grad.numpy(),
            empty.numpy())


def run_case(rng, lead, Lq, Lk, d, dv, mask_kind=None, is_causal=False, scale=None, lens_kind=None):
    q = rng.standard_normal((*lead, Lq, d)).astype(np.float32)
    k = rng.standard_normal((*lead, Lk, d)).astype(np.float32)
    v = rng.standard_normal((*lead, Lk, dv)).astype(np.float32)
    dout = rng.standard_normal((*lead, Lq, dv)).astype(np.float32)
    full = (*lead, Lq, Lk)
    attn_mask = allowed = bias = valid_lens = None
    if mask_kind == "bool_2d":
        allowed = rng.random((Lq, Lk)) < 0.7
        attn_mask = allowed
    elif mask_kind == "bool_full":
        allowed = rng.random(full) < 0.6
        attn_mask = allowed
    elif mask_kind == "bool_padding":  # (B, 1, 1, Lk)-style key padding in F.sdpa's polarity
        shape = (*lead[:-1], 1, 1, Lk) if len(lead) >= 2 else (*lead, 1, Lk)
        allowed = rng.random(shape) < 0.7
        attn_mask = allowed
    elif mask_kind == "float_2d":
        bias = rng.standard_normal((Lq, Lk)).astype(np.float32)
        attn_mask = bias
    elif mask_kind == "float_full_inf":
        bias = rng.standard_normal(full).astype(np.float32)
        bias[rng.random(full) < 0.3] = -np.inf
        attn_mask = bias
    if lens_kind == "per_batch":
        batch = lead[:-1] if len(lead) >= 2 else lead
        valid_lens = rng.integers(0, Lk + 1, size=batch)
    elif lens_kind == "per_query":
        batch = lead[:-1] if len(lead) >= 2 else lead
        valid_lens = rng.integers(0, Lk + 1, size=(*batch, Lq))
    out, w = qkv.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal, scale=scale,
                                              valid_lens=valid_lens, return_weights=True)
    dq, dk, dvv = qkv.scaled_dot_product_attention_backward(q, k, v, dout, attn_mask=attn_mask,
                                                            is_causal=is_causal, scale=scale, valid_lens=valid_lens)
    r_out, r_w, r_dq, r_dk, r_dv, empty = torch_reference(q, k, v, dout, allowed, bias, is_causal, scale,
                                                          valid_lens)
    assert_close("out", out, r_out)
    assert_close("weights", w, r_w)
    assert_close("dq", dq, r_dq)
    assert_close("dk", dk, r_dk)
    assert_close("dv", dvv, r_dv)
    if empty.any():
        # Plain softmax (what torch does) gives NaN on those rows; qkv gives zeros there.
        plain = torch_reference(q, k, v, dout, allowed, bias, is_causal, scale, valid_lens, zero_empty_rows=False)
        assert np.isnan(plain[0][empty]).all()
        assert (out[empty] == 0).all() and (w[empty] == 0).all() and (dq[empty] == 0).all()
        assert_close("out (non-empty rows)", out[~empty], plain[0][~empty])
    assert np.isfinite(dk).all() and np.isfinite(dvv).all()
    return empty.any()


SHAPES = [  # lead dims, Lq, Lk, d, dv
    ((2, 3), 4, 5, 8, 6),
    ((1, 1), 1, 1, 1, 1),
    ((1, 2), 1, 7, 5, 3),
    ((3, 1), 9, 1, 4, 4),
    ((2, 2), 33, 31, 64, 32),
    ((1, 4), 17, 65, 16, 16),
    ((2,), 5, 7, 3, 11),       # (B, L, d)
    ((), 6, 4, 7, 2),          # (L, d)
    ((2, 1, 3), 3, 5, 4, 4),   # more leading dims
]


@pytest.mark.parametrize("lead,Lq,Lk,d,dv", SHAPES)
def test_no_mask(lead, Lq, Lk, d, dv):
    run_case(np.random.default_rng(1), lead, Lq, Lk, d, dv)


@pytest.mark.parametrize("mask_kind", ["bool_2d", "bool_full", "bool_padding", "float_2d", "float_full_inf"])
@pytest.mark.parametrize("lead,Lq,Lk,d,dv", [SHAPES[0], SHAPES[2], SHAPES[4], SHAPES[6], SHAPES[7], SHAPES[8]])
def test_masks(mask_kind, lead, Lq, Lk, d, dv):
    run_case(np.random.default_rng(2), lead, Lq, Lk, d, dv, mask_kind=mask_kind)


@pytest.mark.parametrize("Lq,Lk", [(5, 5), (3, 7), (7, 3), (1, 4)])
def test_causal_top_left(Lq, Lk):
    run_case(np.random.default_rng(3), (2, 2), Lq, Lk, 8, 5, is_causal=True)
    run_case(np.random.default_rng(4), (2, 2), Lq, Lk, 8, 5, mask_kind="bool_2d", is_causal=True)


@pytest.mark.parametrize("lens_kind", ["per_batch", "per_query"])
@pytest.mark.parametrize("lead", [(3, 2), (4,), (2, 2, 2)])
def test_valid_lens(lens_kind, lead):
    run_case(np.random.default_rng(5), lead, 4, 6, 8, 3, lens_kind=lens_kind)


def test_custom_scale():
    run_case(np.random.default_rng(6), (2, 3), 5, 6, 8, 4, scale=0.3)
    run_case(np.random.default_rng(7), (2, 3), 5, 6, 8, 4, mask_kind="float_2d", scale=1.0)


def test_fully_masked_rows_give_zeros_not_nan():
    rng = np.random.default_rng(8)
    assert run_case(rng, (2, 3), 4, 5, 8, 6, mask_kind="float_full_inf", lens_kind="per_query")
    # A guaranteed empty row: query 0 sees nothing.
    allowed = np.ones((4, 5), bool)
    allowed[0] = False
    q, k, v = (rng.standard_normal(s).astype(np.float32) for s in ((2, 4, 8), (2, 5, 8), (2, 5, 8)))
    out, w = qkv.scaled_dot_product_attention(q, k, v, attn_mask=allowed, return_weights=True)
    assert (out[:, 0] == 0).all() and (w[:, 0] == 0).all()
    dq, dk, dv = qkv.scaled_dot_product_attention_backward(q, k, v, np.ones_like(out), attn_mask=allowed)
    assert (dq[:, 0] == 0).all() and np.isfinite(dk).all() and np.isfinite(dv).all()


def test_float64_and_strided_inputs_are_accepted():
    rng = np.random.default_rng(9)
    q = rng.standard_normal((2, 3, 6, 8))            # float64: converted to float32
    k = rng.standard_normal((2, 3, 8, 5)).swapaxes(-1, -2)  # non-contiguous
    v = rng.standard_normal((2, 3, 5, 4)).astype(np.float32)
    out = qkv.scaled_dot_product_attention(q, k, v)
    ref = qkv.scaled_dot_product_attention(q.astype(np.float32), np.ascontiguousarray(k, dtype=np.float32), v)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, ref)


def test_dropout_is_seeded_and_weights_are_pre_dropout():
    rng = np.random.default_rng(10)
    q, k, v = (rng.standard_normal((2, 2, 6, 8)).astype(np.float32) for _ in range(3))
    base, w0 = qkv.scaled_dot_product_attention(q, k, v, return_weights=True)
    qkv.manual_seed(123)
    a, w1 = qkv.scaled_dot_product_attention(q, k, v, dropout_p=0.5, return_weights=True)
    qkv.manual_seed(123)
    b = qkv.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    c = qkv.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)
    assert not np.allclose(a, base)
    np.testing.assert_allclose(w1, w0, rtol=0, atol=1e-6)
    # Averaged over many masks, dropout is unbiased (E[mask/(1-p)] = 1).
    mean = np.mean([qkv.scaled_dot_product_attention(q, k, v, dropout_p=0.5) for _ in range(400)], axis=0)
    assert np.abs(mean - base).max() < 0.25 * np.abs(base).max()
    # dropout_p = 1 is accepted as by torch: every weight is dropped.
    assert (qkv.scaled_dot_product_attention(q, k, v, dropout_p=1.0) == 0).all()


@pytest.mark.parametrize("magnitude", [10.0, 100.0])
def test_large_scores_do_not_overflow(magnitude):
    rng = np.random.default_rng(11)
    q = (rng.standard_normal((2, 2, 5, 8)) * magnitude).astype(np.float32)
    k = (rng.standard_normal((2, 2, 6, 8)) * magnitude).astype(np.float32)
    v = rng.standard_normal((2, 2, 6, 4)).astype(np.float32)
    dout = rng.standard_normal((2, 2, 5, 4)).astype(np.float32)
    out, w = qkv.scaled_dot_product_attention(q, k, v, return_weights=True)
    dq, dk, dv = qkv.scaled_dot_product_attention_backward(q, k, v, dout)
    r_out, r_w, r_dq, r_dk, r_dv, _ = torch_reference(q, k, v, dout)
    assert np.isfinite(out).all() and np.isfinite(dq).all() and np.isfinite(dk).all()
    # Scores of size ~magnitude² carry float32 rounding of ~1e-7 × magnitude² (inherent to float32
    # inputs, torch's float32 path has it too), so the tolerance grows with the conditioning.
    tol = TOL * max(1.0, magnitude ** 2 / 100)
    assert_close("out", out, r_out, tol)
    assert_close("weights", w, r_w, tol)
    assert_close("dv", dv, r_dv, tol)
    assert_close("dq", dq, r_dq, tol * magnitude)
    assert_close("dk", dk, r_dk, tol * magnitude)
