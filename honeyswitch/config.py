"""Configuration: defaults, then the operator's TOML file, then ``HONEYSWITCH_*``
environment variables, validated once into frozen objects.

Every problem is a :class:`ConfigError` whose message is one line naming the file, the
key and what is wrong, e.g. ``honeyswitch.toml: service[0].align: must be one of
'bytes', 'quiet', not 'fast'``.  The daemon never starts half-configured.
"""
from __future__ import annotations

import ipaddress
import os
import re
import shlex
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn

from .core.session import SessionPolicy
from .core.types import Align, NoHoneypotPolicy
from .detect import config as detect_config
from .detect.config import DetectionConfig, ServiceDetection
from .intercept.settings import (
    FIREWALL_KEYS,
    INTERCEPT_KEYS,
    DecoyConfig,
    FirewallConfig,
    check_local,
    decoy_backend_host,
    read_decoys,
    read_firewall,
    read_intercept,
)
from .tls.settings import TLS_KEYS, read_tls

DEFAULT_PATH = Path("/etc/honeyswitch/honeyswitch.toml")
ENV_PATH = "HONEYSWITCH_CONFIG"
_SIGNALS = ("HUP", "USR1", "USR2")
_SIZE = re.compile(r"^\s*(\d+)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?\s*$", re.I)
_UNITS = {None: 1, "b": 1, "k": 1024, "kb": 1000, "kib": 1024, "m": 1 << 20, "mb": 10**6,
          "mib": 1 << 20, "g": 1 << 30, "gb": 10**9, "gib": 1 << 30}


class ConfigError(ValueError):
    """A configuration problem, as one line naming the file and key."""


def default_config_path() -> Path:
    return Path(os.environ.get(ENV_PATH) or DEFAULT_PATH)


@dataclass(frozen=True, slots=True)
class Backend:
    """Where a backend is: ``tcp://host:port``, ``unix:/path`` or ``exec:command args``."""

    kind: str  # "tcp" | "unix" | "exec"
    host: str = ""
    port: int = 0
    path: str = ""
    argv: tuple[str, ...] = ()
    proxy_protocol: str = ""  # "" | "v2"
    transparent: bool = False  # connect from the client's own address (transparent upstream)
    tls: Any = None  # honeyswitch.tls.settings.TlsBackend of a tls:// backend (re-encrypted)

    @property
    def url(self) -> str:
        if self.kind == "tcp":
            host = f"[{self.host}]" if ":" in self.host else self.host
            return f"{'tls' if self.tls is not None else 'tcp'}://{host}:{self.port}"
        if self.kind == "unix":
            return f"unix:{self.path}"
        return "exec:" + shlex.join(self.argv)


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    name: str
    listen: tuple[tuple[str, int], ...]
    main: Backend
    honeypot: Backend
    policy: SessionPolicy
    connect_timeout: float = 5.0
    idle_timeout: float = 3600.0
    read_size: int = 256 << 10
    detection: ServiceDetection = field(default_factory=ServiceDetection)
    intercept: str = "none"  # "none" | "redirect" | "tproxy" (see honeyswitch firewall)
    intercept_ports: tuple[int, ...] = ()  # ports whose traffic the firewall sends to us
    intercept_dest: tuple[str, ...] = ()  # destination networks matched; () = any
    transparent_upstream: bool = False
    tls: Any = None  # honeyswitch.tls.settings.TlsServer: the client's TLS ends here


@dataclass(frozen=True, slots=True)
class BlacklistConfig:
    ttl: float = 3600.0  # seconds; 0 keeps entries until removed
    on_switch: bool = True
    allowlist: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    def allowed(self, ip: str) -> bool:
        """Whether ``ip`` is on the allowlist (never blacklisted)."""
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
            addr = addr.ipv4_mapped
        return any(addr in net for net in self.allowlist)


