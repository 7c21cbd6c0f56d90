"""Regenerates the README's screenshots of the explorer pages (docs/images/explorer_*.png).

    /usr/bin/python3 tests/explorer/screenshots.py --qkv build/qkv --out docs/images \
        [--vit-model runs/vit/model.safetensors] [--seq2seq-model runs/seq2seq]

Each page is written by the CLI, opened in headless Chromium, put in an interesting state with the
keyboard or the mouse (as a reader would) and photographed. Without --vit-model / --seq2seq-model
it trains small models first (about a minute each on 2 cores).
"""
import argparse
import pathlib
import subprocess
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import cdp  # noqa: E402


def qkv(cli, *args):
    subprocess.run([cli, *map(str, args)], check=True, stdout=subprocess.DEVNULL)


def shoot(browser, page, out, width, height, actions):
    browser.open(page, width, height)
    browser.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": width - 2, "y": 2})
    for action, arg in actions:
        getattr(browser, action)(*arg) if isinstance(arg, tuple) else getattr(browser, action)(arg)
    errors = browser.console_errors()
    if errors:
        raise SystemExit(f"{page}: console errors {errors}")
    browser.screenshot(out, width, height)
    print("wrote", out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--qkv", default="build/qkv")
    ap.add_argument("--out", default="docs/images")
    ap.add_argument("--vit-model")
    ap.add_argument("--seq2seq-model")
    a = ap.parse_args()
    out = pathlib.Path(a.out)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="qkv-shots-"))
    vit_model = a.vit_model
    if not vit_model:
        qkv(a.qkv, "train", "--epochs", 3, "--no-progress", "--out", tmp / "vit")
        vit_model = tmp / "vit" / "model.safetensors"
    s2s_model = a.seq2seq_model
    if not s2s_model:
        qkv(a.qkv, "seq2seq", "--out", tmp / "seq2seq", "--log-every", 0)
        s2s_model = tmp / "seq2seq"

    qkv(a.qkv, "explain", "--html", tmp / "explain.html")
    qkv(a.qkv, "nw", "--html", tmp / "nw.html")
    qkv(a.qkv, "seq2seq", "--translate", "3 March 1999", "saturday 21 nov 2026", "Nov 21, 2026",
        "--model", s2s_model, "--html", tmp / "seq2seq.html")
    qkv(a.qkv, "attention-map", vit_model, "--index", 0, "--output", tmp / "vit.png", "--html", tmp / "vit.html")

    b = cdp.Browser(cdp.find_chromium())
    try:
        shoot(b, tmp / "explain.html", out / "explorer_explain.png", 1280, 900,
              [("focus", '.token[data-index="1"]')])
        shoot(b, tmp / "explain.html", out / "explorer_explain_scale.png", 1280, 560,
              [("focus", "#scale"), ("press", ("ArrowRight", 60)), ("focus", '#scaled-weights th[tabindex]'),
               ("eval", "document.querySelectorAll('h2')[1].scrollIntoView()")])
        shoot(b, tmp / "explain.html", out / "explorer_explain_heads.png", 1280, 520,
              [("eval", "document.querySelectorAll('h2')[2].scrollIntoView()"), ("hover", "#head-3")])
        shoot(b, tmp / "nw.html", out / "explorer_nw.png", 1280, 800,
              [("hover", '.test-point[data-index="18"]')])
        shoot(b, tmp / "seq2seq.html", out / "explorer_seq2seq.png", 1280, 700,
              [("hover", '.tok-out[data-index="3"]')])
        shoot(b, tmp / "vit.html", out / "explorer_vit.png", 1280, 820,
              [("eval", "(() => { const s = document.getElementById('block'); s.value = '0';"
                        " s.dispatchEvent(new Event('change')); })()"),
               ("hover", '#stage rect.patch[data-index="9"]')])
    finally:
        b.close()


if __name__ == "__main__":
    main()
