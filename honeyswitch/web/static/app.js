// honeyswitch dashboard: polls the control API and follows its live event stream.
// Everything shown comes from the network, so it is set with textContent, never as HTML
// (see dom.js).  The token lives in sessionStorage and goes out only as a header.
"use strict";

import { age, button, bytes, cell, clipped, clock, el, fill, row } from "./dom.js";
import { alertBars, scoreLine, spark } from "./charts.js";
import { setupTranscript, transcriptButton } from "./transcript.js";

const TOKEN_KEY = "honeyswitch-token";
const FEED_MAX = 200;
const REFRESH_EVENTS = new Set(["switch", "switch_done", "session_start", "session_end", "blacklist_add",
  "blacklist_remove", "incident_open", "alert"]);
let token = sessionStorage.getItem(TOKEN_KEY) || "";
let selectedIncident = null;
let refreshing = false, again = false;

// A link may carry the token in its fragment (never sent to the server): take it, drop it.
if (location.hash.startsWith("#token=")) {
  token = decodeURIComponent(location.hash.slice(7));
  sessionStorage.setItem(TOKEN_KEY, token);
  history.replaceState(null, "", location.pathname);
}

async function api(path, options = {}) {
  const resp = await fetch(path, {
    ...options,
    headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" },
  });
  if (resp.status === 401) { logout("wrong token"); throw new Error("unauthorized"); }
  if (!resp.ok) {
    let message = resp.statusText;
    try { message = (await resp.json()).error || message; } catch (e) { /* not JSON */ }
    throw new Error(message);
  }
  return resp.json();
}

function setStatus(text, cls) {
  const s = document.getElementById("status");
  s.textContent = text;
  s.className = "pill " + (cls || "");
}

function logout(why) {
  sessionStorage.removeItem(TOKEN_KEY);
  token = "";
  document.getElementById("board").hidden = true;
  document.getElementById("logout").hidden = true;
  document.getElementById("login").hidden = false;
  setStatus(why || "not connected", "bad");
}

async function act(what, path, options) {
  try { await api(path, options); } catch (e) { setStatus(what + " failed: " + e.message, "bad"); }
  refresh();
}

// [cluster]: this host's name (from health) and whether the sessions are every host's.
let ownHost = null;

function sessionRow(s, now) {
  const actions = cell("", "actions");
  const here = ownHost === null || s.host === ownHost;
  // A switch goes to whichever host holds the session (the API asks it through Redis).
  if (s.state === "mirror" || s.state === "main_only") {
    actions.append(button("switch", () => act("switch", "/api/v1/sessions/" + encodeURIComponent(s.session_id)
      + "/switch", { method: "POST", body: JSON.stringify({ reason: "dashboard" }) }), "danger small"));
  }
  // A transcript lives on its own host.
  if (here && (s.state === "honeypot" || s.state === "direct")) actions.append(transcriptButton(api, s.session_id));
  const first = ownHost === null ? [] : [cell(s.host || "", "mono host")];
  const tr = row(...first, cell(s.session_id + (s.worker === undefined ? "" : " · w" + s.worker), "mono"), s.service,
    cell(s.src_ip + ":" + s.src_port, "mono"), cell(el("span", s.state + (s.mode === "packet" ? " · packet" : ""), "badge st-" + s.state)),
    cell(s.score.toFixed(1), "n"), cell(age(now - s.started), "n"),
    cell(bytes(s.bytes_from_client) + " / " + bytes(s.bytes_main_to_client) + " / " + bytes(s.bytes_from_honeypot), "n"),
    actions);
  tr.dataset.session = s.session_id;
  tr.dataset.state = s.state;
  if (s.host !== undefined) tr.dataset.host = s.host;
  tr.dataset.mode = s.mode || "proxy";  // "packet": NFQUEUE, see the README's Packet mode
  return tr;
}

