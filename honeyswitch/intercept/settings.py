"""Config of transparent deployment: the per-service interception keys, ``[firewall]``
and ``[[decoy]]`` tables, declared here (:mod:`honeyswitch.schema`) and built into
settings by the functions below, with the same one-line errors as every other key.
This module imports nothing from config at run time (config imports it).
"""
from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..schema import (
    REQUIRED,
    Bool,
    Choice,
    Custom,
    FilePath,
    Integer,
    Key,
    Number,
    Section,
    Size,
    Table,
    Text,
    read_array,
)

if TYPE_CHECKING:
    from ..config import Backend

INTERCEPT_MODES = ("none", "redirect", "tproxy")
DECOY_NAME = r"[a-z0-9][a-z0-9_-]{0,31}"
# Route tables the kernel already uses: unspec, default, main, local.
_RESERVED_TABLES = {0, 253, 254, 255}


def _port_list(value: Any, base: Path) -> tuple[int, ...]:
    if not isinstance(value, list):
        raise ValueError(f"must be list, not {type(value).__name__} {value!r}")
    if not value:
        raise ValueError("must list at least one port")
    ports: list[int] = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= 65535:
            raise ValueError(f"{item!r} is not a port 1-65535")
        if item not in ports:
            ports.append(item)
    return tuple(ports)


def _networks(value: Any, base: Path) -> tuple[str, ...]:
    """Destination networks, as nft text."""
    if not isinstance(value, list):
        raise ValueError(f"must be list, not {type(value).__name__} {value!r}")
    out: list[str] = []
    for item in value:
        try:
            net = ipaddress.ip_network(str(item), strict=False)
        except ValueError:
            raise ValueError(f"{item!r} is not an address or CIDR") from None
        text = str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)
        if text not in out:
            out.append(text)
    return tuple(out)


INTERCEPT_KEYS = (
    Key("intercept", Choice(INTERCEPT_MODES), "none",
        "transparent: \"redirect\" (nft REDIRECT) | \"tproxy\" (see honeyswitch firewall)"),
    Key("intercept_ports", Custom(_port_list), None, "ports whose traffic the firewall sends here (default: main's)",
        example=[80]),
    Key("intercept_dest", Custom(_networks), None, "destinations matched (tproxy default: main's address)",
        example=["198.51.100.10"]),
    Key("transparent_upstream", Bool(), False, "connect to main and the honeypot from the client's address"),
)


# ------------------------------------------------------------------ [[service]]


def read_intercept(t: Table, listen: tuple[tuple[str, int], ...], main: Backend) -> dict[str, Any]:
    """The service's interception keys, as ServiceConfig field values."""
    mode = t["intercept"]
    upstream = t["transparent_upstream"]
    if mode == "none":
        for key in ("intercept_ports", "intercept_dest"):
            if t.given(key):
                t.fail(key, 'needs intercept = "redirect" or "tproxy"')
        if upstream:
            # Replies to the client's address only come back to us through the rules.
            t.fail("transparent_upstream", 'needs intercept = "redirect" or "tproxy"')
        return {"intercept": mode}
    if any(port == 0 for _, port in listen):
        t.fail("listen", "intercept needs fixed listen ports, not port 0")
    ports = t["intercept_ports"]
    if ports is None:
        if main.kind != "tcp":
            t.fail("intercept_ports", "is required when main is not tcp://")
        ports = (main.port,)
    dests = t["intercept_dest"]
    if dests is None:  # on a gateway, main's address
        dests = (str(ipaddress.ip_address(main.host)),) if mode == "tproxy" and main.kind == "tcp" \
            and _is_ip(main.host) else ()
    return {"intercept": mode, "intercept_ports": ports, "intercept_dest": dests, "transparent_upstream": upstream}


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


FIREWALL = Section("firewall", (
    Key("blacklist_set", Bool(), False, "keep an nft set of the blacklist; listed sources are sent here"),
    Key("local", Bool(), False, "redirect connections made on this host too (output hook)"),
    Key("mark", Integer(1, 0xFFFFFFFF), 0x4853, 'packet mark of tproxied packets (0x4853, "HS")'),
    Key("route_table", Integer(1, 0xFFFFFFFF), 4853, "policy routing table that delivers them locally"),
    Key("tool", Choice(("nft", "iptables")), "nft", "what firewall apply/remove use without a flag"),
))


