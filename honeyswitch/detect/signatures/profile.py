"""Which rules apply to a service's sessions, per direction.

A service's application protocol comes from the detector's configuration
(``protocols={"web": "http"}``), else from its port (80 -> http, 21 -> ftp, ...), else,
for HTTP only, from the first client bytes.  A rule applies to a direction when:

* its protocol is a transport (``tcp``, ``ip``, ``tcp-pkt``) or equals the service's;
  rules with HTTP buffers need an HTTP service;
* its ``flow`` direction (if any) is that direction;
* its header matches the chunk's orientation (client->server or server->client; both
  for ``<>``): the server-side port spec must match the service's real port *or* the
  well-known port of its protocol; the client-side port and any literal addresses are
  checked per session; address variables always match.

The per-service part is cached; the per-session part only looks at the few rules with a
client-side port constraint or a literal address.
"""
from __future__ import annotations

from dataclasses import dataclass

from .header import AddrSpec, Header, PortSpec
from .rule import Rule

WELL_KNOWN = {"http": 80, "ftp": 21, "smtp": 25, "pop3": 110, "imap": 143, "telnet": 23,
              "ssh": 22, "tls": 443, "redis": 6379, "mysql": 3306, "pgsql": 5432,
              "dns": 53, "smb": 445, "rdp": 3389, "irc": 6667, "ldap": 389, "mqtt": 1883,
              "sip": 5060, "modbus": 502, "dnp3": 20000, "rfb": 5900}
PORT_GUESS = {port: proto for proto, port in WELL_KNOWN.items()}
PORT_GUESS.update({8080: "http", 8000: "http", 8008: "http", 8888: "http", 81: "http",
                   3128: "http", 587: "smtp", 465: "tls", 993: "tls", 995: "tls",
                   2323: "telnet", 2121: "ftp", 6380: "redis"})
TRANSPORT_ONLY = "tcp"


def guess_protocol(port: int) -> str | None:
    return PORT_GUESS.get(port)


@dataclass(frozen=True, slots=True)
class Side:
    """One end of a session as a rule header sees it."""

    ip: str
    ports: tuple[int, ...]  # the real port, plus the protocol's well-known one (server)


@dataclass(frozen=True, slots=True)
class DirectionProfile:
    allowed: frozenset[int]  # rules that apply whatever the client's address and port
    per_session: tuple[int, ...]  # rules that need the client's address/port checked


def _ports_ok(spec: PortSpec, ports: tuple[int, ...]) -> bool:
    return any(spec.matches(p) for p in ports)


def _orientations(h: Header, to_server: bool) -> list[tuple[AddrSpec, PortSpec, AddrSpec, PortSpec]]:
    """(client addr, client port, server addr, server port) specs for each orientation."""
    forward = (h.src, h.sport, h.dst, h.dport) if to_server else (h.dst, h.dport, h.src, h.sport)
    if not h.bidirectional:
        return [forward]
    reverse = (forward[2], forward[3], forward[0], forward[1])
    return [forward, reverse]


def protocol_ok(rule: Rule, proto: str) -> bool:
    if rule.is_http:
        return proto == "http"
    app = rule.header.app_proto
    return app is None or app == proto


def build_profile(rules: tuple[Rule, ...], proto: str, server_ports: tuple[int, ...],
                  to_server: bool) -> DirectionProfile:
    allowed: list[int] = []
    per_session: list[int] = []
    for rid, rule in enumerate(rules):
        if rule.to_server not in (None, to_server) or not protocol_ok(rule, proto):
            continue
        verdict = _cached_verdict(rule, server_ports, to_server)
        if verdict == "yes":
            allowed.append(rid)
        elif verdict == "session":
            per_session.append(rid)
    return DirectionProfile(frozenset(allowed), tuple(per_session))


def _cached_verdict(rule: Rule, server_ports: tuple[int, ...], to_server: bool) -> str:
    verdict = "no"
    for caddr, cport, saddr, sport in _orientations(rule.header, to_server):
        if not _ports_ok(sport, server_ports):
            continue
        if caddr.literal or saddr.literal or not cport.is_any:
            verdict = "session"
        else:
            return "yes"
    return verdict


def session_applies(rule: Rule, client: Side, server: Side, to_server: bool) -> bool:
    """The full header check for one session (used for the ``per_session`` rules)."""
    for caddr, cport, saddr, sport in _orientations(rule.header, to_server):
        if (_ports_ok(sport, server.ports) and _ports_ok(cport, client.ports)
                and caddr.matches(client.ip) and saddr.matches(server.ip)):
            return True
    return False