function sourceRow(s, top) {
  const bar = el("span", "", "meter");
  bar.style.width = Math.round((s.score / top) * 100) + "%"; // CSSOM, allowed by the CSP
  const meter = cell(el("span", null, "track"));
  meter.firstChild.append(bar);
  return row(cell(s.src_ip, "mono"), cell(s.score.toFixed(1), "n"), meter,
    cell(button("blacklist", () => act("blacklist", "/api/v1/blacklist",
      { method: "POST", body: JSON.stringify({ ip: s.src_ip, reason: "dashboard" }) }), "small")));
}

function incidentRow(i) {
  const tr = row(cell(i.src_ip, "mono"), cell(el("span", i.closed ? "closed" : "open", i.closed ? "badge" : "badge st-honeypot")),
    cell(i.alerts, "n"), cell(i.score.toFixed(1), "n"), cell(spark(i.timeline, i.closed ? null : Date.now() / 1000)),
    cell(clipped((i.reasons[0] || {}).reason || "", 60), "reason"));
  tr.classList.add("pick");
  if (selectedIncident === i.incident_id) tr.classList.add("selected");
  tr.addEventListener("click", () => { selectedIncident = i.incident_id; refresh(); });
  return tr;
}

function showIncident(incidents, threshold) {
  const inc = incidents.find((i) => i.incident_id === selectedIncident) || incidents[0];
  document.getElementById("incident-title").textContent = inc ? inc.src_ip + " since " + clock(inc.started) + " UTC" : "";
  // An open incident's line runs on to now at its current score.
  scoreLine(document.getElementById("incident-chart"), inc ? inc.timeline : [], threshold,
    inc && !inc.closed ? Date.now() / 1000 : null);
}

function switchRow(ev) {
  return row(cell(ev.timestamp.slice(11, 19), "mono"), cell(ev.session_id, "mono"), cell(ev.src_ip, "mono"),
    cell(ev.by), cell(clipped(ev.reason, 60), "reason"), cell(transcriptButton(api, ev.session_id)));
}

function blacklistRow(b, now) {
  return row(cell(b.ip, "mono"), b.expires ? age(Math.max(0, b.expires - now)) : "never", cell(b.by || ""),
    cell(clipped(b.reason, 60), "reason"),
    cell(button("remove", () => act("remove", "/api/v1/blacklist/" + encodeURIComponent(b.ip), { method: "DELETE" }), "small")));
}

async function refresh() {
  if (!token) return;
  if (refreshing) { again = true; return; }
  refreshing = true;
  try {
    const health = await api("/api/v1/health");
    const cluster = health.cluster || null;
    const [sessions, sources, incidents, blacklist, switches, rate] = await Promise.all([
      api(cluster ? "/api/v1/cluster/sessions" : "/api/v1/sessions"), api("/api/v1/sources?limit=20"),
      api("/api/v1/incidents?limit=20"), api("/api/v1/blacklist"), api("/api/v1/events?event_type=switch&limit=15"),
      api("/api/v1/alerts/per-minute?minutes=60"),
    ]);
    const now = Date.now() / 1000;
    const live = sessions.sessions;
    ownHost = cluster ? Object.keys(cluster.nodes)[0].split("/")[0] : null;
    showCluster(cluster, sessions.hosts || {});
    document.getElementById("counters").textContent = (health.workers > 1 ? "workers " + health.workers_up + "/" + health.workers + " · " : "")
      + "version " + health.version;
    document.getElementById("stat-sessions").textContent = live.length;
    document.getElementById("stat-honeypot").textContent = live.filter((s) => s.state === "honeypot" || s.state === "direct").length;
    document.getElementById("stat-alerts").textContent = rate.minutes.reduce((n, m) => n + m.alerts, 0);
    document.getElementById("stat-blacklist").textContent = blacklist.blacklist.length;
    document.getElementById("session-count").textContent = "(" + live.length + ")";
    fill("sessions", live, (s) => sessionRow(s, now));
    const top = Math.max(1, ...sources.sources.map((s) => s.score));
    fill("sources", sources.sources, (s) => sourceRow(s, top));
    fill("incidents", incidents.incidents, incidentRow);
    showIncident(incidents.incidents, health.blacklist_threshold);
    fill("switches", switches.events.slice().reverse(), switchRow);
    fill("blacklist", blacklist.blacklist, (b) => blacklistRow(b, now));
    alertBars(document.getElementById("alert-chart"), rate.minutes);
  } catch (e) {
    if (token) setStatus("error: " + e.message, "bad");
  } finally {
    refreshing = false;
    if (again) { again = false; refresh(); }
  }
}

