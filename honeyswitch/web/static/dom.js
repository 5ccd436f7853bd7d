// DOM helpers for the dashboard.  Everything the page shows comes from the network and
// much of it from attackers, so text is only ever set with textContent: no innerHTML,
// no attribute built from data except through setAttribute on fixed names.
"use strict";

const SVG = "http://www.w3.org/2000/svg";

export function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

export function svg(tag, attrs = {}, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = String(text);
  return e;
}

export function button(text, onClick, cls) {
  const b = el("button", text, cls);
  b.type = "button";
  b.addEventListener("click", onClick);
  return b;
}

export function fill(tableId, rows, makeRow) {
  const body = document.querySelector("#" + tableId + " tbody");
  body.replaceChildren(...rows.map(makeRow));
  const empty = document.getElementById(tableId + "-empty");
  if (empty) empty.hidden = rows.length > 0;
}

export function row(...cells) {
  const tr = el("tr");
  for (const c of cells) tr.append(c instanceof Node ? c : el("td", c));
  return tr;
}

export function cell(content, cls) {
  const td = el("td", null, cls);
  if (content instanceof Node) td.append(content); else td.textContent = String(content ?? "");
  return td;
}

export function age(seconds) {
  if (seconds < 60) return Math.max(0, seconds).toFixed(0) + "s";
  if (seconds < 3600) return (seconds / 60).toFixed(0) + "m";
  if (seconds < 86400) return (seconds / 3600).toFixed(1) + "h";
  return (seconds / 86400).toFixed(1) + "d";
}

export function clock(t) {
  return new Date(t * 1000).toISOString().slice(11, 19);
}

export function bytes(n) {
  if (n < 1024) return String(n);
  if (n < 1 << 20) return (n / 1024).toFixed(1) + "K";
  if (n < 1 << 30) return (n / (1 << 20)).toFixed(1) + "M";
  return (n / (1 << 30)).toFixed(2) + "G";
}

// Long attacker-chosen text (reasons quoting requests) is cut for tables; the title
// attribute, set as a property, still shows all of it on hover.
export function clipped(text, max = 120) {
  const s = String(text ?? "");
  const span = el("span", s.length > max ? s.slice(0, max - 1) + "…" : s);
  if (s.length > max) span.title = s;
  return span;
}
