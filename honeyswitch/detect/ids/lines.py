"""Cutting a growing byte stream into lines, with a bound on line length (sans-IO).

A writer may be caught mid-line (Suricata writes whole lines, but not every writer
does, and a tailer that starts at the end of a file may land inside one), and a corrupt
or hostile file may hold a "line" of gigabytes.  So a partial line waits in a buffer
that never grows past ``max_line``; a line that would is dropped whole and counted.
"""
from __future__ import annotations


class LineSplitter:
    __slots__ = ("max_line", "overlong", "_buf", "_skipping")

    def __init__(self, max_line: int) -> None:
        self.max_line = max_line
        self.overlong = 0
        self._buf = bytearray()
        self._skipping = False  # inside a dropped line: discard up to the next newline

    @property
    def pending(self) -> int:
        """Bytes of an unfinished line held back."""
        return len(self._buf)

    def skip_to_newline(self) -> None:
        """Drop everything up to the next newline without counting it (the tail of a
        line whose start was before where reading began)."""
        self._buf.clear()
        self._skipping = True

    def reset(self) -> None:
        """Forget any partial line (the file was truncated under it)."""
        self._buf.clear()
        self._skipping = False

    def feed(self, data: bytes) -> list[bytes]:
        """Complete lines in ``data`` (without their ``\\n``), in order."""
        lines: list[bytes] = []
        start = 0
        while (end := data.find(b"\n", start)) >= 0:
            self._finish(data[start:end], lines)
            start = end + 1
        self._hold(data[start:])
        return lines

    def flush(self) -> bytes | None:
        """The unfinished last line, if any, for a file that will not grow any more."""
        if self._skipping or not self._buf:
            self.reset()
            return None
        line = bytes(self._buf)
        self.reset()
        return line

    def _finish(self, piece: bytes, lines: list[bytes]) -> None:
        if self._skipping:
            self._skipping = False
        elif len(self._buf) + len(piece) > self.max_line:
            self.overlong += 1
        elif self._buf:
            self._buf += piece
            lines.append(bytes(self._buf))
        else:
            lines.append(piece)
        self._buf.clear()

    def _hold(self, rest: bytes) -> None:
        if self._skipping or not rest:
            return
        if len(self._buf) + len(rest) > self.max_line:
            self.overlong += 1  # counted once, now; the rest of it is skipped
            self.skip_to_newline()
        else:
            self._buf += rest
