"""qkv.MultiheadAttention(..., num_kv_heads=Hkv) (grouped-query attention) against PyTorch 1.13.

torch 1.13's nn.MultiheadAttention has no key/value head count, so its peer is the same module
with every key/value head's projection rows repeated for the G = H / Hkv query heads that share it
(repeat-interleave: query head h reads key/value head h // G). Compared: outputs, averaged and
per-head weights, input gradients, and every parameter gradient (torch's gradients of the repeated
rows summed over each group), max abs error <= 1e-5 × the torch value's max abs.
"""
import numpy as np
import pytest
import torch

import qkv
from test_parity_mha import assert_close


def repeat_heads(w, Hkv, G, hd):
    """Rows (Hkv·hd, …) → (Hkv·G·hd, …): each head's hd rows repeated G times, in place."""
    return w.reshape(Hkv, 1, hd, *w.shape[1:]).repeat(1, G, *([1] * w.dim())).reshape(Hkv * G * hd, *w.shape[1:])


def sum_heads(g, Hkv, G, hd):
    """The inverse of repeat_heads for gradients: sums the G copies of each head's rows."""
    return g.reshape(Hkv, G, hd, *g.shape[1:]).sum(1).reshape(Hkv * hd, *g.shape[1:])


def make_pair(seed, E, H, Hkv, kdim=None, vdim=None, batch_first=True):
    m = qkv.MultiheadAttention(E, H, kdim=kdim, vdim=vdim, batch_first=batch_first, num_kv_heads=Hkv)
    hd, G = E // H, H // Hkv
    rng = np.random.default_rng(seed)
    sd = {k: (rng.standard_normal(v.shape) * 0.5).astype(np.float32) for k, v in m.state_dict().items()}
    m.load_state_dict(sd)
    t = torch.nn.MultiheadAttention(E, H, kdim=kdim, vdim=vdim, batch_first=batch_first)
    P = E
    b = torch.tensor(sd["in_proj_bias"])
    bq, bk, bv = b[:P], b[P:P + Hkv * hd], b[P + Hkv * hd:]
    wq, wk, wv = (torch.tensor(sd[n]) for n in ("q_proj_weight", "k_proj_weight", "v_proj_weight"))
    with torch.no_grad():
        wk, wv = repeat_heads(wk, Hkv, G, hd), repeat_heads(wv, Hkv, G, hd)
        if t._qkv_same_embed_dim:
            t.in_proj_weight.copy_(torch.cat([wq, wk, wv]))
        else:
            t.q_proj_weight.copy_(wq)
            t.k_proj_weight.copy_(wk)
            t.v_proj_weight.copy_(wv)
        t.in_proj_bias.copy_(torch.cat([bq, repeat_heads(bk, Hkv, G, hd), repeat_heads(bv, Hkv, G, hd)]))
        t.out_proj.weight.copy_(torch.tensor(sd["out_proj.weight"]))
        t.out_proj.bias.copy_(torch.tensor(sd["out_proj.bias"]))
    return t, m


def torch_grads_as_gqa(t, E, H, Hkv):
    """torch's parameter gradients under qkv's GQA names and shapes."""
    hd, G = E // H, H // Hkv
    if t._qkv_same_embed_dim:
        wq, wk, wv = t.in_proj_weight.grad.split(E)
    else:
        wq, wk, wv = t.q_proj_weight.grad, t.k_proj_weight.grad, t.v_proj_weight.grad
    bq, bk, bv = t.in_proj_bias.grad.split(E)
    return {
        "q_proj_weight": wq,
        "k_proj_weight": sum_heads(wk, Hkv, G, hd),
        "v_proj_weight": sum_heads(wv, Hkv, G, hd),
        "in_proj_bias": torch.cat([bq, sum_heads(bk, Hkv, G, hd), sum_heads(bv, Hkv, G, hd)]),
        "out_proj.weight": t.out_proj.weight.grad,
        "out_proj.bias": t.out_proj.bias.grad,
    }


def compare(t, m, E, H, Hkv, query, key, value, self_attention=False, **kwargs):
    tq = torch.tensor(query, requires_grad=True)
    tk = tq if self_attention else torch.tensor(key, requires_grad=True)
    tv = tq if self_attention else torch.tensor(value, requires_grad=True)
    t.zero_grad()
    torch_kwargs = dict(kwargs)
    if "key_padding_mask" in kwargs:
        torch_kwargs["key_padding_mask"] = torch.tensor(kwargs["key_padding_mask"])
    if "attn_mask" in kwargs:
        torch_kwargs["attn_mask"] = torch.tensor(kwargs["attn_mask"])
    out, w = t(tq, tk, tv, **torch_kwargs)
    args = (query, query, query) if self_attention else (query, key, value)
    mo, mw = m(*args, **kwargs)
    assert_close("out", mo, out)
    assert_close("weights", mw, w)
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(5))
    out.backward(g)
    m.zero_grad()
    dq, dk, dv = m.backward(g.numpy())
    assert_close("dquery", dq, tq.grad)
    if self_attention:
        assert dk is None and dv is None
    else:
        assert_close("dkey", dk, tk.grad)
        assert_close("dvalue", dv, tv.grad)
    mg = m.grads()
    want = torch_grads_as_gqa(t, E, H, Hkv)
    assert sorted(mg) == sorted(want)
    for name, ref in want.items():
        assert_close(f"grad {name}", mg[name], ref)


@pytest.mark.parametrize("E,H,Hkv,kdim,vdim,B,Lq,Lk", [
    (8, 4, 2, None, None, 3, 5, 7),
    (12, 6, 1, None, None, 2, 4, 4),   # multi-query
    (16, 4, 2, 6, 10, 2, 3, 9),        # kdim != vdim != E
    (32, 8, 4, None, None, 1, 17, 33),
])
def test_cross_attention(E, H, Hkv, kdim, vdim, B, Lq, Lk):
    rng = np.random.default_rng(E + H + Hkv)
    t, m = make_pair(1, E, H, Hkv, kdim, vdim)
    assert m.num_kv_heads == Hkv
    q = rng.standard_normal((B, Lq, E)).astype(np.float32)
    k = rng.standard_normal((B, Lk, kdim or E)).astype(np.float32)
    v = rng.standard_normal((B, Lk, vdim or E)).astype(np.float32)
    compare(t, m, E, H, Hkv, q, k, v)
    compare(t, m, E, H, Hkv, q, k, v, average_attn_weights=False)


def test_self_attention_with_masks_and_sequence_first():
    E, H, Hkv, B, L = 12, 4, 2, 3, 6
    rng = np.random.default_rng(7)
    t, m = make_pair(2, E, H, Hkv, batch_first=False)
    x = rng.standard_normal((L, B, E)).astype(np.float32)
    kpm = rng.random((B, L)) < 0.3
    kpm[:, 0] = False
    causal = np.triu(np.ones((L, L), dtype=bool), 1)
    compare(t, m, E, H, Hkv, x, x, x, self_attention=True)
    compare(t, m, E, H, Hkv, x, x, x, self_attention=True, key_padding_mask=kpm, attn_mask=causal)


def test_num_kv_heads_must_divide_num_heads():
    with pytest.raises(Exception, match=r"num_kv_heads is 2; expected 0 \(num_heads\) or a divisor of num_heads \(3\)"):
        qkv.MultiheadAttention(6, 3, num_kv_heads=2)
    with pytest.raises(Exception, match="argument 'num_kv_heads' must be positive, got -1"):
        qkv.MultiheadAttention(6, 3, num_kv_heads=-1)
