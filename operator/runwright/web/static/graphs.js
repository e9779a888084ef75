"use strict";
// The run page's two drawings, as inline SVG: the DAG with each block's phase, and a Gantt timeline.

const Graphs = {};

// Layers by longest path from a root; finally blocks in a layer after the rest.
Graphs.layers = function (nodes) {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const depth = new Map();
  const visit = (n, seen) => {
    if (depth.has(n.name)) return depth.get(n.name);
    if (seen.has(n.name)) return 0;
    seen.add(n.name);
    const ups = n.upstream.filter((u) => byName.has(u)).map((u) => visit(byName.get(u), seen) + 1);
    const d = Math.max(0, ...ups);
    depth.set(n.name, d);
    return d;
  };
  nodes.filter((n) => !n.finally).forEach((n) => visit(n, new Set()));
  const last = Math.max(-1, ...depth.values());
  nodes.filter((n) => n.finally).forEach((n) => depth.set(n.name, last + 1));
  const layers = [];
  for (const n of nodes) {
    const d = depth.get(n.name);
    (layers[d] = layers[d] || []).push(n);
  }
  return { layers, depth };
};

Graphs.dag = function (box, nodes) {
  const W = 150, H = 34, GX = 60, GY = 18;
  const { layers } = Graphs.layers(nodes);
  const pos = new Map();
  layers.forEach((layer, x) => (layer || []).forEach((n, y) => pos.set(n.name, { x: 10 + x * (W + GX), y: 10 + y * (H + GY) })));
  const width = 20 + Math.max(1, layers.length) * (W + GX);
  const height = 20 + Math.max(1, ...layers.map((l) => (l || []).length)) * (H + GY);
  const svg = RW.svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "dag", role: "img" });
  for (const n of nodes) {
    for (const u of n.upstream) {
      const a = pos.get(u), b = pos.get(n.name);
      if (!a || !b) continue;
      const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2, mid = (x1 + x2) / 2;
      svg.append(RW.svg("path", { d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`, class: "edge" }));
    }
  }
  for (const n of nodes) {
    const p = pos.get(n.name);
    const g = RW.svg("g", { class: "node phase-" + n.phase, "data-block": n.name, "data-phase": n.phase, transform: `translate(${p.x},${p.y})` });
    g.append(RW.svg("rect", { width: W, height: H, rx: 6 }));
    g.append(RW.svg("text", { x: 8, y: 14, class: "label", text: n.name + (n.finally ? " (finally)" : "") }));
    g.append(RW.svg("text", { x: 8, y: 28, class: "sub", text: n.phase }));
    const title = RW.svg("title", { text: n.name + ": " + n.phase });
    g.append(title);
    svg.append(g);
  }
  box.replaceChildren(svg);
};

// One row per block, one bar per attempt; empty space between bars is idle time.
Graphs.timeline = function (box, attempts, now) {
  const timed = attempts.filter((a) => a.startedAt);
  if (!timed.length) {
    box.replaceChildren(RW.el("p", { class: "muted", text: "no attempt has started yet" }));
    return;
  }
  const start = Math.min(...timed.map((a) => Date.parse(a.startedAt)));
  const end = Math.max(...timed.map((a) => (a.completedAt ? Date.parse(a.completedAt) : now)), start + 1000);
  const first = (b) => Math.min(...timed.filter((a) => a.block === b).map((a) => Date.parse(a.startedAt)));
  const blocks = [...new Set(timed.map((a) => a.block))].sort((x, y) => first(x) - first(y));
  const L = 140, W = 640, R = 22;
  const scale = (t) => L + ((t - start) / (end - start)) * W;
  const height = 30 + blocks.length * R;
  const svg = RW.svg("svg", { width: L + W + 20, height, class: "timeline", role: "img" });
  const ticks = 5;
  for (let i = 0; i <= ticks; i++) {
    const t = start + ((end - start) * i) / ticks;
    svg.append(RW.svg("line", { x1: scale(t), x2: scale(t), y1: 0, y2: height - 16, class: "tick" }));
    svg.append(RW.svg("text", { x: scale(t), y: height - 3, class: "axis", text: "+" + RW.duration((t - start) / 1000) }));
  }
  blocks.forEach((block, i) => {
    const y = 4 + i * R;
    svg.append(RW.svg("text", { x: 4, y: y + 13, class: "label", text: block }));
    for (const a of timed.filter((x) => x.block === block)) {
      const s = Date.parse(a.startedAt), e = a.completedAt ? Date.parse(a.completedAt) : now;
      const bar = RW.svg("rect", {
        x: scale(s), y, width: Math.max(2, scale(e) - scale(s)), height: R - 6, rx: 3,
        class: "bar phase-" + a.phase, "data-block": block, "data-attempt": a.fanout ? "" : a.attempt,
      });
      const what = a.fanout ? `${a.reason || "items"}` : `attempt ${a.attempt}`;
      bar.append(RW.svg("title", { text: `${block} ${what}: ${a.phase}, ${RW.duration((e - s) / 1000)}` }));
      svg.append(bar);
    }
  });
  box.replaceChildren(svg);
};
