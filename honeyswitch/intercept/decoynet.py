"""The network of a decoy, as pure builders: names, ``ip`` commands and nft rules.

A decoy lives in a network namespace of its own, joined to the host by a veth pair with
a small network (a /30 by default).  It gets no default route, so main's network is
unreachable from it; two nft tables make sure even a decoy that gains root inside its
namespace and adds routes starts no connection anywhere:
- inside the decoy: output allows replies and loopback only;
- on the host: anything the decoy starts (towards the host or routed further) is dropped.
Honeyswitch on the host connects *to* the decoy; the replies are established traffic.
"""
from __future__ import annotations

import hashlib

from .runner import Step
from .settings import DecoyConfig


def tag(name: str) -> str:
    """8 hex digits from the name: interface names are limited to 15 bytes."""
    return hashlib.sha1(name.encode()).hexdigest()[:8]


def netns(name: str) -> str:
    return f"honeyswitch-{name}"


def veth_host(name: str) -> str:
    return f"hsd{tag(name)}h"


def veth_decoy(name: str) -> str:
    return f"hsd{tag(name)}d"


def host_table(name: str) -> str:
    return f"inet honeyswitch_decoy_{tag(name)}"


def setup_steps(d: DecoyConfig) -> list[Step]:
    """Create the namespace and the veth pair, address both ends, bring them up."""
    ns, host, dec = netns(d.name), veth_host(d.name), veth_decoy(d.name)
    prefix = d.address.network.prefixlen
    return [
        Step(("ip", "netns", "add", ns)),
        Step(("ip", "-n", ns, "link", "set", "lo", "up")),
        Step(("ip", "link", "add", host, "type", "veth", "peer", "name", dec, "netns", ns)),
        Step(("ip", "addr", "add", f"{d.host_ip}/{prefix}", "dev", host)),
        Step(("ip", "link", "set", host, "up")),
        Step(("ip", "-n", ns, "addr", "add", f"{d.ip}/{prefix}", "dev", dec)),
        Step(("ip", "-n", ns, "link", "set", dec, "up")),
    ]


def teardown_steps(name: str) -> list[Step]:
    """Delete the namespace (its veth end goes with it, and so does the pair)."""
    return [
        Step(("ip", "link", "del", veth_host(name)), may_fail=True),
        Step(("ip", "netns", "del", netns(name)), may_fail=True),
    ]


def decoy_rules() -> str:
    """nft file for inside the decoy's namespace: it may answer, never start."""
    return (
        "table inet honeyswitch {\n}\ndelete table inet honeyswitch\n"
        "table inet honeyswitch {\n"
        "\tchain output {\n"
        "\t\ttype filter hook output priority filter; policy drop;\n"
        '\t\toif "lo" accept\n'
        "\t\tct state established,related accept comment \"replies to honeyswitch\"\n"
        "\t}\n"
        "}\n"
    )


def host_rules(name: str) -> str:
    """nft file for the host: drop whatever the decoy starts, towards us or beyond."""
    table, host = host_table(name), veth_host(name)
    rule = f'iifname "{host}" ct state established,related accept\n\t\tiifname "{host}" drop'
    return (
        f"table {table} {{\n}}\ndelete table {table}\n"
        f"table {table} {{\n"
        f"\tcomment \"honeyswitch decoy {name}\"\n"
        "\tchain input {\n"
        "\t\ttype filter hook input priority filter; policy accept;\n"
        f"\t\t{rule}\n"
        "\t}\n"
        "\tchain forward {\n"
        "\t\ttype filter hook forward priority filter; policy accept;\n"
        f'\t\tiifname "{host}" drop\n'
        "\t}\n"
        "}\n"
    )


def remove_host_rules(name: str) -> str:
    table = host_table(name)
    return f"table {table} {{\n}}\ndelete table {table}\n"