// The cluster's state in the header, and the host column of the sessions table.
function showCluster(cluster, hosts) {
  const pill = document.getElementById("cluster");
  pill.hidden = !cluster;
  for (const th of document.querySelectorAll("#sessions th.host")) th.hidden = !cluster;
  if (!cluster) return;
  const names = new Set(Object.keys(hosts).map((n) => n.split("/")[0]));
  const others = [...names].filter((n) => n !== ownHost).length;
  pill.textContent = "cluster " + cluster.state + " · " + ownHost + " + " + others + " host" + (others === 1 ? "" : "s")
    + (cluster.outbox ? " · outbox " + cluster.outbox : "");
  pill.className = "pill " + (cluster.state === "up" ? "ok" : "bad");
  pill.title = cluster.redis || "";
}

function describe(ev) {
  const who = ev.src_ip ? ev.src_ip + (ev.src_port ? ":" + ev.src_port : "") : "";
  const parts = [ev.service || "", who];
  if (ev.event_type === "alert") parts.push(ev.detector + " +" + ev.score + " → " + ev.session_score, ev.reason);
  else if (ev.event_type === "switch") parts.push("by " + ev.by, ev.reason, "align " + ev.align);
  else if (ev.event_type === "session_end") parts.push(ev.state, ev.reason);
  else if (ev.event_type === "blacklist_add") parts.push(ev.ip, ev.reason);
  else if (ev.reason) parts.push(ev.reason);
  return parts.filter(Boolean).join("  ");
}

function onEvent(ev) {
  if (ev.event_type === "keepalive") return;
  const li = el("li", null, "ev-" + ev.event_type);
  li.append(el("span", ev.timestamp ? ev.timestamp.slice(11, 23) : "", "when"), el("span", ev.event_type, "kind"),
    clipped(describe(ev), 300));
  if (ev.event_type === "session_end" && ev.transcript) li.append(transcriptButton(api, ev.session_id));
  const feed = document.getElementById("feed");
  feed.prepend(li);
  while (feed.children.length > FEED_MAX) feed.lastChild.remove();
  if (REFRESH_EVENTS.has(ev.event_type)) refresh();
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
    if (!token) return;
    setStatus("reconnecting", "bad");
    await new Promise((r) => setTimeout(r, 2000));
  }
}

function start() {
  document.getElementById("login").hidden = true;
  document.getElementById("board").hidden = false;
  document.getElementById("logout").hidden = false;
  refresh();
  follow();
}

document.getElementById("login").addEventListener("submit", (e) => {
  e.preventDefault();
  token = document.getElementById("token").value.trim();
  sessionStorage.setItem(TOKEN_KEY, token);
  start();
});

document.getElementById("logout").addEventListener("click", () => logout("logged out"));

document.getElementById("blacklist-add").addEventListener("submit", (e) => {
  e.preventDefault();
  const ip = document.getElementById("bl-ip").value.trim();
  const ttl = document.getElementById("bl-ttl").value.trim();
  const reason = document.getElementById("bl-reason").value.trim() || "dashboard";
  act("blacklist", "/api/v1/blacklist", { method: "POST", body: JSON.stringify({ ip, reason, ttl: ttl ? Number(ttl) : null }) });
  e.target.reset();
});

setupTranscript(() => token);
if (token) start(); else logout();
setInterval(refresh, 3000);
