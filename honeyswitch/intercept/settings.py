"""Config of transparent deployment: the per-service interception keys, ``[firewall]``
and ``[[decoy]]`` tables.

:mod:`honeyswitch.config` owns parsing and calls in here with its own table reader, so
every problem is the same one-line :class:`~honeyswitch.config.ConfigError` naming the
file and key.  This module imports nothing from config at run time (config imports it).
"""
from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

if TYPE_CHECKING:
    from ..config import Backend

INTERCEPT_MODES = ("none", "redirect", "tproxy")
INTERCEPT_KEYS = {"intercept", "intercept_ports", "intercept_dest", "transparent_upstream"}
FIREWALL_KEYS = {"blacklist_set", "local", "mark", "route_table", "tool"}
DECOY_KEYS = {"name", "command", "address", "files", "memory", "pids", "cpu"}
DECOY_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
# Route tables the kernel already uses: unspec, default, main, local.
_RESERVED_TABLES = {0, 253, 254, 255}


class Reader(Protocol):
    """What we use of config's table reader."""

    table: Mapping[str, Any]

    def fail(self, key: str, problem: str) -> NoReturn: ...
    def get(self, key: str, kind: type | tuple[type, ...], default: Any) -> Any: ...
    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str: ...
    def size(self, key: str, default: int) -> int: ...
    def number(self, key: str, default: float, *, minimum: float = 0.0) -> float: ...
    def path(self, key: str, default: str, base: Path) -> Path: ...


MakeReader = Callable[[str, str, Mapping[str, Any], set[str]], Reader]


# ------------------------------------------------------------------ [[service]]


def read_intercept(r: Reader, listen: tuple[tuple[str, int], ...], main: Backend) -> dict[str, Any]:
    """The service's interception keys, as ServiceConfig field values."""
    mode = r.choice("intercept", INTERCEPT_MODES, "none")
    upstream = r.get("transparent_upstream", bool, False)
    if mode == "none":
        for key in ("intercept_ports", "intercept_dest"):
            if key in r.table:
                r.fail(key, 'needs intercept = "redirect" or "tproxy"')
        if upstream:
            # Replies to the client's address only come back to us through the rules.
            r.fail("transparent_upstream", 'needs intercept = "redirect" or "tproxy"')
        return {"intercept": mode}
    if any(port == 0 for _, port in listen):
        r.fail("listen", "intercept needs fixed listen ports, not port 0")
    return {
        "intercept": mode,
        "intercept_ports": _ports(r, main),
        "intercept_dest": _dests(r, mode, main),
        "transparent_upstream": upstream,
    }


def _ports(r: Reader, main: Backend) -> tuple[int, ...]:
    if "intercept_ports" not in r.table:
        if main.kind != "tcp":
            r.fail("intercept_ports", "is required when main is not tcp://")
        return (main.port,)
    raw = r.get("intercept_ports", list, [])
    if not raw:
        r.fail("intercept_ports", "must list at least one port")
    ports: list[int] = []
    for item in raw:
        if isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= 65535:
            r.fail("intercept_ports", f"{item!r} is not a port 1-65535")
        if item not in ports:
            ports.append(item)
    return tuple(ports)


def _dests(r: Reader, mode: str, main: Backend) -> tuple[str, ...]:
    """Destination networks, as nft text; on a gateway, main's address by default."""
    if "intercept_dest" not in r.table:
        if mode == "tproxy" and main.kind == "tcp" and _is_ip(main.host):
            return (str(ipaddress.ip_address(main.host)),)
        return ()
    out: list[str] = []
    for item in r.get("intercept_dest", list, []):
        try:
            net = ipaddress.ip_network(str(item), strict=False)
        except ValueError:
            r.fail("intercept_dest", f"{item!r} is not an address or CIDR")
        text = str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)
        if text not in out:
            out.append(text)
    return tuple(out)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------ [firewall]


@dataclass(frozen=True, slots=True)
class FirewallConfig:
    """How ``honeyswitch firewall`` builds its rules, and the kernel copy of the blacklist."""

    blacklist_set: bool = False  # keep an nft set in sync with the blacklist
    local: bool = False  # redirect connections made on this host too (output hook)
    mark: int = 0x4853  # packet mark of tproxied packets ("HS")
    route_table: int = 4853  # policy routing table that delivers marked packets locally
    tool: str = "nft"  # "nft" | "iptables": what apply/remove use without a flag


def read_firewall(r: Reader) -> FirewallConfig:
    mark = _int(r, "mark", 0x4853, 1, 0xFFFFFFFF)
    table = _int(r, "route_table", 4853, 1, 0xFFFFFFFF)
    if table in _RESERVED_TABLES:
        r.fail("route_table", f"{table} is a table the kernel uses (default/main/local)")
    return FirewallConfig(
        blacklist_set=r.get("blacklist_set", bool, False),
        local=r.get("local", bool, False),
        mark=mark,
        route_table=table,
        tool=r.choice("tool", ("nft", "iptables"), "nft"),
    )


