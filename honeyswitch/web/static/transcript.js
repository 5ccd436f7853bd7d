// The transcript viewer: client, main and honeypot bytes in the order they happened,
// as escaped text (from the server: printable ASCII and \xNN) or as a hex dump, with
// the switch marked.  The pcap is fetched with the bearer header and handed to the
// browser as a blob, so the token never goes into a URL.
"use strict";

import { button, el } from "./dom.js";

const LABELS = { client: "client →", main: "← main", honeypot: "← honeypot" };
let current = null; // {id, body}
let mode = "text";

function hexdump(hex) {
  const lines = [];
  for (let off = 0; off < hex.length / 2; off += 16) {
    const chunk = hex.slice(off * 2, off * 2 + 32);
    const pairs = chunk.match(/../g) || [];
    const ascii = pairs.map((h) => {
      const b = parseInt(h, 16);
      return b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".";
    }).join("");
    lines.push(off.toString(16).padStart(6, "0") + "  " + pairs.join(" ").padEnd(47) + "  " + ascii);
  }
  return lines.join("\n");
}

function markText(rec) {
  const skip = new Set(["t", "mark"]);
  return Object.entries(rec).filter(([k]) => !skip.has(k))
    .map(([k, v]) => k + "=" + (typeof v === "string" ? v : JSON.stringify(v))).join("  ");
}

function recordItem(rec, t0) {
  const dt = "+" + (rec.t - t0).toFixed(3) + "s";
  if (rec.mark) {
    const li = el("li", null, rec.mark === "switch" ? "mark switch" : "mark");
    li.append(el("span", dt, "when"),
      el("strong", rec.mark === "switch" ? "SWITCH TO HONEYPOT" : rec.mark.replace("_", " ")),
      el("span", markText(rec), "detail"));
    return li;
  }
  const li = el("li", null, "data s-" + rec.stream);
  const head = el("div", null, "head");
  head.append(el("span", dt, "when"), el("span", LABELS[rec.stream] || rec.stream, "who"),
    el("span", rec.length + " bytes at " + rec.offset, "dim"));
  li.append(head, el("pre", mode === "hex" ? hexdump(rec.hex) : rec.text.replace(/\\n/g, "\\n\n")));
  return li;
}

function render() {
  const { id, body } = current;
  const meta = body.header.meta || {};
  document.getElementById("tr-id").textContent = id;
  document.getElementById("tr-meta").textContent = [
    meta.service && "service " + meta.service, meta.src_ip && "client " + meta.src_ip + ":" + meta.src_port,
    meta.main && "main " + meta.main, meta.honeypot && "honeypot " + meta.honeypot,
    "bytes client " + body.bytes.client + " / main " + body.bytes.main + " / honeypot " + body.bytes.honeypot,
    body.header.dropped_records ? "history cut: " + body.header.dropped_records + " records" : "",
    body.truncated ? "(cut at 2 MiB here: the pcap has everything)" : "",
  ].filter(Boolean).join(" · ");
  const t0 = body.records.length ? body.records[0].t : 0;
  document.getElementById("tr-records").replaceChildren(...body.records.map((r) => recordItem(r, t0)));
  document.getElementById("tr-text").classList.toggle("on", mode === "text");
  document.getElementById("tr-hex").classList.toggle("on", mode === "hex");
}

export async function openTranscript(api, id) {
  const section = document.getElementById("transcript");
  try {
    current = { id, body: await api("/api/v1/sessions/" + encodeURIComponent(id) + "/transcript") };
  } catch (e) {
    section.hidden = false;
    document.getElementById("tr-id").textContent = id;
    document.getElementById("tr-meta").textContent = e.message;
    document.getElementById("tr-records").replaceChildren();
    return;
  }
  section.hidden = false;
  render();
  section.scrollIntoView({ behavior: "smooth", block: "start" });
}

async function downloadPcap(token) {
  if (!current) return;
  const resp = await fetch("/api/v1/sessions/" + encodeURIComponent(current.id) + "/pcap",
    { headers: { Authorization: "Bearer " + token() } });
  if (!resp.ok) return;
  const url = URL.createObjectURL(await resp.blob());
  const a = el("a");
  a.href = url;
  a.download = current.id + ".pcap";
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export function setupTranscript(token) {
  const on = (id, f) => document.getElementById(id).addEventListener("click", f);
  on("tr-text", () => { mode = "text"; if (current) render(); });
  on("tr-hex", () => { mode = "hex"; if (current) render(); });
  on("tr-close", () => { document.getElementById("transcript").hidden = true; current = null; });
  on("tr-pcap", () => downloadPcap(token));
}

export function transcriptButton(api, id) {
  return button("transcript", () => openTranscript(api, id), "small");
}
