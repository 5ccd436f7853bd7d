"""The rule header: action, protocol, addresses, ports and direction.

Inline, honeyswitch knows which service a session belongs to and which side is the
client, so the header is used to decide *which direction(s)* of a service's sessions a
rule applies to:

* Ports are checked for real: ``$VARS`` are expanded from a table (Suricata's defaults,
  overridable), and a server port matches if either the service's real port or the
  well-known port of its application protocol matches (so ``$HTTP_PORTS`` rules apply to
  an HTTP service listening on 8081).
* Address *variables* (``$HOME_NET``, ``$EXTERNAL_NET``, ``any`` ...) are not evaluated:
  where honeyswitch sits relative to the operator's networks is unknown, so every
  variable, negated or not, matches.  Literal addresses and CIDRs are checked against the
  session's real addresses.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .errors import Unsupported, invalid

ACTIONS = frozenset({"alert", "drop", "reject", "rejectsrc", "rejectdst", "rejectboth",
                     "sdrop", "pass"})
# Application-layer protocols a rule may name; such a rule applies only to sessions of
# a service of that protocol (configured, guessed from the port, or sniffed for HTTP).
APP_PROTOCOLS = frozenset({"http", "http1", "ftp", "smtp", "pop3", "imap", "tls", "ssh",
                           "dns", "smb", "telnet", "redis", "mysql", "pgsql", "rdp",
                           "irc", "dcerpc", "krb5", "nfs", "sip", "mqtt", "modbus",
                           "dnp3", "enip", "rfb", "http2", "ldap"})
TRANSPORT = frozenset({"tcp", "ip", "tcp-pkt", "tcp-stream"})

DEFAULT_PORT_VARS: Mapping[str, str] = {
    "HTTP_PORTS": "80",
    "SHELLCODE_PORTS": "!80",
    "ORACLE_PORTS": "1521",
    "SSH_PORTS": "22",
    "FTP_PORTS": "21",
    "DNP3_PORTS": "20000",
    "MODBUS_PORTS": "502",
    "FILE_DATA_PORTS": "[$HTTP_PORTS,110,143]",
    "GENEVE_PORTS": "6081",
    "VXLAN_PORTS": "4789",
    "TEREDO_PORTS": "3544",
}
MAX_SPEC = 2048
MAX_DEPTH = 8

@dataclass(frozen=True, slots=True)
class Node:
    """A parsed address/port list: any, $var, literal, !negation or [list]."""

    kind: str  # "any" | "var" | "lit" | "not" | "list"
    text: str = ""
    children: tuple[Node, ...] = ()
    value: object = None  # a parsed literal: (lo, hi) port range or an ip network


def parse_spec(text: str, what: str, depth: int = 0) -> Node:
    """Parse an address or port list (``any``, ``!x``, ``[a,b,[c]]``, ``$VAR``, literal)."""
    text = text.strip()
    if not text or len(text) > MAX_SPEC or depth > MAX_DEPTH:
        raise invalid(what, f"bad list {text[:60]!r}")
    if text.startswith("!"):
        return Node("not", children=(parse_spec(text[1:], what, depth + 1),))
    if text.startswith("["):
        if not text.endswith("]"):
            raise invalid(what, f"unbalanced brackets in {text[:60]!r}")
        parts = _split_top(text[1:-1], what)
        return Node("list", children=tuple(parse_spec(p, what, depth + 1) for p in parts))
    if text == "any":
        return Node("any")
    if text.startswith("$"):
        return Node("var", text[1:])
    return Node("lit", text, value=_port_range(text) if what == "port" else _network(text))


def _split_top(text: str, what: str) -> list[str]:
    parts, level, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "[":
            level += 1
        elif ch == "]":
            level -= 1
            if level < 0:
                raise invalid(what, "unbalanced brackets")
        elif ch == "," and level == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    if level:
        raise invalid(what, "unbalanced brackets")
    return [p for p in parts if p.strip()]


def evaluate(node: Node, literal: Callable[[object], bool], var: Callable[[str], bool | None]) -> bool | None:
    """True/False, or None when unknown (a variable we do not evaluate).

    A list is the union of its positive items minus its negated ones (Suricata's rule).
    """
    kind = node.kind
    if kind == "any":
        return True
    if kind == "var":
        return var(node.text)
    if kind == "lit":
        return literal(node.value)
    if kind == "not":
        inner = evaluate(node.children[0], literal, var)
        return None if inner is None else not inner
    pos = [evaluate(n, literal, var) for n in node.children if n.kind != "not"]
    hit: bool | None = True
    if pos:
        hit = True if True in pos else (None if None in pos else False)
    if hit is False:
        return False
    negated = (n.children[0] for n in node.children if n.kind == "not")
    if any(evaluate(n, literal, var) is True for n in negated):
        return False
    return hit


# ------------------------------------------------------------------------- ports


@dataclass(frozen=True, slots=True)
class PortSpec:
    node: Node

    @classmethod
    def parse(cls, text: str, variables: Mapping[str, str]) -> PortSpec:
        return cls(_expand(parse_spec(text, "port"), variables, 0))

    @property
    def is_any(self) -> bool:
        return self.node.kind == "any"

    def matches(self, port: int) -> bool:
        def literal(value: object) -> bool:
            lo, hi = value  # type: ignore[misc]
            return bool(lo <= port <= hi)  # type: ignore[has-type]

        return evaluate(self.node, literal, lambda _: True) is not False


def _expand(node: Node, variables: Mapping[str, str], depth: int) -> Node:
    if depth > MAX_DEPTH:
        raise invalid("port", "variables nest too deep")
    if node.kind == "var":
        if node.text not in variables:
            raise Unsupported("unknown port variable", f"${node.text}")
        return _expand(parse_spec(variables[node.text], "port"), variables, depth + 1)
    if node.kind in ("not", "list"):
        return Node(node.kind, children=tuple(_expand(n, variables, depth + 1)
                                              for n in node.children))
    return node


def _port_range(text: str) -> tuple[int, int]:
    lo_s, sep, hi_s = text.strip().partition(":")
    try:
        lo = int(lo_s) if lo_s else 0
        hi = (int(hi_s) if hi_s else 65535) if sep else lo
    except ValueError:
        raise invalid("port", f"bad port {text[:40]!r}") from None
    if not (0 <= lo <= 65535 and 0 <= hi <= 65535 and lo <= hi):
        raise invalid("port", f"bad port range {text[:40]!r}")
    return lo, hi


# --------------------------------------------------------------------- addresses

IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class AddrSpec:
    node: Node
    literal: bool  # holds at least one literal address (needs a per-session check)

    @classmethod
    def parse(cls, text: str) -> AddrSpec:
        node = parse_spec(text, "address")
        return cls(node, _has_literal(node))

    def matches(self, ip: str) -> bool:
        if not self.literal:
            return True
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return True
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
            addr = addr.ipv4_mapped
        return evaluate(self.node, lambda net: addr in net, lambda _: None) is not False  # type: ignore[operator]


def _has_literal(node: Node) -> bool:
    return node.kind == "lit" or any(_has_literal(n) for n in node.children)


def _network(text: str) -> IPNet:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise invalid("address", f"bad address {text[:60]!r}") from None


# ------------------------------------------------------------------------ header


@dataclass(frozen=True, slots=True)
class Header:
    action: str
    proto: str
    src: AddrSpec
    sport: PortSpec
    dst: AddrSpec
    dport: PortSpec
    bidirectional: bool

    @property
    def app_proto(self) -> str | None:
        """The application protocol the rule is limited to, if any."""
        if self.proto in TRANSPORT:
            return None
        return "http" if self.proto == "http1" else self.proto


def parse_header(fields: Mapping[str, str | None], port_vars: Mapping[str, str]) -> Header:
    """Build a :class:`Header` from idstools' split header fields."""
    action = (fields.get("action") or "").strip()
    proto = (fields.get("proto") or "").strip().lower()
    if action not in ACTIONS:
        raise Unsupported("unsupported action", action[:20])
    if not proto:
        raise invalid("header", "missing protocol")
    if proto not in TRANSPORT and proto not in APP_PROTOCOLS:
        raise Unsupported(f"unsupported protocol: {proto[:20]}")
    direction = (fields.get("direction") or "").strip()
    if direction not in ("->", "<>"):
        raise invalid("header", f"bad direction {direction[:10]!r}")
    return Header(
        action=action,
        proto=proto,
        src=AddrSpec.parse(fields.get("source_addr") or ""),
        sport=PortSpec.parse(fields.get("source_port") or "", port_vars),
        dst=AddrSpec.parse(fields.get("dest_addr") or ""),
        dport=PortSpec.parse(fields.get("dest_port") or "", port_vars),
        bidirectional=direction == "<>",
    )
