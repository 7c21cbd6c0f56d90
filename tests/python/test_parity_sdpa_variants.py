"""The attention variants of qkv.scaled_dot_product_attention (+ backward) against PyTorch 1.13, float32.

torch 1.13 has none of them, so each is written out in a float64 autograd reference: grouped-query
heads as k, v repeat-interleaved over the query heads (torch 2.5's enable_gqa), the sliding window
as a boolean band mask, ALiBi as an explicit additive bias, soft-capping as c·tanh(s/c) on the
scaled scores before the biases. Window and ALiBi are aligned bottom-right (query i's diagonal key
is i + Lk − Lq, FlashAttention's convention); is_causal stays top-left (torch's).
Tolerance: max abs error <= 2e-5 × the reference's max abs value.
"""
import numpy as np
import pytest
import torch

import qkv

TOL = 2e-5


def assert_close(name, got, ref, tol=TOL):
    ref = np.asarray(ref, dtype=np.float64)
    assert got.shape == ref.shape, f"{name}: shape {got.shape} vs {ref.shape}"
    scale = max(float(np.abs(ref).max()), 1e-8)
    err = float(np.abs(got.astype(np.float64) - ref).max())
    assert err <= tol * scale, f"{name}: max abs error {err:.3g} > {tol} × scale {scale:.3g}"


