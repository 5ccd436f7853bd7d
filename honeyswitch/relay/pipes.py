"""Kernel pipes and the non-blocking splice/tee/discard calls of the zero-copy path.

Every call here is non-blocking and returns ``None`` for "would block" (EAGAIN), so the
caller decides what to wait for; any other error is raised as :class:`OSError`.  Sockets
must have O_NONBLOCK set: SPLICE_F_NONBLOCK only makes the *pipe* side non-blocking, the
socket side follows the socket's own flag.

``tee(2)`` is not in :mod:`os`, so it (and ``recv`` with a NULL buffer, ``shutdown`` on a
bare fd) are called through ctypes; ctypes releases the GIL around the call.
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import functools
import os
import socket
import sys
from collections import deque

SPLICE_F_MOVE = 1
SPLICE_F_NONBLOCK = 2
FLAGS = SPLICE_F_MOVE | SPLICE_F_NONBLOCK
_EINTR_RETRIES = 3  # a non-blocking call is rarely interrupted; retrying a few times is enough
_DRAIN_READS = 4096  # a pipe holds at most pipe-max-size: reading it out takes few reads

try:
    _libc: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover - no libc (not Linux)
    _libc = None


def _bind(name: str, argtypes: list[type], restype: type) -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    fn = getattr(_libc, name, None) if _libc is not None else None
    if fn is not None:
        fn.argtypes = argtypes
        fn.restype = restype
    return fn


_tee = _bind("tee", [ctypes.c_int, ctypes.c_int, ctypes.c_size_t, ctypes.c_uint], ctypes.c_ssize_t)
_recv = _bind("recv", [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int], ctypes.c_ssize_t)
_shutdown = _bind("shutdown", [ctypes.c_int, ctypes.c_int], ctypes.c_int)
_DISCARD_FLAGS = socket.MSG_TRUNC | socket.MSG_DONTWAIT


def _ccall(fn: ctypes._CFuncPtr, *args: int | None) -> int | None:  # type: ignore[name-defined]
    """Call a libc function returning -1/errno: the result, None for EAGAIN, or raise."""
    for _ in range(_EINTR_RETRIES):
        ret = int(fn(*args))
        if ret >= 0:
            return ret
        err = ctypes.get_errno()
        if err in (errno.EAGAIN, errno.EWOULDBLOCK):
            return None
        if err != errno.EINTR:
            raise OSError(err, os.strerror(err))
    return None  # interrupted every time: treat as "try again later"


def splice(src: int, dst: int, count: int) -> int | None:
    """Move up to ``count`` bytes from ``src`` to ``dst`` (one of them a pipe).

    Returns the bytes moved, 0 at end of file on ``src``, None if it would block."""
    try:
        return os.splice(src, dst, count, flags=FLAGS)
    except BlockingIOError:
        return None


def tee(src: int, dst: int, count: int) -> int | None:
    """Duplicate up to ``count`` bytes from the head of pipe ``src`` into pipe ``dst``
    without consuming them (the pages are shared, not copied)."""
    assert _tee is not None
    return _ccall(_tee, src, dst, count, FLAGS)


def discard_tcp(fd: int, count: int) -> int | None:
    """Drop up to ``count`` received bytes of a TCP socket without copying them:
    recv(MSG_TRUNC) on TCP discards the data (tcp(7)), so no buffer is needed."""
    assert _recv is not None
    return _ccall(_recv, fd, None, count, _DISCARD_FLAGS)


def shutdown_write(fd: int) -> None:
    """Half-close a socket given as a bare fd (we do not own a socket object for it)."""
    assert _shutdown is not None
    _ccall(_shutdown, fd, socket.SHUT_WR)


def is_tcp(fd: int) -> bool:
    """Whether ``fd`` is a TCP socket (MSG_TRUNC discards only on TCP)."""
    sock = socket.socket(fileno=fd)  # borrowed: detached below, never closed here
    try:
        return sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM
    finally:
        sock.detach()


@functools.cache
def pipe_max_size() -> int:
    """The largest pipe an unprivileged process may ask for (read once)."""
    try:
        with open("/proc/sys/fs/pipe-max-size") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 1 << 20


class Pipe:
    """A non-blocking pipe and the number of bytes in it.

    ``held`` is kept by the caller from the results of its splice/tee calls: the kernel
    would tell us (FIONREAD) but that costs a syscall, and every byte in or out of the
    pipe goes through one of our calls anyway."""

    __slots__ = ("r", "w", "capacity", "held")

    def __init__(self, size: int) -> None:
        self.r, self.w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.held = 0
        try:
            # Rounded up to a power of two pages.  Past pipe-max-size only with
            # CAP_SYS_RESOURCE, so it is the cap; EPERM past pipe-user-pages-soft (a user
            # with many pipes) leaves the default size: the capacity says what we got.
            fcntl.fcntl(self.w, fcntl.F_SETPIPE_SZ, max(4096, min(size, pipe_max_size())))
        except OSError:
            pass
        self.capacity = fcntl.fcntl(self.w, fcntl.F_GETPIPE_SZ)

    def drain(self) -> bytes:
        """Read everything out of the pipe (into user space, for a hand-off)."""
        out = bytearray()
        for _ in range(_DRAIN_READS):
            if self.held <= 0:
                break
            try:
                data = os.read(self.r, self.held)
            except BlockingIOError:
                break
            if not data:
                break
            out += data
            self.held -= len(data)
        self.held = 0
        return bytes(out)

    def close(self) -> None:
        for fd in (self.r, self.w):
            try:
                os.close(fd)
            except OSError:
                pass
        self.r = self.w = -1


class PipeQueue:
    """Bytes for one destination in one or more pipes, oldest first: room beyond one
    pipe's size (pipe-max-size) while staying in the kernel.  Pipes are added only as
    needed and closed once read out, so an idle queue is a single pipe."""

    def __init__(self, pipe_size: int, max_pipes: int = 1) -> None:
        self._size = pipe_size
        self._max = max_pipes
        self.pipes: deque[Pipe] = deque([Pipe(pipe_size)])
        self.held = 0

    @property
    def head(self) -> Pipe:
        return self.pipes[0]

    @property
    def tail(self) -> Pipe:
        return self.pipes[-1]

    @property
    def capacity(self) -> int:
        return self.pipes[0].capacity

    def front(self) -> Pipe:
        """The oldest pipe with bytes in it (empty ones before it are closed), else the
        head: the pipe to read from next."""
        pipes = self.pipes
        for _ in range(len(pipes) - 1):
            if pipes[0].held:
                break
            pipes.popleft().close()
        return pipes[0]

    def grow(self) -> Pipe | None:
        """A new, empty tail pipe, or None at the queue's pipe limit."""
        if len(self.pipes) >= self._max:
            return None
        pipe = Pipe(self._size)
        self.pipes.append(pipe)
        return pipe

    def added(self, pipe: Pipe, n: int) -> None:
        pipe.held += n
        self.held += n

    def taken(self, n: int) -> None:
        """``n`` bytes left the head pipe; an emptied head that is not the last goes."""
        head = self.pipes[0]
        head.held -= n
        self.held -= n
        if head.held == 0 and len(self.pipes) > 1:
            self.pipes.popleft().close()

    def drain(self) -> bytes:
        out = b"".join(p.drain() for p in self.pipes)
        self.held = 0
        return out

    def discard(self) -> int:
        """Throw the queued bytes away in the kernel (into /dev/null)."""
        n = self.held
        for p in self.pipes:
            skip_head(p, p.held)
            p.held = 0
        self.held = 0
        return n

    def close(self) -> None:
        for p in self.pipes:
            p.close()
        self.held = 0


