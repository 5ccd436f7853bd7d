"""The same :class:`~.plan.Plan` as iptables (iptables-nft or legacy) commands.

For hosts whose firewall is managed with iptables.  Our rules live in chains of our own
(``HONEYSWITCH*``) that one jump from each built-in chain reaches, so removing them
never touches anyone else's rules.  Unlike ``nft -f``, iptables has no transaction:
``apply`` removes our chains and adds them again, step by step.  The blacklist uses
ipset sets (filled from :func:`honeyswitch.store.export.export_ipset`).
"""
from __future__ import annotations

from ..store.export import SET_V4, SET_V6
from .nft import routing_apply, routing_remove
from .plan import Isolate, Match, Plan, Redirect, TProxy
from .runner import Step

# (table, our chain, built-in chains that jump to it); the divert chain is only jumped
# to from our mangle chain.  Order matters for removal: jumps first, then chains.
CHAINS = (
    ("nat", "HONEYSWITCH", ("PREROUTING", "OUTPUT")),
    ("mangle", "HONEYSWITCH", ("PREROUTING",)),
    ("mangle", "HONEYSWITCH_DIVERT", ()),
    ("mangle", "HONEYSWITCH_ISOLATE", ("PREROUTING",)),
)
TOOLS = {4: "iptables", 6: "ip6tables"}


def apply_steps(plan: Plan, ipset_restore: str = "") -> list[Step]:
    """Remove what we had, then add the plan (``ipset_restore``: the blacklist export)."""
    steps = remove_steps(plan, routing=False)
    if plan.blacklist:
        steps.append(Step(("ipset", "restore", "-exist"), stdin=ipset_restore or _empty_sets()))
    for family, tool in TOOLS.items():
        steps += _family_steps(plan, family, tool)
    return steps + routing_apply(plan)


def remove_steps(plan: Plan, routing: bool = True) -> list[Step]:
    """Take away our jumps, chains, sets and policy routes; absent ones are no error."""
    steps: list[Step] = []
    for tool in TOOLS.values():
        for table, chain, parents in CHAINS:
            steps += [Step((tool, "-t", table, "-D", p, "-j", chain), repeat=True) for p in parents]
        steps += [Step((tool, "-t", table, "-F", chain), may_fail=True) for table, chain, _ in CHAINS]
        steps += [Step((tool, "-t", table, "-X", chain), may_fail=True) for table, chain, _ in CHAINS]
    steps += [Step(("ipset", "destroy", name), may_fail=True) for name in (SET_V4, SET_V6)]
    return steps + (routing_remove(plan) if routing else [])


def _empty_sets() -> str:
    return "".join(f"create {n} hash:ip family {f} timeout 0 -exist\n"
                   for n, f in ((SET_V4, "inet"), (SET_V6, "inet6")))


def _family_steps(plan: Plan, family: int, tool: str) -> list[Step]:
    nat = [_redirect(r) for r in plan.redirects if r.match.family == family]
    tproxies = [t for t in plan.tproxies if t.match.family == family]
    isolates = [_isolate(i) for i in plan.isolates if i.family == family]
    mark = f"{plan.firewall.mark:#x}"
    steps: list[Step] = []
    if nat:
        hooks = ("PREROUTING", "OUTPUT") if plan.firewall.local else ("PREROUTING",)
        steps += _chain(tool, "nat", "HONEYSWITCH", nat, hooks)
    if plan.routing or tproxies:
        steps += _chain(tool, "mangle", "HONEYSWITCH_DIVERT",
                        [("-j", "MARK", "--set-mark", mark), ("-j", "ACCEPT")], ())
        rules: list[tuple[str, ...]] = [("-p", "tcp", "-m", "socket", "--transparent", "-j", "HONEYSWITCH_DIVERT")]
        rules += [_tproxy(t, mark) for t in tproxies]
        steps += _chain(tool, "mangle", "HONEYSWITCH", rules, ("PREROUTING",))
    if isolates:
        # Inserted after the tproxy jump, so it comes first: see .nft.
        steps += _chain(tool, "mangle", "HONEYSWITCH_ISOLATE", isolates, ("PREROUTING",))
    return steps


def _chain(tool: str, table: str, chain: str, rules: list[tuple[str, ...]],
           hooks: tuple[str, ...]) -> list[Step]:
    steps = [Step((tool, "-t", table, "-N", chain))]
    steps += [Step((tool, "-t", table, "-A", chain, *rule)) for rule in rules]
    steps += [Step((tool, "-t", table, "-I", hook, "-j", chain)) for hook in hooks]
    return steps


def _match(m: Match) -> tuple[str, ...]:
    args: list[str] = ["-p", "tcp"]
    if m.blacklisted:
        args += ["-m", "set", "--match-set", SET_V4 if m.family == 4 else SET_V6, "src"]
    if m.dests:
        args += ["-d", ",".join(m.dests)]
    if len(m.ports) == 1:
        args += ["--dport", str(m.ports[0])]
    else:
        args += ["-m", "multiport", "--dports", ",".join(map(str, m.ports))]
    return tuple(args)


def _comment(service: str, m: Match) -> tuple[str, ...]:
    return ("-m", "comment", "--comment", f"{'blacklisted to ' if m.blacklisted else ''}service {service}")


def _redirect(r: Redirect) -> tuple[str, ...]:
    return (*_match(r.match), *_comment(r.service, r.match), "-j", "REDIRECT", "--to-ports", str(r.port))


def _tproxy(t: TProxy, mark: str) -> tuple[str, ...]:
    on_ip = ("--on-ip", t.addr) if t.addr else ()
    return (*_match(t.match), *_comment(t.service, t.match), "-j", "TPROXY",
            "--on-port", str(t.port), *on_ip, "--tproxy-mark", f"{mark}/0xffffffff")


def _isolate(i: Isolate) -> tuple[str, ...]:
    return ("-s", i.src, "-d", i.dst, "-m", "conntrack", "--ctstate", "NEW",
            "-m", "comment", "--comment", f"service {i.service}: the honeypot may not reach main",
            "-j", "DROP")


def script(steps: list[Step]) -> str:
    """Steps as a shell script, for ``honeyswitch firewall plan --iptables``."""
    return "#!/bin/sh\n# honeyswitch interception rules (iptables form)\n" + "".join(
        s.shell() + "\n" for s in steps)