def _int(r: Reader, key: str, default: int, low: int, high: int) -> int:
    value = r.get(key, int, default)
    if isinstance(value, bool) or not low <= value <= high:
        r.fail(key, f"must be an integer {low}-{high:#x}, not {value!r}")
    return int(value)


def check_local(r: Reader, services: Any, fw: FirewallConfig) -> None:
    """With ``local``, our own connection to a backend must not be redirected back to us."""
    if not fw.local:
        return
    for svc in services:
        if svc.intercept != "redirect":
            continue
        for backend in (svc.main, svc.honeypot):
            if backend.kind == "tcp" and backend.port in svc.intercept_ports:
                r.fail("local", f"service {svc.name!r}: backend port {backend.port} is intercepted "
                                "too; honeyswitch's own connections would loop")


# ------------------------------------------------------------------ [[decoy]]


@dataclass(frozen=True, slots=True)
class DecoyConfig:
    """A honeypot copy run in a network namespace of its own (see :mod:`.decoy`)."""

    name: str
    argv: tuple[str, ...]
    address: ipaddress.IPv4Interface  # the decoy's side of its veth pair
    files: Path | None = None  # directory the decoy sees as a private writable view
    memory: int | None = None  # bytes
    pids: int | None = None
    cpu: float | None = None  # CPUs (0.5 = half of one)

    @property
    def ip(self) -> str:
        return str(self.address.ip)

    @property
    def host_ip(self) -> str:
        """The host's side of the veth pair: the first other address of the network."""
        return str(next(h for h in self.address.network.hosts() if h != self.address.ip))


def default_decoy_address(index: int) -> str:
    """198.18.(100+i).2/30: benchmarking space (RFC 2544), out of everyone's way."""
    return f"198.18.{100 + index}.2/30"


def read_decoys(src: str, raw: Any, base: Path, make_reader: MakeReader) -> tuple[DecoyConfig, ...]:
    if not isinstance(raw, list):
        make_reader(src, "decoy", {}, set()).fail("", "must be [[decoy]] tables")
    decoys = [_decoy(make_reader(src, f"decoy[{i}]", t, DECOY_KEYS), i, base) for i, t in enumerate(raw)]
    for i, d in enumerate(decoys):
        for other in decoys[:i]:
            r = make_reader(src, f"decoy[{i}]", {}, set())
            if d.name == other.name:
                r.fail("name", f"{d.name!r} already used")
            if d.address.network.overlaps(other.address.network):
                r.fail("address", f"{d.address} overlaps decoy {other.name!r} ({other.address})")
    return tuple(decoys)


def _decoy(r: Reader, index: int, base: Path) -> DecoyConfig:
    if "name" not in r.table:
        r.fail("name", "is required")
    name = r.get("name", str, "")
    if not DECOY_NAME.fullmatch(name):
        r.fail("name", f"must be 1-32 of a-z 0-9 _ - (starting with a letter or digit), not {name!r}")
    if "command" not in r.table:
        r.fail("command", "is required")
    try:
        argv = tuple(shlex.split(r.get("command", str, "")))
    except ValueError as e:
        r.fail("command", str(e))
    if not argv:
        r.fail("command", "must not be empty")
    return DecoyConfig(
        name=name,
        argv=argv,
        address=_address(r, r.get("address", str, default_decoy_address(index) if index < 156 else "")),
        files=r.path("files", ".", base) if "files" in r.table else None,
        memory=r.size("memory", 1) if "memory" in r.table else None,
        pids=_int(r, "pids", 1, 1, 1 << 22) if "pids" in r.table else None,
        cpu=r.number("cpu", 1, minimum=0.01) if "cpu" in r.table else None,
    )


def _address(r: Reader, text: str) -> ipaddress.IPv4Interface:
    try:
        iface = ipaddress.IPv4Interface(text)
    except ValueError:
        r.fail("address", f"must be an IPv4 address with prefix like 198.18.100.2/30, not {text!r}")
    net = iface.network
    if not 8 <= net.prefixlen <= 30:
        r.fail("address", f"prefix must be /8 to /30 (room for the host side), not /{net.prefixlen}")
    if iface.ip in (net.network_address, net.broadcast_address):
        r.fail("address", f"{iface.ip} is the network or broadcast address of {net}")
    return iface


def decoy_backend_host(text: str, decoys: Mapping[str, str]) -> tuple[str, int]:
    """``NAME:PORT`` (after ``decoy:``) -> (decoy address, port); raises ValueError."""
    name, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"decoy:{text}: must be decoy:NAME:PORT")
    if name not in decoys:
        known = ", ".join(sorted(decoys)) or "none"
        raise ValueError(f"no [[decoy]] named {name!r} (defined: {known})")
    return decoys[name], int(port)
