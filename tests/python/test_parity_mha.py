"""qkv.MultiheadAttention against torch.nn.MultiheadAttention (PyTorch 1.13), float32, seeded.

Weights move torch → qkv with load_state_dict({k: v.numpy()}) and back with state_dict().
Compared: outputs, averaged and per-head weights, input gradients and every parameter gradient,
max abs error <= 1e-5 × the torch value's max abs. torch 1.13 has no is_causal: it gets the
explicit causal mask. Combinations of a float mask with another mask follow torch 2's rule (both
become additive and are summed; 1.13 instead treats a float key_padding_mask inside masked_fill as
boolean), so torch gets the combined float mask there. Rows whose keys are all masked: torch gives
NaN, qkv gives attention zeros (out = out_proj.bias).
"""
import numpy as np
import pytest
import torch

import qkv

TOL = 1e-5


def assert_close(name, got, ref, tol=TOL):
    ref = ref.detach().numpy() if isinstance(ref, torch.Tensor) else np.asarray(ref)
    assert got.shape == ref.shape, f"{name}: shape {got.shape} vs {ref.shape}"
    scale = float(np.abs(ref).max()) or 1.0
    err = float(np.abs(got.astype(np.float64) - ref.astype(np.float64)).max())
    assert err <= tol * scale, f"{name}: max abs error {err:.3g} > {tol} × scale {scale:.3g}"


def make_pair(seed, E, H, bias=True, kdim=None, vdim=None, batch_first=True):
    torch.manual_seed(seed)
    t = torch.nn.MultiheadAttention(E, H, bias=bias, kdim=kdim, vdim=vdim, batch_first=batch_first)
    with torch.no_grad():  # torch zeroes the biases; make them matter
        for name, p in t.named_parameters():
            if "bias" in name:
                p.copy_(torch.randn_like(p) * 0.5)
    m = qkv.MultiheadAttention(E, H, bias=bias, kdim=kdim, vdim=vdim, batch_first=batch_first)
    m.load_state_dict({k: v.numpy() for k, v in t.state_dict().items()})
    return t, m


def compare(t, m, query, key, value, self_attention=False, torch_kwargs=None, qkv_kwargs=None, grads=True):
    torch_kwargs = torch_kwargs or {}
    qkv_kwargs = qkv_kwargs if qkv_kwargs is not None else torch_kwargs
    tq = torch.tensor(query, requires_grad=True)
    tk = tq if self_attention else torch.tensor(key, requires_grad=True)
    tv = tq if self_attention else torch.tensor(value, requires_grad=True)
    t.zero_grad()
    out, w = t(tq, tk, tv, **torch_kwargs)
    if self_attention:
        mo, mw = m(query, query, query, **qkv_kwargs)
    else:
        mo, mw = m(query, key, value, **qkv_kwargs)
    assert_close("out", mo, out)
    if torch_kwargs.get("need_weights", True):
        assert_close("weights", mw, w)
    else:
        assert mw is None
    if not grads:
        return
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(5))
    out.backward(g)
    m.zero_grad()
    dq, dk, dv = m.backward(g.numpy())
    if self_attention:
        assert dk is None and dv is None
        assert_close("dquery", dq, tq.grad)
    else:
        assert_close("dquery", dq, tq.grad)
        assert_close("dkey", dk, tk.grad)
        assert_close("dvalue", dv, tv.grad)
    mg = m.grads()
    names = [n for n, _ in t.named_parameters()]
    assert sorted(mg) == sorted(names)
    for name, p in t.named_parameters():
        assert_close(f"grad {name}", mg[name], p.grad)


CONFIGS = [  # E, H, bias, kdim, vdim, B, Lq, Lk
    (8, 2, True, None, None, 3, 5, 5),
    (8, 1, False, None, None, 2, 4, 6),
    (12, 3, True, 5, 7, 2, 3, 4),        # kdim != vdim != E
    (6, 2, True, 6, 3, 1, 1, 1),         # one token, vdim only
    (15, 5, True, None, None, 2, 7, 9),  # odd sizes
    (64, 4, True, None, None, 2, 17, 17),
]


