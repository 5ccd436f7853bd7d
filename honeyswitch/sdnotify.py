"""systemd's readiness protocol (sd_notify), for ``Type=notify`` units.

systemd passes ``$NOTIFY_SOCKET``, a unix datagram socket (``@name`` for an abstract
one).  The daemon sends ``READY=1`` once it listens and its API answers,
``RELOADING=1`` when a reload starts and ``READY=1`` again when it is done, and
``STOPPING=1`` when it begins to stop.  Without ``$NOTIFY_SOCKET`` (not under systemd)
every call does nothing.  Only the main process notifies: workers of a supervisor
never do (systemd's ``NotifyAccess=main`` would ignore them).
"""
from __future__ import annotations

import logging
import os
import socket
import time

log = logging.getLogger(__name__)
ENV = "NOTIFY_SOCKET"


def notify(*lines: str) -> bool:
    """Send ``lines`` as one message; False if there is no socket or the send failed."""
    addr = os.environ.get(ENV, "")
    if not addr or addr[0] not in "/@":
        return False
    target = "\0" + addr[1:] if addr[0] == "@" else addr
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.sendto("\n".join(lines).encode("utf-8", "replace"), target)
    except OSError as e:  # systemd gone or the socket full: the daemon goes on regardless
        log.debug("sd_notify to %s failed: %s", addr, e)
        return False
    return True


def ready(status: str = "") -> bool:
    return notify("READY=1", *([f"STATUS={status}"] if status else []))


def reloading() -> bool:
    # MONOTONIC_USEC lets systemd >= 253 (Type=notify-reload) tell this reload from an
    # earlier one; older systemd ignores it.
    return notify("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}")


def stopping() -> bool:
    return notify("STOPPING=1")
