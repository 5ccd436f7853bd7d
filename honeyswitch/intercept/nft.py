"""nftables text for a :class:`~.plan.Plan`, and the policy routing commands that go
with tproxy.

Everything lives in one table, ``inet honeyswitch`` (the table the blacklist export of
:mod:`honeyswitch.store.export` fills too).  The file declares the table, deletes it and
defines it again, so loading it is one transaction that replaces exactly our table and
leaves every other table alone; applying it twice is the same as applying it once.
"""
from __future__ import annotations

from collections.abc import Sequence

from ..store.export import NFT_TABLE, SET_V4, SET_V6
from .plan import Isolate, Match, Plan, Redirect, TProxy
from .runner import Step

HEADER = (
    "#!/usr/sbin/nft -f\n"
    "# honeyswitch interception rules, from `honeyswitch firewall plan`.\n"
    "# Declare, delete and define the table in one transaction: applying again replaces\n"
    "# exactly this table, and no other table is touched.\n"
)


def remove_script() -> str:
    """Delete our table; declaring it first makes this succeed when it is absent."""
    return f"table {NFT_TABLE} {{\n}}\ndelete table {NFT_TABLE}\n"


def ruleset(plan: Plan, blacklist_nft: str = "") -> str:
    """The nft file for ``plan``; ``blacklist_nft`` (an export) fills the sets after."""
    body: list[str] = []
    if plan.blacklist:
        body += _sets()
    nat = [_redirect(r) for r in plan.redirects]
    if nat:
        body += _chain("nat_prerouting", "type nat hook prerouting priority dstnat; policy accept;", nat)
        if plan.firewall.local:
            # Connections made on this host never pass prerouting.
            body += _chain("nat_output", "type nat hook output priority -100; policy accept;", nat)
    mark = f"{plan.firewall.mark:#x}"
    if plan.routing or plan.tproxies:
        # Packets of established transparent connections, and replies to connections
        # made from a client's address, belong to a local socket: mark them too.
        rules = [f'meta l4proto tcp socket transparent 1 meta mark set {mark} accept comment "our transparent sockets"']
        rules += [_tproxy(t, mark) for t in plan.tproxies]
        body += _chain("mangle_prerouting", "type filter hook prerouting priority mangle; policy accept;", rules)
    if plan.isolates:
        # In prerouting, before tproxy: the honeypot host connecting to main's address
        # would otherwise be intercepted like any client and relayed to main.
        body += _chain("isolate_prerouting", "type filter hook prerouting priority mangle - 10; policy accept;",
                       [_isolate(i) for i in plan.isolates])
    lines = [HEADER + remove_script() + f"table {NFT_TABLE} {{"]
    lines += body
    lines.append("}")
    text = "\n".join(lines) + "\n"
    return text + blacklist_nft if plan.blacklist and blacklist_nft else text


def _sets() -> list[str]:
    # The same declarations as the blacklist export, so its file loads into this table.
    return [f"\tset {SET_V4} {{", "\t\ttype ipv4_addr", "\t\tflags timeout", "\t}",
            f"\tset {SET_V6} {{", "\t\ttype ipv6_addr", "\t\tflags timeout", "\t}"]


def _chain(name: str, head: str, rules: Sequence[str]) -> list[str]:
    return [f"\tchain {name} {{", f"\t\t{head}", *(f"\t\t{r}" for r in rules), "\t}"]


def _match(m: Match) -> str:
    ip = "ip" if m.family == 4 else "ip6"
    parts = []
    if m.blacklisted:
        parts.append(f"{ip} saddr @{SET_V4 if m.family == 4 else SET_V6}")
    if m.dests:
        parts.append(f"{ip} daddr {_set(m.dests)}")
    if not parts:
        parts.append(f"meta nfproto {'ipv4' if m.family == 4 else 'ipv6'}")
    parts.append(f"tcp dport {_set([str(p) for p in m.ports])}")
    return " ".join(parts)


def _set(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else "{ " + ", ".join(items) + " }"


def _comment(service: str, m: Match) -> str:
    return f'comment "{"blacklisted to " if m.blacklisted else ""}service {service}"'


def _redirect(r: Redirect) -> str:
    return f"{_match(r.match)} redirect to :{r.port} {_comment(r.service, r.match)}"


def _tproxy(t: TProxy, mark: str) -> str:
    ip = "ip" if t.match.family == 4 else "ip6"
    addr = "" if t.addr is None else (t.addr if t.match.family == 4 else f"[{t.addr}]")
    return (f"{_match(t.match)} tproxy {ip} to {addr}:{t.port} meta mark set {mark} accept "
            f"{_comment(t.service, t.match)}")


def _isolate(i: Isolate) -> str:
    ip = "ip" if i.family == 4 else "ip6"
    return (f"{ip} saddr {i.src} {ip} daddr {i.dst} ct state new drop "
            f'comment "service {i.service}: the honeypot may not reach main"')


# ------------------------------------------------------------------ policy routing


def routing_apply(plan: Plan) -> list[Step]:
    """``ip rule``/``ip route`` for marked packets (none when no tproxy is used)."""
    steps = routing_remove(plan)
    if not plan.routing:
        return steps
    fw = plan.firewall
    for flag, everything in (("-4", "0.0.0.0/0"), ("-6", "::/0")):
        steps.append(Step(("ip", flag, "rule", "add", "fwmark", f"{fw.mark:#x}", "lookup", str(fw.route_table))))
        steps.append(Step(("ip", flag, "route", "replace", "local", everything, "dev", "lo",
                           "table", str(fw.route_table))))
    return steps


def routing_remove(plan: Plan) -> list[Step]:
    """Take our rule and route away; nothing to remove is no error."""
    fw = plan.firewall
    steps = []
    for flag, everything in (("-4", "0.0.0.0/0"), ("-6", "::/0")):
        steps.append(Step(("ip", flag, "rule", "del", "fwmark", f"{fw.mark:#x}", "lookup", str(fw.route_table)),
                          repeat=True))
        # Our one route only: the table number may be shared with someone else's routes.
        steps.append(Step(("ip", flag, "route", "del", "local", everything, "dev", "lo",
                           "table", str(fw.route_table)), may_fail=True))
    return steps
