"""`qkv explain --html`: the page shows qkv's numbers, reacts to hover, focus and the scale slider."""
import json
import pathlib
import re

import pytest

from conftest import run_qkv
from printout import assert_close_to_printout, cli_matrix, page_table


@pytest.fixture(scope="module")
def explain(qkv_cli, tmp_path_factory):
    path = tmp_path_factory.mktemp("explain") / "explain.html"
    _, out, _ = run_qkv(qkv_cli, "explain", "--html", path)
    return path, out


def test_page_is_small_and_self_contained(explain):
    path, out = explain
    html = path.read_text(encoding="utf-8")
    assert path.stat().st_size < 300_000
    assert f"wrote {path}" in out
    assert not re.search(r"\b(src|href)\s*=", html), "the page must not load anything"
    for word in ("fetch(", "XMLHttpRequest", "import(", "@import"):
        assert word not in html
    assert "Content-Security-Policy" in html


def test_softmax_rows_match_the_printout_and_sum_to_one(page, explain):
    path, out = explain
    b = page(path)
    printed = cli_matrix(out, "A = softmax(S) row by row  (row i: how much token i attends to each token)")
    assert [label for label, _ in printed] == ["早", "上", "好"]
    table = page_table(b, "weights")
    assert table["rows"] == ["早", "上", "好"]
    assert_close_to_printout(table, printed)
    for s in table["sums"]:
        assert abs(s - 1) < 1e-6
    assert_close_to_printout(page_table(b, "scores"), cli_matrix(out, "S = X Xᵀ  (dot-product similarity of every pair of tokens)"))
    assert_close_to_printout(page_table(b, "output"), cli_matrix(out, "Y = A X  (each output is a weighted average of the embeddings)"))


def test_hover_and_focus_select_the_query(page, explain):
    path, out = explain
    b = page(path)
    a = [numbers for _, numbers in cli_matrix(out, "A = softmax(S) row by row  (row i: how much token i attends to each token)")]
    b.hover('.token[data-index="1"]')
    assert page_table(b, "weights")["active"] == [1]
    assert page_table(b, "scaled-weights")["active"] == [1]
    mix = b.eval("document.getElementById('mix').textContent")
    assert mix.startswith("y_上 = " + " + ".join(f"{w:.3f}·x_{t}" for w, t in zip(a[1], "早上好")))
    opacity = b.eval("[...document.querySelectorAll('#x tbody tr')].map(r => Number(r.style.opacity))")
    assert opacity == pytest.approx([0.5 + 0.5 * w for w in a[1][:3]], abs=2e-3)
    # The keyboard does the same: focus (as Tab does) the third token.
    b.focus('.token[data-index="2"]')
    assert page_table(b, "weights")["active"] == [2]
    assert b.eval("document.querySelector('.token[data-index=\"2\"]').getAttribute('aria-pressed')") == "true"
    assert b.eval("document.getElementById('mix').textContent").startswith("y_好 = ")


def test_scale_slider_recomputes_the_softmax(page, explain):
    path, out = explain
    b = page(path)
    scaled = cli_matrix(out, "softmax(Q Kᵀ / √4)")
    unscaled = cli_matrix(out, "softmax(Q Kᵀ)  without the scale")
    assert_close_to_printout(page_table(b, "scaled-weights"), scaled)
    at_default = float(b.eval("document.getElementById('saturation').textContent"))
    b.click("#scale-one")
    assert_close_to_printout(page_table(b, "scaled-weights"), unscaled)
    assert b.eval("document.getElementById('scale-readout').textContent").startswith("s = 1.000")
    # Keyboard on the slider: Home is s = 0 (uniform weights), End the largest scale (saturated).
    b.focus("#scale")
    assert b.eval("document.activeElement.id") == "scale"
    b.press("Home")
    uniform = page_table(b, "scaled-weights")
    assert all(v == pytest.approx(1 / 3, abs=1e-12) for row in uniform["values"] for v in row)
    assert b.eval("document.getElementById('saturation').textContent") == "0.333"
    b.press("End")
    saturated = page_table(b, "scaled-weights")
    at_end = float(b.eval("document.getElementById('saturation').textContent"))
    assert at_end > at_default > 1 / 3
    for s in saturated["sums"]:
        assert abs(s - 1) < 1e-9
    b.press("ArrowLeft", 50)  # 50 steps of (1/√d_k)/50 below the largest scale 8/√d_k
    assert b.eval("Number(document.getElementById('scale').value)") == pytest.approx(7 * 0.5, abs=1e-9)
    assert b.eval("document.getElementById('scale-readout').textContent").startswith("s = 3.500")
    assert float(b.eval("document.getElementById('saturation').textContent")) <= at_end


def test_multihead_trace_shows_the_real_numbers(page, explain):
    path, out = explain
    b = page(path)
    b.hover("#trace-concat")
    assert_close_to_printout(page_table(b, "detail-concat"), cli_matrix(out, "concat(head_1 … head_8)"), decimals=2)
    b.hover("#head-3")
    table = page_table(b, "detail-weights")
    assert_close_to_printout(table, cli_matrix(out, "A_3 (head 3 weights)"))
    assert b.eval("document.getElementById('head-3').classList.contains('active')")
    b.focus("#trace-output")
    assert_close_to_printout(page_table(b, "detail-output"), cli_matrix(out, "output = concat · W_O + b_O"))
    assert page_table(b, "detail-wo") is None
    b.focus("#trace-wo")
    assert len(page_table(b, "detail-wo")["values"]) == 24


def test_hostile_tokens_are_shown_as_text(page, qkv_cli, tmp_path):
    path = tmp_path / "hostile.html"
    tokens = ["</script><b>x</b>", "a&b", "<!--", "x\u2028y"]  # qkv splits on spaces only
    run_qkv(qkv_cli, "explain", "--tokens", " ".join(tokens), "--html", path)
    html = path.read_text(encoding="utf-8")
    assert "</script><b>" not in html
    b = page(path)
    shown = b.eval("[...document.querySelectorAll('.token')].map(t => t.textContent)")
    assert shown == tokens
    assert b.eval("document.querySelectorAll('b').length") == 0
    data = json.loads(b.eval("document.getElementById('qkv-data').textContent"))
    assert data["tokens"] == shown


# Every command with --html checks the path before any work (no training, no checkpoint read).
@pytest.mark.parametrize("command", [["explain"], ["nw"], ["seq2seq"], ["attention-map", "/nonexistent/model.safetensors", "--index", "0"]])
@pytest.mark.parametrize("target,expected", [
    ("{dir}", "a directory"),
    ("{dir}/missing/page.html", "does not exist"),
    ("{file}/page.html", "is not a directory"),
])
def test_bad_html_paths_fail_before_the_work(qkv_cli, tmp_path, command, target, expected):
    (tmp_path / "plain").write_text("x")
    target = target.format(dir=tmp_path, file=tmp_path / "plain")
    code, out, err = run_qkv(qkv_cli, *command, "--html", target, expect_ok=False)
    assert code == 2
    assert f"qkv {command[0]}: --html is '{target}'" in err and expected in err, err
    assert out == ""
    assert not pathlib.Path(target).is_file()
