"""`qkv seq2seq --html`: head view and model view of the trained translator's examples, and of
`--translate` with a saved model (the same weights as the training run's page)."""
import json
import re

import pytest

from conftest import run_qkv

TINY = ["--steps", 20, "--batch", 16, "--embed", 8, "--hidden", 16, "--attention", 16, "--eval-size", 40,
        "--log-every", 0, "--warmup", 2, "--examples", 4, "--example", "3 March 1999"]


@pytest.fixture(scope="module")
def runs(qkv_cli, tmp_path_factory):
    d = tmp_path_factory.mktemp("seq2seq")
    _, train_out, train_err = run_qkv(qkv_cli, "seq2seq", *TINY, "--out", d / "model", "--html", d / "train.html")
    assert re.search(r"exact match: [01]\.\d{4}\n$", train_out), train_out  # stdout unchanged by --html
    assert f"wrote {d / 'train.html'}" in train_err
    _, tr_out, _ = run_qkv(qkv_cli, "seq2seq", "--translate", "3 March 1999", "saturday 21 nov 2026",
                           "--model", d / "model", "--html", d / "translate.html")
    printed = re.findall(r'^  "(.*)"\s+-> (\S+)(?:   \(expected (\S+)\))?$', train_out, re.M)
    assert len(printed) == 4, train_out
    return d, printed, tr_out.splitlines()


def data_of(b):
    return json.loads(b.eval("document.getElementById('qkv-data').textContent"))


def visible_links(b):
    return b.eval("""[...document.querySelectorAll('#lines .link')].filter(l => l.style.display !== 'none')
                     .map(l => [Number(l.dataset.out), Number(l.dataset.in), Number(l.dataset.weight)])""")


def choose_example(b, index):
    b.eval(f"(() => {{ const s = document.getElementById('example'); s.value = '{index}'; "
           "s.dispatchEvent(new Event('change')); })()")


def test_training_page_lists_the_printed_examples(page, runs):
    d, printed, _ = runs
    b = page(d / "train.html")
    options = b.eval("[...document.querySelectorAll('#example option')].map(o => o.textContent)")
    assert options == [p[0] for p in printed] + ["3 March 1999"]
    for i, (human, output, expected) in enumerate(printed):
        choose_example(b, i)
        verdict = b.eval("document.getElementById('translation').textContent")
        assert verdict.startswith(f'"{human}" → "{output}"')
        assert verdict.endswith(f"✗ expected {expected}" if expected else "✓ correct"), verdict
    # The keyboard changes the example too.
    choose_example(b, 0)
    b.focus("#example")
    b.press("ArrowDown")
    assert b.eval("document.getElementById('example').value") == "1"
    assert b.eval("document.getElementById('translation').textContent").startswith(f'"{printed[1][0]}"')


def test_translate_page_matches_the_cli_and_the_training_weights(page, runs):
    d, _, translated = runs
    b = page(d / "train.html")
    trained = data_of(b)["examples"][-1]
    assert trained["input"] == "3 March 1999"
    b = page(d / "translate.html")
    data = data_of(b)
    assert [e["output"] for e in data["examples"]] == translated
    assert b.eval("document.getElementById('translation').textContent") == f'"3 March 1999" → "{translated[0]}"'
    links = visible_links(b)
    e = data["examples"][0]
    assert len(links) == len(e["out_tokens"]) * len(e["in_tokens"]) == len(trained["out_tokens"]) * 12
    for out, inp, w in links:  # the saved and reloaded model gives the training run's weights
        assert w == pytest.approx(trained["attention"][0][0][out][inp], abs=1e-6)
    for out in range(len(e["out_tokens"])):
        assert sum(w for o, _, w in links if o == out) == pytest.approx(1, abs=1e-5)


def test_hover_and_focus_keep_one_token_lines(page, runs):
    d, _, _ = runs
    b = page(d / "translate.html")
    e = data_of(b)["examples"][0]
    b.hover('.tok-out[data-index="3"]')
    links = visible_links(b)
    assert {o for o, _, _ in links} == {3} and len(links) == len(e["in_tokens"])
    row = e["attention"][0][0][3]
    best = row.index(max(row))
    assert b.eval("document.getElementById('focus-readout').textContent") == (
        f"output '{e['out_tokens'][3]}' (step 4) attends most to input '{e['in_tokens'][best].replace(' ', '␣')}' "
        f"(character {best + 1}) with weight {max(row):.3f}; its weights sum to 1.000")
    b.focus('.tok-in[data-index="0"]')
    links = visible_links(b)
    assert {i for _, i, _ in links} == {0} and len(links) == len(e["out_tokens"])
    for out, _, w in links:
        assert w == pytest.approx(e["attention"][0][0][out][0], abs=1e-9)


def test_model_view_has_one_thumbnail_per_layer_and_head(page, runs):
    d, _, _ = runs
    b = page(d / "translate.html")
    e = data_of(b)["examples"][0]
    assert b.eval("document.querySelectorAll('#model-view .thumb').length") == 1
    assert b.eval("document.querySelector('#model-view .thumb').getAttribute('aria-pressed')") == "true"
    cells = b.eval("document.querySelectorAll('#model-view .thumb rect:not(.frame)').length")
    assert cells == len(e["out_tokens"]) * len(e["in_tokens"])
    choose_example(b, 1)
    assert b.eval("document.getElementById('translation').textContent").startswith('"saturday 21 nov 2026"')
