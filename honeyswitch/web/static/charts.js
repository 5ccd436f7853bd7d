// Inline SVG plots built with DOM calls (no library, nothing fetched): a bar chart of
// alerts per minute and a step line of an incident's cumulative score over time.
"use strict";

import { clock, svg } from "./dom.js";

const W = 560, H = 180, PAD = { l: 40, r: 12, t: 10, b: 24 };

function niceMax(v, whole = false) {
  if (whole) return 4 * niceMax(Math.ceil(v / 4)); // counts: whole numbers on the 4 ticks
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function frame(top, xLabels) {
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "plot", role: "img" });
  const ih = H - PAD.t - PAD.b;
  for (let i = 0; i <= 4; i++) {
    const y = PAD.t + ih - (ih * i) / 4;
    root.append(svg("line", { x1: PAD.l, x2: W - PAD.r, y1: y, y2: y, class: "grid" }));
    const v = (top * i) / 4;
    root.append(svg("text", { x: PAD.l - 6, y: y + 4, class: "axis", "text-anchor": "end" },
      Number.isInteger(v) ? v : v.toFixed(1)));
  }
  xLabels.forEach(([x, text], i) => {
    const anchor = i === xLabels.length - 1 && x > W - PAD.r - 30 ? "end" : i === 0 && x < PAD.l + 30 ? "start" : "middle";
    root.append(svg("text", { x, y: H - 6, class: "axis", "text-anchor": anchor }, text));
  });
  return root;
}

// points: [{t, alerts}] one per minute, oldest first.
export function alertBars(container, points) {
  const top = niceMax(Math.max(0, ...points.map((p) => p.alerts)), true);
  const iw = W - PAD.l - PAD.r, ih = H - PAD.t - PAD.b;
  const step = iw / Math.max(points.length, 1);
  const labels = points.map((p, i) => [PAD.l + step * (i + 0.5), clock(p.t).slice(0, 5)])
    .filter((_, i) => i % 15 === 0 || i === points.length - 1);
  const root = frame(top, labels);
  points.forEach((p, i) => {
    const h = (ih * p.alerts) / top;
    const bar = svg("rect", { x: PAD.l + step * i + 1, y: PAD.t + ih - h, width: Math.max(step - 2, 1),
      height: h, class: "bar-alert" });
    bar.append(svg("title", {}, `${clock(p.t).slice(0, 5)} UTC: ${p.alerts} alerts`));
    root.append(bar);
  });
  container.replaceChildren(root);
}

// timeline: [[t, cumulative score], ...] as the store keeps it; until: where the line
// ends (now, for an open incident), else at the last point.
export function scoreLine(container, timeline, threshold, until) {
  if (!timeline || !timeline.length) { container.replaceChildren(); return; }
  const last = timeline[timeline.length - 1];
  const t0 = timeline[0][0], t1 = Math.max(until || last[0], t0 + 1);
  const top = niceMax(Math.max(threshold || 0, ...timeline.map((p) => p[1])));
  const iw = W - PAD.l - PAD.r, ih = H - PAD.t - PAD.b;
  const x = (t) => PAD.l + (iw * (t - t0)) / (t1 - t0);
  const y = (v) => PAD.t + ih - (ih * v) / top;
  const root = frame(top, [[x(t0), clock(t0)], [x(t1), clock(t1)]]);
  root.append(svg("path", { d: stepPath(timeline, x, y) + ` L ${x(t1)} ${y(last[1])}`, class: "line-score" }));
  if (threshold) {
    root.append(svg("line", { x1: PAD.l, x2: W - PAD.r, y1: y(threshold), y2: y(threshold), class: "threshold" }));
    root.append(svg("text", { x: W - PAD.r, y: y(threshold) + 13, class: "axis", "text-anchor": "end" },
      `blacklisted at ${threshold}`));
  }
  for (const [t, v] of timeline) {
    const dot = svg("circle", { cx: x(t), cy: y(v), r: 2.5, class: "dot-score" });
    dot.append(svg("title", {}, `${clock(t)} UTC: ${v.toFixed(1)}`));
    root.append(dot);
  }
  container.replaceChildren(root);
}

function stepPath(timeline, x, y) {
  let d = `M ${x(timeline[0][0])} ${y(0)}`;
  let last = 0;
  for (const [t, v] of timeline) {
    d += ` L ${x(t)} ${y(last)} L ${x(t)} ${y(v)}`;
    last = v;
  }
  return d;
}

// A row-sized step line without axes.
export function spark(timeline, until, width = 120, height = 22) {
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "spark" });
  if (!timeline || !timeline.length) return root;
  const last = timeline[timeline.length - 1];
  const t0 = timeline[0][0], t1 = Math.max(until || last[0], t0 + 1);
  const top = Math.max(...timeline.map((p) => p[1])) || 1;
  const x = (t) => 1 + ((width - 2) * (t - t0)) / (t1 - t0);
  const y = (v) => height - 2 - ((height - 4) * v) / top;
  root.append(svg("path", { d: stepPath(timeline, x, y) + ` L ${x(t1)} ${y(last[1])}`, class: "line-score" }));
  return root;
}
