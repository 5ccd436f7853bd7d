"""The event catalogue: every ``event_type`` honeyswitch records, with its fields.

Events are the one output every other part agrees on: the JSON-lines log
(:mod:`honeyswitch.record.eventlog`), the SQLite store, the control API and the dashboard
all carry the same dicts, built by :func:`make_event`.  The schema document
``docs/events.md`` describes this catalogue, and ``tests/test_event_catalogue.py`` walks
the source to check that every emitted type is listed here and documented there (as
Cowrie does with ``core/eventids.py``).

Every event has the :data:`COMMON_FIELDS`; each type adds its own fields.  A declared
field that is not given is recorded as ``null`` so every line of a type has the same keys.
"""
from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SESSION_FIELDS = ("session_id", "service", "src_ip", "src_port", "dest_ip", "dest_port")

COMMON_FIELDS: dict[str, str] = {
    "timestamp": "when it happened: ISO 8601, UTC, microseconds (2026-11-25T19:09:23.123456+00:00)",
    "event_type": "one of the types of this catalogue",
    "session_id": "the session it concerns; null for events outside a session",
    "service": "the service name; null when no service is concerned",
    "src_ip": "the client's address (IPv4-mapped IPv6 written as IPv4); for blacklist events the listed address",
    "src_port": "the client's port; null outside a session",
    "dest_ip": "the address the client connected to (the original destination when transparent)",
    "dest_port": "the port the client connected to",
}


@dataclass(frozen=True, slots=True)
class EventSpec:
    """One event type: what it means, its own fields (name -> one-line doc), an example."""

    description: str
    fields: Mapping[str, str]
    example: Mapping[str, Any] = field(default_factory=dict)
    session: bool = True  # whether the common session fields are filled in
    extra: bool = False  # whether fields beyond the declared ones are expected


_BYTES_AT_SWITCH = {
    "main_bytes_to_client": "bytes of main's replies the client had received",
    "honeypot_bytes": "bytes the honeypot had produced",
}

_TLS_DOC = ("the client's TLS handshake when honeyswitch terminates it, else null: `version`, `cipher`, "
            "`alpn`, `sni` (escaped), `ja3` (string), `ja3_hash`, `ja4`")
