// honeyswitch dashboard: polls the control API and follows its live event stream.
// Everything shown comes from the network, so it is set with textContent, never as HTML.
"use strict";

const TOKEN_KEY = "honeyswitch-token";
const FEED_MAX = 200;
const SPARK = " ▁▂▃▄▅▆▇█";
let token = sessionStorage.getItem(TOKEN_KEY) || "";
// A link may carry the token in its fragment (never sent to the server): take it, drop it.
if (location.hash.startsWith("#token=")) {
  token = decodeURIComponent(location.hash.slice(7));
  sessionStorage.setItem(TOKEN_KEY, token);
  history.replaceState(null, "", location.pathname);
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

async function api(path, options = {}) {
  const resp = await fetch(path, {
    ...options,
    headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" },
  });
  if (resp.status === 401) { logout("wrong token"); throw new Error("unauthorized"); }
  if (!resp.ok) throw new Error((await resp.json()).error || resp.statusText);
  return resp.json();
}

function setStatus(text, cls) {
  const s = document.getElementById("status");
  s.textContent = text;
  s.className = "status " + (cls || "");
}

function logout(why) {
  sessionStorage.removeItem(TOKEN_KEY);
  token = "";
  document.getElementById("board").hidden = true;
  document.getElementById("login").hidden = false;
  setStatus(why || "not connected", "bad");
}

function fill(tableId, rows, makeRow) {
  const body = document.querySelector("#" + tableId + " tbody");
  body.replaceChildren(...rows.map(makeRow));
}

function fmtAge(seconds) {
  if (seconds < 60) return seconds.toFixed(0) + "s";
  if (seconds < 3600) return (seconds / 60).toFixed(0) + "m";
  return (seconds / 3600).toFixed(1) + "h";
}

function sparkline(timeline, width = 20) {
  if (!timeline || !timeline.length) return "";
  const t0 = timeline[0][0], span = Math.max(timeline[timeline.length - 1][0] - t0, 1e-9);
  const top = Math.max(...timeline.map((p) => p[1])) || 1;
  let out = "", j = 0;
  for (let i = 0; i < width; i++) {
    const edge = t0 + (span * (i + 1)) / width;
    while (j + 1 < timeline.length && timeline[j + 1][0] <= edge) j++;
    out += SPARK[Math.round((timeline[j][1] / top) * (SPARK.length - 1))];
  }
  return out;
}

async function switchSession(id) {
  try { await api("/api/v1/sessions/" + encodeURIComponent(id) + "/switch", { method: "POST", body: JSON.stringify({ reason: "dashboard" }) }); }
  catch (e) { setStatus("switch failed: " + e.message, "bad"); }
  refresh();
}

async function unlist(ip) {
  try { await api("/api/v1/blacklist/" + encodeURIComponent(ip), { method: "DELETE" }); }
  catch (e) { setStatus("remove failed: " + e.message, "bad"); }
  refresh();
}

async function refresh() {
  if (!token) return;
  try {
    const [health, sessions, sources, incidents, blacklist] = await Promise.all([
      api("/api/v1/health"), api("/api/v1/sessions"), api("/api/v1/sources?limit=20"),
      api("/api/v1/incidents?limit=20"), api("/api/v1/blacklist"),
    ]);
    const now = Date.now() / 1000;
    const workers = health.workers > 1 ? ["workers " + health.workers_up + "/" + health.workers] : [];
    document.getElementById("counters").textContent =
      workers.concat(Object.entries(health.counters).map(([k, v]) => k + " " + v)).join(" · ");
    document.getElementById("session-count").textContent = "(" + sessions.sessions.length + ")";
    fill("sessions", sessions.sessions, (s) => {
      const tr = el("tr");
      // With [daemon] workers, each session says which worker holds it.
      tr.append(el("td", s.session_id + (s.worker === undefined ? "" : " · w" + s.worker)), el("td", s.service), el("td", s.src_ip + ":" + s.src_port),
        el("td", s.state, "state-" + s.state), el("td", s.mode || "proxy"), el("td", s.score.toFixed(1)), el("td", fmtAge(now - s.started)),
        el("td", s.bytes_from_client + " / " + (s.bytes_main_to_client + s.bytes_from_honeypot)));
      const td = el("td");
      if (s.state === "mirror" || s.state === "main_only") {
        const b = el("button", "switch");
        b.addEventListener("click", () => switchSession(s.session_id));
        td.append(b);
      }
      tr.append(td);
      return tr;
    });
    const topScore = Math.max(1, ...sources.sources.map((s) => s.score));
    fill("sources", sources.sources, (s) => {
      const bar = el("span", "", "bar");
      bar.style.width = Math.round((s.score / topScore) * 120) + "px";
      const tr = el("tr");
      const barCell = el("td");
      barCell.append(bar);
      tr.append(el("td", s.src_ip), el("td", s.score.toFixed(1)), barCell);
      return tr;
    });
    fill("incidents", incidents.incidents, (i) => {
      const tr = el("tr");
      tr.append(el("td", i.src_ip + (i.closed ? "" : " •")), el("td", i.alerts), el("td", i.score.toFixed(1)),
        el("td", sparkline(i.timeline), "spark"), el("td", (i.reasons[0] || {}).reason || "", "reason"));
      return tr;
    });
    fill("blacklist", blacklist.blacklist, (b) => {
      const tr = el("tr");
      const td = el("td");
      const btn = el("button", "remove");
      btn.addEventListener("click", () => unlist(b.ip));
      td.append(btn);
      tr.append(el("td", b.ip), el("td", b.expires ? fmtAge(Math.max(0, b.expires - now)) : "never"),
        el("td", b.reason, "reason"), td);
      return tr;
    });
  } catch (e) {
    if (token) setStatus("error: " + e.message, "bad");
  }
}

function describe(ev) {
  const who = ev.src_ip ? ev.src_ip + (ev.src_port ? ":" + ev.src_port : "") : "";
  const parts = [ev.timestamp ? ev.timestamp.slice(11, 23) : "", ev.event_type, ev.service || "", who];
  if (ev.event_type === "alert") parts.push(ev.detector + " +" + ev.score + " → " + ev.session_score, ev.reason);
  else if (ev.event_type === "switch") parts.push("by " + ev.by, ev.reason, "align " + ev.align);
  else if (ev.event_type === "session_end") parts.push(ev.state, ev.reason);
  else if (ev.reason) parts.push(ev.reason);
  return parts.filter(Boolean).join("  ");
}

async function follow() {
  // fetch() streams with the bearer header; EventSource could only carry it in the URL.
  while (token) {
    try {
      const resp = await fetch("/api/v1/stream", { headers: { Authorization: "Bearer " + token } });
      if (resp.status === 401) { logout("wrong token"); return; }
      setStatus("live", "ok");
      const reader = resp.body.getReader();
      const decoder = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        let nl;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line) onEvent(JSON.parse(line));
        }
      }
    } catch (e) { /* reconnect below */ }
    setStatus("reconnecting", "bad");
    await new Promise((r) => setTimeout(r, 2000));
  }
}

function onEvent(ev) {
  if (ev.event_type === "keepalive") return;
  const feed = document.getElementById("feed");
  feed.prepend(el("li", describe(ev), ev.event_type));
  while (feed.children.length > FEED_MAX) feed.lastChild.remove();
  if (["switch", "switch_done", "session_start", "session_end", "blacklist_add", "incident_open"].includes(ev.event_type)) refresh();
}

function start() {
  document.getElementById("login").hidden = true;
  document.getElementById("board").hidden = false;
  refresh();
  follow();
}

document.getElementById("login").addEventListener("submit", (e) => {
  e.preventDefault();
  token = document.getElementById("token").value.trim();
  sessionStorage.setItem(TOKEN_KEY, token);
  start();
});

if (token) start(); else logout();
setInterval(refresh, 2000);
