"""Zero-copy data path of a session: splice/tee through kernel pipes, driven by the loop.

The bytes of a mirrored session never enter Python::

    client --splice--> pipe A --splice--> main            (A: client bytes for main)
                         |tee
                         +----> pipe B --splice--> honeypot (B: client bytes for the honeypot)
    main   --splice--> pipe C --splice--> client          (C: main's bytes for the client)
    honeypot --recv(MSG_TRUNC)--> nothing, only up to what main has delivered to the client

Every fd is non-blocking and watched with ``loop.add_reader``/``add_writer`` (uvloop or
asyncio); no threads, no blocking calls.  Why it is built the way it is:

- **tee copies from the head of a pipe**, so a byte can be teed exactly once only if A
  holds nothing but the bytes just spliced in.  The client is therefore read only while
  A is empty.  That is also the backpressure: main not taking A's bytes stops the client.
  C works the same way (main is read only while C is empty), so both pipes stay within
  one chunk and a full pipe never has to be told apart from an idle socket.
- **The honeypot never stalls main.**  Its bytes wait in B, a queue of pipes (one pipe
  holds at most pipe-max-size, 1 MiB by default, less than the socket buffers by which
  two healthy backends' paths can differ), up to ``honeypot_limit`` bytes; a client
  read past that drops it (:class:`HoneypotDropped`) and from then on the client goes
  to main without tee.
- **Byte-aligned takeover.**  The honeypot's output is discarded only up to the number
  of bytes main has delivered into the client's socket, and the rest stays unread in the
  honeypot's socket: at a switch its next byte continues the client's stream exactly
  (``skip`` says how many it still owes if it is behind).  :meth:`SpliceMirror.switch`
  does that cut-over in place; :meth:`SpliceMirror.stop` hands everything to user space.

Events go to ``on_event`` after each burst of work (never from inside a syscall path),
so a handler may call :meth:`stop` or :meth:`switch`.
"""
from __future__ import annotations

import asyncio
import errno
import os
from collections.abc import Callable
from dataclasses import dataclass, replace

from ..core.types import End
from . import pipes
from .pipes import Discarder, Pipe, PipeQueue, supported

__all__ = [
    "Counters",
    "Eof",
    "Handoff",
    "HoneypotDropped",
    "Lost",
    "SpliceEvent",
    "SpliceMirror",
    "SpliceRelay",
    "Switched",
    "WriteShut",
    "supported",
]

CHUNK = 1 << 20
# Work per readiness callback is bounded (ROUNDS x chunk per direction): one busy session
# cannot hold the loop, and what is left is picked up as the fd is still ready.
ROUNDS = 4
MIN_READ = 64 << 10  # smallest client read worth a syscall round while the honeypot lags
_RESET_ERRNOS = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED})

# Roles inside the engine: the client, the end serving it, the shadow (mirror target).
_C, _S, _H = 0, 1, 2


# ------------------------------------------------------------------------ records


@dataclass(frozen=True, slots=True)
class Eof:
    """``end`` sent FIN: every byte it sent before has been read."""

    end: End


@dataclass(frozen=True, slots=True)
class WriteShut:
    """We shut down writing to ``end`` (its pipe had drained): it will see EOF."""

    end: End


@dataclass(frozen=True, slots=True)
class Lost:
    """A call on ``end``'s fd failed (``reset``: ECONNRESET/EPIPE).  The client's or the
    serving end's loss halts the path (call :meth:`stop`); the honeypot's only ends the
    mirroring to it."""

    end: End
    reset: bool
    error: OSError


@dataclass(frozen=True, slots=True)
class HoneypotDropped:
    """The honeypot fell more than the limit behind: client bytes now go to main only.
    Its fd is no longer touched (reset it)."""

    reason: str


SpliceEvent = Eof | WriteShut | Lost | HoneypotDropped


@dataclass(slots=True)
class Counters:
    """Bytes delivered into each destination socket, and the calls it took."""

    client_to_main: int = 0
    client_to_honeypot: int = 0
    main_to_client: int = 0
    honeypot_to_client: int = 0  # after a switch, or in a relay to the honeypot
    honeypot_consumed: int = 0  # honeypot output discarded (mirroring, or skipped)
    client_read: int = 0
    syscalls: int = 0  # splice, tee, recv, shutdown
    polls: int = 0  # add/remove of a reader or writer (an epoll_ctl each)


