"""Hostile inputs raise ValueError / TypeError with a message naming the argument; nothing aborts.

Dtype policy: float32 arrays are used as they are; other floating dtypes (float64, float16) are
converted to float32; bool, integer, complex, string and object arrays raise TypeError. Masks are
bool or floating; valid_lens are integers. Shapes, values (NaN, inf) and options raise ValueError
(qkv.Error is a ValueError).
"""
import numpy as np
import pytest

import qkv

rng = np.random.default_rng(0)
Q = rng.standard_normal((2, 3, 4, 8)).astype(np.float32)
K = rng.standard_normal((2, 3, 5, 8)).astype(np.float32)
V = rng.standard_normal((2, 3, 5, 6)).astype(np.float32)
DOUT = np.ones((2, 3, 4, 6), np.float32)
sdpa = qkv.scaled_dot_product_attention
sdpa_bw = qkv.scaled_dot_product_attention_backward


def nan_at(a, index=0):
    a = a.copy()
    a.flat[index] = np.nan
    return a


SDPA_CASES = [  # (id, kwargs, exception, words the message must contain)
    ("q int", dict(q=Q.astype(np.int32)), TypeError, ["'q'", "int32"]),
    ("k complex", dict(k=K.astype(np.complex64)), TypeError, ["'k'", "complex64"]),
    ("v bool", dict(v=V > 0), TypeError, ["'v'", "bool"]),
    ("q string", dict(q="abc"), TypeError, ["'q'"]),
    ("q None", dict(q=None), TypeError, ["'q'"]),
    ("q object", dict(q=np.array([object()])), TypeError, ["'q'"]),
    ("q rank 1", dict(q=Q[0, 0, 0]), ValueError, ["'q'", "(8,)"]),
    ("k head dim", dict(k=K[..., :7]), ValueError, ["'k'", "(2, 3, 5, 7)"]),
    ("k batch", dict(k=K[:1]), ValueError, ["'k'"]),
    ("k rank", dict(k=K[0]), ValueError, ["'k'"]),
    ("v length", dict(v=V[:, :, :4]), ValueError, ["'v'", "(2, 3, 4, 6)"]),
    ("q NaN", dict(q=nan_at(Q)), ValueError, ["'q'", "NaN"]),
    ("v inf", dict(v=np.full_like(V, np.inf)), ValueError, ["'v'", "infinite"]),
    ("empty keys", dict(k=K[:, :, :0], v=V[:, :, :0]), ValueError, ["empty"]),
    ("mask int", dict(attn_mask=np.ones((4, 5), np.int64)), TypeError, ["'attn_mask'", "int64"]),
    ("mask shape", dict(attn_mask=np.ones((5, 4), bool)), ValueError, ["'attn_mask'", "(5, 4)"]),
    ("mask rank", dict(attn_mask=np.ones((1, 2, 3, 4, 5), bool)), ValueError, ["'attn_mask'"]),
    ("mask NaN", dict(attn_mask=nan_at(np.zeros((4, 5), np.float32))), ValueError, ["'attn_mask'", "NaN"]),
    ("mask +inf", dict(attn_mask=np.full((4, 5), np.inf, np.float32)), ValueError, ["'attn_mask'"]),
    ("lens float", dict(valid_lens=np.array([1.5, 2.0])), TypeError, ["'valid_lens'", "float64"]),
    ("lens shape", dict(valid_lens=np.array([1, 2, 3])), ValueError, ["'valid_lens'", "(3,)"]),
    ("lens negative", dict(valid_lens=np.array([-1, 2])), ValueError, ["valid_lens"]),
    ("lens too long", dict(valid_lens=np.array([6, 2])), ValueError, ["valid_lens"]),
    ("scale NaN", dict(scale=float("nan")), ValueError, ["scale"]),
    ("scale string", dict(scale="big"), TypeError, []),
]