_TLS_EXAMPLE = {"version": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384", "alpn": "http/1.1", "sni": "www.example.com", "ja3": "771,4865-4866-4867-49195,0-11-10-35-16-22-23-13-43-45-51,29-23-30-25-24,0-1-2", "ja3_hash": "5d7bbd8db7e4f5d3ac5a6f0f3ec6bdb8", "ja4": "t13d1812h1_85036bcba153_d41ae481755e"}

EVENT_TYPES: dict[str, EventSpec] = {
    "session_start": EventSpec(
        "A client connection was accepted and its session began.",
        {
            "state": '"mirror" (main serves, the honeypot shadows) or "direct" (blacklisted source: honeypot only)',
            "main": "URL of the service's main backend (never contacted in direct state)",
            "honeypot": "URL of the service's honeypot backend",
            "mode": '"proxy" (honeyswitch relays the connection) or "packet" (NFQUEUE, packets seen on their way)',
            "tls": _TLS_DOC,
        },
        {"state": "mirror", "main": "tcp://127.0.0.1:8080", "honeypot": "tcp://127.0.0.1:8081", "mode": "proxy",
         "tls": _TLS_EXAMPLE},
    ),
    "session_end": EventSpec(
        "A session finished; totals for the whole session.",
        {
            "state": "the state the session ended in (mirror, main_only, honeypot, direct)",
            "reason": "why it ended (client closed, client reset, main: ..., honeypot: ...)",
            "duration": "seconds from accept to end (float)",
            "bytes_from_client": "bytes received from the client",
            "bytes_main_to_client": "bytes of main's replies forwarded to the client",
            "bytes_from_honeypot": "bytes received from the honeypot",
            "score": "the session's total alert score",
            "switched": "whether the session was switched to the honeypot (true/false)",
            "transcript": "path of the session's transcript file, or null if none was kept",
        },
        {"state": "honeypot", "reason": "client closed", "duration": 12.5,
         "bytes_from_client": 1830, "bytes_main_to_client": 5120,
         "bytes_from_honeypot": 9002, "score": 130.0, "switched": True,
         "transcript": "/var/lib/honeyswitch/transcripts/web-1f3a9c.jsonl"},
    ),
    "alert": EventSpec(
        "A detector found something suspicious; more fields may follow from the detector "
        "(e.g. sid, rev, msg for signatures).",
        {
            "detector": "which detector: signature, anomaly, suricata, snort, operator ...",
            "score": "the score this alert adds",
            "session_score": "the session's total score after this alert (null outside a session)",
            "reason": "human text (may quote attacker bytes; escaped in this log)",
        },
        {"detector": "signature", "score": 60.0, "session_score": 130.0,
         "reason": "ET WEB_SERVER Possible SQL Injection", "sid": 2006445, "rev": 14},
        extra=True,
    ),
    "switch": EventSpec(
        "The session is being moved from main to the honeypot.",
        {
            "by": "who decided: detector:<name>, operator, signal, blacklist, abort",
            "reason": "why (the deciding alert's reason or the operator's text)",
            "align": '"bytes" or "quiet": how honeypot output is lined up with what main sent',
            "score": "the session's score at the switch",
            **_BYTES_AT_SWITCH,
        },
        {"by": "detector:signature", "reason": "ET WEB_SERVER Possible SQL Injection",
         "align": "bytes", "score": 130.0, "main_bytes_to_client": 5120, "honeypot_bytes": 5120},
    ),
    "switch_done": EventSpec(
        "The honeypot now serves the client and main has been reset.",
        dict(_BYTES_AT_SWITCH),
        {"main_bytes_to_client": 5120, "honeypot_bytes": 5188},
    ),
    "switch_unavailable": EventSpec(
        "A switch was wanted but the session has no honeypot (main_only).",
        {
            "by": "who asked for the switch",
            "reason": "why it was asked for",
            "policy": 'what was done instead: "reset" (session reset) or "pass" (left on main)',
        },
        {"by": "operator", "reason": "manual", "policy": "reset"},
    ),
    "would_switch": EventSpec(
        "Dry run: detectors took the session over its switch threshold; it was not switched.",
        {
            "by": "detector:<name> whose alert crossed the threshold",
            "reason": "that alert's reason",
            "score": "the session's score",
        },
        {"by": "detector:signature", "reason": "SQL injection: UNION SELECT", "score": 100.0},
    ),
    "divergence": EventSpec(
        "While mirroring, the honeypot's reply stream first differed from main's.",
        {
            "position": "stream offset (bytes from the start of the replies) of the first difference",
            "main_excerpt": "main's bytes from there (escaped, at most 64)",
            "honeypot_excerpt": "the honeypot's bytes from there (escaped, at most 64)",
        },
        {"position": 1042, "main_excerpt": "VALUE DE89 3704", "honeypot_excerpt": "VALUE DE00 0000"},
    ),
    "incident_open": EventSpec(
        "A source's first alert after a quiet time opened an incident.",
        {
            "incident_id": "the incident",
            "source_score": "the source's decayed score after this alert",
        },
        {"incident_id": "inc-3f9a0c21d4", "source_score": 60.0},
        session=False,
    ),
    "incident_close": EventSpec(
        "A source stayed quiet for [scoring] incident_gap seconds; its incident closed.",
        {
            "incident_id": "the incident",
            "alerts": "how many alerts it grouped",
            "score": "their total score",
            "services": "services involved",
            "duration": "seconds from its first to its last alert",
        },
        {"incident_id": "inc-3f9a0c21d4", "alerts": 12, "score": 480.0, "services": ["web"],
         "duration": 73.2},
        session=False,
    ),
    "detector_error": EventSpec(
        "A detector, alert source or output failed; the daemon goes on without it. A detector "
        "that fails inspecting a session is left out for the rest of that session, whose fields "
        "are then set; the session and its other detectors go on.",
        {"detector": "which one", "error": "what went wrong (one line)"},
        {"detector": "ids:suricata", "error": "eve.json: permission denied"},
        session=False,
    ),
    "honeypot_dropped": EventSpec(
        "The honeypot was dropped from a mirrored session, which goes on with main alone.",
        {"reason": "why (connection failed, fell behind its buffer limit ...)"},
        {"reason": "honeypot fell behind, buffer limit reached"},
    ),
    "backend_failure": EventSpec(
        "A backend connection failed or was lost.",
        {"end": '"main" or "honeypot"', "reason": "the error"},
        {"end": "honeypot", "reason": "connection refused"},
    ),
    "blacklist_add": EventSpec(
        "An address was put on the blacklist (or its expiry refreshed).",
        {
            "ip": "the listed address",
            "reason": "why it was listed",
            "by": "who listed it: switch:<session_id>, operator, score ...",
            "expires": "when the entry expires (ISO 8601 UTC), or null for never",
            "origin": "[cluster]: the host that decided, when another host did (`by` is then "
                      "BY@HOST); null for this host's own entries",
        },
        {"ip": "198.51.100.7", "reason": "switched", "by": "switch:web-1f3a9c",
         "expires": "2026-11-25T20:09:23.123456+00:00", "origin": "gw-2"},
        session=False,
    ),
    "blacklist_remove": EventSpec(
        "An address was taken off the blacklist.",
        {"ip": "the address", "by": "who removed it"},
        {"ip": "198.51.100.7", "by": "operator"},
        session=False,
    ),
    "blacklist_expire": EventSpec(
        "A blacklist entry reached its expiry and was removed.",
        {"ip": "the address"},
        {"ip": "198.51.100.7"},
        session=False,
    ),
    "daemon_start": EventSpec(
        "The daemon started and its listeners are up.",
        {"version": "honeyswitch version", "pid": "process id",
         "config": "path of the config file", "services": "names of the configured services",
         "worker": "the worker's index when [daemon] workers > 1 (each worker and the "
                   "supervisor record their own start; null for the supervisor or a single process)"},
        {"version": "0.1.0", "pid": 4242, "config": "/etc/honeyswitch/honeyswitch.toml",
         "services": ["web", "ssh"], "worker": None},
        session=False,
    ),
    "worker_exit": EventSpec(
        "A worker process exited while the supervisor was running; it is started again.",
        {"worker": "the worker's index", "pid": "its process id", "returncode": "exit status "
         "(negative: killed by that signal)", "restart_in": "seconds until it is started again"},
        {"worker": 1, "pid": 4243, "returncode": -9, "restart_in": 1.0},
        session=False,
    ),
    "daemon_stop": EventSpec(
        "The daemon is stopping.",
        {"reason": "why (signal name, error ...)"},
        {"reason": "SIGTERM"},
        session=False,
    ),
    "config_reload": EventSpec(
        "The configuration was reloaded (or a reload was refused).",
        {"ok": "whether the new configuration is in use", "error": "the problem when not ok, else null",
         "config": "path of the config file", "services": "names of the services now configured",
         "restart_needed": "tables whose changes wait for the next restart ([control], [store], "
                           "[[ids]], [cluster]); absent when the reload was refused"},
        {"ok": True, "error": None, "config": "/etc/honeyswitch/honeyswitch.toml", "services": ["web", "ssh"],
         "restart_needed": ["cluster"]},
        session=False,
    ),
    "starttls": EventSpec(
        "A client of a STARTTLS service (SMTP, IMAP, POP3) upgraded its connection; honeyswitch "
        "answered the command itself, the backends never saw it.",
        {"tls": _TLS_DOC},
        {"tls": _TLS_EXAMPLE},
    ),
    "tls_error": EventSpec(
        "A client's TLS handshake failed, timed out or broke the protocol; no session was started "
        "(a STARTTLS session ends).  At most 50 a second per service; the rest are counted.",
        {"kind": '"hello" (not a ClientHello), "handshake" (OpenSSL refused it), "timeout", "alpn" '
                 '(offers only protocols we do not speak, e.g. h2), "closed" (client gone mid-handshake)',
         "reason": "what went wrong (one line; the parser's or OpenSSL's reason)",
         "suppressed": "tls_error events of this service left out in the second before this one",
         "sni": "the SNI the client sent, escaped, or null", "ja3": "JA3 string of its ClientHello, or null",
         "ja3_hash": "its MD5, or null", "ja4": "JA4 of its ClientHello, or null"},
        {"service": "web", "src_ip": "198.51.100.7", "src_port": 51234, "kind": "handshake",
         "reason": "no shared cipher", "suppressed": 0, "sni": "www.example.com\\x1b[31m",
         "ja3": "771,49199,0-10-11,29,0", "ja3_hash": "1e9ac2c6e2e1a0ea3c0a2aa1d29e2d4b",
         "ja4": "t12d0103h1_1f8a9e1b2c3d_4e5f6a7b8c9d"},
        session=False,
    ),
    "listener_error": EventSpec(
        "A service's listener could not be opened or failed; `service` names it.",
        {"listen": "the address, host:port", "error": "the error"},
        {"listen": "0.0.0.0:80", "error": "[Errno 98] Address already in use"},
        session=False,
    ),
    "cluster_down": EventSpec(
        "This host lost contact with the cluster's Redis; it goes on with its local state "
        "and keeps its decisions in the outbox until Redis is back.",
        {
            "redis": "the Redis address(es), without passwords",
            "error": "why: the failed command's error",
            "outbox": "decisions waiting to be sent",
        },
        {"redis": "rediss://honeyswitch:***@redis.example:6380", "error": "ConnectionError: Connection refused",
         "outbox": 0},
        session=False,
    ),
    "cluster_up": EventSpec(
        "This host is in contact with the cluster's Redis again (or for the first time) "
        "and has caught up.",
        {
            "redis": "the Redis address(es), without passwords",
            "down_for": "seconds without contact (null at the first contact)",
            "replayed": "decisions sent from the outbox",
            "published": "local entries and scores republished by the resync",
            "applied": "other hosts' entries applied here by the resync",
            "removed": "local entries removed because the cluster removed them meanwhile",
            "dropped": "removals lost past the outbox bound since the last contact",
            "data_lost": "whether Redis came back without its data (then every host republishes)",
        },
        {"redis": "redis://10.0.0.5:6379", "down_for": 12.5, "replayed": 3, "published": 0,
         "applied": 1, "removed": 0, "dropped": 0, "data_lost": False},
        session=False,
    ),
    "cluster_switch": EventSpec(
        "Another host asked this one to switch a session (`session_id`) or every session "
        "of a client (`src_ip`) held here.",
        {
            "requester": "the host that asked",
            "request_id": "the request's id (the requester's answer carries it)",
            "by": "who asked there (operator, blacklist ...)",
            "reason": "why",
            "result": "switched, not_found, no_honeypot, expired or error",
            "sessions": "ids of the sessions switched",
        },
        {"session_id": "3f9c0a1b2d4e", "requester": "gw-2", "request_id": "9a1c03f2b7d54e10",
         "by": "operator", "reason": "manual", "result": "switched", "sessions": ["3f9c0a1b2d4e"]},
        session=False,
    ),
}


def iso_timestamp(epoch: float | None = None) -> str:
    """``epoch`` (default: now) as ISO 8601 UTC with microseconds."""
    global _second
    t = time.time() if epoch is None else epoch
    sec = math.floor(t)
    usec = int((t - sec) * 1e6 + 0.5)
    if usec >= 1_000_000:
        sec, usec = sec + 1, usec - 1_000_000
    # Events come in bursts within one second: format the date part once per second
    # (datetime formatting is most of the cost of building an event).
    cached = _second
    if cached[0] != sec:
        cached = _second = (sec, datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%S") + ".")
    # str() of 1000000 + usec, not a format spec: a fifth of the cost, compiled or not.
    return cached[1] + str(1_000_000 + usec)[1:] + "+00:00"


_second: tuple[int, str] = (-1, "")


def _unmap(ip: Any) -> Any:
    # Sockets spell IPv4 clients of a dual-stack listener as ::ffff:a.b.c.d; one client,
    # one spelling, so alerts, sessions and the blacklist can be joined on src_ip.
    if isinstance(ip, str) and ip.startswith("::ffff:") and "." in ip:
        return ip[7:]
    return ip


def make_event(event_type: str, session: Mapping[str, Any] | Any | None = None, **fields: Any) -> dict[str, Any]:
    """Build the dict for one event.

    ``session`` gives the common session fields, as a mapping or an object with those
    attributes (e.g. :class:`~honeyswitch.detect.base.FlowInfo`); ``fields`` give the
    type's own fields and may also set or override common ones (``timestamp``,
    ``src_ip`` ...).  Raises ValueError for a type not in :data:`EVENT_TYPES`.
    """
    if session is None or type(session) is dict:
        return build_event(event_type, session, fields)
    if isinstance(session, Mapping):
        return build_event(event_type, {name: session.get(name) for name in SESSION_FIELDS}, fields)
    return build_event(event_type, {name: getattr(session, name, None) for name in SESSION_FIELDS}, fields)


def build_event(event_type: str, session: dict[str, Any] | None, fields: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`make_event` with the session fields as a dict (or None) and the type's own
    fields as a mapping: the relay's way, one dict built per event."""
    blank = _BLANK.get(event_type)
    if blank is None:
        spec = EVENT_TYPES.get(event_type)
        if spec is None:
            raise ValueError(f"unknown event type {event_type!r}")
        blank = _BLANK[event_type] = dict.fromkeys(spec.fields)
    event: dict[str, Any] = {"timestamp": None, "event_type": event_type}
    if session is None:
        event.update(_NO_SESSION)
    else:
        for name in SESSION_FIELDS:
            event[name] = session.get(name)
    event.update(blank)
    event.update(fields)
    if event["timestamp"] is None:
        event["timestamp"] = iso_timestamp()
    event["src_ip"] = _unmap(event["src_ip"])
    event["dest_ip"] = _unmap(event["dest_ip"])
    return event


_NO_SESSION: dict[str, Any] = dict.fromkeys(SESSION_FIELDS)
_BLANK: dict[str, dict[str, None]] = {}  # per event type: its own fields, all None