def reference(q, k, v, dout, is_causal=False, window=(-1, -1), slopes=None, softcap=0.0, bias=None):
    tq, tk, tv = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (q, k, v))
    H, Hkv = q.shape[-3], k.shape[-3]
    kk = tk.repeat_interleave(H // Hkv, dim=-3)
    vv = tv.repeat_interleave(H // Hkv, dim=-3)
    d, Lq, Lk = q.shape[-1], q.shape[-2], k.shape[-2]
    s = tq @ kk.transpose(-1, -2) / np.sqrt(d)
    if softcap > 0:
        s = softcap * torch.tanh(s / softcap)
    i = torch.arange(Lq)[:, None]
    j = torch.arange(Lk)[None, :]
    diag = i + Lk - Lq
    visible = torch.ones(Lq, Lk, dtype=torch.bool)
    if is_causal:
        visible &= j <= i
    if window[0] >= 0:
        visible &= j >= diag - window[0]
    if window[1] >= 0:
        visible &= j <= diag + window[1]
    add = torch.zeros(s.shape, dtype=torch.float64)
    if slopes is not None:
        sl = torch.tensor(slopes, dtype=torch.float64)
        add = add - sl[..., None, None] * (diag - j).abs().to(torch.float64)
    if bias is not None:
        add = add + torch.tensor(bias, dtype=torch.float64)
    add = add.masked_fill(~visible, float("-inf"))
    empty = torch.isneginf(add).all(-1)
    add = add.masked_fill(empty[..., None], 0.0)
    w = torch.softmax(s + add, dim=-1).masked_fill(empty[..., None], 0.0)
    out = w @ vv
    out.backward(torch.tensor(dout, dtype=torch.float64))
    return out.detach().numpy(), tq.grad.numpy(), tk.grad.numpy(), tv.grad.numpy()


CASES = [
    # (label, B, H, Hkv, Lq, Lk, d, dv, is_causal, window, slopes shape, softcap, float mask)
    ("gqa", 2, 4, 2, 9, 13, 8, 6, False, (-1, -1), None, 0.0, False),
    ("mqa causal", 1, 3, 1, 13, 13, 16, 16, True, (-1, -1), None, 0.0, False),
    ("window", 2, 2, 2, 17, 17, 8, 8, False, (4, 2), None, 0.0, False),
    ("window causal Lq < Lk", 1, 2, 2, 7, 19, 8, 5, True, (5, -1), None, 0.0, False),
    ("alibi per head + mask", 2, 4, 4, 9, 11, 8, 8, False, (-1, -1), "H", 0.0, True),
    ("alibi per batch and head", 2, 2, 1, 6, 11, 8, 8, False, (-1, -1), "BH", 0.0, False),
    ("softcap", 2, 2, 2, 9, 9, 8, 8, False, (-1, -1), None, 1.0, False),
    ("all together", 2, 4, 2, 70, 90, 32, 16, True, (30, 0), "H", 2.0, True),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_variant_matches_torch(case):
    _, B, H, Hkv, Lq, Lk, d, dv, is_causal, window, slopes_kind, softcap, with_bias = case
    rng = np.random.default_rng(7)
    q = rng.standard_normal((B, H, Lq, d), dtype=np.float32) * 2
    k = rng.standard_normal((B, Hkv, Lk, d), dtype=np.float32) * 2
    v = rng.standard_normal((B, Hkv, Lk, dv), dtype=np.float32)
    dout = rng.standard_normal((B, H, Lq, dv), dtype=np.float32)
    slopes = None
    if slopes_kind == "H":
        slopes = (2.0 ** -np.arange(1, H + 1)).astype(np.float32)
    elif slopes_kind == "BH":
        slopes = rng.uniform(0.05, 0.5, (B, H)).astype(np.float32)
    bias = rng.standard_normal((Lq, Lk)).astype(np.float32) if with_bias else None
    kw = dict(is_causal=is_causal, enable_gqa=Hkv != H, window_size=window, alibi_slopes=slopes, softcap=softcap)
    out = qkv.scaled_dot_product_attention(q, k, v, attn_mask=bias, **kw)
    dq, dk, dv_ = qkv.scaled_dot_product_attention_backward(q, k, v, dout, attn_mask=bias, **kw)
    r_out, r_dq, r_dk, r_dv = reference(q, k, v, dout, is_causal, window, slopes, softcap, bias)
    assert_close("out", out, r_out)
    assert_close("dq", dq, r_dq)
    assert_close("dk", dk, r_dk)
    assert_close("dv", dv_, r_dv)


def test_fewer_key_value_heads_need_enable_gqa():
    q = np.zeros((1, 4, 3, 2), np.float32)
    k = np.zeros((1, 2, 3, 2), np.float32)
    with pytest.raises(Exception, match="argument 'k' has shape"):
        qkv.scaled_dot_product_attention(q, k, k)
    with pytest.raises(Exception, match="alibi_slopes"):
        qkv.scaled_dot_product_attention(q, k, k, enable_gqa=True, alibi_slopes=np.ones(3, np.float32))
    with pytest.raises(Exception, match="window_left"):
        qkv.scaled_dot_product_attention(q, k, k, enable_gqa=True, window_size=(-3, 0))


def test_varlen_packed_sequences_match_torch_per_sequence():
    """Three sequences packed without padding; causal=True is bottom-right per sequence (FlashAttention's),
    the same as the window (-1, 0) of the reference."""
    rng = np.random.default_rng(9)
    lq, lk, H, Hkv, d, dv = [3, 7, 4], [5, 7, 9], 4, 2, 8, 6
    cu_q = np.concatenate([[0], np.cumsum(lq)]).astype(np.int64)
    cu_k = np.concatenate([[0], np.cumsum(lk)]).astype(np.int64)
    q = rng.standard_normal((cu_q[-1], H, d), dtype=np.float32)
    k = rng.standard_normal((cu_k[-1], Hkv, d), dtype=np.float32)
    v = rng.standard_normal((cu_k[-1], Hkv, dv), dtype=np.float32)
    dout = rng.standard_normal((cu_q[-1], H, dv), dtype=np.float32)
    slopes = (2.0 ** -np.arange(1, H + 1)).astype(np.float32)
    kw = dict(causal=True, enable_gqa=True, alibi_slopes=slopes, softcap=1.5)
    out = qkv.scaled_dot_product_attention_varlen(q, k, v, cu_q, cu_k, **kw)
    dq, dk, dv_ = qkv.scaled_dot_product_attention_varlen_backward(q, k, v, dout, cu_q, cu_k, **kw)
    for s in range(len(lq)):
        qs, ks, vs, ds = (a[c[s]:c[s + 1]].transpose(1, 0, 2)[None]
                          for a, c in ((q, cu_q), (k, cu_k), (v, cu_k), (dout, cu_q)))
        r_out, r_dq, r_dk, r_dv = reference(qs, ks, vs, ds, window=(-1, 0), slopes=slopes, softcap=1.5)
        back = lambda a: a[0].transpose(1, 0, 2)
        assert_close(f"out {s}", out[cu_q[s]:cu_q[s + 1]], back(r_out))
        assert_close(f"dq {s}", dq[cu_q[s]:cu_q[s + 1]], back(r_dq))
        assert_close(f"dk {s}", dk[cu_k[s]:cu_k[s + 1]], back(r_dk))
        assert_close(f"dv {s}", dv_[cu_k[s]:cu_k[s + 1]], back(r_dv))
