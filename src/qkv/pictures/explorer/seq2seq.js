// `qkv seq2seq --html`: where each output token looks (data: demos/seq2seq_page.cpp).
// Head view: the output tokens on the left, the input tokens on the right, one line per pair
// with thickness and opacity = weight; hover or focus a token to keep only its lines. Model view:
// one thumbnail per layer × head; choose one to show it in the head view. A select box picks the
// example among the precomputed translations.
"use strict";
(() => {
  const { data: D, el, svg, fmt, colorAt, rgb, hoverable, section } = qkv;
  const app = document.getElementById("app");
  const shown = (t) => (t === " " ? "␣" : t);
  let ex = 0, layer = 0, head = 0, focusToken = null;

  app.append(...section(`${D.model}`,
    "Each output character is produced after its decoder step attends over the encoder's states of the input " +
    "characters. Head view: lines from each output character (left) to the input characters (right), thickness " +
    "= attention weight; hover or focus (Tab) a character to keep only its lines. Model view: every layer × head; " +
    "choose one to show it."));
  const select = el("select", { id: "example", "aria-label": "example input" },
    D.examples.map((e, i) => el("option", { value: i, text: e.input })));
  select.addEventListener("change", () => { ex = Number(select.value); focusToken = null; draw(); });
  const verdict = el("span", { class: "readout", id: "translation", "aria-live": "polite" });
  app.append(el("div", { class: "controls" }, el("label", { for: "example", text: "example input" }), select, verdict));

  const headView = el("div", { id: "head-view" });
  const modelView = el("div", { id: "model-view", class: "model-grid", role: "group", "aria-label": "model view: layers by heads" });
  const focusOut = el("p", { class: "mono", id: "focus-readout", "aria-live": "polite", style: { maxWidth: "360px" } });
  app.append(el("div", { class: "row" },
    el("div", { class: "panel" }, el("h3", { id: "head-title" }), headView, focusOut),
    el("div", { class: "panel" }, el("h3", { text: "Model view (layers × heads)" }), modelView)));

  function drawHeadView() {
    const e = D.examples[ex], A = e.attention[layer][head];
    const rowH = 20, top = 24, W = 360, left = 70, right = W - 70;
    const H = top + Math.max(e.out_tokens.length, e.in_tokens.length) * rowH + 10;
    const root = svg("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, id: "head-svg", role: "group",
                              "aria-label": `head view, layer ${layer + 1} head ${head + 1}` });
    root.append(svg("text", { x: left, y: 14, "text-anchor": "end", "font-size": 12, text: "output" }),
                svg("text", { x: right, y: 14, "font-size": 12, text: "input" }));
    const yOut = (i) => top + i * rowH + rowH / 2, yIn = (j) => top + j * rowH + rowH / 2;
    const lines = svg("g", { id: "lines" });
    A.forEach((row, i) => row.forEach((w, j) => {
      lines.append(svg("line", { class: "link", x1: left + 6, y1: yOut(i), x2: right - 6, y2: yIn(j), stroke: "#c2410c",
                                 "stroke-width": 0.3 + 6 * w, "stroke-opacity": Math.min(1, 0.08 + w),
                                 "data-out": i, "data-in": j, "data-weight": w }));
    }));
    root.append(lines);
    const label = (side, i, text) => {
      const x = side === "out" ? left : right;
      const g = svg("g", { class: `tok tok-${side}`, "data-index": i, tabindex: 0, role: "button",
                           "aria-label": `${side === "out" ? "output" : "input"} character ${i + 1}: ${text}` },
        svg("rect", { x: side === "out" ? x - 44 : x - 2, y: top + i * rowH + 1, width: 46, height: rowH - 2, rx: 3,
                      fill: "#fff", stroke: "#c9d1dc" }),
        svg("text", { x: side === "out" ? x - 4 : x + 4, y: top + i * rowH + 15, "text-anchor": side === "out" ? "end" : "start",
                      "font-size": 14, class: "mono", text: shown(text) }));
      hoverable(g, () => setFocus(side, i));
      return g;
    };
    root.append(...e.out_tokens.map((t, i) => label("out", i, t)), ...e.in_tokens.map((t, j) => label("in", j, t)));
    root.addEventListener("mouseleave", () => setFocus(null));
    headView.replaceChildren(root);
    document.getElementById("head-title").textContent =
      `Head view · ${D.layer_names[layer] || "layer " + (layer + 1)} · layer ${layer + 1}, head ${head + 1}`;
  }

  function setFocus(side, i) {
    focusToken = side ? { side, i } : null;
    const e = D.examples[ex], A = e.attention[layer][head];
    for (const l of document.querySelectorAll("#lines .link")) {
      const on = !focusToken || Number(l.dataset[focusToken.side]) === focusToken.i;
      l.classList.toggle("faded", !on);
      l.style.display = on ? "" : "none";
    }
    for (const g of document.querySelectorAll("#head-svg .tok"))
      g.querySelector("rect").setAttribute("fill", focusToken && g.classList.contains(`tok-${focusToken.side}`) &&
                                           Number(g.dataset.index) === focusToken.i ? "#fde7d9" : "#fff");
    if (!focusToken) {
      focusOut.textContent = "Hover or focus a character.";
      return;
    }
    if (side === "out") {
      const row = A[i], best = row.indexOf(Math.max(...row));
      focusOut.textContent = `output '${shown(e.out_tokens[i])}' (step ${i + 1}) attends most to input ` +
        `'${shown(e.in_tokens[best])}' (character ${best + 1}) with weight ${fmt(row[best])}; its weights sum to ` +
        `${fmt(row.reduce((a, b) => a + b, 0))}`;
    } else {
      const col = A.map((r) => r[i]);
      focusOut.textContent = `input '${shown(e.in_tokens[i])}' (character ${i + 1}) receives ` +
        `${col.map((w, k) => `${shown(e.out_tokens[k])}:${fmt(w, 2)}`).join(" ")}`;
    }
  }

  function drawModelView() {
    const e = D.examples[ex], cell = 9;
    modelView.style.display = "grid";
    modelView.style.gridTemplateColumns = `auto repeat(${D.heads}, auto)`;
    modelView.style.gap = "8px";
    const items = [el("span"), ...Array.from({ length: D.heads }, (_, h) => el("strong", { text: `head ${h + 1}` }))];
    for (let l = 0; l < D.layers; ++l) {
      items.push(el("strong", { text: `layer ${l + 1}` }));
      for (let h = 0; h < D.heads; ++h) {
        const A = e.attention[l][h];
        const thumb = svg("svg", { class: "thumb", width: A[0].length * cell + 4, height: A.length * cell + 4,
                                   "data-layer": l, "data-head": h, tabindex: 0, role: "button",
                                   "aria-label": `layer ${l + 1} head ${h + 1}` });
        A.forEach((row, i) => row.forEach((w, j) =>
          thumb.append(svg("rect", { x: 2 + j * cell, y: 2 + i * cell, width: cell, height: cell, fill: rgb(colorAt(w)) }))));
        thumb.append(svg("rect", { class: "frame", x: 1, y: 1, width: A[0].length * cell + 2, height: A.length * cell + 2,
                                   fill: "none", "stroke-width": 2 }));
        const choose = () => {
          if (layer === l && head === h) return;
          layer = l;
          head = h;
          drawHeadView();
          markSelected();
          setFocus(null);
        };
        hoverable(thumb, choose);
        thumb.addEventListener("click", choose);
        items.push(thumb);
      }
    }
    modelView.replaceChildren(...items,
      el("p", { class: "note", style: { gridColumn: "1 / -1" },
                text: "rows: output characters, columns: input characters; bright = attended" }));
  }

  function markSelected() {
    for (const t of modelView.querySelectorAll(".thumb")) {
      const on = Number(t.dataset.layer) === layer && Number(t.dataset.head) === head;
      t.setAttribute("aria-pressed", String(on));
      t.querySelector(".frame").setAttribute("stroke", on ? "#c2410c" : "#c9d1dc");
    }
  }

  function draw() {
    const e = D.examples[ex];
    verdict.textContent = `"${e.input}" → "${e.output}"` +
      (e.expected ? (e.output === e.expected ? "  ✓ correct" : `  ✗ expected ${e.expected}`) : "");
    drawHeadView();
    drawModelView();
    markSelected();
    setFocus(null);
  }

  draw();
  qkv.ready();
})();
