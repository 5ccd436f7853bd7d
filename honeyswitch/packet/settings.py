"""Config of packet mode: the per-service keys ``mode``, ``queue``, ``fail_open`` and
``queue_rules``.

:mod:`honeyswitch.config` calls :func:`read_packet` with its table reader, as it does
for the interception keys, so every problem is the same one-line error naming the
file and key.  Nothing here imports config at run time.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config import Backend
    from ..intercept.settings import Reader

MODES = ("proxy", "packet")
RULE_TOOLS = ("auto", "nft", "iptables", "iptables-legacy")
PACKET_KEYS = {"mode", "queue", "fail_open", "queue_rules"}
DEFAULT_QUEUE = 4853
INJECT_MARK = 0x4854  # packets honeyswitch sends itself: the queue rules let them pass


@dataclass(frozen=True, slots=True)
class PacketSettings:
    queue: int = DEFAULT_QUEUE  # NFQUEUE number
    fail_open: bool = True  # no daemon on the queue: packets pass (main's clients go on)
    rules: str = "auto"  # nft where the kernel has nft's queue, else iptables (xt NFQUEUE)


def is_packet_mode(r: Reader) -> bool:
    """Whether the service table asks for packet mode (a bad ``mode`` fails here)."""
    return r.choice("mode", MODES, "proxy") == "packet"


def read_packet(r: Reader, backends: dict[str, Backend]) -> dict[str, Any]:
    """The service's packet-mode keys, as ServiceConfig field values."""
    mode = r.choice("mode", MODES, "proxy")
    if mode == "proxy":
        for key in PACKET_KEYS - {"mode"}:
            if key in r.table:
                r.fail(key, 'needs mode = "packet"')
        return {"mode": mode}
    for key in ("listen", "intercept", "main_proxy_protocol", "honeypot_proxy_protocol"):
        if key in r.table:
            r.fail(key, 'not used with mode = "packet" (clients talk to main\'s own address)')
    for key in ("main", "honeypot"):
        b = backends[key]
        if b.kind != "tcp":
            r.fail(key, 'mode = "packet" needs tcp://ADDRESS:PORT')
        try:
            ipaddress.ip_address(b.host)
        except ValueError:
            r.fail(key, f'mode = "packet" needs an IP address, not {b.host!r}')
    main, hp = backends["main"], backends["honeypot"]
    if ipaddress.ip_address(main.host).version != ipaddress.ip_address(hp.host).version:
        r.fail("honeypot", "must be of the same IP version as main")
    if (main.host, main.port) == (hp.host, hp.port):
        r.fail("honeypot", "must differ from main (another port or another host)")
    queue = r.get("queue", int, DEFAULT_QUEUE)
    if isinstance(queue, bool) or not 0 <= queue <= 65535:
        r.fail("queue", f"must be a queue number 0-65535, not {queue!r}")
    return {
        "mode": mode,
        "packet": PacketSettings(
            queue=queue,
            fail_open=r.get("fail_open", bool, True),
            rules=r.choice("queue_rules", RULE_TOOLS, "auto"),
        ),
    }


def check_packet(services: Any, workers: int, fail: Any) -> None:
    """Packet mode runs in one process: ``fail(problem)`` when workers are asked for."""
    if workers > 1 and any(getattr(s, "mode", "proxy") == "packet" for s in services):
        fail('mode = "packet" services need [daemon] workers = 1 (one process reads the queue)')