@functools.cache
def _devnull() -> int:
    """One /dev/null fd for the process: it takes any splice at once, whoever sends."""
    return os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)


def skip_head(pipe: Pipe, n: int) -> None:
    """Drop the first ``n`` bytes of a pipe, which holds at least that many (into
    /dev/null, nothing copied).  /dev/null takes all at once; the bound is a guard."""
    for _ in range(_DRAIN_READS):
        if n <= 0:
            return
        n -= os.splice(pipe.r, _devnull(), n, flags=FLAGS)
    raise OSError(errno.EIO, "pipe did not give up the bytes it holds")


class Discarder:
    """Drops a socket's incoming bytes in the kernel: recv(MSG_TRUNC) on TCP (one call),
    else splice through a pipe into /dev/null (two calls, nothing copied either)."""

    def __init__(self, fd: int, chunk: int) -> None:
        self.fd = fd
        self._pipe: Pipe | None = None if is_tcp(fd) else Pipe(chunk)

    def __call__(self, count: int) -> int | None:
        """Drop up to ``count`` bytes: the number dropped, 0 at EOF, None if none yet."""
        if self._pipe is None:
            return discard_tcp(self.fd, count)
        n = splice(self.fd, self._pipe.w, count)
        if n:
            skip_head(self._pipe, n)  # the pipe is empty again after this
        return n

    def close(self) -> None:
        if self._pipe is not None:
            self._pipe.close()
            self._pipe = None


@functools.cache
def supported() -> bool:
    """Linux with splice, and tee callable through ctypes (checked by a real tee)."""
    if not sys.platform.startswith("linux") or not hasattr(os, "splice") or _tee is None:
        return False
    if _recv is None or _shutdown is None or not hasattr(fcntl, "F_SETPIPE_SZ"):
        return False
    try:
        a, b = Pipe(4096), Pipe(4096)
    except OSError:
        return False
    try:
        os.write(a.w, b"x")
        return tee(a.r, b.w, 1) == 1 and os.read(b.r, 1) == b"x" and os.read(a.r, 1) == b"x"
    except OSError:
        return False
    finally:
        a.close()
        b.close()
