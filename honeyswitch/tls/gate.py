"""Handshake accounting per service: how many are in progress, what failed and why.

One :class:`TlsGate` per daemon process.  A handshake flood meets ``max_handshakes``
(new connections past it are reset at once, before any OpenSSL work); every failure,
timeout and protocol error is counted per service and kind, and recorded as a
``tls_error`` event with the client's address and the SNI escaped, at most
:data:`EVENTS_PER_SECOND` per service (the rest are counted and the next event says how
many were left out), so a flood cannot flood the event log too.
"""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from .facts import hello_facts
from .hello import ClientHello

EVENTS_PER_SECOND = 50
KINDS = ("hello", "handshake", "timeout", "limit", "alpn", "closed", "protocol")


class TlsGate:
    def __init__(self, record: Callable[[str, dict[str, Any]], None], counters: dict[str, int] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 current: Callable[[str], Any] | None = None) -> None:
        self._record = record  # (event type, fields incl. service/src_ip/src_port)
        # The service's TLS settings now (after a SIGHUP reload: new certificates for
        # new handshakes; a listener keeps the settings it was opened with otherwise).
        self.current = current or (lambda _name: None)
        self._clock = clock
        self.active: Counter[str] = Counter()  # handshakes in progress, per service
        # "tls:<service>:<kind>" -> count, kind "ok" or a failure kind: flat, so the
        # daemon's health counters (summed over workers) can be this very dict.
        self.counters: dict[str, int] = {} if counters is None else counters
        self._window: dict[str, tuple[int, int, int]] = {}  # service -> (second, events, suppressed)

    def admit(self, service: str, limit: int) -> bool:
        if self.active[service] >= limit:
            return False  # the caller reports it as failed(..., "limit", ...)
        self.active[service] += 1
        return True

    def finished(self, service: str, ok: bool) -> None:
        """A handshake admitted by :meth:`admit` is over (call exactly once)."""
        self.active[service] -= 1
        if self.active[service] <= 0:
            del self.active[service]
        if ok:
            self.bump(service, "ok")

    def failed(self, service: str, kind: str, reason: str, peer: tuple[str, int],
               hello: ClientHello | None) -> None:
        self.bump(service, kind)
        if kind == "limit":
            return  # counted only: the flood's own connections, before any handshake
        now = int(self._clock())
        second, sent, suppressed = self._window.get(service, (now, 0, 0))
        if second != now:
            second, sent = now, 0
        if sent >= EVENTS_PER_SECOND:
            self._window[service] = (second, sent, suppressed + 1)
            return
        self._window[service] = (second, sent + 1, 0)
        self._record("tls_error", {"service": service, "src_ip": peer[0], "src_port": peer[1], "kind": kind,
                                   "reason": reason[:200], "suppressed": suppressed, **hello_facts(hello)})

    def bump(self, service: str, kind: str) -> None:
        """Count one ``kind`` for ``service`` (no event)."""
        key = f"tls:{service}:{kind}"
        self.counters[key] = self.counters.get(key, 0) + 1

    def count(self, service: str, kind: str) -> int:
        return self.counters.get(f"tls:{service}:{kind}", 0)
