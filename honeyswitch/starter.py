"""Starter configs for ``honeyswitch init``: one commented TOML file per kind of service.

Everything ``init`` writes is data here: a :class:`Profile` per kind of service (ports,
protocol, alignment, why), and the other tables as :class:`Section` rows of
:class:`Key` (name, value, doc).  Keys an operator rarely changes are written commented
out at their default, so the file doubles as a reference; a test uncomments them all and
checks the config is unchanged.  When config keys are declared once (name, type,
default, doc), these rows can be generated from those declarations.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Key:
    name: str
    value: Any
    doc: str = ""
    commented: bool = False  # written as ``# name = value``: shown at its default


@dataclass(frozen=True, slots=True)
class Section:
    name: str
    doc: str
    keys: tuple[Key, ...]
    array: bool = False  # [[name]] rather than [name]
    commented: bool = False  # the whole table is an example


@dataclass(frozen=True, slots=True)
class Profile:
    """One kind of protected service."""

    kind: str
    about: str  # comment lines above the [[service]] table
    port: int  # the port clients use
    protocol: str
    align: str
    rules: tuple[str, ...] = ("default",)
    extra: tuple[Key, ...] = field(default_factory=tuple)


PROFILES: dict[str, Profile] = {p.kind: p for p in (
    Profile("http", "An HTTP server.  Move it to 127.0.0.1:8080 and run a copy (other data,\n"
            "same software) on 127.0.0.1:8081 as the honeypot.", 80, "http", "quiet"),
    Profile("redis", "A Redis server (main on 6380, a redis-server with fake keys on 6381).", 6379,
            "redis", "quiet"),
    Profile("ssh", "SSH passthrough.  SSH is encrypted end to end, so a live session cannot move:\n"
            "honeyswitch relays it to main, and a source blacklisted by its alerts (the\n"
            "[[ids]] feed below, or its incidents on other services) goes straight to\n"
            "the honeypot (e.g. Cowrie) from its next connection on.", 22, "ssh", "quiet", (),
            (Key("no_honeypot", "pass", "mirrored bytes mean nothing to an SSH honeypot: keep the session on main"),)),
    Profile("smtp", "An SMTP server (main on 2525, a copy that delivers nowhere on 2526).", 25, "smtp", "quiet"),
    Profile("mysql", "A MySQL/MariaDB server (main on 3307, a copy with fake data on 3308).\n"
            "Its greeting holds a random salt, so the copy's replies differ: quiet alignment.",
            3306, "mysql", "quiet"),
    Profile("tcp", "Any line-oriented TCP service, with an identical copy as the honeypot.", 7000, "line",
            "bytes", ()),
)}
KINDS = tuple(PROFILES)
DOC_COLUMN = 38  # where a key's comment starts, as in the README's example

_MAIN_PORT = {"http": 8080, "redis": 6380, "ssh": 2200, "smtp": 2525, "mysql": 3307, "tcp": 7001}
_HP_PORT = {"http": 8081, "redis": 6381, "ssh": 2222, "smtp": 2526, "mysql": 3308, "tcp": 7002}


def _service_keys(p: Profile) -> tuple[Key, ...]:
    own = {k.name for k in p.extra}
    keys = [
        Key("name", p.kind, "A-Z a-z 0-9 _ . -; names its events, metrics and transcripts"),
        Key("listen", [f"0.0.0.0:{p.port}", f"[::]:{p.port}"], "where clients connect"),
        Key("main", f"tcp://127.0.0.1:{_MAIN_PORT[p.kind]}", "the real server: tcp://host:port | unix:/path | exec:cmd"),
        Key("honeypot", f"tcp://127.0.0.1:{_HP_PORT[p.kind]}", "its copy, fed every byte main gets"),
        Key("protocol", p.protocol, "what the rules and the anomaly model parse"),
        Key("align", p.align, '"bytes": an identical copy; "quiet": a copy whose replies differ'),
        Key("rules", list(p.rules), '"default" is the shipped ruleset; add your own rule files'),
        *p.extra,
        Key("switch_threshold", 100, "session score at which detectors switch it", commented=True),
        Key("no_honeypot", "reset", 'a switch while the honeypot is down: "reset" | "pass"', commented=True),
        Key("dry_run", False, 'record "would_switch" instead of switching (try rules first)', commented=True),
        Key("idle_timeout", 3600, "seconds without traffic before the session ends", commented=True),
        Key("connect_timeout", 5.0, commented=True),
        Key("honeypot_buffer", "4MiB", "how far the honeypot may fall behind before it is dropped",
            commented=True),
        Key("main_proxy_protocol", "", '"v2" sends a PROXY v2 header: main logs the real client',
            commented=True),
        # anomaly_model has no default to show: it names a file (honeyswitch train).
    ]
    return tuple(k for k in keys if k in p.extra or k.name not in own)


def _sections(state: str, logs: str) -> tuple[Section, ...]:
    return (
        Section("scoring", "How alerts add up per source (across sessions and services).", (
            Key("half_life", 600, "seconds for a source's score to halve", commented=True),
            Key("blacklist_threshold", 200, "source score that blacklists it (0 = never)", commented=True),
            Key("incident_gap", 900, "seconds of quiet that close an incident", commented=True),
            Key("source_switch", True, "the request that blacklists its source is switched too",
                commented=True),
        )),
        Section("blacklist", "Blacklisted sources go straight to the honeypot.", (
            Key("ttl", 3600, "seconds; 0 = until removed", commented=True),
            Key("on_switch", True, "blacklist the source of a switched session", commented=True),
            Key("allowlist", [], 'never blacklisted, e.g. ["10.0.0.0/8"] (your own scanners)', commented=True),
        )),
        Section("store", "SQLite: sessions, events, incidents, the blacklist.",
                (Key("path", f"{state}/honeyswitch.db"),)),
        Section("events", "JSON lines (docs/events.md); reopened on SIGHUP for logrotate.",
                (Key("path", f"{logs}/events.jsonl"),)),
        Section("transcripts", "Every byte of the sessions that reached the honeypot.", (
            Key("dir", f"{state}/transcripts"),
            Key("history_bytes", "256KiB", "kept per mirrored session in case it switches", commented=True),
            Key("max_bytes", "64MiB", "per transcript", commented=True),
        )),
        Section("control", "The control API, the dashboard (http://LISTEN/) and /metrics.", (
            Key("listen", "127.0.0.1:8439", '"" turns it off'),
            Key("token_file", f"{state}/control.token", "created (mode 0600) at first start"),
            Key("switch_signal", "USR1", '"USR1" | "USR2" | "HUP": switches every mirrored session',
                commented=True),
        )),
        Section("logging", "Logs go to stderr (the journal under systemd).",
                (Key("level", "info", "debug | info | warning | error"),)),
        Section("daemon", "Worker processes behind one port.", (
            Key("workers", 1, 'N > 1 or "auto": a supervisor and N workers', commented=True),
            Key("shard", "source", '"source": one client, one worker | "connection"', commented=True),
        )),
    )


_IDS_EXAMPLE = Section("ids", "An external IDS whose alerts score sessions and sources (uncomment).", (
    Key("name", "suricata"),
    Key("format", "suricata-eve", "suricata-eve | suricata-fast | snort2-fast | snort3-json ..."),
    Key("path", "/var/log/suricata/eve.json"),
    Key("start", "end", '"end" | "beginning"'),
), array=True, commented=True)


def value(v: Any) -> str:
    """A TOML value (the subset the starter uses: str, bool, number, list of them)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a TOML basic string is a JSON string for these characters
    if isinstance(v, list):
        return "[" + ", ".join(value(i) for i in v) + "]"
    raise TypeError(f"no TOML form for {v!r}")


