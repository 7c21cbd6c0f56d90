"""`qkv attention-map --html`: the ViT page shows qkv's class-token maps and rollout, and every
token's attention per block and head on hover or focus."""
import json
import pathlib
import re

import pytest

from conftest import run_qkv

FIXTURE = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "fashion-mnist-tiny"


@pytest.fixture(scope="module")
def vit(qkv_cli, tmp_path_factory):
    d = tmp_path_factory.mktemp("vit")
    run_qkv(qkv_cli, "--threads", 2, "train", "--data", FIXTURE, "--out", d, "--epochs", 1, "--patch", 7, "--dim", 32,
            "--depth", 3, "--heads", 2, "--mlp-hidden", 64, "--batch-size", 50, "--no-progress", "--limit-test", 200)
    _, out, _ = run_qkv(qkv_cli, "attention-map", d / "model.safetensors", "--data", FIXTURE, "--index", 3,
                        "--output", d / "att.png", "--html", d / "vit.html")
    m = re.search(r"predicted: (.+) \(([\d.]+)\)", out)
    assert m and (d / "att.png").exists(), out
    return d / "vit.html", m.group(1), float(m.group(2))


def data_of(b):
    return json.loads(b.eval("document.getElementById('qkv-data').textContent"))


def overlay(b):
    return b.eval("[...document.querySelectorAll('#stage rect.patch')].map(r => Number(r.dataset.weight))")


def select(b, element_id, value):
    b.eval(f"(() => {{ const s = document.getElementById('{element_id}'); s.value = '{value}'; "
           "s.dispatchEvent(new Event('change')); })()")


def test_page_shows_the_prediction_and_qkv_class_token_maps(page, vit):
    path, predicted, probability = vit
    assert path.stat().st_size < 200_000
    b = page(path)
    assert b.eval("document.getElementById('prediction').textContent").startswith(f"predicted {predicted} ({probability:.3f})")
    data = data_of(b)
    assert data["depth"] == 3 and data["heads"] == 2 and data["grid"] == 4
    assert b.eval("document.getElementById('block').value") == "2"  # the last block, as attention-map's PNG
    assert overlay(b) == pytest.approx(data["cls_heads"][0], abs=1e-6)
    select(b, "head", 1)
    assert overlay(b) == pytest.approx(data["cls_heads"][1], abs=1e-6)


def test_page_rollout_matches_qkv(page, vit):
    path, _, _ = vit
    b = page(path)
    data = data_of(b)
    select(b, "mode", "rollout")
    assert overlay(b) == pytest.approx(data["rollout"], abs=1e-5)  # recomputed in the page from every block
    select(b, "block", 0)  # after one block: (W̄ + I)/2, the class token's row
    mean = [(data["attention"][0][0][0][j] + data["attention"][0][1][0][j]) / 2 for j in range(17)]
    expected = [0.5 * m for m in mean[1:]]
    assert overlay(b) == pytest.approx(expected, abs=1e-6)


def test_hovering_or_focusing_a_patch_shows_its_attention(page, vit):
    path, _, _ = vit
    b = page(path)
    data = data_of(b)
    select(b, "block", 0)
    b.hover('#stage rect.patch[data-index="5"]')
    assert b.eval("document.getElementById('view-readout').dataset.query") == "6"
    assert overlay(b) == pytest.approx(data["attention"][0][0][6][1:], abs=1e-6)
    mark = b.eval("(() => { const m = document.querySelector('#stage .query-mark'); "
                  "return [Number(m.getAttribute('x')), Number(m.getAttribute('y')), m.style.display]; })()")
    assert mark == [98.0, 98.0, ""]  # patch 5 = row 2, column 2 of 4 cells of 98 px
    b.focus('#stage rect.patch[data-index="12"]')
    select(b, "block", 1)
    assert overlay(b) == pytest.approx(data["attention"][1][0][13][1:], abs=1e-6)
    select(b, "block", 2)  # the last block has only the class token's row
    assert b.eval("document.getElementById('view-readout').dataset.query") == "0"
    assert "only the class token" in b.eval("document.getElementById('view-readout').textContent")
    b.hover("#query-cls")
    assert b.eval("document.getElementById('query-cls').getAttribute('aria-pressed')") == "true"


def test_model_view_chooses_block_and_head(page, vit):
    path, _, _ = vit
    b = page(path)
    assert b.eval("document.querySelectorAll('#model-view .thumb').length") == 3 * (2 + 2)
    b.click('#model-view .thumb[data-block="0"][data-head="1"]')
    assert b.eval("[document.getElementById('block').value, document.getElementById('head').value]") == ["0", "1"]
    b.focus('#model-view .thumb[data-block="1"][data-head="rollout"]')
    b.press("Enter")
    assert b.eval("[document.getElementById('block').value, document.getElementById('mode').value]") == ["1", "rollout"]
    assert b.eval("document.querySelector('#model-view .thumb[data-block=\"1\"][data-head=\"rollout\"]')"
                  ".getAttribute('aria-pressed')") == "true"