@dataclass(frozen=True, slots=True)
class ControlConfig:
    listen: tuple[str, int] | None = ("127.0.0.1", 8439)
    token: str = ""
    # Where the token lives when the config does not hold it: the daemon creates it
    # (mode 0600) at first start, and the CLI reads it from the same place.
    token_file: Path | None = None
    switch_signal: str = "USR1"


@dataclass(frozen=True, slots=True)
class DaemonConfig:
    """``[daemon]``: how many relay worker processes, and how clients are spread."""

    workers: int = 1  # 1: one process does everything; N: a supervisor and N workers
    # "source": every connection of one client address goes to the same worker, so
    # per-source state (scores, incidents, thresholds) is whole; "connection": the
    # kernel spreads connections by their 4-tuple (even load from a few addresses).
    shard: str = "source"


@dataclass(frozen=True, slots=True)
class Config:
    services: tuple[ServiceConfig, ...]
    store_path: Path
    events_path: Path
    transcripts_dir: Path
    transcript_history: int = 256 << 10  # bytes of pre-switch traffic kept per session
    transcript_history_total: int = 256 << 20  # ... and over all live sessions at once
    transcript_max: int = 64 << 20  # bytes written per transcript at most
    blacklist: BlacklistConfig = field(default_factory=BlacklistConfig)
    control: ControlConfig = field(default_factory=ControlConfig)
    log_level: str = "info"
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    source: str = "<defaults>"
    decoys: tuple[DecoyConfig, ...] = ()
    firewall: FirewallConfig = field(default_factory=FirewallConfig)
    daemon: DaemonConfig = field(default_factory=DaemonConfig)

    def service(self, name: str) -> ServiceConfig:
        for svc in self.services:
            if svc.name == name:
                return svc
        raise KeyError(name)


# --------------------------------------------------------------------------- parsing


