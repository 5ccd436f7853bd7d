"""Starter configs for ``honeyswitch init``: one commented TOML file per kind of service.

What a file says of a key, its default and its doc, comes from the key's declaration
(:data:`honeyswitch.config.SECTIONS`); this module only chooses.  A :class:`Profile`
per kind of service gives the values that differ (ports, protocol, alignment, why), and
:data:`SHOWN` names the keys each table shows commented out at their default, so the
file doubles as a short reference (``honeyswitch check --reference`` has every key).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import SECTIONS
from .schema import COMMENT_COLUMN, REQUIRED, Key, toml_value

_DECLARED = {s.name: s for s in SECTIONS}


@dataclass(frozen=True, slots=True)
class Profile:
    """One kind of protected service."""

    kind: str
    about: str  # comment lines above its [[service]] table
    port: int  # the port clients use
    main_port: int
    honeypot_port: int
    protocol: str
    align: str
    rules: tuple[str, ...] = ("default",)
    extra: dict[str, tuple[Any, str]] = field(default_factory=dict)  # key: (value, why)


PROFILES: dict[str, Profile] = {p.kind: p for p in (
    Profile("http", "An HTTP server.  Move it to 127.0.0.1:8080 and run a copy (other data,\n"
            "same software) on 127.0.0.1:8081 as the honeypot.", 80, 8080, 8081, "http", "quiet"),
    Profile("redis", "A Redis server (main on 6380, a redis-server with fake keys on 6381).",
            6379, 6380, 6381, "redis", "quiet"),
    Profile("ssh", "SSH passthrough.  SSH is encrypted end to end, so a live session cannot move:\n"
            "honeyswitch relays it to main, and a source blacklisted by its alerts (the\n"
            "[[ids]] feed below, or its incidents on other services) goes straight to\n"
            "the honeypot (e.g. Cowrie) from its next connection on.", 22, 2200, 2222, "ssh", "quiet", (),
            {"no_honeypot": ("pass", "mirrored bytes mean nothing to an SSH honeypot: keep it on main")}),
    Profile("smtp", "An SMTP server (main on 2525, a copy that delivers nowhere on 2526).",
            25, 2525, 2526, "smtp", "quiet"),
    Profile("mysql", "A MySQL/MariaDB server (main on 3307, a copy with fake data on 3308).\n"
            "Its greeting holds a random salt, so the copy's replies differ: quiet alignment.",
            3306, 3307, 3308, "mysql", "quiet"),
    Profile("tcp", "Any line-oriented TCP service, with an identical copy as the honeypot.",
            7000, 7001, 7002, "line", "bytes", ()),
)}
KINDS = tuple(PROFILES)

# Per table, the keys shown commented out at their declared default.
SHOWN = {
    "service": ("switch_threshold", "no_honeypot", "dry_run", "idle_timeout", "connect_timeout",
                "honeypot_buffer", "main_proxy_protocol"),
    "scoring": ("half_life", "blacklist_threshold", "incident_gap", "source_switch"),
    "blacklist": ("ttl", "on_switch", "allowlist"),
    "transcripts": ("history_bytes", "max_bytes"),
    "control": ("switch_signal",),
    "daemon": ("workers", "shard"),
}
_DOCS = {  # a table's comment line in the starter
    "scoring": "How alerts add up per source (across sessions and services).",
    "blacklist": "Blacklisted sources go straight to the honeypot.",
    "store": "SQLite: sessions, events, incidents, the blacklist.",
    "events": "JSON lines (docs/events.md); reopened on SIGHUP for logrotate.",
    "transcripts": "Every byte of the sessions that reached the honeypot.",
    "control": "The control API, the dashboard (http://LISTEN/) and /metrics.",
    "logging": "Logs go to stderr (the journal under systemd).",
    "daemon": "Worker processes behind one port.",
}
_IDS_EXAMPLE = ("name", "format", "path", "start")


@dataclass(frozen=True, slots=True)
class Line:
    name: str
    value: Any
    doc: str
    commented: bool = False


def _decl(section: str, name: str) -> Key:
    return _DECLARED[section].fields[name]


def _live(section: str, name: str, value: Any, doc: str | None = None) -> Line:
    return Line(name, value, _decl(section, name).doc if doc is None else doc)


def _defaults(section: str, skip: frozenset[str] | set[str] = frozenset()) -> list[Line]:
    """The keys of :data:`SHOWN` for ``section``, commented out at their declared defaults."""
    out = []
    for name in SHOWN.get(section, ()):
        if name in skip:
            continue
        key = _decl(section, name)
        out.append(Line(name, key.default, key.doc, commented=True))
    return out


def _service(p: Profile) -> list[Line]:
    lines = [
        _live("service", "name", p.kind),
        _live("service", "listen", [f"0.0.0.0:{p.port}", f"[::]:{p.port}"], "where clients connect"),
        _live("service", "main", f"tcp://127.0.0.1:{p.main_port}", "the real server"),
        _live("service", "honeypot", f"tcp://127.0.0.1:{p.honeypot_port}", "its copy, fed every byte main gets"),
        _live("service", "protocol", p.protocol),
        _live("service", "align", p.align),
        _live("service", "rules", list(p.rules)),
        *(_live("service", k, v, why) for k, (v, why) in p.extra.items()),
    ]
    return lines + _defaults("service", set(p.extra))


def _tables(state: str, logs: str) -> list[tuple[str, list[Line]]]:
    return [
        ("scoring", _defaults("scoring")),
        ("blacklist", _defaults("blacklist")),
        ("store", [_live("store", "path", f"{state}/honeyswitch.db")]),
        ("events", [_live("events", "path", f"{logs}/events.jsonl")]),
        ("transcripts", [_live("transcripts", "dir", f"{state}/transcripts"), *_defaults("transcripts")]),
        ("control", [_live("control", "listen", _decl("control", "listen").default),
                     _live("control", "token_file", f"{state}/control.token"), *_defaults("control")]),
        ("logging", [_live("logging", "level", _decl("logging", "level").default)]),
        ("daemon", _defaults("daemon")),
    ]


def _ids_example() -> list[Line]:
    out = []
    for name in _IDS_EXAMPLE:
        key = _decl("ids", name)
        value = key.example if key.example is not None else key.default
        assert value is not REQUIRED
        out.append(Line(name, value, key.doc, commented=True))
    return out


def _table(header: str, doc: str, lines: list[Line], out: list[str], live: bool, example: bool = False) -> None:
    out.append("")
    out.extend(f"# {text}" for text in doc.splitlines())
    out.append(("# " if example and not live else "") + header)
    for line in lines:
        text = f"{'# ' if line.commented and not live else ''}{line.name} = {toml_value(line.value)}"
        out.append(f"{text:<{max(COMMENT_COLUMN - 1, len(text) + 1)}} # {line.doc}" if line.doc else text)


def render(kinds: list[str], state: str = "/var/lib/honeyswitch", logs: str = "/var/log/honeyswitch",
           *, live: bool = False) -> str:
    """The starter config for ``kinds`` (each a key of :data:`PROFILES`).  ``live``
    writes the commented-out keys and the example table as live ones (for tests)."""
    out = ["# honeyswitch starter config (honeyswitch init).  Check it: honeyswitch check -c FILE",
           "# Relative paths are relative to this file.  Every key: honeyswitch check --reference"]
    for kind in kinds:
        p = PROFILES[kind]
        _table("[[service]]", p.about, _service(p), out, live)
        if kind == "ssh":
            _table("[[ids]]", "An external IDS whose alerts score sessions and sources (uncomment).",
                   _ids_example(), out, live, example=True)
    for name, lines in _tables(state, logs):
        _table(f"[{name}]", _DOCS[name], lines, out, live)
    return "\n".join(out) + "\n"


def default_paths(config_path: Path | None) -> tuple[str, str]:
    """State and log directories: the system ones for /etc, else beside the config."""
    if config_path is None or str(config_path).startswith("/etc/"):
        return "/var/lib/honeyswitch", "/var/log/honeyswitch"
    return "state", "log"


__all__ = ["KINDS", "PROFILES", "SHOWN", "default_paths", "render"]
