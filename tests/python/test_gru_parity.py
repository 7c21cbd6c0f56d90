"""PyTorch parity of the seq2seq date translator, and so of qkv's GRU, embedding and additive attention.

`qkv seq2seq` trains a small model and saves model.safetensors; this test loads those weights into
torch.nn.GRU (encoder), torch.nn.GRUCell (decoder, the same weight_ih/weight_hh/bias layout and
gate order r, z, n) and a few lines of additive attention, decodes greedily in float64, and
checks that PyTorch produces the same translations as `qkv seq2seq --translate`.
"""
import json
import os
import struct
import subprocess
import tempfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")

CLI = os.environ.get("QKV_CLI")
CHARS = " 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ,.-/'"
BOS, EOS = 1, 2

pytestmark = pytest.mark.skipif(not CLI or not os.path.exists(CLI), reason="QKV_CLI (the qkv executable) not set")


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", name
        begin, end = info["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[begin:end], dtype="<f4").reshape(info["shape"]).astype(np.float64))
    return out, header.get("__metadata__", {})


def torch_translate(w, text):
    ids = torch.tensor([CHARS.index(c) + 3 for c in text])
    E = w["encoder.embedding.weight"].shape[1]
    H = w["encoder.rnn.weight_hh_l0"].shape[1]
    gru = torch.nn.GRU(E, H, batch_first=True).double()
    cell = torch.nn.GRUCell(E + H, H).double()
    with torch.no_grad():
        for p in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            getattr(gru, p).copy_(w["encoder.rnn." + p])
            getattr(cell, p[:-3]).copy_(w["decoder.rnn." + p])
        enc, _ = gru(w["encoder.embedding.weight"][ids][None])  # (1, Ls, H)
        s = enc[:, -1]
        keys = enc @ w["decoder.attention.W_k.weight"].T
        prev, out = BOS, ""
        for _ in range(11):
            feats = torch.tanh((s @ w["decoder.attention.W_q.weight"].T)[:, None, :] + keys)
            weights = torch.softmax((feats @ w["decoder.attention.w_v.weight"].T)[..., 0], dim=-1)
            c = weights @ enc[0]
            x = torch.cat([w["decoder.embedding.weight"][prev][None], c], dim=1)
            s = cell(x, s)
            logits = torch.cat([s, c], dim=1) @ w["decoder.dense.weight"].T + w["decoder.dense.bias"]
            prev = int(logits.argmax())
            if prev == EOS:
                break
            out += CHARS[prev - 3]
    return out


def test_translations_match_pytorch():
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([CLI, "seq2seq", "--steps", "150", "--batch", "32", "--embed", "12", "--hidden", "24",
                        "--attention", "16", "--lr", "0.01", "--eval-size", "50", "--log-every", "0",
                        "--examples", "0", "--out", d], check=True, capture_output=True, text=True)
        w, meta = read_safetensors(os.path.join(d, "model.safetensors"))
        assert meta["format"] == "qkv.seq2seq.dates"
        assert w["encoder.rnn.weight_ih_l0"].shape == (3 * 24, 12)
        texts = ["3 March 1999", "saturday 21 nov 2026", "Nov 21, 2026", "21.11.26", "2026/11/21", "11/21/2026",
                 "the 1st of january, 2000", "SUN, 31 DEC 1950", "Feb 29 '04", "7-Jul-2049", "12th October 1987",
                 "September 9th, 1961"]
        got = subprocess.run([CLI, "seq2seq", "--model", d, "--translate", *texts], check=True, capture_output=True,
                             text=True).stdout.splitlines()
        assert len(got) == len(texts)
        want = [torch_translate(w, t) for t in texts]
        assert got == want
