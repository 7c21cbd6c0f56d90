// `qkv attention-map --html`: where a Vision Transformer looks (data: demos/vit_page.cpp).
// The image with its patch grid: hover or focus a patch (or choose the class token) to see where
// that token attends in the chosen block and head (or the mean of the heads), or its attention
// rollout through the blocks. The model view shows every block × head at once for the same query.
"use strict";
(() => {
  const { data: D, el, svg, fmt, hoverable, section } = qkv;
  const app = document.getElementById("app");
  const G = D.grid, S = D.image_size, L = 1 + G * G, depth = D.depth, H = D.heads, last = depth - 1;
  let block = last, head = 0, mode = "attention", query = 0;  // query 0 is the class token

  // ---- rollout (Abnar & Zuidema 2020), as models/vit_attention.cpp: per block A = (mean_h W + I)/2,
  // rows renormalised, R_b = A_b ··· A_1; the last block has only the class token's row ----
  const meanHeads = (b, q) => D.attention[b][0][q].map((_, j) => D.attention[b].reduce((s, Wh) => s + Wh[q][j], 0) / H);
  const R = [];
  let prev = Array.from({ length: L }, (_, i) => Array.from({ length: L }, (_, j) => (i === j ? 1 : 0)));
  for (let b = 0; b < last; ++b) {
    const A = Array.from({ length: L }, (_, i) => {
      const row = meanHeads(b, i).map((m, j) => 0.5 * m + (i === j ? 0.5 : 0));
      const s = row.reduce((a, v) => a + v, 0);
      return row.map((v) => v / s);
    });
    prev = A.map((row) => prev[0].map((_, j) => row.reduce((s, a, k) => s + a * prev[k][j], 0)));
    R.push(prev);
  }
  const rolloutCls = (() => {
    const a0 = meanHeads(last, 0).map((m, j) => 0.5 * m + (j === 0 ? 0.5 : 0));
    const base = last > 0 ? R[last - 1] : prev;
    return base[0].map((_, j) => a0.reduce((s, a, k) => s + a * base[k][j], 0)).slice(1);
  })();
  const hasRow = (b, q) => q < D.attention[b][0].length;  // the last block: only the class token
  // Weights of query q over the patches (the class token's own weight is reported apart).
  function weights(b, h, q, m) {
    if (!hasRow(b, q)) q = 0;
    if (m === "rollout") return { patches: b === last ? rolloutCls : R[b][q].slice(1), cls: b === last ? null : R[b][q][0], q };
    const row = h === "mean" ? meanHeads(b, q) : D.attention[b][h][q];
    return { patches: row.slice(1), cls: row[0], q };
  }

  const best = D.probs.indexOf(Math.max(...D.probs));
  app.append(...section("Class-token and patch attention of a Vision Transformer",
    `The ${S}×${S} image is cut into ${G}×${G} patches of ${D.patch}×${D.patch} pixels; each patch and a class token ` +
    "attend to each other in every block. Hover or focus (Tab) a patch to see where it attends (orange = attended, " +
    "from none to the largest weight); " +
    "the class token's attention decides the prediction. Rollout multiplies the blocks' head-averaged attention " +
    "(plus the residual path) to follow it through the network."));
  const prediction = el("p", { class: "readout", id: "prediction", style: { display: "inline-block" },
    text: `predicted ${D.classes[best]} (${fmt(D.probs[best])})` + (D.truth ? ` · true ${D.truth}` : "") });

  const blockSel = el("select", { id: "block", "aria-label": "block" },
    Array.from({ length: depth }, (_, b) => el("option", { value: b, text: `block ${b + 1}${b === last ? " (last)" : ""}` })));
  const headSel = el("select", { id: "head", "aria-label": "head" },
    Array.from({ length: H }, (_, h) => el("option", { value: h, text: `head ${h + 1}` })),
    el("option", { value: "mean", text: "mean of the heads" }));
  const modeSel = el("select", { id: "mode", "aria-label": "what to show" },
    el("option", { value: "attention", text: "attention" }), el("option", { value: "rollout", text: "rollout up to this block" }));
  const clsButton = el("button", { type: "button", id: "query-cls", text: "query: class token" });
  blockSel.value = String(block);
  blockSel.addEventListener("change", () => { block = Number(blockSel.value); draw(); });
  headSel.addEventListener("change", () => { head = headSel.value === "mean" ? "mean" : Number(headSel.value); draw(); });
  modeSel.addEventListener("change", () => { mode = modeSel.value; draw(); });
  hoverable(clsButton, () => setQuery(0));
  app.append(prediction, el("div", { class: "controls" },
    el("label", { for: "block", text: "block" }), blockSel, el("label", { for: "head", text: "head" }), headSel,
    el("label", { for: "mode", text: "show" }), modeSel, clsButton));

  // ---- the image with its patch grid ----
  function imageCanvas(px) {
    const c = el("canvas", { width: S, height: S, "aria-hidden": "true",
                             style: { width: `${px}px`, height: `${px}px`, imageRendering: "pixelated", display: "block" } });
    const ctx = c.getContext("2d"), img = ctx.createImageData(S, S);
    D.image.flat().forEach((v, i) => { img.data.set([v, v, v, 255], 4 * i); });
    ctx.putImageData(img, 0, 0);
    return c;
  }
  function overlay(px, interactive) {
    const cell = px / G;
    const root = svg("svg", { width: px, height: px, viewBox: `0 0 ${px} ${px}`,
                              style: { position: "absolute", left: 0, top: 0 } });
    const rects = [];
    for (let p = 0; p < G * G; ++p) {
      const r = svg("rect", { class: "patch", x: (p % G) * cell, y: Math.floor(p / G) * cell, width: cell, height: cell,
                              fill: "#ff7a1a", stroke: "rgba(255,255,255,0.45)", "stroke-width": interactive ? 1 : 0.5,
                              "data-index": p });
      if (interactive) {
        r.setAttribute("role", "button");
        r.setAttribute("aria-label", `patch row ${Math.floor(p / G) + 1} column ${(p % G) + 1}`);
        hoverable(r, () => setQuery(p + 1));
      }
      rects.push(r);
      root.append(r);
    }
    const mark = svg("rect", { class: "query-mark", width: cell, height: cell, fill: "none", stroke: "#1d4ed8",
                               "stroke-width": interactive ? 4 : 2, "pointer-events": "none" });
    root.append(mark);
    return { root, rects, mark, cell };
  }
  function paintOverlay(o, w) {
    const top = Math.max(...w.patches) || 1;
    o.rects.forEach((r, p) => {
      r.setAttribute("fill-opacity", 0.7 * (w.patches[p] / top));
      r.dataset.weight = String(w.patches[p]);
    });
    if (w.q > 0) {
      o.mark.style.display = "";
      o.mark.setAttribute("x", ((w.q - 1) % G) * o.cell);
      o.mark.setAttribute("y", Math.floor((w.q - 1) / G) * o.cell);
    } else {
      o.mark.style.display = "none";
    }
  }
  const big = overlay(392, true);
  const stage = el("div", { id: "stage", style: { position: "relative", width: "392px", height: "392px" } },
    imageCanvas(392), big.root);
  const viewOut = el("p", { class: "mono", id: "view-readout", "aria-live": "polite", style: { maxWidth: "392px" } });

  // ---- model view: every block × head (and the mean, and the rollout) for the same query ----
  const thumbs = [];
  const modelView = el("div", { id: "model-view", role: "group", "aria-label": "model view: blocks by heads",
    style: { display: "grid", gridTemplateColumns: `auto repeat(${H + 2}, auto)`, gap: "6px", alignItems: "center" } },
    el("span"), Array.from({ length: H }, (_, h) => el("strong", { text: `head ${h + 1}` })),
    el("strong", { text: "mean" }), el("strong", { text: "rollout" }));
  for (let b = 0; b < depth; ++b) {
    modelView.append(el("strong", { text: `block ${b + 1}` }));
    for (const h of [...Array.from({ length: H }, (_, k) => k), "mean", "rollout"]) {
      const o = overlay(64, false);
      const t = el("div", { class: "thumb", tabindex: 0, role: "button", "data-block": b, "data-head": h,
                            "aria-label": `block ${b + 1}, ${h === "mean" ? "mean of the heads" : h === "rollout" ? "rollout" : "head " + (h + 1)}`,
                            style: { position: "relative", width: "64px", height: "64px", border: "2px solid #c9d1dc" } },
                    imageCanvas(64), o.root);
      const choose = () => {
        block = b;
        blockSel.value = String(b);
        if (h === "rollout") mode = "rollout";
        else { mode = "attention"; head = h; headSel.value = String(h); }
        modeSel.value = mode;
        draw();
      };
      t.addEventListener("click", choose);
      t.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); choose(); } });
      thumbs.push({ t, o, b, h });
      modelView.append(t);
    }
  }
  app.append(el("div", { class: "row" },
    el("div", { class: "panel" }, stage, viewOut),
    el("div", { class: "panel" }, el("h3", { text: "Model view (click or Enter to choose)" }), modelView)));

  function setQuery(q) {
    query = q;
    draw();
  }
  function draw() {
    const w = weights(block, head, query, mode);
    paintOverlay(big, w);
    const who = query === 0 ? "the class token" : `patch (${Math.floor((query - 1) / G) + 1}, ${((query - 1) % G) + 1})`;
    const what = mode === "rollout" ? `rollout up to block ${block + 1}` : `block ${block + 1}, ${head === "mean" ? "mean of the heads" : "head " + (head + 1)}`;
    viewOut.textContent = `${what}: where ${w.q === query ? who : "the class token"} attends` +
      (w.cls === null ? "" : `; weight on the class token ${fmt(w.cls)}`) +
      (w.q !== query ? ". The last block computes only the class token's query (the head reads only it), so it is shown." : "");
    viewOut.dataset.query = String(w.q);
    clsButton.setAttribute("aria-pressed", String(query === 0));
    for (const { t, o, b, h } of thumbs) {
      paintOverlay(o, h === "rollout" ? weights(b, 0, query, "rollout") : weights(b, h, query, "attention"));
      const chosen = b === block && (mode === "rollout" ? h === "rollout" : h === head);
      t.style.borderColor = chosen ? "#c2410c" : "#c9d1dc";
      t.setAttribute("aria-pressed", String(chosen));
      t.style.borderStyle = hasRow(b, query) ? "solid" : "dashed";
    }
  }

  draw();
  qkv.ready();
})();