@pytest.mark.parametrize("E,H,bias,kdim,vdim,B,Lq,Lk", CONFIGS)
def test_cross_attention(E, H, bias, kdim, vdim, B, Lq, Lk):
    rng = np.random.default_rng(E * 100 + H)
    t, m = make_pair(1, E, H, bias, kdim, vdim)
    q = rng.standard_normal((B, Lq, E)).astype(np.float32)
    k = rng.standard_normal((B, Lk, kdim or E)).astype(np.float32)
    v = rng.standard_normal((B, Lk, vdim or E)).astype(np.float32)
    compare(t, m, q, k, v)
    compare(t, m, q, k, v, torch_kwargs={"average_attn_weights": False})


@pytest.mark.parametrize("E,H,B,L", [(8, 2, 3, 5), (6, 3, 1, 1), (15, 5, 2, 7), (64, 8, 2, 33)])
def test_self_attention(E, H, B, L):
    rng = np.random.default_rng(L)
    t, m = make_pair(2, E, H)
    x = rng.standard_normal((B, L, E)).astype(np.float32)
    compare(t, m, x, x, x, self_attention=True)
    compare(t, m, x, x, x, self_attention=True, torch_kwargs={"average_attn_weights": False})
    compare(t, m, x, x, x, self_attention=True, torch_kwargs={"need_weights": False})


def test_self_attention_means_query_is_key_is_value():
    """Self-attention is the call with one object three times (torch's test); the same data in
    other objects is cross-attention, whose three gradients sum to the self-attention one."""
    rng = np.random.default_rng(3)
    t, m = make_pair(4, 8, 2)
    x = rng.standard_normal((2, 5, 8)).astype(np.float32)
    g = rng.standard_normal((2, 5, 8)).astype(np.float32)
    out_self, _ = m(x, x, x)
    dx, dk, dv = m.backward(g)
    assert dk is None and dv is None
    out_cross, _ = m(x, x.view(), x.view())
    dq, dk, dv = m.backward(g)
    assert dk is not None and dv is not None
    assert_close("out", out_cross, out_self)
    assert_close("dq + dk + dv", dq + dk + dv, dx)


def padding(rng, B, Lk):
    """Bool key padding, True = ignore; every row keeps at least its first key."""
    kpm = rng.random((B, Lk)) < 0.4
    kpm[:, 0] = False
    return kpm


def test_key_padding_mask_bool_and_float():
    rng = np.random.default_rng(3)
    t, m = make_pair(3, 8, 2)
    q, kv = rng.standard_normal((3, 4, 8)).astype(np.float32), rng.standard_normal((3, 6, 8)).astype(np.float32)
    kpm = padding(rng, 3, 6)
    compare(t, m, q, kv, kv, torch_kwargs={"key_padding_mask": torch.tensor(kpm)},
            qkv_kwargs={"key_padding_mask": kpm})
    fkpm = rng.standard_normal((3, 6)).astype(np.float32)
    compare(t, m, q, kv, kv, torch_kwargs={"key_padding_mask": torch.tensor(fkpm)},
            qkv_kwargs={"key_padding_mask": fkpm})


@pytest.mark.parametrize("per_head", [False, True])
def test_attn_mask_bool_and_float(per_head):
    rng = np.random.default_rng(4)
    B, H, Lq, Lk = 2, 3, 5, 4
    t, m = make_pair(4, 9, H)
    q, k, v = (rng.standard_normal((B, L, 9)).astype(np.float32) for L in (Lq, Lk, Lk))
    shape = (B * H, Lq, Lk) if per_head else (Lq, Lk)
    am = rng.random(shape) < 0.4
    am[..., 0] = False
    compare(t, m, q, k, v, torch_kwargs={"attn_mask": torch.tensor(am)}, qkv_kwargs={"attn_mask": am})
    fam = rng.standard_normal(shape).astype(np.float32)
    fam[am] = -np.inf
    compare(t, m, q, k, v, torch_kwargs={"attn_mask": torch.tensor(fam), "average_attn_weights": False},
            qkv_kwargs={"attn_mask": fam, "average_attn_weights": False})


