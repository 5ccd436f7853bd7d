"""The kernel edge of packet mode: NFQUEUE on the event loop, raw-socket injection,
and installing the queue rules.

:class:`QueueReader` binds a queue with ``netfilterqueue`` (libnetfilter_queue) and reads
it whenever its socket is readable; each packet's verdict comes from the handler.  A
handler that raises lets the packet pass: a bug in honeyswitch must not cut a client
off.  :class:`Injector` sends whole IP packets (IPPROTO_RAW, header included) marked so
that the queue rules let them by.  :class:`QueueRules` installs and removes the rules of
:mod:`.queue` with nft where the kernel has nft's ``queue``, with iptables otherwise.
"""
from __future__ import annotations

import asyncio
import logging
import socket
import time
import warnings
from collections.abc import Callable, Sequence

from . import queue as rules
from .runner import RunError, run, run_nft, run_steps

log = logging.getLogger(__name__)
MAX_QUEUED = 8192  # packets the kernel holds for us before it drops (or, fail-open, passes) more
SOCK_BUF = 8 << 20
SO_SNDBUFFORCE, SO_RCVBUFFORCE = 32, 33  # Linux; not in the socket module
Handler = Callable[[bytes], "tuple[bool, bytes | None]"]  # raw packet -> (accept?, new bytes)


class QueueReader:
    def __init__(self, num: int, handler: Handler) -> None:
        try:
            from netfilterqueue import NetfilterQueue
        except ImportError as e:  # the daemon reports an OSError as one line and exits
            raise OSError(f"packet mode needs the netfilterqueue binding: pip install 'honeyswitch[packet]' ({e})") \
                from None

        self.num = num
        self.handler = handler
        self.errors = 0
        self._nfq = NetfilterQueue()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # rmem_max caps the buffer: fine
            self._nfq.bind(num, self._callback, max_len=MAX_QUEUED, sock_len=SOCK_BUF)
        self._fd = self._nfq.get_fd()
        _force_rcvbuf(self._fd)
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._fd, self._readable)

    def close(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self._fd)
            self._loop = None
        self._nfq.unbind()

    def _readable(self) -> None:
        try:
            self._nfq.run(block=False)
        except OSError as e:
            log.warning("queue %d: %s", self.num, e)

    def _callback(self, pkt: object) -> None:
        try:
            accept, payload = self.handler(pkt.get_payload())  # type: ignore[attr-defined]
        except Exception:
            self.errors += 1
            if self.errors <= 10 or self.errors % 1000 == 0:
                log.exception("queue %d: packet handler failed (%d so far); the packet passes",
                              self.num, self.errors)
            pkt.accept()  # type: ignore[attr-defined]
            return
        if payload is not None:
            pkt.set_payload(payload)  # type: ignore[attr-defined]
        if accept:
            pkt.accept()  # type: ignore[attr-defined]
        else:
            pkt.drop()  # type: ignore[attr-defined]


def _force_rcvbuf(fd: int) -> None:
    """A netlink buffer that overflows drops queued packets: make it big, past rmem_max."""
    sock = socket.socket(fileno=socket.dup(fd))
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, SOCK_BUF)
    except OSError as e:
        log.warning("queue socket buffer stays small (%s): bursts may be dropped and resent", e)
    finally:
        sock.close()


class Injector:
    """Raw sockets that send honeyswitch's own packets (and rewritten copies)."""

    def __init__(self, mark: int) -> None:
        self.sent = 0
        self.failed = 0
        self._last_log = 0.0
        self._socks: dict[int, socket.socket] = {}
        for family in (socket.AF_INET, socket.AF_INET6):
            s = socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_RAW)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, mark)
            try:  # past wmem_max (we are root): bursts of copies must not overflow it
                s.setsockopt(socket.SOL_SOCKET, SO_SNDBUFFORCE, SOCK_BUF)
            except OSError:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCK_BUF)
            s.setblocking(False)
            self._socks[4 if family == socket.AF_INET else 16] = s

    def send(self, data: bytes, to: bytes) -> None:
        try:
            if len(to) == 4:
                self._socks[4].sendto(data, (socket.inet_ntop(socket.AF_INET, to), 0))
            else:
                self._socks[16].sendto(data, (socket.inet_ntop(socket.AF_INET6, to), 0, 0, 0))
            self.sent += 1
        except OSError as e:  # a full buffer, no route: TCP (ours or theirs) sends it again
            self.failed += 1
            now = time.monotonic()
            if now - self._last_log > 10:
                self._last_log = now
                log.warning("packet injection failed (%d so far): %s", self.failed, e)

    def close(self) -> None:
        for s in self._socks.values():
            s.close()
        self._socks.clear()


class QueueRules:
    """Installs and removes the queue rules; which tool depends on the kernel."""

    def __init__(self, matches: Sequence[rules.QueueMatch], mark: int, tool: str = "auto") -> None:
        self.matches = list(matches)
        self.mark = mark
        self.tool = tool
        self.used: str | None = None

    def choose(self) -> str:
        if self.tool != "auto":
            return self.tool
        queue = self.matches[0].queue if self.matches else 0
        try:
            run(["nft", "-c", "-f", "-"], stdin=rules.nft_probe(queue))
        except RunError:
            return "iptables"  # no nft queue expression in this kernel: xt NFQUEUE
        return "nft"

    def install(self) -> str:
        tool = self.choose()
        if tool == "nft":
            run_nft(rules.nft_ruleset(self.matches, self.mark))
        else:
            run_steps(rules.iptables_steps(self.matches, self.mark, tool))
        self.used = tool
        return tool

    def remove(self) -> None:
        tool, self.used = self.used, None
        if tool == "nft":
            run_nft(rules.nft_remove())
        elif tool is not None:
            run_steps(rules.iptables_remove(tool))
