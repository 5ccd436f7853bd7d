"""Early wake-ups for the tailer from Linux inotify, through ctypes (no dependency).

Switch latency from an IDS line matters (the IDS itself takes ~15 ms on loopback), so
instead of only sleeping ``poll_interval`` the tailer also wakes when the kernel says a
file of that name changed in the log directory.  The directory is watched, not the
file, so creation and renames are seen too.  This is only a hint: polling stays the
source of truth, and where inotify is missing (not Linux, no libc, watch limit reached)
the tailer just polls.
"""
from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
import struct

log = logging.getLogger(__name__)

IN_MODIFY = 0x002
IN_ATTRIB = 0x004
IN_CLOSE_WRITE = 0x008
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_Q_OVERFLOW = 0x4000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
_MASK = IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then len bytes of name


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        for symbol in ("inotify_init1", "inotify_add_watch"):
            getattr(libc, symbol)  # AttributeError where libc has none
    except (OSError, AttributeError):
        return None
    return libc


class DirWatch:
    """Sets an event whenever the named file in ``directory`` may have changed (or a
    file whose name starts with it: the renamed old log is still being written)."""

    def __init__(self, fd: int, name: bytes, loop: asyncio.AbstractEventLoop) -> None:
        self._fd = fd
        self._name = name
        self._loop = loop
        self._event = asyncio.Event()
        loop.add_reader(fd, self._readable)

    @classmethod
    def create(cls, path: str) -> DirWatch | None:
        """A watch on ``path``'s directory, or ``None`` if inotify cannot be had."""
        libc = _libc()
        if libc is None:
            return None
        directory = os.path.dirname(os.path.abspath(path))
        fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            log.info("inotify unavailable (errno %d); polling only", ctypes.get_errno())
            return None
        if libc.inotify_add_watch(fd, os.fsencode(directory), _MASK) < 0:
            log.info("cannot watch %s (errno %d); polling only", directory, ctypes.get_errno())
            os.close(fd)
            return None
        return cls(fd, os.fsencode(os.path.basename(path)), asyncio.get_running_loop())

    async def wait(self, timeout: float) -> None:
        """Return at once if something changed since the last call, else at the next
        change or after ``timeout`` seconds."""
        if not self._event.is_set():
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that
            # races with the event, and stop() would then wait on a task that never ends
            try:
                async with asyncio.timeout(timeout):
                    await self._event.wait()
            except TimeoutError:
                pass
        self._event.clear()

    def close(self) -> None:
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1

    def _readable(self) -> None:
        while True:
            try:
                data = os.read(self._fd, 64 * 1024)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.close()
                return
            if not data:
                return
            if self._concerns_us(data):
                self._event.set()

    def _concerns_us(self, data: bytes) -> bool:
        offset = 0
        while offset + _EVENT.size <= len(data):
            _, mask, _, size = _EVENT.unpack_from(data, offset)
            name = data[offset + _EVENT.size: offset + _EVENT.size + size].rstrip(b"\0")
            if mask & IN_Q_OVERFLOW or not name or name.startswith(self._name):
                return True
            offset += _EVENT.size + size
        return False