def read_firewall(t: Table) -> FirewallConfig:
    if t["route_table"] in _RESERVED_TABLES:
        t.fail("route_table", f"{t['route_table']} is a table the kernel uses (default/main/local)")
    return FirewallConfig(blacklist_set=t["blacklist_set"], local=t["local"], mark=t["mark"],
                          route_table=t["route_table"], tool=t["tool"])


def check_local(t: Table, services: Any, fw: FirewallConfig) -> None:
    """With ``local``, our own connection to a backend must not be redirected back to us."""
    if not fw.local:
        return
    for svc in services:
        if svc.intercept != "redirect":
            continue
        for backend in (svc.main, svc.honeypot):
            if backend.kind == "tcp" and backend.port in svc.intercept_ports:
                t.fail("local", f"service {svc.name!r}: backend port {backend.port} is intercepted "
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


def _command(value: Any, base: Path) -> tuple[str, ...]:
    if not isinstance(value, str):
        raise ValueError(f"must be str, not {type(value).__name__} {value!r}")
    argv = tuple(shlex.split(value))
    if not argv:
        raise ValueError("must not be empty")
    return argv


def _address(value: Any, base: Path) -> ipaddress.IPv4Interface:
    try:
        iface = ipaddress.IPv4Interface(str(value))
    except ValueError:
        raise ValueError(f"must be an IPv4 address with prefix like 198.18.100.2/30, not {value!r}") from None
    net = iface.network
    if not 8 <= net.prefixlen <= 30:
        raise ValueError(f"prefix must be /8 to /30 (room for the host side), not /{net.prefixlen}")
    if iface.ip in (net.network_address, net.broadcast_address):
        raise ValueError(f"{iface.ip} is the network or broadcast address of {net}")
    return iface


DECOY = Section("decoy", (
    Key("name", Text(DECOY_NAME, "1-32 of a-z 0-9 _ - (starting with a letter or digit)"), REQUIRED,
        "used as honeypot = \"decoy:NAME:PORT\"", example="web"),
    Key("command", Custom(_command), REQUIRED, "the honeypot server, run in the decoy's namespace",
        example="nginx -g 'daemon off;'"),
    Key("address", Custom(_address), None, "default 198.18.(100+i).2/30; the host side is .1",
        example="198.18.100.2/30"),
    Key("files", FilePath(), None, "seen by the decoy as a private writable view", example="/srv/honeypot-web"),
    Key("memory", Size(), None, "most memory (cgroup v2, else an address-space limit)", example="256MiB"),
    Key("pids", Integer(1, 1 << 22), None, "most processes at once", example=64),
    Key("cpu", Number(0.01), None, "CPUs (0.5 = half of one)", example=0.5),
), array=True, doc="isolated honeypot hosts: honeyswitch decoy up NAME (root)")


def read_decoys(src: str, raw: Any, base: Path) -> tuple[DecoyConfig, ...]:
    tables = read_array(DECOY, raw, src, base)
    decoys = [_decoy(t, i) for i, t in enumerate(tables)]
    for i, d in enumerate(decoys):
        for other in decoys[:i]:
            if d.name == other.name:
                tables[i].fail("name", f"{d.name!r} already used")
            if d.address.network.overlaps(other.address.network):
                tables[i].fail("address", f"{d.address} overlaps decoy {other.name!r} ({other.address})")
    return tuple(decoys)


def _decoy(t: Table, index: int) -> DecoyConfig:
    address = t["address"]
    if address is None:
        try:
            address = _address(default_decoy_address(index) if index < 156 else "", Path())
        except ValueError as e:
            t.fail("address", str(e))
    return DecoyConfig(name=t["name"], argv=t["command"], address=address, files=t["files"], memory=t["memory"],
                       pids=t["pids"], cpu=t["cpu"])


def decoy_backend_host(text: str, decoys: Mapping[str, str]) -> tuple[str, int]:
    """``NAME:PORT`` (after ``decoy:``) -> (decoy address, port); raises ValueError."""
    name, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"decoy:{text}: must be decoy:NAME:PORT")
    if name not in decoys:
        known = ", ".join(sorted(decoys)) or "none"
        raise ValueError(f"no [[decoy]] named {name!r} (defined: {known})")
    return decoys[name], int(port)