@pytest.mark.parametrize("case", SDPA_CASES, ids=[c[0] for c in SDPA_CASES])
def test_sdpa_hostile_inputs(case):
    _, kwargs, exc, words = case
    args = dict(q=Q, k=K, v=V)
    args.update(kwargs)
    for call in (lambda: sdpa(**args), lambda: sdpa_bw(dout=DOUT, **args)):
        with pytest.raises(exc) as info:
            call()
        for w in words:
            assert w in str(info.value), f"{w!r} not in {str(info.value)!r}"


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_sdpa_bad_dropout(p):
    with pytest.raises(ValueError, match="dropout_p"):
        sdpa(Q, K, V, dropout_p=p)


def test_sdpa_backward_bad_dout():
    with pytest.raises(ValueError, match="'dout'.*\\(2, 3, 4, 5\\)"):
        sdpa_bw(Q, K, V, DOUT[..., :5])
    with pytest.raises(TypeError, match="'dout'"):
        sdpa_bw(Q, K, V, DOUT.astype(np.int8))
    with pytest.raises(ValueError, match="'dout'.*NaN"):
        sdpa_bw(Q, K, V, nan_at(DOUT))


def test_other_functions():
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    with pytest.raises(TypeError, match="'x'"):
        qkv.masked_softmax(x.astype(np.int16), None)
    with pytest.raises(TypeError, match="'valid_lens'"):
        qkv.masked_softmax(x, np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="valid_lens"):
        qkv.masked_softmax(x, np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="valid_lens"):
        qkv.masked_softmax(x, np.array([1, 9]))
    with pytest.raises(ValueError, match="'x'"):
        qkv.masked_softmax(nan_at(x), None)
    q, k, v = (rng.standard_normal(s).astype(np.float32) for s in ((2, 1, 3), (2, 4, 5), (2, 4, 2)))
    W_q, W_k, w_v = np.ones((6, 3), np.float32), np.ones((6, 5), np.float32), np.ones((1, 6), np.float32)
    with pytest.raises(ValueError, match="'W_k'"):
        qkv.additive_attention(q, k, v, W_q, W_k[:, :4], w_v)
    with pytest.raises(ValueError, match="'w_v'"):
        qkv.additive_attention(q, k, v, W_q, W_k, np.ones((2, 6), np.float32))
    with pytest.raises(ValueError, match="'values'"):
        qkv.additive_attention(q, k, v[:, :3], W_q, W_k, w_v)
    with pytest.raises(TypeError, match="'W_q'"):
        qkv.additive_attention(q, k, v, W_q.astype(int), W_k, w_v)
    with pytest.raises(ValueError, match="'queries'"):
        qkv.additive_attention(q[0], k, v, W_q, W_k, w_v)
    with pytest.raises(TypeError, match="'keys'"):
        qkv.nadaraya_watson(np.ones(3, np.float32), ["a", "b"], np.ones(2, np.float32))
    with pytest.raises(ValueError, match="values"):
        qkv.nadaraya_watson(np.ones(3, np.float32), np.ones(4, np.float32), np.ones(2, np.float32))
    with pytest.raises(ValueError, match="'queries'"):
        qkv.nadaraya_watson(np.array([np.nan], np.float32), np.ones(4, np.float32), np.ones(4, np.float32))


def test_mha_constructor():
    with pytest.raises(ValueError, match="divisible"):
        qkv.MultiheadAttention(10, 3)
    with pytest.raises(ValueError, match="num_heads"):
        qkv.MultiheadAttention(8, 0)
    with pytest.raises(ValueError, match="embed_dim"):
        qkv.MultiheadAttention(-4, 2)
    with pytest.raises(ValueError, match="kdim"):
        qkv.MultiheadAttention(8, 2, kdim=0)
    with pytest.raises(ValueError, match="dropout"):
        qkv.MultiheadAttention(8, 2, dropout=1.0)
    with pytest.raises(TypeError):
        qkv.MultiheadAttention("8", 2)
    with pytest.raises(TypeError, match="'bias'.*dropout"):
        qkv.MultiheadAttention(8, 2, 0.1)  # torch's positional dropout
    assert qkv.MultiheadAttention(8, 2, np.bool_(False)).state_dict().keys() == {"in_proj_weight", "out_proj.weight"}