def _table(section: Section, out: list[str], live: bool) -> None:
    lead = "# " if section.commented and not live else ""
    out.append("")
    out.extend(f"# {line}" for line in section.doc.splitlines())
    out.append(f"{lead}[[{section.name}]]" if section.array else f"{lead}[{section.name}]")
    for k in section.keys:
        hidden = (k.commented or section.commented) and not live
        text = f"{'# ' if hidden else ''}{k.name} = {value(k.value)}"
        out.append(f"{text:<{max(DOC_COLUMN, len(text) + 2)}}# {k.doc}" if k.doc else text)


def render(kinds: list[str], state: str = "/var/lib/honeyswitch", logs: str = "/var/log/honeyswitch",
           *, live: bool = False) -> str:
    """The starter config for ``kinds`` (each a key of :data:`PROFILES`).  ``live``
    writes the commented-out keys and example tables as live ones (for tests)."""
    out = ["# honeyswitch starter config (honeyswitch init).  Check it: honeyswitch check -c FILE",
           "# Relative paths are relative to this file.  Every key: README, Configuration."]
    for kind in kinds:
        p = PROFILES[kind]
        _table(Section("service", p.about, _service_keys(p), array=True), out, live)
        if kind == "ssh":
            _table(_IDS_EXAMPLE, out, live)
    for section in _sections(state, logs):
        _table(section, out, live)
    return "\n".join(out) + "\n"


def default_paths(config_path: Path | None) -> tuple[str, str]:
    """State and log directories: the system ones for /etc, else beside the config."""
    if config_path is None or str(config_path).startswith("/etc/"):
        return "/var/lib/honeyswitch", "/var/log/honeyswitch"
    return "state", "log"
