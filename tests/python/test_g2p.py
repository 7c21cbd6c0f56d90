"""The grapheme-to-phoneme data through Python: an independent Python reading of Festival's CMU
dictionary and the FNV-1a split formula agree with qkv's parser and split on the real file (what
bench/torch_transformer_g2p.py relies on: both sides train and test on the same words); the
metrics on a worked example; clear errors; and a few steps of the PyTorch peer."""
import os
import re
import sys

import pytest

import qkv

DICT = "/usr/share/festival/dicts/cmu/cmudict-0.4.out"
BENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench")
VOWELS = {"aa", "ae", "ah", "ao", "aw", "ax", "ay", "eh", "er", "ey", "ih", "iy", "ow", "oy", "uh", "uw"}


def python_cmudict(path):
    """Festival's lines read with a regular expression: word -> distinct pronunciations."""
    words = {}
    with open(path, encoding="latin-1") as f:
        for line in f:
            m = re.match(r'^\("([^"]*)" \S+ \((.*)\)\)$', line.rstrip("\n"))
            if not m:
                continue
            word = m.group(1).lower()
            if not re.fullmatch(r"[a-z']+", word):
                continue
            phonemes = []
            for phones, stress in re.findall(r"\(\(([^()]*)\) (\d)\)", m.group(2)):
                for p in phones.split():
                    name = "AH" if p == "ax" else p.upper()
                    phonemes.append(name + stress if p in VOWELS else name)
            prons = words.setdefault(word, [])
            if phonemes not in prons:
                prons.append(phonemes)
    return words


def python_split(word):
    h = 14695981039346656037
    for b in word.encode():
        h = ((h ^ b) * 1099511628211) % 2**64
    bucket = h % 100
    return "train" if bucket < 90 else "dev" if bucket < 95 else "test"


@pytest.mark.skipif(not os.path.exists(DICT), reason="festlex-cmu is not installed")
def test_python_reading_and_split_equal_qkvs_on_the_real_dictionary():
    words, stats = qkv.read_cmudict()
    expected = python_cmudict(DICT)
    assert len(words) == len(expected) > 100000
    assert words == expected
    assert stats["entries"] == 105901
    differ = [w for w in words if qkv.g2p_split(w) != python_split(w)]
    assert differ == []
    assert all(qkv.fnv1a64(w) < 2**64 for w in list(words)[:10])


def test_split_of_known_words_and_hash_vectors():
    assert qkv.fnv1a64("") == 0xCBF29CE484222325
    assert qkv.fnv1a64("foobar") == 0x85944171F73967E8
    for w in ["a", "attention", "record", "don't", "zzzz"]:
        assert qkv.g2p_split(w) == python_split(w)


def test_vocabularies_and_metrics():
    assert qkv.g2p_vocab("graphemes")[:4] == ["<pad>", "<bos>", "<eos>", "a"]
    assert len(qkv.g2p_vocab("phonemes")) == 42
    assert len(qkv.g2p_vocab("phonemes_stress")) == 72
    assert qkv.strip_stress(["R", "EH1", "K"]) == ["R", "EH", "K"]
    assert qkv.g2p_edit_distance(["R", "EH1", "K", "ER0", "D"], ["R", "AH0", "K", "AO1", "R", "D"]) == 3
    refs = [[["L", "AY1", "V"], ["L", "IH1", "V"]], [["AH0", "T"]]]
    s = qkv.score_g2p([["L", "IH1", "V"], ["AH1", "T"]], refs)
    assert (s["words"], s["word_errors"], s["edits"], s["reference_phonemes"]) == (2, 1, 1, 5)
    assert s["wer"] == 0.5 and s["per"] == 0.2
    s = qkv.score_g2p([["L", "IH1", "V"], ["AH1", "T"]], refs, stress=False)
    assert s["wer"] == 0.0 and s["per"] == 0.0


def test_errors_name_the_argument(tmp_path):
    with pytest.raises(qkv.Error, match="CMU dictionary .*missing.out"):
        qkv.read_cmudict(str(tmp_path / "missing.out"))
    bad = tmp_path / "bad.out"
    bad.write_text('("ab" nil (((ae zz) 1)))\n')
    with pytest.raises(qkv.Error, match="line 1, column 17: unknown phone 'zz'"):
        qkv.read_cmudict(str(bad))
    with pytest.raises(qkv.Error, match="'kind' is 'letters'"):
        qkv.g2p_vocab("letters")
    with pytest.raises(qkv.Error, match="'predictions' has 1 words"):
        qkv.score_g2p([["A"]], [])


@pytest.mark.skipif(not os.path.exists(DICT), reason="festlex-cmu is not installed")
def test_torch_peer_runs_a_few_steps():
    sys.path.insert(0, BENCH)
    import torch_transformer_g2p as peer
    r = peer.main(["--steps", "3", "--warmup", "1", "--batch", "16", "--d-model", "16", "--nhead", "2",
                   "--encoder-layers", "1", "--decoder-layers", "1", "--dim-feedforward", "32",
                   "--eval-limit", "8", "--max-decode", "6", "--json", "--threads", "1"])
    assert r["steps"] == 3 and r["test_words"] == 8 and r["train_tokens"] > 3 * 16 * 3
    for key in ("test_wer", "test_per", "test_wer_stress", "test_per_stress"):
        assert 0.0 <= r[key] <= 2.0, key
    assert r["tokens_per_second"] > 0 and r["decode_words_per_second"] > 0