def test_mha_calls():
    m = qkv.MultiheadAttention(8, 2, kdim=5)
    q = rng.standard_normal((2, 3, 8)).astype(np.float32)
    k = rng.standard_normal((2, 4, 5)).astype(np.float32)
    v = rng.standard_normal((2, 4, 8)).astype(np.float32)
    with pytest.raises(ValueError, match="before"):
        m.backward(np.ones((2, 3, 8), np.float32))
    cases = [
        (dict(query=q[..., :7]), ValueError, "'query'"),
        (dict(query=q[0, 0]), ValueError, "'query'"),
        (dict(key=k[..., :4]), ValueError, "'key'"),
        (dict(key=k[:1]), ValueError, "'key'"),
        (dict(key=k[0]), ValueError, "'key'"),
        (dict(value=v[:, :2]), ValueError, "'value'"),
        (dict(query=q.astype(np.int64)), TypeError, "'query'"),
        (dict(value=nan_at(v)), ValueError, "'value'"),
        (dict(key_padding_mask=np.zeros((2, 3), bool)), ValueError, "'key_padding_mask'"),
        (dict(key_padding_mask=np.zeros((2, 4), np.int32)), TypeError, "'key_padding_mask'"),
        (dict(key_padding_mask=nan_at(np.zeros((2, 4), np.float32))), ValueError, "'key_padding_mask'"),
        (dict(attn_mask=np.zeros((4, 3), bool)), ValueError, "'attn_mask'"),
        (dict(attn_mask=np.zeros((2, 3, 4), bool)), ValueError, "'attn_mask'"),
        (dict(attn_mask=np.zeros((3, 4), np.uint8)), TypeError, "'attn_mask'"),
    ]
    for kwargs, exc, word in cases:
        args = dict(query=q, key=k, value=v)
        args.update(kwargs)
        with pytest.raises(exc) as info:
            m(**args)
        assert word in str(info.value), f"{word!r} not in {str(info.value)!r} for {list(kwargs)}"
    out, _ = m(q, k, v)
    with pytest.raises(ValueError, match="'dout'"):
        m.backward(out[:, :2])
    with pytest.raises(TypeError, match="'dout'"):
        m.backward(out.astype(np.int32))


def test_mha_load_state_dict():
    m = qkv.MultiheadAttention(8, 2)
    sd = m.state_dict()
    missing = {k: v for k, v in sd.items() if k != "in_proj_bias"}
    with pytest.raises(ValueError, match="missing key 'in_proj_bias'"):
        m.load_state_dict(missing)
    with pytest.raises(ValueError, match="'out_proj.weight'.*\\(8, 7\\)"):
        m.load_state_dict({**sd, "out_proj.weight": np.zeros((8, 7), np.float32)})
    with pytest.raises(ValueError, match="unexpected key 'bias_k'"):
        m.load_state_dict({**sd, "bias_k": np.zeros((1, 1, 8), np.float32)})
    with pytest.raises(TypeError, match="'in_proj_weight'"):
        m.load_state_dict({**sd, "in_proj_weight": sd["in_proj_weight"].astype(np.int32)})
    with pytest.raises(ValueError, match="'in_proj_bias'.*NaN"):
        m.load_state_dict({**sd, "in_proj_bias": nan_at(sd["in_proj_bias"])})
    m.load_state_dict({k: v.astype(np.float64) for k, v in sd.items()})  # float64 is converted
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, sd[k])


@pytest.mark.parametrize("n", [0, -1, 1025, 100000, 99999999999, 10**30, -10**30])
def test_set_num_threads_out_of_range(n):
    before = qkv.get_num_threads()
    with pytest.raises(ValueError, match=r"'n' is -?\d+; expected an integer in \[1, 1024\]"):
        qkv.set_num_threads(n)
    assert qkv.get_num_threads() == before


def test_return_weights_too_large_is_refused_before_computing():
    import time
    L = 200000
    q = np.zeros((1, 1, L, 1), np.float32)
    start = time.monotonic()
    with pytest.raises(ValueError, match="needs about .*return_weights"):
        sdpa(q, q, q, return_weights=True)
    assert time.monotonic() - start < 2.0
