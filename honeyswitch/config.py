"""Configuration: defaults, then the operator's TOML file, then ``HONEYSWITCH_*``
environment variables, validated once into frozen objects.

Every key is declared once (:mod:`honeyswitch.schema`): the daemon's own tables here,
detection's in :mod:`honeyswitch.detect.config`, transparent deployment's in
:mod:`honeyswitch.intercept.settings`, the cluster's in :mod:`honeyswitch.fleet.config`;
:data:`SECTIONS` lists them all in the order the README's reference shows them.  Every problem is a :class:`ConfigError` whose message is
one line naming the file, the key and what is wrong, e.g. ``honeyswitch.toml:
service[0].align: must be one of 'bytes', 'quiet', not 'fast'``.  The daemon never
starts half-configured.
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
from typing import Any

from .core.session import SessionPolicy
from .core.types import Align, NoHoneypotPolicy
from .detect import config as detect_config
from .detect.config import DetectionConfig, ServiceDetection
from .fleet.config import CLUSTER, ClusterConfig, read_cluster
from .intercept.settings import (
    DECOY,
    FIREWALL,
    INTERCEPT_KEYS,
    DecoyConfig,
    FirewallConfig,
    check_local,
    decoy_backend_host,
    read_decoys,
    read_firewall,
    read_intercept,
)
from .packet.settings import PACKET_KEYS, PacketSettings, check_packet, read_packet
from .schema import (
    REQUIRED,
    Bool,
    Choice,
    ConfigError,
    Custom,
    FilePath,
    Key,
    ListOf,
    Number,
    Section,
    Size,
    Table,
    Text,
    env_overrides,
    read,
    read_array,
)
from .tls.settings import TLS_KEYS, read_tls

DEFAULT_PATH = Path("/etc/honeyswitch/honeyswitch.toml")
ENV_PATH = "HONEYSWITCH_CONFIG"
MAX_WORKERS = 64
__all__ = ["ConfigError"]  # re-exported: every caller catches it from here


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
    # Built once: every session's session_start event names both backends.
    url: str = field(init=False, repr=False, compare=False, default="")

    def __post_init__(self) -> None:
        if self.kind == "tcp":
            host = f"[{self.host}]" if ":" in self.host else self.host
            url = f"{'tls' if self.tls is not None else 'tcp'}://{host}:{self.port}"
        elif self.kind == "unix":
            url = f"unix:{self.path}"
        else:
            url = "exec:" + shlex.join(self.argv)
        object.__setattr__(self, "url", url)


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
    # Seconds the honeypot's copy of client bytes may be held to go out with more (only
    # while mirrored with the replies compared; see relay/flusher.py).  0: sent at once.
    honeypot_batch: float = 0.02
    detection: ServiceDetection = field(default_factory=ServiceDetection)
    intercept: str = "none"  # "none" | "redirect" | "tproxy" (see honeyswitch firewall)
    intercept_ports: tuple[int, ...] = ()  # ports whose traffic the firewall sends to us
    intercept_dest: tuple[str, ...] = ()  # destination networks matched; () = any
    transparent_upstream: bool = False
    mode: str = "proxy"  # "proxy" | "packet" (NFQUEUE, see honeyswitch/packet)
    packet: PacketSettings | None = None  # the queue settings of a packet-mode service
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
    cluster: ClusterConfig | None = None  # [cluster]: None for a standalone host

    def service(self, name: str) -> ServiceConfig:
        for svc in self.services:
            if svc.name == name:
                return svc
        raise KeyError(name)



# ------------------------------------------------------------------ values


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


def _listen(value: Any, base: Path) -> tuple[tuple[str, int], ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        raise ValueError('must be "host:port" or a list of them')
    return tuple(parse_hostport(item, allow_zero=True) for item in items)


def _backend_url(value: Any, base: Path) -> str:
    """A backend URL's text; it is parsed once the [[decoy]] names are known."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a backend URL (tcp://host:port, unix:/path, exec:command)")
    return value.strip()


