"""`qkv nw --html`: the page recomputes qkv's Nadaraya–Watson fit, reacts to hover, keys and the w slider."""
import json
import math
import re

import pytest

from conftest import run_qkv


@pytest.fixture(scope="module")
def nw(qkv_cli, tmp_path_factory):
    path = tmp_path_factory.mktemp("nw") / "nw.html"
    _, out, _ = run_qkv(qkv_cli, "nw", "--html", path)
    m = re.search(r"mse average=([\d.]+) nonparametric=([\d.]+) parametric=([\d.]+) w=([\d.]+)", out)
    assert m, out
    return path, dict(zip(("average", "nonparametric", "parametric", "w"), map(float, m.groups())))


def weights(data, x, w):
    """Nadaraya–Watson weights of query x over the training points, computed here independently."""
    s = [-((x - xi) * w) ** 2 / 2 for xi in data["x_train"]]
    top = max(s)
    e = [math.exp(v - top) for v in s]
    return [v / sum(e) for v in e]


def mse(data, w):
    err = 0.0
    for x, truth in zip(data["x_test"], data["y_truth"]):
        pred = sum(a * y for a, y in zip(weights(data, x, w), data["y_train"]))
        err += (pred - truth) ** 2
    return err / len(data["x_test"])


def readout(b, element_id):
    return b.eval(f"document.getElementById('{element_id}').textContent")


def predictions(b):
    return b.eval("[...document.querySelectorAll('.test-point')].map(c => Number(c.dataset.prediction))")


def test_page_is_small_and_self_contained(nw):
    path, _ = nw
    html = path.read_text(encoding="utf-8")
    assert path.stat().st_size < 200_000
    assert not re.search(r"\b(src|href)\s*=", html)


def test_page_reproduces_qkv_fit_at_the_learned_and_the_unit_width(page, nw):
    path, cli = nw
    b = page(path)
    data = json.loads(b.eval("document.getElementById('qkv-data').textContent"))
    assert readout(b, "w-readout") == f"w = {cli['w']:.3f}"
    assert float(readout(b, "mse")) == pytest.approx(cli["parametric"], abs=1.5e-4)
    assert predictions(b) == pytest.approx(data["pred_parametric"], abs=1e-4)
    b.click("#w-one")
    assert readout(b, "w-readout") == "w = 1.000"
    assert float(readout(b, "mse")) == pytest.approx(cli["nonparametric"], abs=1.5e-4)
    assert predictions(b) == pytest.approx(data["pred_nonparametric"], abs=1e-4)
    assert len(b.eval("[...document.querySelectorAll('#heatmap rect[fill]')]")) >= 50 * 50


def test_hover_and_keys_show_a_query_attention(page, nw):
    path, cli = nw
    b = page(path)
    data = json.loads(b.eval("document.getElementById('qkv-data').textContent"))
    b.hover('.test-point[data-index="20"]')
    assert b.eval("document.getElementById('query-readout').dataset.query") == "20"
    shown = b.eval("[...document.querySelectorAll('.train-point')].map(c => Number(c.dataset.weight))")
    assert sum(shown) == pytest.approx(1, abs=1e-9)
    assert shown == pytest.approx(weights(data, data["x_test"][20], data["w"]), abs=1e-6)
    assert readout(b, "query-readout").startswith(f"query x = {data['x_test'][20]:.3f} → prediction ")
    row_y = float(b.eval("document.getElementById('heatmap-row').getAttribute('y')"))
    cell_y = float(b.eval("document.querySelectorAll('#heatmap rect')[20 * 50].getAttribute('y')"))
    assert row_y == pytest.approx(cell_y - 1)
    b.focus("#fit-plot")
    b.press("ArrowRight", 3)
    assert b.eval("document.getElementById('query-readout').dataset.query") == "23"
    b.press("Home")
    assert b.eval("document.getElementById('query-readout').dataset.query") == "0"


def test_width_slider_recomputes_weights_and_error(page, nw):
    path, cli = nw
    b = page(path)
    data = json.loads(b.eval("document.getElementById('qkv-data').textContent"))
    b.focus("#w")
    b.press("ArrowRight", 10)
    w = float(b.eval("document.getElementById('w').value"))
    assert w == pytest.approx(round(cli["w"] / 0.05) * 0.05 + 0.5, abs=1e-9)
    assert readout(b, "w-readout") == f"w = {w:.3f}"
    assert float(readout(b, "mse")) == pytest.approx(mse(data, w), abs=1e-4)
    b.press("Home")
    assert readout(b, "w-readout") == "w = 0.050"
    sharp_wide = float(readout(b, "sharpness"))
    b.press("End")
    assert float(readout(b, "sharpness")) > sharp_wide  # a larger w gives narrower kernels: sharper rows
