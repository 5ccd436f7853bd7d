"""What the firewall must do for the configured services, independent of the tool.

:func:`build_plan` turns services into a few kinds of intent (redirect these ports to
that listener, tproxy them, keep a honeypot host from reaching main); :mod:`.nft` and
:mod:`.iptables` render the same plan as an nft file or as iptables commands.  All pure.

Modes:
- ``redirect`` (on the server host): nat REDIRECT in prerouting to honeyswitch's listen
  port; the original destination comes back through SO_ORIGINAL_DST.  Connections made
  on the host itself pass the output hook, not prerouting: ``[firewall] local = true``
  adds the same rules there.
- ``tproxy`` (on a gateway): TPROXY in prerouting hands routed packets to a transparent
  listener without rewriting them, and marks them; a policy route delivers marked
  packets locally.  Packets for our transparent sockets (replies to transparent upstream
  connections) are marked the same way.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .settings import FirewallConfig

FAMILIES = (4, 6)
_WILDCARDS = {"", "0.0.0.0", "::", "*"}


@dataclass(frozen=True, slots=True)
class Match:
    """TCP packets of one family to ``ports`` (and ``dests`` if any), maybe only from
    blacklisted sources."""

    family: int
    ports: tuple[int, ...]
    dests: tuple[str, ...] = ()
    blacklisted: bool = False


@dataclass(frozen=True, slots=True)
class Redirect:
    service: str
    match: Match
    port: int


@dataclass(frozen=True, slots=True)
class TProxy:
    service: str
    match: Match
    addr: str | None  # the listener's address; None when it listens on the wildcard
    port: int


@dataclass(frozen=True, slots=True)
class Isolate:
    """New connections from the honeypot host to the main host are dropped (prerouting,
    before tproxy could take them as a client's)."""

    service: str
    family: int
    src: str
    dst: str


@dataclass(frozen=True, slots=True)
class Plan:
    redirects: tuple[Redirect, ...]
    tproxies: tuple[TProxy, ...]
    isolates: tuple[Isolate, ...]
    routing: bool  # policy routing and the transparent-socket rule are needed
    blacklist: bool  # declare the blacklist sets
    firewall: FirewallConfig


def build_plan(services: Sequence[Any], fw: FirewallConfig) -> Plan:
    """The intents for ``services`` (ServiceConfig objects) under ``fw``."""
    redirects: list[Redirect] = []
    tproxies: list[TProxy] = []
    isolates: list[Isolate] = []
    for svc in services:
        if fw.blacklist_set:
            _blacklist_intents(svc, redirects, tproxies)
        if svc.intercept == "redirect":
            redirects += [Redirect(svc.name, m, port) for m, _, port in _service_matches(svc)]
        elif svc.intercept == "tproxy":
            tproxies += [TProxy(svc.name, m, addr, port) for m, addr, port in _service_matches(svc)]
            isolates += _isolation(svc)
    routing = any(s.intercept == "tproxy" or s.transparent_upstream for s in services)
    return Plan(tuple(redirects), tuple(tproxies), tuple(isolates), routing, fw.blacklist_set, fw)


def family_of(host: str) -> int:
    return 6 if ":" in host else 4


def listener(svc: Any, family: int) -> tuple[str | None, int] | None:
    """The service's first listen address of ``family``: (address or None, port)."""
    for host, port in svc.listen:
        if family_of(host) == family and port:
            return (None if host in _WILDCARDS else host), port
    return None


def _service_matches(svc: Any) -> list[tuple[Match, str | None, int]]:
    out = []
    for family in FAMILIES:
        target = listener(svc, family)
        dests = tuple(d for d in svc.intercept_dest if family_of(d) == family)
        if target is None or (svc.intercept_dest and not dests):
            continue
        out.append((Match(family, tuple(svc.intercept_ports), dests), target[0], target[1]))
    return out


def protected_ports(svc: Any) -> tuple[int, ...]:
    """Ports a blacklisted source is taken from: the intercepted ones, and main's own
    (a listed attacker must not reach main by going around honeyswitch)."""
    ports = list(svc.intercept_ports)
    if svc.main.kind == "tcp" and svc.main.port not in ports:
        ports.append(svc.main.port)
    return tuple(ports)


def _blacklist_intents(svc: Any, redirects: list[Redirect], tproxies: list[TProxy]) -> None:
    ports = protected_ports(svc)
    if not ports:
        return
    for family in FAMILIES:
        target = listener(svc, family)
        if target is None:
            continue
        match = Match(family, ports, blacklisted=True)
        if svc.intercept == "tproxy":
            tproxies.append(TProxy(svc.name, match, target[0], target[1]))
        else:
            redirects.append(Redirect(svc.name, match, target[1]))


def _isolation(svc: Any) -> list[Isolate]:
    main, hp = svc.main, svc.honeypot
    if main.kind != "tcp" or hp.kind != "tcp":
        return []
    try:
        m, h = ipaddress.ip_address(main.host), ipaddress.ip_address(hp.host)
    except ValueError:
        return []  # host names: nothing we can pin a rule on
    if m.version != h.version or m == h:
        return []
    return [Isolate(svc.name, m.version, str(h), str(m))]
