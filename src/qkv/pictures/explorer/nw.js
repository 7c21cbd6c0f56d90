// `qkv nw --html`: Nadaraya–Watson regression as attention pooling (data: demos/nw_page.cpp).
// Left: the fit; hovering a test point (or moving along the plot with the arrow keys) shows its
// attention over the training points. Right: the weight heatmap (test queries × training keys).
// The slider sets the kernel width w; weights, predictions and the test error are recomputed here.
"use strict";
(() => {
  const { data: D, el, svg, fmt, softmax, colorAt, rgb, section } = qkv;
  const app = document.getElementById("app");
  const xs = D.x_train, ys = D.y_train, xt = D.x_test, m = xs.length, n = xt.length;

  // f(x) = Σ_i softmax_i(−((x − x_i)·w)²/2) y_i, as attention/nadaraya_watson.h.
  const weightsAt = (x, w) => softmax(xs.map((xi) => -(((x - xi) * w) ** 2) / 2));
  const predict = (W) => W.map((row) => row.reduce((s, a, i) => s + a * ys[i], 0));
  const mse = (p) => p.reduce((s, v, k) => s + (v - D.y_truth[k]) ** 2, 0) / n;

  app.append(...section("Attention pooling of the training targets",
    `${m} training points (x_i, y_i) with y = 2 sin(x) + x^0.8 + noise; a test query x attends to every training ` +
    "key x_i with the weight softmax_i(−((x − x_i)·w)²/2) and predicts the weighted average of the y_i. " +
    `qkv learned w = ${fmt(D.w)} by SGD on the leave-one-out loss. Hover a test point on the plot (or focus the ` +
    "plot and use ← →) to see its attention; move the slider to change w."));

  const wMax = Math.max(12, Math.ceil(2 * D.w));
  const slider = el("input", { type: "range", id: "w", min: 0.05, max: wMax, step: 0.05, value: D.w,
                               "aria-label": "kernel width w" });
  const wOut = el("span", { class: "readout", id: "w-readout", "aria-live": "polite" });
  const mseOut = el("span", { class: "readout", id: "mse" });
  const sharpOut = el("span", { class: "readout", id: "sharpness" });
  app.append(el("div", { class: "controls" },
    el("label", { for: "w", text: "kernel width w" }), slider, wOut,
    el("button", { type: "button", id: "w-one", text: "w = 1 (non-parametric)", onclick: () => setW(1) }),
    el("button", { type: "button", id: "w-learned", text: `learned w = ${fmt(D.w)}`, onclick: () => setW(D.w) }),
    el("span", { text: "test MSE:" }), mseOut,
    el("span", { text: "mean largest weight:" }), sharpOut));
  app.append(el("p", { class: "note", text:
    `qkv's test MSE: average pooling ${fmt(D.mse_average, 4)}, non-parametric (w = 1) ${fmt(D.mse_nonparametric, 4)}, ` +
    `parametric (w = ${fmt(D.w, 4)}) ${fmt(D.mse_parametric, 4)}.` }));

  // ---- the fit ----
  const all = [...ys, ...D.truth_y];
  const lo = Math.min(...all), hi = Math.max(...all), pad = 0.08 * (hi - lo);
  const P = qkv.axes({ width: 640, height: 420, x: [0, D.x_max], y: [lo - pad, hi + pad], xLabel: "x", yLabel: "y",
                       label: "training points, truth and Nadaraya–Watson predictions" });
  const barBase = P.y(lo - pad), barTop = barBase - 70;
  const bars = svg("g", { id: "weight-bars", "aria-hidden": "true" });
  const truth = svg("path", { d: qkv.path(D.truth_x, D.truth_y, P.x, P.y), fill: "none", stroke: "#333", "stroke-width": 2 });
  const avg = svg("path", { d: qkv.path(xt, D.pred_average, P.x, P.y), fill: "none", stroke: "#7e22ce",
                            "stroke-width": 2, "stroke-dasharray": "7 5" });
  const fit = svg("path", { id: "fit", fill: "none", stroke: "#c2410c", "stroke-width": 3 });
  const cursor = svg("line", { id: "query-line", y1: P.m.t, y2: barBase, stroke: "#1d4ed8", "stroke-dasharray": "4 3" });
  const train = xs.map((x, i) => svg("circle", { class: "train-point", cx: P.x(x), cy: P.y(ys[i]), r: 3.5,
                                                 fill: "#9aa3ae", "data-index": i }));
  const tests = xt.map((x, k) => {
    const c = svg("circle", { class: "test-point", cx: P.x(x), r: 5, fill: "#c2410c", stroke: "#fff",
                              "stroke-width": 1.5, "data-index": k, "aria-label": `test query x = ${fmt(x, 2)}` });
    c.addEventListener("mouseenter", () => setQuery(k));
    return c;
  });
  P.root.append(bars, truth, avg, fit, cursor, ...train, ...tests);
  P.root.setAttribute("id", "fit-plot");
  P.root.setAttribute("tabindex", "0");
  P.root.setAttribute("aria-label", "fit plot: use the left and right arrow keys to move the test query");
  P.root.addEventListener("keydown", (e) => {
    const step = { ArrowLeft: -1, ArrowRight: 1, Home: -n, End: n }[e.key];
    if (step === undefined) return;
    e.preventDefault();
    setQuery(Math.min(n - 1, Math.max(0, query + step)));
  });
  P.root.addEventListener("mousemove", (e) => {
    const r = P.root.getBoundingClientRect();
    const x = ((e.clientX - r.left) / r.width) * P.W;
    let best = 0;
    tests.forEach((c, k) => { if (Math.abs(P.x(xt[k]) - x) < Math.abs(P.x(xt[best]) - x)) best = k; });
    if (best !== query) setQuery(best);
  });
  const legend = el("div", { class: "legend" },
    [["#333", "truth 2 sin(x) + x^0.8"], ["#9aa3ae", "training points (size: weight)"], ["#7e22ce", "average pooling"],
     ["#c2410c", "Nadaraya–Watson with this w"], ["#1d4ed8", "the query and its weights (bars)"]]
      .map(([c, t]) => el("span", { style: { "--c": c }, text: t })));

  // ---- the heatmap: rows are test queries, columns training keys ----
  const cell = Math.max(3, Math.min(8, Math.floor(400 / Math.max(n, m))));
  const hm = { l: 46, t: 10, b: 40 };
  const heat = svg("svg", { id: "heatmap", width: hm.l + m * cell + 10, height: hm.t + n * cell + hm.b, role: "img",
                            "aria-label": "attention weights, test queries by training keys" });
  const rects = [];
  for (let k = 0; k < n; ++k) {
    const row = [];
    for (let i = 0; i < m; ++i) {
      const r = svg("rect", { x: hm.l + i * cell, y: hm.t + k * cell, width: cell, height: cell });
      r.addEventListener("mouseenter", () => setQuery(k));
      row.push(r);
      heat.append(r);
    }
    rects.push(row);
  }
  const rowMark = svg("rect", { id: "heatmap-row", x: hm.l - 1, width: m * cell + 2, height: cell + 2, fill: "none",
                                stroke: "#c2410c", "stroke-width": 2 });
  heat.append(rowMark,
    svg("text", { x: hm.l + (m * cell) / 2, y: hm.t + n * cell + 28, "text-anchor": "middle", "font-size": 12,
                  text: "training key x_i (sorted) →" }),
    svg("text", { x: 14, y: hm.t + (n * cell) / 2, "text-anchor": "middle", "font-size": 12,
                  transform: `rotate(-90 14 ${hm.t + (n * cell) / 2})`, text: "test query x →" }));
  const queryOut = el("p", { class: "mono", id: "query-readout", "aria-live": "polite" });

  app.append(el("div", { class: "row" },
    el("div", { style: { maxWidth: `${P.W}px` } }, el("h3", { text: "The fit" }), P.root, legend),
    el("div", {}, el("h3", { text: "Attention weights" }), heat)), queryOut);

  let W = [], pred = [], query = Math.floor(n / 2), w = D.w;
  function setW(value) {
    w = Number(value);
    slider.value = w;
    W = xt.map((x) => weightsAt(x, w));
    pred = predict(W);
    fit.setAttribute("d", qkv.path(xt, pred, P.x, P.y));
    tests.forEach((c, k) => { c.setAttribute("cy", P.y(pred[k])); c.dataset.prediction = String(pred[k]); });
    const top = Math.max(...W.flat());
    W.forEach((row, k) => row.forEach((a, i) => rects[k][i].setAttribute("fill", rgb(colorAt(a / top)))));
    wOut.textContent = `w = ${fmt(w)}`;
    mseOut.textContent = fmt(mse(pred), 4);
    sharpOut.textContent = fmt(W.reduce((s, row) => s + Math.max(...row), 0) / n);
    setQuery(query);
  }
  function setQuery(k) {
    query = k;
    const a = W[k], top = Math.max(...a);
    cursor.setAttribute("x1", P.x(xt[k]));
    cursor.setAttribute("x2", P.x(xt[k]));
    tests.forEach((c, j) => c.setAttribute("r", j === k ? 8 : 4));
    train.forEach((c, i) => {
      c.setAttribute("r", 2.5 + 7 * Math.sqrt(a[i] / top));
      c.setAttribute("fill", a[i] / top > 0.02 ? "#1d4ed8" : "#9aa3ae");
      c.dataset.weight = String(a[i]);
    });
    bars.replaceChildren(...xs.map((x, i) => svg("rect", { x: P.x(x) - 2, y: barBase - (a[i] / top) * (barBase - barTop),
                                                            width: 4, height: (a[i] / top) * (barBase - barTop),
                                                            fill: "#1d4ed8", opacity: 0.55 })));
    rowMark.setAttribute("y", hm.t + k * cell - 1);
    const best = a.indexOf(top);
    queryOut.textContent = `query x = ${fmt(xt[k])} → prediction ${fmt(pred[k])} (truth ${fmt(D.y_truth[k])}); ` +
      `largest weight ${fmt(top)} on x_i = ${fmt(xs[best])}`;
    queryOut.dataset.query = String(k);
  }
  slider.addEventListener("input", () => setW(slider.value));
  heat.setAttribute("tabindex", "0");
  heat.addEventListener("keydown", (e) => {
    const step = { ArrowUp: -1, ArrowDown: 1 }[e.key];
    if (step === undefined) return;
    e.preventDefault();
    setQuery(Math.min(n - 1, Math.max(0, query + step)));
  });

  setW(D.w);
  qkv.ready();
})();