def test_combined_masks():
    rng = np.random.default_rng(5)
    B, H, L = 2, 2, 5
    t, m = make_pair(5, 8, H)
    x = rng.standard_normal((B, L, 8)).astype(np.float32)
    kpm = padding(rng, B, L)
    am = rng.random((L, L)) < 0.3
    am[:, 0] = False
    # bool + bool: torch ORs them (True = do not attend).
    compare(t, m, x, x, x, self_attention=True,
            torch_kwargs={"key_padding_mask": torch.tensor(kpm), "attn_mask": torch.tensor(am)},
            qkv_kwargs={"key_padding_mask": kpm, "attn_mask": am})
    # float attn_mask + bool padding: torch fills the padded keys with -inf.
    fam = rng.standard_normal((L, L)).astype(np.float32)
    compare(t, m, x, x, x, self_attention=True,
            torch_kwargs={"key_padding_mask": torch.tensor(kpm), "attn_mask": torch.tensor(fam)},
            qkv_kwargs={"key_padding_mask": kpm, "attn_mask": fam})
    # float padding + bool attn_mask, float + float: summed (torch 2's rule), given to torch combined.
    fkpm = rng.standard_normal((B, L)).astype(np.float32)
    for attn in (am, fam):
        add = np.where(attn, -np.inf, 0).astype(np.float32) if attn.dtype == bool else attn
        combined = (add[None, None] + fkpm[:, None, None, :]).repeat(H, axis=1).reshape(B * H, L, L)
        compare(t, m, x, x, x, self_attention=True, torch_kwargs={"attn_mask": torch.tensor(combined)},
                qkv_kwargs={"key_padding_mask": fkpm, "attn_mask": attn})


@pytest.mark.parametrize("L", [1, 6])
def test_is_causal_matches_explicit_mask(L):
    rng = np.random.default_rng(6)
    t, m = make_pair(6, 8, 4)
    x = rng.standard_normal((2, L, 8)).astype(np.float32)
    causal = torch.ones(L, L, dtype=torch.bool).triu(1)
    kpm = np.zeros((2, L), bool)
    kpm[1, L - 1] = L > 1
    compare(t, m, x, x, x, self_attention=True,
            torch_kwargs={"attn_mask": causal, "key_padding_mask": torch.tensor(kpm)},
            qkv_kwargs={"is_causal": True, "key_padding_mask": kpm})


def test_fully_masked_rows_give_zero_attention_where_torch_gives_nan():
    rng = np.random.default_rng(7)
    t, m = make_pair(7, 8, 2)
    q, kv = rng.standard_normal((3, 4, 8)).astype(np.float32), rng.standard_normal((3, 5, 8)).astype(np.float32)
    kpm = padding(rng, 3, 5)
    kpm[1] = True  # batch entry 1 has no visible key at all
    out, w = t(torch.tensor(q), torch.tensor(kv), torch.tensor(kv), key_padding_mask=torch.tensor(kpm))
    mo, mw = m(q, kv, kv, key_padding_mask=kpm)
    assert torch.isnan(out[1]).all() and not torch.isnan(out[[0, 2]]).any()
    assert_close("out (other rows)", mo[[0, 2]], out[[0, 2]])
    assert_close("weights (other rows)", mw[[0, 2]], w[[0, 2]])
    assert (mw[1] == 0).all()
    bias = t.state_dict()["out_proj.bias"].numpy()
    np.testing.assert_allclose(mo[1], np.broadcast_to(bias, mo[1].shape), rtol=0, atol=1e-6)
    dq, dk, dv = m.backward(np.ones_like(mo))
    assert np.isfinite(dq).all() and np.isfinite(dk).all() and np.isfinite(dv).all()
    assert (dq[1] == 0).all() and (dk[1] == 0).all()


