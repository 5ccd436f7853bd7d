"""How a TLS connection reports its end to the session (no sockets): a peer that closed
its socket before reading our close_notify makes its kernel answer with a RST, which the
loop reports as a reset, or as ENOTCONN / EPIPE from the shutdown after it.  That is a
normal close; before our close_notify it is a reset to pass on."""
from __future__ import annotations

import errno
from typing import Any

import pytest

from honeyswitch.core.types import End
from honeyswitch.tls.conn import TlsStream


class Sink:
    def __init__(self) -> None:
        self.lost: list[tuple[End, Any]] = []

    def on_lost(self, end: End, exc: BaseException | None) -> None:
        self.lost.append((end, exc))


def ended(exc: BaseException, *, notified: bool) -> Any:
    sink = Sink()
    conn = TlsStream(sink, End.CLIENT)  # type: ignore[arg-type]
    conn._shut = notified  # our close_notify went out (write_eof)
    conn.connection_lost(exc)  # type: ignore[arg-type]
    ((end, reported),) = sink.lost
    assert end is End.CLIENT
    return reported


@pytest.mark.parametrize("code", [errno.ECONNRESET, errno.ENOTCONN, errno.EPIPE])
def test_a_reset_after_our_close_notify_is_a_normal_close(code: int) -> None:
    exc = ConnectionResetError(code, "reset") if code == errno.ECONNRESET else OSError(code, "gone")
    assert ended(exc, notified=True) is None


@pytest.mark.parametrize("code", [errno.ECONNRESET, errno.ENOTCONN])
def test_a_reset_before_it_is_passed_on(code: int) -> None:
    exc = OSError(code, "reset")
    assert ended(exc, notified=False) is exc


def test_other_errors_are_passed_on_after_it_too() -> None:
    exc = OSError(errno.ETIMEDOUT, "timed out")
    assert ended(exc, notified=True) is exc