class _Reader:
    """Typed access to one table, with errors that name file and key."""

    def __init__(self, src: str, prefix: str, table: Mapping[str, Any], known: set[str]):
        self.src, self.prefix, self.table = src, prefix, table
        if not isinstance(table, Mapping):
            self.fail("", "must be a table")
        for key in table:
            if key not in known:
                self.fail(key, f"unknown key (known: {', '.join(sorted(known))})")

    def fail(self, key: str, problem: str) -> NoReturn:
        where = f"{self.prefix}.{key}" if self.prefix and key else (self.prefix or key)
        raise ConfigError(f"{self.src}: {where}: {problem}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        value = self.table.get(key, default)
        if isinstance(value, bool) and kind in (int, float, (int, float)):
            self.fail(key, f"must be a number, not {value!r}")
        if not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            self.fail(key, f"must be {names}, not {type(value).__name__} {value!r}")
        return value

    def number(self, key: str, default: float, *, minimum: float = 0.0) -> float:
        value = float(self.get(key, (int, float), default))
        if value < minimum:
            self.fail(key, f"must be >= {minimum:g}, not {value:g}")
        return value

    def size(self, key: str, default: int) -> int:
        value = self.table.get(key, default)
        if isinstance(value, bool):
            self.fail(key, f"must be a size, not {value!r}")
        if isinstance(value, int):
            number = value
        elif isinstance(value, str) and (m := _SIZE.match(value)):
            number = int(m.group(1)) * _UNITS[(m.group(2) or "").lower() or None]
        else:
            self.fail(key, f"must be a size like 65536 or \"4MiB\", not {value!r}")
        if number <= 0:
            self.fail(key, "must be > 0")
        return number

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.get(key, str, default)
        if value not in choices:
            self.fail(key, f"must be one of {', '.join(map(repr, choices))}, not {value!r}")
        return value

    def path(self, key: str, default: str, base: Path) -> Path:
        value = self.get(key, str, default)
        if not value:
            self.fail(key, "must not be empty")
        p = Path(value).expanduser()
        return p if p.is_absolute() else base / p


def parse_hostport(text: str, *, allow_zero: bool = False) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` -> (host, port); raises ValueError.

    ``allow_zero`` accepts port 0 (the kernel picks a free port), for listeners.
    """
    m = re.fullmatch(r"\[([0-9A-Fa-f:.%\w]+)\]:(\d+)|([^:\[\]\s]+):(\d+)", text.strip())
    if not m:
        raise ValueError(f"{text!r} is not host:port (IPv6 as [addr]:port)")
    host = m.group(1) or m.group(3)
    port = int(m.group(2) or m.group(4))
    if not (0 if allow_zero else 1) <= port < 65536:
        raise ValueError(f"port {port} out of range 1-65535")
    return host, port


def parse_backend(text: str, decoys: Mapping[str, str] | None = None) -> Backend:
    """Parse a backend URL; raises ValueError with the reason.

    ``decoy:NAME:PORT`` names a port of a [[decoy]] (``decoys`` maps name to address)."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("must be a backend URL (tcp://host:port, unix:/path, exec:command)")
    text = text.strip()
    if text.startswith(("tcp://", "tls://")):  # tls://: the service's read_tls adds its context
        host, port = parse_hostport(text[6:])
        return Backend("tcp", host=host, port=port)
    if text.startswith("unix:"):
        path = text[5:]
        if not path.startswith("/"):
            raise ValueError(f"unix socket path must be absolute, not {path!r}")
        return Backend("unix", path=path)
    if text.startswith("exec:"):
        try:
            argv = tuple(shlex.split(text[5:]))
        except ValueError as e:
            raise ValueError(f"exec command: {e}") from None
        if not argv:
            raise ValueError("exec: needs a command")
        return Backend("exec", argv=argv)
    if text.startswith("decoy:"):
        host, port = decoy_backend_host(text[6:], decoys or {})
        return Backend("tcp", host=host, port=port)
    raise ValueError(f"{text!r}: scheme must be tcp://, tls://, unix:, exec: or decoy:")


_SERVICE_KEYS = {
    "name", "listen", "main", "honeypot", "align", "switch_threshold", "no_honeypot",
    "honeypot_buffer", "hold_limit", "quiet_time", "quiet_max", "connect_timeout",
    "idle_timeout", "read_size", "main_proxy_protocol", "honeypot_proxy_protocol",
} | detect_config.SERVICE_KEYS | INTERCEPT_KEYS | TLS_KEYS


def _service(src: str, index: int, table: Mapping[str, Any], base: Path,
             decoys: Mapping[str, str] | None = None) -> ServiceConfig:
    r = _Reader(src, f"service[{index}]", table, _SERVICE_KEYS)
    if "name" not in table:
        r.fail("name", "is required")
    name: str = r.get("name", str, "")
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name):
        r.fail("name", f"must be 1-64 of A-Z a-z 0-9 _ . -, not {name!r}")
    raw_listen = table.get("listen")
    if raw_listen is None:
        r.fail("listen", "is required")
    items: Any = [raw_listen] if isinstance(raw_listen, str) else raw_listen
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        r.fail("listen", "must be \"host:port\" or a list of them")
    listen = []
    for item in items:
        try:
            listen.append(parse_hostport(item, allow_zero=True))
        except ValueError as e:
            r.fail("listen", str(e))
    backends = {}
    for key in ("main", "honeypot"):
        if key not in table:
            r.fail(key, "is required")
        try:
            b = parse_backend(table[key], decoys)
        except ValueError as e:
            r.fail(key, str(e))
        pp = r.choice(f"{key}_proxy_protocol", ("", "v2"), "")
        if pp and b.kind == "exec":
            r.fail(f"{key}_proxy_protocol", "not possible with an exec: backend")
        backends[key] = Backend(b.kind, b.host, b.port, b.path, b.argv, pp)
    tls = read_tls(r, base, table["main"], table["honeypot"], str(table.get("protocol", "")))
    backends = {k: replace(b, tls=tls[f"{k}_tls"]) for k, b in backends.items()}
    intercept = read_intercept(r, tuple(listen), backends["main"])
    if intercept.get("transparent_upstream"):
        backends = {k: replace(b, transparent=b.kind == "tcp") for k, b in backends.items()}
    quiet_time = r.number("quiet_time", 0.2)
    policy = SessionPolicy(
        align=Align(r.choice("align", ("bytes", "quiet"), "bytes")),
        switch_threshold=r.number("switch_threshold", 100.0, minimum=0.0),
        no_honeypot=NoHoneypotPolicy(r.choice("no_honeypot", ("reset", "pass"), "reset")),
        honeypot_buffer=r.size("honeypot_buffer", 4 << 20),
        hold_limit=r.size("hold_limit", 1 << 20),
        quiet_time=quiet_time,
        quiet_max=r.number("quiet_max", 3.0, minimum=quiet_time),
        dry_run=r.get("dry_run", bool, False),
    )
    return ServiceConfig(
        name=name,
        listen=tuple(listen),
        main=backends["main"],
        honeypot=backends["honeypot"],
        policy=policy,
        connect_timeout=r.number("connect_timeout", 5.0, minimum=0.01),
        idle_timeout=r.number("idle_timeout", 3600.0, minimum=0.01),
        read_size=r.size("read_size", 256 << 10),
        detection=detect_config.service_detection(r, base),
        tls=tls["tls"],
        **intercept,
    )


_TOP_KEYS = {"service", "store", "events", "transcripts", "blacklist", "control", "logging",
             "detect", "ids", "scoring", "decoy", "firewall", "daemon"}
MAX_WORKERS = 64


def build(data: Mapping[str, Any], src: str, base: Path) -> Config:
    """Validate parsed TOML ``data`` (``base`` resolves relative paths)."""
    _Reader(src, "", data, _TOP_KEYS)
    services_raw = data.get("service", [])
    if not isinstance(services_raw, list) or not services_raw:
        raise ConfigError(f"{src}: service: at least one [[service]] table is required")
    decoys = read_decoys(src, data.get("decoy", []), base, _Reader)
    decoy_ips = {d.name: d.ip for d in decoys}
    services = tuple(_service(src, i, t, base, decoy_ips) for i, t in enumerate(services_raw))
    seen: dict[str, int] = {}
    listens: dict[tuple[str, int], str] = {}
    for i, svc in enumerate(services):
        if svc.name in seen:
            raise ConfigError(f"{src}: service[{i}].name: {svc.name!r} already used by service[{seen[svc.name]}]")
        seen[svc.name] = i
        for hp in svc.listen:
            if hp in listens and hp[1] != 0:
                raise ConfigError(f"{src}: service[{i}].listen: {hp[0]}:{hp[1]} already used by {listens[hp]!r}")
            listens[hp] = svc.name

    store = _Reader(src, "store", data.get("store", {}), {"path"})
    events = _Reader(src, "events", data.get("events", {}), {"path"})
    tr = _Reader(src, "transcripts", data.get("transcripts", {}), {"dir", "history_bytes", "history_total", "max_bytes"})
    bl = _Reader(src, "blacklist", data.get("blacklist", {}), {"ttl", "on_switch", "allowlist"})
    ctl = _Reader(src, "control", data.get("control", {}), {"listen", "token", "token_file", "switch_signal"})
    log = _Reader(src, "logging", data.get("logging", {}), {"level"})
    daemon = _daemon(_Reader(src, "daemon", data.get("daemon", {}), {"workers", "shard"}))
    fw = _Reader(src, "firewall", data.get("firewall", {}), FIREWALL_KEYS)
    firewall = read_firewall(fw)
    check_local(fw, services, firewall)

    allow = []
    for item in bl.get("allowlist", list, []):
        try:
            allow.append(ipaddress.ip_network(str(item), strict=False))
        except ValueError:
            bl.fail("allowlist", f"{item!r} is not an address or CIDR")
    ctl_listen_raw = ctl.get("listen", str, "127.0.0.1:8439")
    try:
        ctl_listen = parse_hostport(ctl_listen_raw, allow_zero=True) if ctl_listen_raw else None
    except ValueError as e:
        ctl.fail("listen", str(e))
    token = ctl.get("token", str, "")
    store_path = store.path("path", "honeyswitch.db", base)
    token_file = None if token else ctl.path("token_file", str(store_path.parent / "control.token"), base)
    sig = ctl.get("switch_signal", str, "USR1").upper().removeprefix("SIG")
    if sig not in _SIGNALS:
        ctl.fail("switch_signal", f"must be one of {', '.join(_SIGNALS)}, not {sig!r}")

    detection = detect_config.parse(dict(data), _Reader, src, base)
    if daemon.workers > 1 and daemon.shard == "connection" and detection.ids:
        raise ConfigError(f'{src}: daemon.shard: [[ids]] feeds with several workers need shard = "source" '
                          "(an alert must reach the one worker that has its client's sessions)")
    return Config(
        services=services,
        store_path=store_path,
        events_path=events.path("path", "events.jsonl", base),
        transcripts_dir=tr.path("dir", "transcripts", base),
        transcript_history=tr.size("history_bytes", 256 << 10),
        transcript_history_total=tr.size("history_total", 256 << 20),
        transcript_max=tr.size("max_bytes", 64 << 20),
        blacklist=BlacklistConfig(
            ttl=bl.number("ttl", 3600.0),
            on_switch=bl.get("on_switch", bool, True),
            allowlist=tuple(allow),
        ),
        control=ControlConfig(listen=ctl_listen, token=token, token_file=token_file, switch_signal=sig),
        log_level=log.choice("level", ("debug", "info", "warning", "error"), "info"),
        detection=detection,
        source=src,
        decoys=decoys,
        firewall=firewall,
        daemon=daemon,
    )


def _daemon(r: _Reader) -> DaemonConfig:
    raw = r.get("workers", (int, str), 1)
    if raw == "auto":
        workers = os.cpu_count() or 1
    elif isinstance(raw, str) or isinstance(raw, bool) or not 1 <= raw <= MAX_WORKERS:
        r.fail("workers", f'must be "auto" or a number from 1 to {MAX_WORKERS}, not {raw!r}')
    else:
        workers = raw
    return DaemonConfig(workers=min(workers, MAX_WORKERS), shard=r.choice("shard", ("source", "connection"), "source"))


def _env_overrides(data: dict[str, Any], environ: Mapping[str, str]) -> None:
    """``HONEYSWITCH_<SECTION>_<KEY>=value`` sets ``[section] key`` (not services)."""
    sections = {"store", "events", "transcripts", "blacklist", "control", "logging"}
    for name, value in environ.items():
        if not name.startswith("HONEYSWITCH_") or name == ENV_PATH:
            continue
        rest = name[len("HONEYSWITCH_"):].lower()
        section, _, key = rest.partition("_")
        if section not in sections or not key:
            continue
        table = data.setdefault(section, {})
        if not isinstance(table, dict):
            continue
        parsed: Any = value
        if key in ("ttl", "history_bytes", "history_total", "max_bytes") and re.fullmatch(r"\d+(\.\d+)?", value):
            parsed = float(value) if "." in value else int(value)
        elif key == "on_switch":
            parsed = value.lower() in ("1", "true", "yes", "on")
        elif key == "allowlist":
            parsed = [v.strip() for v in value.split(",") if v.strip()]
        table[key] = parsed


def load(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate the config file at ``path``; raises :class:`ConfigError`."""
    p = Path(path)
    src = str(p)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise ConfigError(f"{src}: cannot read: {e.strerror or e}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{src}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{src}: TOML syntax: {e}") from None
    _env_overrides(data, os.environ if environ is None else environ)
    return build(data, src, p.resolve().parent)