def _network(value: Any, base: Path) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(str(value), strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not an address or CIDR") from None


def _control_listen(value: Any, base: Path) -> tuple[str, int] | None:
    if not isinstance(value, str):
        raise ValueError(f"must be str, not {type(value).__name__} {value!r}")
    return parse_hostport(value, allow_zero=True) if value else None


def _workers(value: Any, base: Path) -> int:
    if value == "auto":
        return min(os.cpu_count() or 1, MAX_WORKERS)
    if not isinstance(value, (int, str)):
        raise ValueError(f"must be int or str, not {type(value).__name__} {value!r}")
    if isinstance(value, str) or isinstance(value, bool) or not 1 <= value <= MAX_WORKERS:
        raise ValueError(f'must be "auto" or a number from 1 to {MAX_WORKERS}, not {value!r}')
    return value


def _workers_env(text: str) -> Any:
    return int(text) if text.isdigit() else text


def _signal(name: str) -> str:
    return name.upper().removeprefix("SIG")


# ------------------------------------------------------------------ declarations

SERVICE = Section("service", (
    Key("name", Text(r"[A-Za-z0-9_.-]{1,64}", "1-64 of A-Z a-z 0-9 _ . -"), REQUIRED, "A-Z a-z 0-9 _ . -",
        example="web"),
    Key("listen", Custom(_listen), None, "one or more host:port; port 0 picks a free port (not with mode = \"packet\")",
        example=["0.0.0.0:80", "[::]:80"]),
    Key("main", Custom(_backend_url), REQUIRED, "tcp://host:port | tls://host:port | unix:/path | exec:command args",
        example="tcp://127.0.0.1:8080"),
    Key("honeypot", Custom(_backend_url), REQUIRED, "exec: starts the program per session (inetd style)",
        example="tcp://127.0.0.1:8081"),
    Key("align", Choice(("bytes", "quiet")), "bytes", '"bytes" (identical copy) | "quiet" (differing copy)'),
    Key("switch_threshold", Number(), 100.0, "session score at which detectors switch it"),
    Key("no_honeypot", Choice(("reset", "pass")), "reset", 'switch without a honeypot: "reset" | "pass"'),
    Key("honeypot_buffer", Size(), "4MiB", "how far the honeypot may fall behind/run ahead"),
    Key("honeypot_batch", Number(), 0.02, "seconds the honeypot's copy of client bytes may wait for more (0: none)"),
    Key("hold_limit", Size(), "1MiB", "client bytes held during a quiet switch"),
    Key("quiet_time", Number(), 0.2, "seconds of silence that end a quiet switch"),
    Key("quiet_max", Number(), 3.0, "longest a quiet switch waits (>= quiet_time)"),
    Key("connect_timeout", Number(0.01), 5.0, "seconds to connect to a backend"),
    Key("idle_timeout", Number(0.01), 3600.0, "seconds without traffic before the session ends"),
    Key("read_size", Size(), "256KiB", "bytes read from a connection at once"),
    Key("main_proxy_protocol", Choice(("", "v2")), "", '"v2": send a PROXY v2 header (real client address)'),
    Key("honeypot_proxy_protocol", Choice(("", "v2")), "", "the same for the honeypot"),
    *detect_config.SERVICE_KEYS,
    Key("dry_run", Bool(), False, 'record "would_switch" instead of switching'),
    *INTERCEPT_KEYS,
    *PACKET_KEYS,
    *TLS_KEYS,
), array=True, doc="one table per protected service")

BLACKLIST = Section("blacklist", (
    Key("ttl", Number(), 3600.0, "seconds; 0 = until removed"),
    Key("on_switch", Bool(), True, "blacklist the source of a switched session"),
    Key("allowlist", ListOf(Custom(_network)), [], "never blacklisted", example=["10.0.0.0/8"]),
))
STORE = Section("store", (
    Key("path", FilePath(), "honeyswitch.db", "SQLite: sessions, events, alerts, incidents, blacklist",
        example="/var/lib/honeyswitch/honeyswitch.db"),
), doc="relative paths are relative to the config file")
EVENTS = Section("events", (
    Key("path", FilePath(), "events.jsonl", "events as JSON lines", example="/var/log/honeyswitch/events.jsonl"),
))
TRANSCRIPTS = Section("transcripts", (
    Key("dir", FilePath(), "transcripts", "one per session that reached the honeypot",
        example="/var/lib/honeyswitch/transcripts"),
    Key("history_bytes", Size(), "256KiB", "traffic kept per mirrored session in case it switches"),
    Key("history_total", Size(), "256MiB", "all sessions together; past it each keeps a 4 KiB tail"),
    Key("max_bytes", Size(), "64MiB", "per transcript"),
))
CONTROL = Section("control", (
    Key("listen", Custom(_control_listen), "127.0.0.1:8439", '"" turns the control API off'),
    Key("token", Text(), "", "else token_file, created mode 0600 at first start"),
    Key("token_file", FilePath(), None, "default: control.token beside the store",
        example="/var/lib/honeyswitch/control.token"),
    Key("switch_signal", Choice(("HUP", "USR1", "USR2"), _signal), "USR1", '"USR1" | "USR2" | "HUP"'),
))
LOGGING = Section("logging", (
    Key("level", Choice(("debug", "info", "warning", "error")), "info", "debug | info | warning | error"),
))
DAEMON = Section("daemon", (
    Key("workers", Custom(_workers, _workers_env), 1, 'N > 1 (or "auto"): a supervisor and N worker processes'),
    Key("shard", Choice(("source", "connection")), "source",
        '"source": one client address, one worker | "connection"'),
))

SECTIONS = (SERVICE, detect_config.IDS, detect_config.SCORING, detect_config.DETECT, BLACKLIST, STORE, EVENTS,
            TRANSCRIPTS, CONTROL, LOGGING, DAEMON, CLUSTER, FIREWALL, DECOY)


# ------------------------------------------------------------------ building


def _service(t: Table, decoys: Mapping[str, str]) -> ServiceConfig:
    backends = {}
    for key in ("main", "honeypot"):
        try:
            b = parse_backend(t[key], decoys)
        except ValueError as e:
            t.fail(key, str(e))
        pp = t[f"{key}_proxy_protocol"]
        if pp and b.kind == "exec":
            t.fail(f"{key}_proxy_protocol", "not possible with an exec: backend")
        backends[key] = replace(b, proxy_protocol=pp)
    packet = read_packet(t, backends)  # packets are seen on their way to main: no listener
    tls = read_tls(t, packet["mode"])
    backends = {k: replace(b, tls=tls[f"{k}_tls"]) for k, b in backends.items()}
    listen = t["listen"]
    if listen is None:
        if packet["mode"] != "packet":
            t.fail("listen", "is required")
        listen = ()
    intercept = read_intercept(t, listen, backends["main"])
    if intercept.get("transparent_upstream"):
        backends = {k: replace(b, transparent=b.kind == "tcp") for k, b in backends.items()}
    if t["quiet_max"] < t["quiet_time"]:
        t.fail("quiet_max", f"must be >= {t['quiet_time']:g}, not {t['quiet_max']:g}")
    policy = SessionPolicy(
        align=Align(t["align"]), switch_threshold=t["switch_threshold"], no_honeypot=NoHoneypotPolicy(t["no_honeypot"]),
        honeypot_buffer=t["honeypot_buffer"], hold_limit=t["hold_limit"], quiet_time=t["quiet_time"],
        quiet_max=t["quiet_max"], dry_run=t["dry_run"],
    )
    return ServiceConfig(
        name=t["name"], listen=listen, main=backends["main"], honeypot=backends["honeypot"], policy=policy,
        connect_timeout=t["connect_timeout"], idle_timeout=t["idle_timeout"], read_size=t["read_size"],
        honeypot_batch=t["honeypot_batch"], detection=detect_config.service_detection(t), tls=tls["tls"],
        **intercept, **packet,
    )


def _services(tables: list[Table], decoys: Mapping[str, str], src: str) -> tuple[ServiceConfig, ...]:
    if not tables:
        raise ConfigError(f"{src}: service: at least one [[service]] table is required")
    services = tuple(_service(t, decoys) for t in tables)
    seen: dict[str, int] = {}
    listens: dict[tuple[str, int], str] = {}
    for i, svc in enumerate(services):
        if svc.name in seen:
            tables[i].fail("name", f"{svc.name!r} already used by service[{seen[svc.name]}]")
        seen[svc.name] = i
        for hp in svc.listen:
            if hp in listens and hp[1] != 0:
                tables[i].fail("listen", f"{hp[0]}:{hp[1]} already used by {listens[hp]!r}")
            listens[hp] = svc.name
    return services


def build(data: Mapping[str, Any], src: str, base: Path) -> Config:
    """Validate parsed TOML ``data`` (``base`` resolves relative paths)."""
    known = {s.name for s in SECTIONS}
    for name in data:
        if name not in known:
            raise ConfigError(f"{src}: {name}: unknown key (known: {', '.join(sorted(known))})")

    def table(section: Section) -> Table:
        return read(section, data.get(section.name, {}), src, section.name, base)

    decoys = read_decoys(src, data.get("decoy", []), base)
    services = _services(read_array(SERVICE, data.get("service", []), src, base), {d.name: d.ip for d in decoys}, src)
    fw = table(FIREWALL)
    firewall = read_firewall(fw)
    check_local(fw, services, firewall)
    store, tr, bl, ctl, daemon = table(STORE), table(TRANSCRIPTS), table(BLACKLIST), table(CONTROL), table(DAEMON)
    detection = detect_config.detection(dict(data), src, base)
    check_packet(services, daemon["workers"], lambda problem: daemon.fail("workers", problem))
    if daemon["workers"] > 1 and daemon["shard"] == "connection" and detection.ids:
        daemon.fail("shard", '[[ids]] feeds with several workers need shard = "source" '
                             "(an alert must reach the one worker that has its client's sessions)")
    token = ctl["token"]
    token_file = None if token else (ctl["token_file"] or store["path"].parent / "control.token")
    return Config(
        services=services,
        store_path=store["path"],
        events_path=table(EVENTS)["path"],
        transcripts_dir=tr["dir"],
        transcript_history=tr["history_bytes"],
        transcript_history_total=tr["history_total"],
        transcript_max=tr["max_bytes"],
        blacklist=BlacklistConfig(ttl=bl["ttl"], on_switch=bl["on_switch"], allowlist=bl["allowlist"]),
        control=ControlConfig(listen=ctl["listen"], token=token, token_file=token_file,
                              switch_signal=ctl["switch_signal"]),
        log_level=table(LOGGING)["level"],
        detection=detection,
        source=src,
        decoys=decoys,
        firewall=firewall,
        daemon=DaemonConfig(workers=daemon["workers"], shard=daemon["shard"]),
        cluster=read_cluster(table(CLUSTER)),
    )


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
    env_overrides(SECTIONS, data, os.environ if environ is None else environ, skip=(ENV_PATH,))
    return build(data, src, p.resolve().parent)
