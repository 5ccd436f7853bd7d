"""Config of packet mode: the per-service keys ``mode``, ``queue``, ``fail_open`` and
``queue_rules``, declared here (:mod:`honeyswitch.schema`) and built into
:class:`PacketSettings` by :func:`read_packet`, which :mod:`honeyswitch.config` calls
for each service as it does the interception keys.  Nothing here imports config at
run time.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..schema import Bool, Choice, Integer, Key, Table

if TYPE_CHECKING:
    from ..config import Backend

MODES = ("proxy", "packet")
RULE_TOOLS = ("auto", "nft", "iptables", "iptables-legacy")
DEFAULT_QUEUE = 4853
INJECT_MARK = 0x4854  # packets honeyswitch sends itself: the queue rules let them pass

PACKET_KEYS = (
    Key("mode", Choice(MODES), "proxy", '"packet": see the packets on their way to main (NFQUEUE), no listener'),
    # No defaults here (they are PacketSettings'): the reference leaves them commented,
    # and a proxy-mode service that sets one is told it needs packet mode.
    Key("queue", Integer(0, 65535), None, f"packet mode: the NFQUEUE number (default {DEFAULT_QUEUE})"),
    Key("fail_open", Bool(), None, "packet mode: packets pass while no daemon reads the queue (default true)"),
    Key("queue_rules", Choice(RULE_TOOLS), None,
        'packet mode: "nft" | "iptables" | "iptables-legacy" (default "auto": nft if the kernel can)'),
)
_QUEUE_KEYS = ("queue", "fail_open", "queue_rules")
_NOT_WITH_PACKETS = ("listen", "intercept", "main_proxy_protocol", "honeypot_proxy_protocol")


@dataclass(frozen=True, slots=True)
class PacketSettings:
    queue: int = DEFAULT_QUEUE  # NFQUEUE number
    fail_open: bool = True  # no daemon on the queue: packets pass (main's clients go on)
    rules: str = "auto"  # nft where the kernel has nft's queue, else iptables (xt NFQUEUE)


def read_packet(t: Table, backends: dict[str, Backend]) -> dict[str, Any]:
    """The service's packet-mode keys, as ServiceConfig field values."""
    mode = t["mode"]
    if mode == "proxy":
        for key in _QUEUE_KEYS:
            if t.given(key):
                t.fail(key, 'needs mode = "packet"')
        return {"mode": mode}
    for key in _NOT_WITH_PACKETS:
        if t.given(key):
            t.fail(key, 'not used with mode = "packet" (clients talk to main\'s own address)')
    addresses = {}
    for key in ("main", "honeypot"):
        b = backends[key]
        if b.kind != "tcp":
            t.fail(key, 'mode = "packet" needs tcp://ADDRESS:PORT')
        try:
            addresses[key] = ipaddress.ip_address(b.host)
        except ValueError:
            t.fail(key, f'mode = "packet" needs an IP address, not {b.host!r}')
    if addresses["main"].version != addresses["honeypot"].version:
        t.fail("honeypot", "must be of the same IP version as main")
    if (addresses["main"], backends["main"].port) == (addresses["honeypot"], backends["honeypot"].port):
        t.fail("honeypot", "must differ from main (another port or another host)")
    d = PacketSettings()
    return {"mode": mode, "packet": PacketSettings(
        d.queue if t["queue"] is None else t["queue"],
        d.fail_open if t["fail_open"] is None else t["fail_open"],
        d.rules if t["queue_rules"] is None else t["queue_rules"])}


def check_packet(services: Iterable[Any], workers: int, fail: Callable[[str], Any]) -> None:
    """Packet mode runs in one process: ``fail(problem)`` when workers are asked for."""
    if workers > 1 and any(getattr(s, "mode", "proxy") == "packet" for s in services):
        fail('mode = "packet" services need [daemon] workers = 1 (one process reads the queue)')