def test_sequence_first_and_unbatched_layouts():
    rng = np.random.default_rng(8)
    t, m = make_pair(8, 8, 2, batch_first=False)
    q = rng.standard_normal((4, 3, 8)).astype(np.float32)   # (L, B, E)
    kv = rng.standard_normal((6, 3, 8)).astype(np.float32)
    compare(t, m, q, kv, kv)
    tu, mu = make_pair(9, 8, 2)
    xu = rng.standard_normal((5, 8)).astype(np.float32)     # unbatched (L, E)
    am = np.zeros((5, 5), bool)
    am[0, 3:] = True
    compare(tu, mu, xu, xu, xu, self_attention=True, torch_kwargs={"attn_mask": torch.tensor(am)},
            qkv_kwargs={"attn_mask": am})
    compare(tu, mu, xu, xu, xu, self_attention=True, torch_kwargs={"average_attn_weights": False})


def test_state_dict_round_trip_and_torch_names():
    torch.manual_seed(10)
    qkv.manual_seed(10)
    m = qkv.MultiheadAttention(12, 3, kdim=4, vdim=5)
    sd = m.state_dict()
    t = torch.nn.MultiheadAttention(12, 3, kdim=4, vdim=5, batch_first=True)
    assert sorted(sd) == sorted(t.state_dict())
    t.load_state_dict({k: torch.tensor(v) for k, v in sd.items()})
    for k, v in t.state_dict().items():
        np.testing.assert_array_equal(sd[k], v.numpy())
    # Initialisation like torch: xavier_uniform projections, zero biases.
    bound = np.sqrt(6.0 / (12 + 12))
    assert np.abs(sd["q_proj_weight"]).max() <= bound and (sd["in_proj_bias"] == 0).all()
    assert (sd["out_proj.bias"] == 0).all()
    m2 = qkv.MultiheadAttention(8, 2, bias=False)
    assert sorted(m2.state_dict()) == ["in_proj_weight", "out_proj.weight"]


def test_training_dropout_is_seeded_and_eval_is_deterministic():
    rng = np.random.default_rng(11)
    m = qkv.MultiheadAttention(8, 2, dropout=0.5)
    x = rng.standard_normal((2, 5, 8)).astype(np.float32)
    assert m.training
    m.eval()
    base, _ = m(x, x, x)
    qkv.manual_seed(3)
    m.train()
    a, _ = m(x, x, x)
    qkv.manual_seed(3)
    b, _ = m(x, x, x)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, base)
    m.eval()
    np.testing.assert_array_equal(m(x, x, x)[0], base)


def test_textbook_heads_of_their_own_width():
    # X of 2×4, 8 heads of width 3: W_Q/W_K/W_V stacked as in_proj_weight (3·24, 4), W_O (4, 24).
    qkv.manual_seed(12)
    m = qkv.MultiheadAttention(4, 8, head_dim=3)
    assert m.head_dim == 3
    sd = m.state_dict()
    assert sd["in_proj_weight"].shape == (72, 4) and sd["out_proj.weight"].shape == (4, 24)
    x = np.random.default_rng(12).standard_normal((1, 2, 4)).astype(np.float32)
    out, w = m(x, x, x, average_attn_weights=False)
    assert out.shape == (1, 2, 4) and w.shape == (1, 8, 2, 2)
    # The same module computed by hand with torch: per-head Z (2×3), concatenation (2×24), W_O.
    X = torch.tensor(x[0], dtype=torch.float64)
    W = torch.tensor(sd["in_proj_weight"], dtype=torch.float64)
    b = torch.tensor(sd["in_proj_bias"], dtype=torch.float64)
    q, k, v = (X @ W[i * 24:(i + 1) * 24].T + b[i * 24:(i + 1) * 24] for i in range(3))
    heads = []
    for h in range(8):
        s = slice(3 * h, 3 * h + 3)
        heads.append(torch.softmax(q[:, s] @ k[:, s].T / np.sqrt(3), -1) @ v[:, s])
    assert all(z.shape == (2, 3) for z in heads)
    concat = torch.cat(heads, dim=1)
    assert concat.shape == (2, 24)
    ref = concat @ torch.tensor(sd["out_proj.weight"], dtype=torch.float64).T + torch.tensor(sd["out_proj.bias"])
    assert_close("out", out[0], ref.numpy())
