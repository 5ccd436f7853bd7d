"""The zero-copy data path (splice/tee) on real loopback TCP connections.

Each backend is the far end of a real TCP connection whose near end is handed to the
mirror, as the runner would after connecting; the "servers" are small coroutines on
those far ends.  Payloads are random (a shifted or repeated block would show).
"""
from __future__ import annotations

import asyncio
import hashlib
import random
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from honeyswitch.core.types import End
from honeyswitch.relay import pipes
from honeyswitch.relay.splice import (
    Eof,
    Handoff,
    HoneypotDropped,
    Lost,
    SpliceEvent,
    SpliceMirror,
    SpliceRelay,
    WriteShut,
    supported,
)

pytestmark = pytest.mark.skipif(not supported(), reason="needs Linux splice and tee")

MB = 1 << 20
READ = 256 << 10
WAIT = 30.0  # seconds any single wait may take before the test fails
# A honeypot limit no healthy honeypot reaches here (threads on 2 CPUs lag in bursts):
# these tests are about the bytes; the drop tests set a small one.
ROOMY = 32 * MB


def payload(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


def sha(data: bytes | bytearray) -> str:
    return hashlib.sha256(data).hexdigest()


def tcp_pair() -> tuple[socket.socket, socket.socket]:
    """A loopback TCP connection: (far end for the test's peer, near end for the mirror)."""
    with socket.create_server(("127.0.0.1", 0)) as lst:
        far = socket.create_connection(lst.getsockname())
        near, _ = lst.accept()
    for s in (far, near):
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return far, near


def rst(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class Peer:
    """A far end's program, in a thread with blocking calls (as a separate server would
    be, not scheduled by the mirror's loop): what it received, whether it saw EOF."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.eof = threading.Event()
        self.done = threading.Event()
        self.error: BaseException | None = None

    def run(self, fn: Callable[..., None], sock: socket.socket, *args: Any, **kw: Any) -> Peer:
        def main() -> None:
            try:
                fn(self, sock, *args, **kw)
            except OSError as exc:
                self.error = exc
            finally:
                self.done.set()

        sock.settimeout(WAIT)  # blocking with a bound: a stuck test fails, never hangs
        threading.Thread(target=main, daemon=True).start()
        return self

    async def wait(self, what: str = "done") -> None:
        ev = self.eof if what == "eof" else self.done
        await until(ev.is_set, what)


def recv_all(peer: Peer, sock: socket.socket, *, delay: float = 0.0, size: int = READ,
             pause_every: int = 0) -> None:
    for _ in range(1 << 24):
        data = sock.recv(size)
        if not data:
            peer.eof.set()
            return
        peer.received += data
        if delay and (not pause_every or len(peer.received) % pause_every < len(data)):
            time.sleep(delay)


def echo(peer: Peer, sock: socket.socket, *, delay: float = 0.0, size: int = READ) -> None:
    """An echo server: replies byte for byte, half-closes after EOF."""
    for _ in range(1 << 24):
        data = sock.recv(size)
        if not data:
            peer.eof.set()
            sock.shutdown(socket.SHUT_WR)
            return
        peer.received += data
        if delay:
            time.sleep(delay)
        sock.sendall(data)


def send_all(peer: Peer, sock: socket.socket, data: bytes, *, eof: bool = True) -> None:
    view = memoryview(data)
    for i in range(0, len(data), READ):
        sock.sendall(view[i : i + READ])
    if eof:
        sock.shutdown(socket.SHUT_WR)


async def read_exactly(sock: socket.socket, n: int) -> bytes:
    loop = asyncio.get_running_loop()
    out = bytearray()
    while len(out) < n:
        data = await asyncio.wait_for(loop.sock_recv(sock, min(READ, n - len(out))), WAIT)
        assert data, f"EOF after {len(out)} of {n} bytes"
        out += data
    return bytes(out)


async def until(cond: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    for _ in range(int(timeout / 0.005)):
        if cond():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


class Session:
    """A client, main and honeypot connection, with the mirror's events collected."""

    def __init__(self) -> None:
        self.client, self.client_near = tcp_pair()
        self.main, self.main_near = tcp_pair()
        self.hp, self.hp_near = tcp_pair()
        self.events: list[SpliceEvent] = []
        self.mirrors: list[SpliceMirror] = []

    def mirror(self, **kw: int) -> SpliceMirror:
        m = SpliceMirror(asyncio.get_running_loop(), self.client_near.fileno(),
                         self.main_near.fileno(), self.hp_near.fileno(),
                         on_event=self.events.append, **kw)
        self.mirrors.append(m)
        return m

    def has(self, ev: SpliceEvent) -> bool:
        return ev in self.events

    def of(self, kind: type | tuple[type, ...]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def close(self) -> None:
        for m in self.mirrors:
            m.stop()  # off the loop before the fds close (a test may have failed)
        for s in (self.client, self.client_near, self.main, self.main_near, self.hp, self.hp_near):
            s.close()  # threads blocked on them get an error and end


@pytest.fixture
def sess():
    s = Session()
    yield s
    s.close()


# ------------------------------------------------------------------------ tests


def test_supported() -> None:
    assert supported()
    assert pipes.Pipe(64 << 10).capacity >= 64 << 10


async def test_mirror_is_byte_exact_both_ways(sess: Session) -> None:
    data = payload(16 * MB, seed=1)
    main = Peer().run(echo, sess.main)
    hp = Peer().run(echo, sess.hp)
    mirror = sess.mirror(honeypot_limit=ROOMY)
    mirror.start()
    Peer().run(send_all, sess.client, data)
    client = Peer().run(recv_all, sess.client)
    await client.wait()
    assert sha(client.received) == sha(data)
    assert sha(main.received) == sha(data) and main.eof.is_set()
    await hp.wait()
    assert sha(hp.received) == sha(data)
    await until(lambda: mirror.counters.honeypot_consumed == len(data), "honeypot consumed")
    c = mirror.counters
    assert c.client_to_main == c.client_to_honeypot == c.main_to_client == len(data)
    for ev in (Eof(End.CLIENT), WriteShut(End.MAIN), WriteShut(End.HONEYPOT),
               Eof(End.MAIN), WriteShut(End.CLIENT)):
        assert sess.has(ev), (ev, sess.events)
    assert not sess.of(Lost) and not sess.of(HoneypotDropped), sess.events
    h = mirror.stop()
    assert h.pending == {End.MAIN: b"", End.HONEYPOT: b"", End.CLIENT: b""} and h.skip == 0
    # Zero-copy: far fewer calls than 16 MiB in 64 KiB reads would need (256 each way).
    assert c.syscalls < 4 * 256, c


async def test_slow_main_pauses_the_client_with_bounded_pipes(sess: Session) -> None:
    data = payload(24 * MB, seed=2)
    chunk = 256 << 10
    main = Peer().run(recv_all, sess.main, delay=0.002, size=64 << 10)
    Peer().run(recv_all, sess.hp)
    mirror = sess.mirror(honeypot_limit=4 * MB, chunk=chunk)
    mirror.start()
    Peer().run(send_all, sess.client, data)
    peak = backlog = 0
    for _ in range(int(WAIT / 0.005)):
        if main.eof.is_set():
            break
        await asyncio.sleep(0.005)
        c = mirror.counters
        peak = max(peak, mirror.pending()[End.MAIN])
        # Read from the client but not yet in main's socket: never more than one pipe.
        backlog = max(backlog, c.client_read - c.client_to_main)
    await main.wait("eof")
    assert sha(main.received) == sha(data)
    assert 0 < peak <= chunk, peak
    assert backlog <= chunk, backlog
    assert not sess.of(HoneypotDropped)
    mirror.stop()


async def test_slow_client_pauses_main_with_bounded_pipes(sess: Session) -> None:
    data = payload(32 * MB, seed=3)
    chunk = 256 << 10
    # main and honeypot are identical firehoses (a download).
    Peer().run(send_all, sess.main, data)
    Peer().run(send_all, sess.hp, data)
    mirror = sess.mirror(honeypot_limit=MB, chunk=chunk)
    mirror.start()
    client = Peer().run(recv_all, sess.client, delay=0.02, size=64 << 10, pause_every=2 * MB)
    peak = 0
    for _ in range(int(WAIT / 0.005)):
        if client.done.is_set():
            break
        await asyncio.sleep(0.005)
        c = mirror.counters
        peak = max(peak, mirror.pending()[End.CLIENT])
        assert c.honeypot_consumed <= c.main_to_client  # never past the client
    await client.wait()
    assert sha(client.received) == sha(data)
    assert 0 < peak <= chunk, peak
    await until(lambda: mirror.counters.honeypot_consumed == len(data), "honeypot consumed")
    assert sess.has(Eof(End.MAIN)) and sess.has(WriteShut(End.CLIENT))
    mirror.stop()


async def test_stalled_honeypot_is_dropped_and_main_goes_on(sess: Session) -> None:
    data = payload(24 * MB, seed=4)
    main = Peer().run(recv_all, sess.main)  # the honeypot's far end never reads
    mirror = sess.mirror(honeypot_limit=MB, chunk=MB)
    assert mirror.honeypot_limit == MB
    mirror.start()
    Peer().run(send_all, sess.client, data)
    await main.wait("eof")
    assert sha(main.received) == sha(data)
    dropped = sess.of(HoneypotDropped)
    assert len(dropped) == 1 and "behind" in dropped[0].reason
    assert not mirror.mirroring
    c = mirror.counters
    assert c.client_to_main == len(data) and c.client_to_honeypot < len(data)
    # Half-close still reaches main; the dropped honeypot is left for the caller to reset.
    assert sess.has(WriteShut(End.MAIN)) and not sess.has(WriteShut(End.HONEYPOT))
    h = mirror.stop()
    assert h.honeypot_dropped and h.pending[End.HONEYPOT] == b"" and h.skip == 0


def copy(peer: Peer, src: socket.socket, dsts: list[socket.socket], *, first: list[bytes],
         skip: int = 0) -> None:
    """Plain user-space relaying (what the asyncio path would do after a hand-off):
    ``first[i]`` goes to ``dsts[i]`` before anything newly read."""
    for d, data in zip(dsts, first, strict=True):
        d.sendall(data)
    for _ in range(1 << 24):
        data = src.recv(READ)
        if not data:
            for d in dsts:
                d.shutdown(socket.SHUT_WR)
            return
        cut = min(skip, len(data))
        skip -= cut
        for d in dsts:
            d.sendall(data[cut:])


def hand_off(sess: Session, h: Handoff, *, switch: bool) -> None:
    """Carry the session on in user space after stop(): mirrored as before, or
    (``switch``) client <-> honeypot with the honeypot's output lined up by ``skip``."""
    client, main, hp = sess.client_near, sess.main_near, sess.hp_near
    for sock in (client, main, hp):
        # The mirror set O_NONBLOCK on the fds behind the socket objects' backs: tell
        # them (each is a destination in one thread before it is a source in another).
        sock.settimeout(WAIT)
    if switch:
        # pending[CLIENT] is main's reply the client never saw: the honeypot's replaces it.
        rst(main)
        Peer().run(copy, client, [hp], first=[h.pending[End.HONEYPOT]])
        Peer().run(copy, hp, [client], first=[b""], skip=h.skip)
        return
    Peer().run(copy, client, [main, hp], first=[h.pending[End.MAIN], h.pending[End.HONEYPOT]])
    Peer().run(copy, main, [client], first=[h.pending[End.CLIENT]])
    Peer().run(recv_all, hp)


async def test_stop_mid_stream_hands_off_with_nothing_lost_or_doubled(sess: Session) -> None:
    data = payload(16 * MB, seed=5)
    main = Peer().run(echo, sess.main, delay=0.001)  # slowish: bytes wait in the pipes
    hp = Peer().run(echo, sess.hp)
    mirror = sess.mirror(honeypot_limit=ROOMY, chunk=512 << 10)
    mirror.start()
    Peer().run(send_all, sess.client, data)
    client = Peer().run(recv_all, sess.client)
    await until(lambda: mirror.counters.main_to_client > 4 * MB, "4 MiB through")
    h = mirror.stop()
    assert mirror.stop() is h  # idempotent
    c = h.counters
    assert c.client_read == c.client_to_main + len(h.pending[End.MAIN])
    assert c.client_read == c.client_to_honeypot + len(h.pending[End.HONEYPOT])
    assert h.skip == c.main_to_client - c.honeypot_consumed
    hand_off(sess, h, switch=False)
    await client.wait()
    assert sha(client.received) == sha(data)
    await hp.wait()
    assert sha(main.received) == sha(data) and sha(hp.received) == sha(data)


@pytest.mark.parametrize("ahead", [True, False], ids=["honeypot-ahead", "honeypot-behind"])
async def test_takeover_is_byte_aligned(sess: Session, ahead: bool) -> None:
    """The honeypot's unread output starts where the client's stream stopped: after
    stop(), client <-> honeypot in user space gives the client main's exact continuation
    (identical echo servers), whether the honeypot ran ahead of main or lagged."""
    data = payload(8 * MB, seed=6)
    slow: dict[str, Any] = {"delay": 0.003, "size": 64 << 10}
    main = Peer().run(echo, sess.main, **(slow if ahead else {}))
    hp = Peer().run(echo, sess.hp, **({} if ahead else slow))
    mirror = sess.mirror(honeypot_limit=ROOMY, chunk=256 << 10)
    mirror.start()
    Peer().run(send_all, sess.client, data)
    client = Peer().run(recv_all, sess.client)
    await until(lambda: mirror.counters.main_to_client > MB, "1 MiB through")
    if ahead:  # let the honeypot run ahead, its surplus waiting in its socket
        await until(lambda: len(hp.received) > mirror.counters.main_to_client + MB, "honeypot ahead")
    h = mirror.stop()
    c = h.counters
    assert c.honeypot_consumed <= c.main_to_client
    assert h.skip == c.main_to_client - c.honeypot_consumed
    if not ahead:
        assert h.skip > 0, h
    assert not h.honeypot_dropped
    hand_off(sess, h, switch=True)
    await client.wait()
    assert len(client.received) == len(data)
    assert sha(client.received) == sha(data)  # main's prefix, then the honeypot's rest
    assert main.error is None or isinstance(main.error, ConnectionResetError)


async def test_switch_in_place_keeps_the_stream_exact(sess: Session) -> None:
    data = payload(12 * MB, seed=7)
    Peer().run(echo, sess.main)
    hp = Peer().run(echo, sess.hp, delay=0.002, size=128 << 10)  # behind: skip > 0
    mirror = sess.mirror(honeypot_limit=ROOMY, chunk=256 << 10)
    mirror.start()
    Peer().run(send_all, sess.client, data)
    client = Peer().run(recv_all, sess.client)
    await until(lambda: mirror.counters.main_to_client > 2 * MB, "2 MiB through")
    sw = mirror.switch()
    rst(sess.main_near)  # main is out of the data path: the runner resets it
    assert sw.skip > 0, sw
    await client.wait()
    assert sha(client.received) == sha(data)
    await hp.wait()
    assert sha(hp.received) == sha(data)
    await until(lambda: sess.has(WriteShut(End.CLIENT)), "client shut")
    c = mirror.counters
    assert c.main_to_client + c.honeypot_to_client == len(data)
    assert sess.has(WriteShut(End.HONEYPOT)) and sess.has(Eof(End.HONEYPOT))
    assert not sess.of(Lost), sess.events
    h = mirror.stop()
    assert h.skip == 0 and h.pending == {End.HONEYPOT: b"", End.CLIENT: b""}


async def test_half_close_both_ways(sess: Session) -> None:
    loop = asyncio.get_running_loop()
    mirror = sess.mirror(honeypot_limit=4 * MB)
    mirror.start()
    # Main says hello and finishes first: the client sees EOF after the greeting ...
    await loop.sock_sendall(sess.main, b"220 hello\r\n")
    sess.main.shutdown(socket.SHUT_WR)
    assert await read_exactly(sess.client, 11) == b"220 hello\r\n"
    assert await asyncio.wait_for(loop.sock_recv(sess.client, 10), WAIT) == b""
    assert sess.has(Eof(End.MAIN)) and sess.has(WriteShut(End.CLIENT))
    # ... and can still send; its EOF reaches both backends after its bytes.
    await loop.sock_sendall(sess.client, b"QUIT\r\n")
    sess.client.shutdown(socket.SHUT_WR)
    for far in (sess.main, sess.hp):
        assert await read_exactly(far, 6) == b"QUIT\r\n"
        assert await asyncio.wait_for(loop.sock_recv(far, 10), WAIT) == b""
    await until(lambda: sess.has(WriteShut(End.HONEYPOT)), "honeypot shut")
    assert sess.of((Eof, WriteShut)) == [
        Eof(End.MAIN), WriteShut(End.CLIENT), Eof(End.CLIENT), WriteShut(End.MAIN),
        WriteShut(End.HONEYPOT)]
    h = mirror.stop()
    assert h.eof == {End.MAIN, End.CLIENT} and h.shut == {End.CLIENT, End.MAIN, End.HONEYPOT}


async def test_reset_from_main_is_reported_and_halts(sess: Session) -> None:
    loop = asyncio.get_running_loop()
    mirror = sess.mirror(honeypot_limit=4 * MB)
    mirror.start()
    await loop.sock_sendall(sess.client, b"GET / HTTP/1.0\r\n\r\n")
    assert await read_exactly(sess.main, 18)
    rst(sess.main)
    await until(lambda: bool(sess.of(Lost)), "Lost")
    lost = sess.of(Lost)
    assert len(lost) == 1 and lost[0].end is End.MAIN and lost[0].reset, lost
    h = mirror.stop()
    assert h.lost == {End.MAIN}


async def test_reset_from_honeypot_ends_mirroring_only(sess: Session) -> None:
    main = Peer().run(recv_all, sess.main)
    mirror = sess.mirror(honeypot_limit=4 * MB)
    mirror.start()
    rst(sess.hp)
    await asyncio.sleep(0.05)
    data = payload(2 * MB, seed=8)
    Peer().run(send_all, sess.client, data)
    await main.wait("eof")
    assert sha(main.received) == sha(data)
    assert [(e.end, e.reset) for e in sess.of(Lost)] == [(End.HONEYPOT, True)]
    assert not mirror.mirroring
    mirror.stop()


async def test_relay_both_ways_with_skip() -> None:
    a, a_near = tcp_pair()
    b, b_near = tcp_pair()
    events: list[SpliceEvent] = []
    up, down = payload(8 * MB, seed=9), payload(8 * MB, seed=10)
    junk = payload(300_000, seed=11)  # what the honeypot said beyond the client's position
    relay = SpliceRelay(asyncio.get_running_loop(), a_near.fileno(), b_near.fileno(),
                        skip=len(junk), chunk=256 << 10, on_event=events.append)
    relay.start()
    try:
        Peer().run(send_all, a, up)
        Peer().run(send_all, b, junk + down)
        got_a, got_b = Peer().run(recv_all, a), Peer().run(recv_all, b)
        await got_a.wait()
        await got_b.wait()
    finally:
        h = relay.stop()
        for s in (a, a_near, b, b_near):
            s.close()
    assert sha(got_b.received) == sha(up) and sha(got_a.received) == sha(down)
    c = relay.counters
    assert c.client_to_honeypot == len(up) and c.honeypot_to_client == len(down)
    assert c.honeypot_consumed == len(junk)
    assert {Eof(End.CLIENT), Eof(End.HONEYPOT), WriteShut(End.CLIENT),
            WriteShut(End.HONEYPOT)} <= set(events)
    assert h.skip == 0 and h.pending == {End.HONEYPOT: b"", End.CLIENT: b""}


async def test_honeypot_queue_outgrows_pipe_slots_with_small_segments() -> None:
    """A lagging honeypot's bytes wait in a queue of pipes.  Small segments (a unix
    socket client: one pipe buffer per write) fill a pipe's slots long before its bytes,
    so tee runs short; the rest goes to a fresh pipe, in order."""
    client, client_near = socket.socketpair()
    main, main_near = tcp_pair()
    hp, hp_near = tcp_pair()
    hp_near.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # the honeypot lags:
    hp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # its bytes stay in our pipes
    events: list[SpliceEvent] = []
    chunk = 16 << 10  # pipes of 4 slots
    mirror = SpliceMirror(asyncio.get_running_loop(), client_near.fileno(), main_near.fileno(),
                          hp_near.fileno(), honeypot_limit=MB, chunk=chunk, on_event=events.append)
    mirror.start()
    data = payload(400_000, seed=12)

    def small_writes(peer: Peer, sock: socket.socket) -> None:
        for i in range(0, len(data), 1000):
            sock.sendall(data[i : i + 1000])
        sock.shutdown(socket.SHUT_WR)

    try:
        got_main = Peer().run(recv_all, main)
        Peer().run(small_writes, client)
        await got_main.wait("eof")
        queued = mirror.pending()[End.HONEYPOT]
        assert queued > 8 * chunk, queued  # far more than one pipe's slots could hold
        got_hp = Peer().run(recv_all, hp)  # the honeypot catches up
        await got_hp.wait("eof")
    finally:
        mirror.stop()
        for s in (client, client_near, main, main_near, hp, hp_near):
            s.close()
    assert sha(got_main.received) == sha(data) and sha(got_hp.received) == sha(data)
    assert not [e for e in events if isinstance(e, (HoneypotDropped, Lost))], events


async def test_unix_socket_honeypot_is_consumed_without_msg_trunc(sess: Session) -> None:
    """MSG_TRUNC discards only on TCP: a unix: honeypot's output goes to /dev/null
    through a pipe, still only up to what main has delivered."""
    hp, hp_near = socket.socketpair()
    data = payload(4 * MB, seed=13)
    Peer().run(echo, sess.main)
    Peer().run(echo, hp)
    mirror = SpliceMirror(asyncio.get_running_loop(), sess.client_near.fileno(),
                          sess.main_near.fileno(), hp_near.fileno(), honeypot_limit=ROOMY,
                          on_event=sess.events.append)
    sess.mirrors.append(mirror)
    mirror.start()
    try:
        Peer().run(send_all, sess.client, data)
        client = Peer().run(recv_all, sess.client)
        await client.wait()
        await until(lambda: mirror.counters.honeypot_consumed == len(data), "honeypot consumed")
    finally:
        mirror.stop()
        hp.close()
        hp_near.close()
    assert sha(client.received) == sha(data)
    assert mirror.counters.honeypot_consumed == mirror.counters.main_to_client == len(data)


async def test_main_only_without_honeypot(sess: Session) -> None:
    """honeypot_fd=None is MAIN_ONLY: a plain client <-> main relay in the kernel."""
    data = payload(8 * MB, seed=14)
    main = Peer().run(echo, sess.main)
    mirror = SpliceMirror(asyncio.get_running_loop(), sess.client_near.fileno(),
                          sess.main_near.fileno(), None, on_event=sess.events.append)
    sess.mirrors.append(mirror)
    assert not mirror.mirroring
    mirror.start()
    Peer().run(send_all, sess.client, data)
    client = Peer().run(recv_all, sess.client)
    await client.wait()
    assert sha(client.received) == sha(data) and sha(main.received) == sha(data)
    c = mirror.counters
    assert c.client_to_main == c.main_to_client == len(data) and c.client_to_honeypot == 0
    assert mirror.stop().pending == {End.MAIN: b"", End.CLIENT: b""}