@dataclass(frozen=True, slots=True)
class Handoff:
    """Everything needed to carry on in user space with nothing lost or duplicated.

    ``pending[end]`` are bytes read but not yet in ``end``'s socket: write them there
    first.  (At a switch, ``pending[CLIENT]`` is main's reply the client never saw:
    drop it and forward the honeypot's output after discarding ``skip`` bytes.)"""

    pending: dict[End, bytes]
    # Output of the honeypot (of the serving end in a relay) still to be discarded
    # before its next byte lines up with what the client has received.
    skip: int
    counters: Counters
    eof: frozenset[End]  # ends whose EOF was read
    shut: frozenset[End]  # ends we shut down writing to
    lost: frozenset[End]
    honeypot_dropped: bool


@dataclass(frozen=True, slots=True)
class Switched:
    """Result of :meth:`SpliceMirror.switch`: main is out of the data path (reset it)."""

    skip: int  # honeypot bytes being discarded to line up with the client's stream
    main_unsent: int  # client bytes main never got (the honeypot does get them)
    main_reply_dropped: int  # main's bytes read but never shown to the client


# ------------------------------------------------------------------------- engine


@dataclass(slots=True)
class _Role:
    fd: int
    end: End
    can_read: bool = False  # no EAGAIN since the last readiness: worth trying now
    can_write: bool = True
    reading: bool = False  # reader registered with the loop
    writing: bool = False
    eof: bool = False
    shut: bool = False
    lost: bool = False


