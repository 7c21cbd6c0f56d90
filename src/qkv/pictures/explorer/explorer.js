// The explorer's shared script (every qkv page): the page data, DOM and SVG helpers, the colour
// scale, softmax, matrix tables with heatmap cells, plot axes. Page scripts use `qkv.*`.
"use strict";

// Errors become visible in the page (and readable by the tests) instead of only in a console.
window.qkvErrors = [];
(() => {
  const report = (message) => {
    window.qkvErrors.push(message);
    const box = document.getElementById("qkv-errors");
    if (box) {
      box.hidden = false;
      box.textContent = "Error in this page: " + window.qkvErrors.join("\n");
    }
  };
  window.addEventListener("error", (e) => report(String(e.message || e.type)));
  window.addEventListener("unhandledrejection", (e) => report(String(e.reason)));
})();

const qkv = (() => {
  const data = JSON.parse(document.getElementById("qkv-data").textContent);
  const SVG_NS = "http://www.w3.org/2000/svg";

  // Attributes: "text" sets textContent (data never goes through innerHTML), "on<event>" adds a
  // listener, "style" may be an object; false/null/undefined are left out.
  function build(node, attrs, children) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "style" && typeof v === "object") Object.assign(node.style, v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      node.append(c instanceof Node ? c : String(c));
    }
    return node;
  }
  const el = (tag, attrs, ...children) => build(document.createElement(tag), attrs, children);
  const svg = (tag, attrs, ...children) => build(document.createElementNS(SVG_NS, tag), attrs, children);

  // Fixed decimals as qkv's printouts: no "-0.000".
  function fmt(v, decimals = 3) {
    const s = Number(v).toFixed(decimals);
    return /^-0\.?0*$/.test(s) ? s.slice(1) : s;
  }

  // Viridis: readable from dark to light, and for colour-blind readers.
  const VIRIDIS = [[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
                   [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37]];
  function colorAt(t) {
    const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
    const i = Math.min(VIRIDIS.length - 2, Math.floor(x)), f = x - i;
    return VIRIDIS[i].map((c, k) => Math.round(c + f * (VIRIDIS[i + 1][k] - c)));
  }
  const rgb = (c) => `rgb(${c[0]},${c[1]},${c[2]})`;
  const inkOn = (c) => (0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2] > 140 ? "#111" : "#fff");
  function paint(node, t) {
    const c = colorAt(t);
    node.style.background = rgb(c);
    node.style.color = inkOn(c);
  }

  // softmax(scale · row), stable (the largest entry is subtracted first).
  function softmax(row, scale = 1) {
    const z = row.map((v) => v * scale);
    const m = Math.max(...z);
    const e = z.map((v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / s);
  }
  const matmul = (A, B) => A.map((r) => B[0].map((_, j) => r.reduce((s, v, k) => s + v * B[k][j], 0)));
  const transpose = (A) => A[0].map((_, j) => A.map((r) => r[j]));
  const names = (prefix, k) => Array.from({ length: k }, (_, i) => prefix + i);

  // Hover and keyboard focus do the same thing; the node joins the Tab order.
  function hoverable(node, action) {
    if (!node.hasAttribute("tabindex") && !/^(BUTTON|SELECT|INPUT|A)$/.test(node.tagName)) node.setAttribute("tabindex", "0");
    node.classList.add("hoverable");
    node.addEventListener("mouseenter", action);
    node.addEventListener("focus", action);
    return node;
  }

  // A matrix as a table of heatmap cells; each cell keeps its full value in data-value.
  // o: id, caption, rows, cols, values, decimals, range [lo, hi] (default: the values' own),
  //    rowSums, rowHeader(i) → extra attributes of the row's <th>.
  function matrixTable(o) {
    const decimals = o.decimals ?? 3;
    const table = el("table", { class: "matrix", id: o.id }, el("caption", { text: o.caption }));
    table.append(el("thead", {}, el("tr", {},
      el("th", { scope: "col" }, el("span", { class: "sr-only", text: "row" })),
      o.cols.map((c) => el("th", { scope: "col", text: c })),
      o.rowSums ? el("th", { scope: "col", text: "sum" }) : null)));
    const body = el("tbody");
    const cells = o.values.map((row, i) => {
      const tr = el("tr", { "data-row": i }, el("th", { scope: "row", text: o.rows[i], ...(o.rowHeader ? o.rowHeader(i) : {}) }));
      const tds = row.map(() => el("td"));
      tr.append(...tds);
      if (o.rowSums) {
        tds.sum = el("td", { class: "sum" });
        tr.append(tds.sum);
      }
      body.append(tr);
      return tds;
    });
    table.append(body);
    function update(values) {
      const flat = values.flat();
      const lo = o.range ? o.range[0] : Math.min(...flat), hi = o.range ? o.range[1] : Math.max(...flat);
      values.forEach((row, i) => {
        let s = 0;
        row.forEach((v, j) => {
          const td = cells[i][j];
          td.textContent = fmt(v, decimals);
          td.dataset.value = String(v);
          paint(td, hi > lo ? (v - lo) / (hi - lo) : 0.5);
          s += v;
        });
        if (cells[i].sum) {
          cells[i].sum.textContent = fmt(s, decimals);
          cells[i].sum.dataset.value = String(s);
        }
      });
    }
    update(o.values);
    const highlightRow = (i) => [...body.rows].forEach((tr, k) => tr.classList.toggle("active", k === i));
    return { table, cells, rows: [...body.rows], update, highlightRow };
  }

  // Round tick values covering [lo, hi].
  function ticks(lo, hi, count = 5) {
    const span = hi - lo || 1;
    const mag = 10 ** Math.floor(Math.log10(span / count));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => span / s <= count) || 10 * mag;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * span; v += step) out.push(+v.toFixed(10));
    return out;
  }

  // An SVG plot area with axes. o: width, height, x [lo, hi], y [lo, hi], xLabel, yLabel, label.
  function axes(o) {
    const m = { l: 52, r: 14, t: 12, b: 42, ...(o.margin || {}) };
    const W = o.width, H = o.height;
    const x = (v) => m.l + ((v - o.x[0]) / (o.x[1] - o.x[0])) * (W - m.l - m.r);
    const y = (v) => H - m.b - ((v - o.y[0]) / (o.y[1] - o.y[0])) * (H - m.t - m.b);
    const root = svg("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": o.label });
    const grid = svg("g", { class: "grid" }), axis = svg("g", { class: "axis", "font-size": 11 });
    const label = (t) => String(+t.toFixed(6));
    for (const t of ticks(o.x[0], o.x[1], o.xTicks || 6)) {
      grid.append(svg("line", { x1: x(t), x2: x(t), y1: m.t, y2: H - m.b }));
      axis.append(svg("text", { x: x(t), y: H - m.b + 15, "text-anchor": "middle", text: label(t) }));
    }
    for (const t of ticks(o.y[0], o.y[1], o.yTicks || 5)) {
      grid.append(svg("line", { x1: m.l, x2: W - m.r, y1: y(t), y2: y(t) }));
      axis.append(svg("text", { x: m.l - 6, y: y(t) + 4, "text-anchor": "end", text: label(t) }));
    }
    axis.append(svg("line", { x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b }));
    axis.append(svg("line", { x1: m.l, x2: m.l, y1: m.t, y2: H - m.b }));
    axis.append(svg("text", { x: (m.l + W - m.r) / 2, y: H - 6, "text-anchor": "middle", text: o.xLabel || "" }));
    axis.append(svg("text", { x: 14, y: (m.t + H - m.b) / 2, "text-anchor": "middle",
                              transform: `rotate(-90 14 ${(m.t + H - m.b) / 2})`, text: o.yLabel || "" }));
    root.append(grid, axis);
    return { root, x, y, m, W, H };
  }

  const path = (xs, ys, x, y) => xs.map((v, i) => `${i ? "L" : "M"}${x(v).toFixed(1)},${y(ys[i]).toFixed(1)}`).join("");

  // A section: heading and an explanatory note.
  const section = (title, note) => [el("h2", { text: title }), note ? el("p", { class: "note", text: note }) : null];

  // Called last by every page script: the tests wait for it.
  const ready = () => { document.body.dataset.ready = "1"; };

  return { data, el, svg, fmt, colorAt, rgb, paint, softmax, matmul, transpose, names, hoverable,
           matrixTable, ticks, axes, path, section, ready };
})();
