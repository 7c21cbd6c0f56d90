// `qkv explain --html`: attention step by step (data: demos/explain_page.cpp).
// 1. X, S = XXᵀ, A = softmax(S), Y = AX; hovering or focusing a token shows its row of weights
//    and the value rows it mixes. 2. Q, K, V and a scale slider: softmax(QKᵀ·s) is recomputed
//    here and saturates as s grows. 3. The multi-head shape trace as boxes with the numbers.
// 4. Channel attention (squeeze and excitation).
"use strict";
(() => {
  const { data: D, el, svg, fmt, softmax, matmul, transpose, names, hoverable, matrixTable, section } = qkv;
  const app = document.getElementById("app");
  const T = D.tokens, n = T.length, d = D.X[0].length, dk = D.d_k;

  // ---- the tokens: hover or focus one to make it the query ----
  const tokenButtons = T.map((t, i) =>
    hoverable(el("button", { class: "token", type: "button", "aria-pressed": "false", "data-index": i,
                             "aria-label": `query ${t}`, text: t }), () => setQuery(i)));
  app.append(el("p", { class: "note", text:
    "Every token is a query, a key and a value. Hover a token, or move to it with Tab, to see its row of " +
    "attention weights and the value rows it mixes. All numbers are qkv's own (the same as `qkv explain` prints)." }),
    el("div", { class: "tokens", role: "group", "aria-label": "choose the query token" }, tokenButtons));

  // ---- 1. self-attention without parameters ----
  app.append(...section("1 · Self-attention without parameters: X → XXᵀ → softmax → weighted sum",
    "S = XXᵀ scores every pair of tokens by their dot product; a softmax turns each row into weights that sum " +
    "to 1; Y = AX replaces each token by a weighted average of all the rows of X."));
  const rowFocus = (i) => ({ tabindex: 0, "aria-label": `query ${T[i]}`, onmouseenter: () => setQuery(i), onfocus: () => setQuery(i) });
  const tX = matrixTable({ id: "x", caption: `X: embeddings (${n}×${d})`, rows: T, cols: names("d", d), values: D.X });
  const tS = matrixTable({ id: "scores", caption: `S = XXᵀ (${n}×${n})`, rows: T, cols: T, values: D.S, rowHeader: rowFocus });
  const tA = matrixTable({ id: "weights", caption: "A = softmax(S), row by row", rows: T, cols: T, values: D.A,
                           range: [0, 1], rowSums: true, rowHeader: rowFocus });
  const tY = matrixTable({ id: "output", caption: `Y = AX (${n}×${d})`, rows: T, cols: names("d", d), values: D.Y });
  app.append(el("div", { class: "row" }, tX.table, tS.table, tA.table, tY.table));
  const mix = el("div", { class: "panel", id: "mix", "aria-live": "polite" });
  app.append(el("h3", { text: "The weighted sum for the query" }), mix);
  app.append(el("p", { class: "note", text:
    `scaled_dot_product_attention(X, X, X, scale = 1) in qkv gives the same Y: max |difference| = ${D.sdpa_max_diff}` }));

  function showMix(i) {
    const a = D.A[i];
    const w = 160;
    const lines = T.map((t, j) => el("div", { class: "mix-row mono", "data-key": j },
      el("span", { text: `${fmt(a[j])} × x_${t}` , style: { display: "inline-block", minWidth: "9em" } }),
      svg("svg", { width: w + 4, height: 14, "aria-hidden": "true" },
        svg("rect", { x: 0, y: 2, width: w, height: 10, fill: "#e3e8ef" }),
        svg("rect", { x: 0, y: 2, width: Math.max(1, a[j] * w), height: 10, fill: "#c2410c" })),
      el("span", { text: `  [${D.X[j].map((v) => fmt(v, 2)).join(", ")}]` })));
    mix.replaceChildren(
      el("div", { text: `y_${T[i]} = ${T.map((t, j) => `${fmt(a[j])}·x_${t}`).join(" + ")}` }),
      ...lines,
      el("div", { class: "mono", text: `= [${D.Y[i].map((v) => fmt(v)).join(", ")}]  (row ${T[i]} of Y)` }));
  }

  // ---- 2. projections and the scale ----
  const inv = 1 / Math.sqrt(dk);
  app.append(...section(`2 · Projections Q = XW_q, K = XW_k, V = XW_v and the scale 1/√d_k (d_k = ${dk})`,
    "With unit-variance entries, q·k has variance d_k: large scores make the softmax saturate (one key takes " +
    "all the weight and the gradients vanish). Multiplying by s = 1/√d_k brings the variance back to 1. Move " +
    "the slider (or use the arrow keys on it) to recompute softmax(QKᵀ·s) in this page."));
  app.append(el("div", { class: "row" },
    matrixTable({ id: "q", caption: "Q = XW_q", rows: T, cols: names("k", dk), values: D.Q }).table,
    matrixTable({ id: "k", caption: "K = XW_k", rows: T, cols: names("k", dk), values: D.K }).table,
    matrixTable({ id: "v", caption: "V = XW_v", rows: T, cols: names("k", dk), values: D.V }).table));
  const QK = matmul(D.Q, transpose(D.K));
  const sMax = 8 * inv, step = inv / 50;
  const slider = el("input", { type: "range", id: "scale", min: 0, max: sMax, step, value: inv,
                               "aria-label": "scale s of the scores" });
  const readout = el("span", { class: "readout", id: "scale-readout", "aria-live": "polite" });
  const saturation = el("span", { class: "readout", id: "saturation" });
  app.append(el("div", { class: "controls" },
    el("label", { for: "scale", text: "scale s" }), slider, readout,
    el("button", { type: "button", id: "scale-default", text: `1/√d_k = ${fmt(inv)}`, onclick: () => setScale(inv) }),
    el("button", { type: "button", id: "scale-one", text: "1 (no scale)", onclick: () => setScale(1) }),
    el("span", { text: "mean largest weight:" }), saturation));
  const scaledOf = (s) => QK.map((r) => r.map((v) => v * s));
  const weightsOf = (s) => QK.map((r) => softmax(r, s));
  const tQK = matrixTable({ id: "scaled-scores", caption: "QKᵀ · s", rows: T, cols: T, values: scaledOf(inv), rowHeader: rowFocus });
  const tW = matrixTable({ id: "scaled-weights", caption: "softmax(QKᵀ · s)", rows: T, cols: T, values: weightsOf(inv),
                           range: [0, 1], rowSums: true, rowHeader: rowFocus });
  const tO = matrixTable({ id: "scaled-output", caption: "softmax(QKᵀ · s) V", rows: T, cols: names("k", dk),
                           values: matmul(weightsOf(inv), D.V) });

  // The largest weight of each query row as s grows: the curves climb to 1 (saturation).
  const chart = qkv.axes({ width: 380, height: 230, x: [0, sMax], y: [0, 1.02], xLabel: "scale s",
                           yLabel: "largest weight", label: "largest softmax weight of each query as the scale grows" });
  const grid = Array.from({ length: 121 }, (_, k) => (k / 120) * sMax);
  const colors = ["#c2410c", "#1d4ed8", "#15803d", "#7e22ce", "#a16207", "#0e7490"];
  T.forEach((t, i) => {
    const ys = grid.map((s) => Math.max(...softmax(QK[i], s)));
    chart.root.append(svg("path", { d: qkv.path(grid, ys, chart.x, chart.y), fill: "none",
                                    stroke: colors[i % colors.length], "stroke-width": 2 }));
  });
  const chartLegend = el("div", { class: "legend" },
    T.map((t, i) => el("span", { style: { "--c": colors[i % colors.length] }, text: `query ${t}` })));
  for (const [s, label] of [[inv, "1/√d_k"], [1, "1"]]) {
    if (s > sMax) continue;
    chart.root.append(svg("line", { x1: chart.x(s), x2: chart.x(s), y1: chart.y(0), y2: chart.y(1.02),
                                    stroke: "#55606e", "stroke-dasharray": "3 3" }),
                      svg("text", { x: chart.x(s) + (s === 1 ? 3 : -3), y: chart.y(0.06), "font-size": 11,
                                    "text-anchor": s === 1 ? "start" : "end", text: label }));
  }
  const marker = svg("line", { id: "scale-marker", y1: chart.y(0), y2: chart.y(1.02), stroke: "#111", "stroke-width": 2 });
  chart.root.append(marker);
  app.append(el("div", { class: "row" }, tQK.table, tW.table, tO.table, el("div", {}, chart.root, chartLegend)));

  function setScale(s) {
    s = Number(s);
    slider.value = s;
    const W = weightsOf(s);
    tQK.update(scaledOf(s));
    tW.update(W);
    tO.update(matmul(W, D.V));
    readout.textContent = `s = ${fmt(s)} = ${fmt(s * Math.sqrt(dk), 2)} / √${dk}`;
    saturation.textContent = fmt(W.reduce((a, r) => a + Math.max(...r), 0) / n);
    marker.setAttribute("x1", chart.x(s));
    marker.setAttribute("x2", chart.x(s));
  }
  slider.addEventListener("input", () => setScale(slider.value));

  app.append(el("h3", { text: "Measured by qkv: the variance of q·k and the largest of 16 softmax weights" }));
  const vt = el("table", { class: "matrix", id: "variance" },
    el("thead", {}, el("tr", {}, ["d", "Var(q·k)", "Var(q·k/√d)", "max weight, raw", "max weight, scaled"]
      .map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, D.variance.map((r) => el("tr", {},
      el("th", { scope: "row", text: r.d }),
      [fmt(r.var_raw, 2), fmt(r.var_scaled), fmt(r.max_weight_raw), fmt(r.max_weight_scaled)].map((v) => el("td", { text: v }))))));
  app.append(vt);

  // ---- 3. multi-head attention: the shape trace ----
  const M = D.mha, L = M.input.length, H = M.heads, hd = M.head_dim, P = H * hd;
  app.append(...section(`3 · Multi-head attention: ${L}×${d} → ${H} heads of ${L}×${hd} → ${L}×${P} → W_O → ${L}×${d}`,
    "Each head projects the input to its own queries, keys and values of width " + hd + ", attends, and the " +
    "heads' outputs are concatenated side by side; W_O maps the concatenation back to the model width. " +
    "Hover or focus a box to see its numbers (computed by nn::MultiheadAttention, max |difference| to the " +
    `module's own forward = ${M.max_diff}).`));
  const detail = el("div", { class: "panel detail", id: "trace-detail", "aria-live": "polite" });
  const boxes = [];
  function box(id, label, rows, cols, show) {
    const b = el("div", { class: "box", id, role: "button", "aria-label": `${label}, ${rows} by ${cols}`,
                          style: { width: `${30 + cols * 6}px`, height: `${26 + rows * 5}px` } },
                 el("strong", { text: label }), el("span", { text: `${rows}×${cols}` }));
    hoverable(b, () => {
      boxes.forEach((x) => x.classList.toggle("active", x === b));
      detail.replaceChildren(...show());
    });
    boxes.push(b);
    return b;
  }
  const toks = M.tokens, arrow = () => el("span", { class: "arrow", "aria-hidden": "true", text: "→" });
  const headOut = (h) => M.concat.map((r) => r.slice(h * hd, (h + 1) * hd));
  const headBoxes = Array.from({ length: H }, (_, h) => box(`head-${h + 1}`, `head ${h + 1}`, L, hd, () => [
    matrixTable({ id: "detail-weights", caption: `A_${h + 1} = softmax(Q_${h + 1}K_${h + 1}ᵀ/√${hd})`, rows: toks, cols: toks,
                  values: M.weights[h], range: [0, 1], rowSums: true }).table,
    matrixTable({ id: "detail-head", caption: `head_${h + 1} = A_${h + 1}V_${h + 1} (${L}×${hd})`, rows: toks,
                  cols: names("c", hd).map((_, c) => `c${h * hd + c}`), values: headOut(h) }).table]));
  app.append(el("div", { class: "trace", role: "group", "aria-label": "multi-head shape trace" },
    box("trace-input", "X", L, d, () => [matrixTable({ id: "detail-input", caption: `input X (${L}×${d})`, rows: toks,
                                                         cols: names("d", d), values: M.input }).table]),
    arrow(), el("div", { class: "heads" }, headBoxes), arrow(),
    box("trace-concat", "concat", L, P, () => [matrixTable({ id: "detail-concat", caption: `concat(head_1 … head_${H}) (${L}×${P})`,
                                                             rows: toks, cols: names("c", P), values: M.concat, decimals: 2 }).table]),
    arrow(),
    box("trace-wo", "· W_O", P, d, () => [matrixTable({ id: "detail-wo", caption: `W_O (${P}×${d}) = out_proj.weightᵀ`,
                                                        rows: names("c", P), cols: names("d", d), values: M.w_o, decimals: 2 }).table]),
    arrow(),
    box("trace-output", "output", L, d, () => [matrixTable({ id: "detail-output", caption: `output = concat · W_O + b_O (${L}×${d})`,
                                                             rows: toks, cols: names("d", d), values: M.output }).table])));
  app.append(detail);

  // ---- 4. channel attention ----
  app.append(...section("4 · Channel attention (squeeze and excitation): weights generated from the content",
    "The squeeze s averages each channel over its H×W positions; the excitation g = σ(W₂ ReLU(W₁ s)) gives every " +
    "channel one weight in (0, 1) that rescales it."));
  const C = D.se.squeeze.length;
  app.append(matrixTable({ id: "se", caption: `squeeze s and excitation g over ${C} channels`, rows: ["s", "g"],
                           cols: names("c", C), values: [D.se.squeeze, D.se.weights] }).table);

  function setQuery(i) {
    tokenButtons.forEach((b, k) => {
      b.classList.toggle("active", k === i);
      b.setAttribute("aria-pressed", String(k === i));
    });
    for (const t of [tS, tA, tY, tQK, tW, tO]) t.highlightRow(i);
    tX.rows.forEach((tr, j) => { tr.style.opacity = String(0.5 + 0.5 * D.A[i][j]); });
    tX.cells.forEach((row, j) => row.forEach((td) => td.classList.toggle("mixed", D.A[i][j] >= Math.max(...D.A[i]) - 1e-12)));
    showMix(i);
  }

  setQuery(0);
  setScale(inv);
  boxes[1].dispatchEvent(new Event("mouseenter"));
  qkv.ready();
})();