class _Splicer:
    """client <-> serving end, optionally mirroring client bytes to a shadow end."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        client_fd: int,
        serve_fd: int,
        serve_end: End,
        shadow_fd: int | None,
        *,
        on_event: Callable[[SpliceEvent], None],
        honeypot_limit: int,
        chunk: int,
        skip: int,
    ) -> None:
        if chunk <= 0 or honeypot_limit <= 0 or skip < 0:
            raise ValueError("chunk and honeypot_limit must be positive, skip not negative")
        self._loop = loop
        self._on_event = on_event
        self._chunk = chunk
        fds = [client_fd, serve_fd] + ([shadow_fd] if shadow_fd is not None else [])
        for fd in fds:
            os.set_blocking(fd, False)  # socket side of splice follows O_NONBLOCK
        self._r = [
            _Role(client_fd, End.CLIENT),
            _Role(serve_fd, serve_end),
            _Role(shadow_fd if shadow_fd is not None else -1, End.HONEYPOT),
        ]
        self._up = PipeQueue(chunk)  # A: client -> serving end
        self._down = PipeQueue(chunk)  # C: serving end -> client
        self._shadow: PipeQueue | None = None  # B: client -> shadow
        self._shadow_discard: Discarder | None = None
        self._serve_discard: Discarder | None = None
        self._limit = honeypot_limit
        if shadow_fd is not None:
            # B's pipes are as large as A, so a fresh one always takes a whole tee of A;
            # twice the pipes the limit needs, as a tail may be left part-filled.
            size = self._up.capacity
            self._shadow = PipeQueue(size, max_pipes=2 * (-(-honeypot_limit // size)) + 1)
            self._shadow_discard = Discarder(shadow_fd, chunk)
        self._skip = skip
        if skip:
            self._serve_discard = Discarder(serve_fd, chunk)
        self._dropped = False
        self._halted = False  # the client or the serving end was lost: nothing moves
        self._stopped = False
        self._started = False
        self._handoff: Handoff | None = None
        self._events: list[SpliceEvent] = []
        self._c = Counters()

    # ----------------------------------------------------------------- public

    @property
    def counters(self) -> Counters:
        return replace(self._c)

    @property
    def honeypot_limit(self) -> int:
        return self._limit

    @property
    def mirroring(self) -> bool:
        return self._shadow is not None and not self._dropped

    def pending(self) -> dict[End, int]:
        """Bytes in each pipe now (bounded by the pipes' sizes: the memory in use)."""
        out = {self._r[_S].end: self._up.held, End.CLIENT: self._down.held}
        if self.mirroring and self._shadow is not None:
            out[End.HONEYPOT] = self._shadow.held
        return out

    def start(self) -> None:
        if self._started or self._stopped:
            return
        self._started = True
        self._step()

    def stop(self) -> Handoff:
        """Unregister everything, read the pipes out and close them.  The fds stay open
        (they are the caller's), non-blocking.  Calling it again returns the same."""
        if self._handoff is not None:
            return self._handoff
        self._stopped = True
        for i in (_C, _S, _H):
            self._watch(i, read=False, write=False)
        pending: dict[End, bytes] = {
            self._r[_S].end: self._up.drain(),
            End.CLIENT: self._down.drain(),
        }
        if self._shadow is not None:
            pending[End.HONEYPOT] = b"" if self._dropped else self._shadow.drain()
        self._handoff = Handoff(
            pending=pending,
            skip=self._honeypot_skip(),
            counters=self.counters,
            eof=frozenset(r.end for r in self._r if r.eof),
            shut=frozenset(r.end for r in self._r if r.shut),
            lost=frozenset(r.end for r in self._r if r.lost),
            honeypot_dropped=self._dropped,
        )
        self._close_pipes()
        return self._handoff

    # ------------------------------------------------------------- the pump

    def _step(self) -> None:
        """Do all the work the fds allow (bounded), then watch what is left to wait for."""
        if self._stopped or self._halted:
            self._deliver()
            return
        for _ in range(ROUNDS):
            moved = self._pump_up()
            moved |= self._pump_down()
            moved |= self._consume_shadow()
            if self._halted or not moved:
                break
        self._sync()
        self._deliver()

    def _on_readable(self, i: int) -> None:
        self._r[i].can_read = True
        self._step()

    def _on_writable(self, i: int) -> None:
        self._r[i].can_write = True
        self._step()

    def _want_client(self) -> bool:
        # Only into an empty A: tee must see nothing but the new bytes (see module doc).
        return not self._r[_C].eof and self._up.held == 0

    def _want_serve(self) -> bool:
        r = self._r
        return not r[_S].eof and self._down.held == 0 and not r[_C].shut

    def _want_shadow(self) -> bool:
        return (
            self.mirroring
            and not self._r[_H].eof
            and self._c.honeypot_consumed < self._c.main_to_client
        )

    def _pump_up(self) -> bool:
        r = self._r
        moved = False
        if self._want_client() and r[_C].can_read:
            moved = self._read_client()
        if self._up.held and r[_S].can_write and not self._halted:
            moved |= self._flush(_S, self._up)
        shadow = self._shadow
        if self.mirroring and shadow is not None and shadow.held and r[_H].can_write:
            moved |= self._flush(_H, shadow)
        if r[_C].eof and not self._halted:
            # Half-close: each backend gets EOF once its pipe has been delivered.
            if not r[_S].shut and self._up.held == 0:
                self._shut(_S)
            if self.mirroring and shadow is not None and not r[_H].shut and shadow.held == 0:
                self._shut(_H)
        return moved

    def _pump_down(self) -> bool:
        r = self._r
        moved = False
        if self._want_serve() and r[_S].can_read and not self._halted:
            moved = self._read_serve()
        if self._down.held and r[_C].can_write and not self._halted:
            moved |= self._flush_client()
        if r[_S].eof and self._down.held == 0 and not r[_C].shut and not self._halted:
            self._shut(_C)
        return moved

    def _read_client(self) -> bool:
        size = self._chunk
        if self.mirroring:
            assert self._shadow is not None
            # Read no more than the honeypot's pipe can still take: it may lag by up to
            # the limit without being dropped.  Only when less than MIN_READ is left does
            # a full read decide (more client bytes than room: drop it).
            room = self._limit - self._shadow.held
            if room >= MIN_READ:
                size = min(size, room)
        n = self._call(_C, pipes.splice, self._r[_C].fd, self._up.tail.w, size)
        if n is None:
            self._r[_C].can_read = False
            return False
        if n == 0:
            self._eof(_C)
            return True
        self._up.added(self._up.tail, n)
        self._c.client_read += n
        if self.mirroring:
            self._tee(n)
        return True

    def _tee(self, n: int) -> None:
        queue = self._shadow
        assert queue is not None
        if queue.held + n > self._limit:
            self._drop(f"honeypot fell behind: {queue.held} bytes queued, {n} more, "
                       f"limit {self._limit}")
            return
        src = self._up.head.r
        tail: Pipe | None = queue.tail
        if tail is not None and tail.held + n > tail.capacity:
            tail = queue.grow()
        done = 0
        if tail is not None:
            done = self._tee_into(src, tail, n) or 0
            queue.added(tail, done)
        if done < n:
            # The tail ran out of pipe slots (many small segments) or pipes.  tee always
            # copies from A's head: tee all n into a fresh pipe and drop what the tail got.
            fresh = queue.grow()
            if fresh is None or self._tee_into(src, fresh, n) != n:
                self._drop(f"honeypot's pipes are full ({queue.held} bytes queued)")
                return
            self._c.syscalls += 1
            pipes.skip_head(fresh, done)
            queue.added(fresh, n - done)

    def _tee_into(self, src: int, pipe: Pipe, n: int) -> int | None:
        self._c.syscalls += 1
        try:
            return pipes.tee(src, pipe.w, n)
        except OSError:
            return None

    def _flush(self, i: int, queue: PipeQueue) -> bool:
        head = queue.front()
        n = self._call(i, pipes.splice, head.r, self._r[i].fd, head.held)
        if not n:  # None (would block); 0 cannot happen with bytes in the pipe
            self._r[i].can_write = False
            return False
        queue.taken(n)
        if i == _H:
            self._c.client_to_honeypot += n
        elif self._r[_S].end is End.MAIN:
            self._c.client_to_main += n
        else:
            self._c.client_to_honeypot += n
        return True

    def _read_serve(self) -> bool:
        r = self._r[_S]
        if self._skip:
            assert self._serve_discard is not None
            n = self._call(_S, self._serve_discard, min(self._skip, self._chunk))
            if n:
                self._skip -= n
                self._c.honeypot_consumed += n
        else:
            n = self._call(_S, pipes.splice, r.fd, self._down.tail.w, self._chunk)
            if n:
                self._down.added(self._down.tail, n)
        if n is None:
            r.can_read = False
            return False
        if n == 0:
            self._eof(_S)
        return True

    def _flush_client(self) -> bool:
        head = self._down.head
        n = self._call(_C, pipes.splice, head.r, self._r[_C].fd, head.held)
        if not n:
            self._r[_C].can_write = False
            return False
        self._down.taken(n)
        if self._r[_S].end is End.MAIN:
            self._c.main_to_client += n
        else:
            self._c.honeypot_to_client += n
        return True

    def _consume_shadow(self) -> bool:
        """Discard the honeypot's output, never past what main has given the client."""
        if not self._want_shadow() or not self._r[_H].can_read:
            return False
        assert self._shadow_discard is not None
        allowed = self._c.main_to_client - self._c.honeypot_consumed
        n = self._call(_H, self._shadow_discard, min(allowed, self._chunk))
        if n is None:
            self._r[_H].can_read = False
            return False
        if n == 0:
            self._eof(_H)
        self._c.honeypot_consumed += n
        return True

    # ------------------------------------------------------------- helpers

    def _call(self, i: int, fn: Callable[..., int | None], *args: int) -> int | None:
        """One syscall on role ``i``'s behalf; a failure is that end's loss."""
        self._c.syscalls += 1
        try:
            return fn(*args)
        except OSError as exc:
            self._lose(i, exc)
            return None

    def _eof(self, i: int) -> None:
        role = self._r[i]
        role.eof = True
        self._events.append(Eof(role.end))

    def _shut(self, i: int) -> None:
        role = self._r[i]
        self._c.syscalls += 1
        try:
            pipes.shutdown_write(role.fd)
        except OSError as exc:
            self._lose(i, exc)
            return
        role.shut = True
        self._events.append(WriteShut(role.end))

    def _lose(self, i: int, exc: OSError) -> None:
        role = self._r[i]
        role.lost = True
        self._events.append(Lost(role.end, exc.errno in _RESET_ERRNOS, exc))
        if i == _H:
            self._end_mirroring()
        else:
            self._halted = True
            for j in (_C, _S, _H):
                self._watch(j, read=False, write=False)

    def _drop(self, reason: str) -> None:
        self._end_mirroring()
        self._events.append(HoneypotDropped(reason))

    def _end_mirroring(self) -> None:
        """The honeypot is out: its queued bytes are thrown away, its fd left alone."""
        if self._dropped:
            return
        self._dropped = True
        self._watch(_H, read=False, write=False)
        if self._shadow is not None:
            self._shadow.close()

    def _honeypot_skip(self) -> int:
        if self._r[_S].end is End.HONEYPOT:
            return self._skip
        if not self.mirroring:
            return 0
        return max(0, self._c.main_to_client - self._c.honeypot_consumed)

    def _sync(self) -> None:
        """Watch exactly what the pump would act on: a registered fd that is ready always
        leads to a call, so level-triggered readiness never spins and never is lost."""
        if self._halted or self._stopped:
            return
        self._watch(_C, read=self._want_client(), write=self._down.held > 0)
        self._watch(_S, read=self._want_serve(), write=self._up.held > 0)
        if self._shadow is not None and not self._dropped:
            self._watch(_H, read=self._want_shadow(), write=self._shadow.held > 0)

    def _watch(self, i: int, *, read: bool, write: bool) -> None:
        role = self._r[i]
        if role.fd < 0:
            return
        if role.reading != read:
            role.reading = read
            self._c.polls += 1
            if read:
                self._loop.add_reader(role.fd, self._on_readable, i)
            else:
                self._loop.remove_reader(role.fd)
        if role.writing != write:
            role.writing = write
            self._c.polls += 1
            if write:
                self._loop.add_writer(role.fd, self._on_writable, i)
            else:
                self._loop.remove_writer(role.fd)

    def _deliver(self) -> None:
        # Bounded: a handler's own calls (stop, switch) add at most a few records.
        for _ in range(64):
            if not self._events:
                return
            events, self._events = self._events, []
            for ev in events:
                self._on_event(ev)

    def _close_pipes(self) -> None:
        for p in (self._up, self._down, self._shadow):
            if p is not None:
                p.close()
        for d in (self._shadow_discard, self._serve_discard):
            if d is not None:
                d.close()


# ----------------------------------------------------------------------- public


class SpliceMirror(_Splicer):
    """A mirrored session (MIRROR state) in the kernel: client -> main + honeypot,
    main -> client, the honeypot's output discarded up to main's delivered count.

    ``honeypot_fd=None`` is MAIN_ONLY: a plain client <-> main relay.  The fds stay the
    caller's: nothing here closes or resets them."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        client_fd: int,
        main_fd: int,
        honeypot_fd: int | None,
        *,
        honeypot_limit: int = 4 << 20,
        chunk: int = CHUNK,
        on_event: Callable[[SpliceEvent], None],
    ) -> None:
        super().__init__(loop, client_fd, main_fd, End.MAIN, honeypot_fd, on_event=on_event,
                         honeypot_limit=honeypot_limit, chunk=chunk, skip=0)

    def switch(self) -> Switched:
        """Bytes-aligned cut-over in place: from now on client <-> honeypot, still in
        the kernel.  Client bytes queued for the honeypot (B) go on to it; main's
        undelivered reply (C) is dropped; the honeypot's output continues from the
        client's position (after discarding ``skip`` bytes if it is behind).  Main's
        fd is no longer touched: reset it."""
        if self._stopped or self._halted or not self.mirroring or self._r[_S].end is not End.MAIN:
            raise RuntimeError("switch needs a running mirror with its honeypot")
        assert self._shadow is not None and self._shadow_discard is not None
        r = self._r
        hp = r[_H]
        self._watch(_S, read=False, write=False)
        self._watch(_H, read=False, write=False)
        result = Switched(
            skip=self._c.main_to_client - self._c.honeypot_consumed,
            main_unsent=self._up.held,
            main_reply_dropped=self._down.held,
        )
        # A's bytes are the newest of B's (teed on the way in): the honeypot has them.
        self._up.close()
        self._up, self._shadow = self._shadow, None
        self._c.syscalls += 1
        self._down.discard()  # main's reply the client never saw
        self._skip = result.skip
        self._serve_discard, self._shadow_discard = self._shadow_discard, None
        r[_S] = _Role(hp.fd, End.HONEYPOT, can_read=hp.can_read, can_write=hp.can_write,
                      eof=hp.eof, shut=hp.shut)
        r[_H] = _Role(-1, End.HONEYPOT)
        self._step()
        return result


class SpliceRelay(_Splicer):
    """Two fds both ways in the kernel (HONEYPOT/DIRECT state: client <-> honeypot).

    ``skip`` bytes of ``b``'s output are discarded first (a honeypot behind main at a
    switch done in user space)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        a_fd: int,
        b_fd: int,
        *,
        b_end: End = End.HONEYPOT,
        skip: int = 0,
        chunk: int = CHUNK,
        on_event: Callable[[SpliceEvent], None],
    ) -> None:
        if skip and b_end is not End.HONEYPOT:
            raise ValueError("skip applies to a honeypot's output")
        super().__init__(loop, a_fd, b_fd, b_end, None, on_event=on_event,
                         honeypot_limit=chunk, chunk=chunk, skip=skip)

