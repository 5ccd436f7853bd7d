"""The NFQUEUE rules of packet-mode services, as nft text or iptables commands (pure).

Three kinds of packet go to the queue: the client's to main (prerouting), main's replies
and the honeypot's replies (prerouting on a gateway, output on the server host itself).
Packets honeyswitch sends itself carry :data:`~honeyswitch.packet.settings.INJECT_MARK`
and pass.  The rules sit at raw priority, before conntrack, so the connection tracker
sees packets as honeyswitch rewrote them.  With ``fail_open`` a queue nobody reads lets
packets through (queue bypass): a stopped daemon does not cut main off.

The daemon's table is ``inet honeyswitch_packet``, apart from ``inet honeyswitch``
(which ``honeyswitch firewall apply`` replaces as a whole).  Kernels built without nft's
``queue`` expression (CONFIG_NFT_QUEUE) get the xt NFQUEUE target through iptables
(iptables-nft or legacy) instead, in chains of our own in the raw table.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .runner import Step

NFT_TABLE = "inet honeyswitch_packet"
CHAIN_IN, CHAIN_OUT = "HONEYSWITCH_PKT_IN", "HONEYSWITCH_PKT_OUT"


@dataclass(frozen=True, slots=True)
class QueueMatch:
    """One service's packets: (address, port) of main and of the honeypot."""

    service: str
    family: int
    main: tuple[str, int]
    honeypot: tuple[str, int]
    queue: int
    bypass: bool


def queue_matches(services: Sequence[Any]) -> list[QueueMatch]:
    out = []
    for svc in services:
        if getattr(svc, "mode", "proxy") != "packet":
            continue
        m, h, p = svc.main, svc.honeypot, svc.packet
        out.append(QueueMatch(svc.name, 6 if ":" in m.host else 4, (m.host, m.port), (h.host, h.port),
                              p.queue, p.fail_open))
    return out


# ------------------------------------------------------------------------ nft


def nft_ruleset(matches: Sequence[QueueMatch], mark: int) -> str:
    """Our table, declared, deleted and defined again: one transaction, repeatable."""
    pre, out = [f"meta mark {mark:#x} return"], [f"meta mark {mark:#x} return"]
    for m in matches:
        ip = "ip" if m.family == 4 else "ip6"
        q = f"queue num {m.queue}" + (" bypass" if m.bypass else "")
        note = f'comment "service {m.service}"'
        to_main = f"{ip} daddr {m.main[0]} tcp dport {m.main[1]} {q} {note}"
        from_main = f"{ip} saddr {m.main[0]} tcp sport {m.main[1]} {q} {note}"
        from_hp = f"{ip} saddr {m.honeypot[0]} tcp sport {m.honeypot[1]} {q} {note}"
        pre += [to_main, from_main, from_hp]
        out += [from_main, from_hp]
    lines = [f"table {NFT_TABLE} {{", "}", f"delete table {NFT_TABLE}", f"table {NFT_TABLE} {{"]
    for name, hook, rules in (("prerouting", "prerouting", pre), ("output", "output", out)):
        lines += [f"\tchain {name} {{", f"\t\ttype filter hook {hook} priority raw; policy accept;"]
        lines += [f"\t\t{r}" for r in rules]
        lines.append("\t}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def nft_remove() -> str:
    return f"table {NFT_TABLE} {{\n}}\ndelete table {NFT_TABLE}\n"


def nft_probe(queue: int) -> str:
    """A check-only (``nft -c``) table with one queue rule: fails where the kernel lacks
    the queue expression."""
    return (f"table inet honeyswitch_probe {{\n\tchain p {{\n\t\ttype filter hook prerouting priority raw;\n"
            f"\t\ttcp dport 9 queue num {queue} bypass\n\t}}\n}}\n")


# ------------------------------------------------------------------- iptables


def iptables_steps(matches: Sequence[QueueMatch], mark: int, tool: str = "iptables") -> list[Step]:
    """Remove our chains, then add them for ``matches`` (``tool``: iptables or
    iptables-legacy; the IPv6 one is named alike)."""
    steps = iptables_remove(tool)
    for family, binary in ((4, tool), (6, _v6(tool))):
        mine = [m for m in matches if m.family == family]
        if not mine:
            continue
        skip = ("-m", "mark", "--mark", f"{mark:#x}", "-j", "RETURN")
        pre: list[tuple[str, ...]] = [skip]
        out: list[tuple[str, ...]] = [skip]
        for m in mine:
            pre += [_rule("-d", m.main, "--dport", m), _rule("-s", m.main, "--sport", m),
                    _rule("-s", m.honeypot, "--sport", m)]
            out += [_rule("-s", m.main, "--sport", m), _rule("-s", m.honeypot, "--sport", m)]
        for chain, hook, rules in ((CHAIN_IN, "PREROUTING", pre), (CHAIN_OUT, "OUTPUT", out)):
            steps.append(Step((binary, "-t", "raw", "-N", chain)))
            steps += [Step((binary, "-t", "raw", "-A", chain, *r)) for r in rules]
            steps.append(Step((binary, "-t", "raw", "-I", hook, "-j", chain)))
    return steps


def iptables_remove(tool: str = "iptables") -> list[Step]:
    """Our jumps and chains away; absent ones are no error."""
    steps: list[Step] = []
    for binary in (tool, _v6(tool)):
        for chain, hook in ((CHAIN_IN, "PREROUTING"), (CHAIN_OUT, "OUTPUT")):
            steps.append(Step((binary, "-t", "raw", "-D", hook, "-j", chain), repeat=True))
            steps.append(Step((binary, "-t", "raw", "-F", chain), may_fail=True))
            steps.append(Step((binary, "-t", "raw", "-X", chain), may_fail=True))
    return steps


def _rule(addr_flag: str, where: tuple[str, int], port_flag: str, m: QueueMatch) -> tuple[str, ...]:
    bypass = ("--queue-bypass",) if m.bypass else ()
    return ("-p", "tcp", addr_flag, where[0], port_flag, str(where[1]), "-m", "comment", "--comment",
            f"service {m.service}", "-j", "NFQUEUE", "--queue-num", str(m.queue), *bypass)


def _v6(tool: str) -> str:
    return tool.replace("iptables", "ip6tables", 1)
