"""The daemon's signals: the switch signal, the reload signal, TERM and INT.

One process or a supervisor, the names are the same: the switch signal is ``[control]
switch_signal`` (USR1 by default), and the reload signal is HUP unless HUP switches, in
which case it is USR2.
"""
from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)


def names(switch_signal: str) -> tuple[str, str]:
    """(switch, reload) signal names without the SIG prefix."""
    return switch_signal, ("USR2" if switch_signal == "HUP" else "HUP")


def install(handlers: Mapping[str, Callable[[], None]]) -> None:
    """Run each handler on the loop when its signal (name without SIG) arrives."""
    loop = asyncio.get_running_loop()
    try:
        for name, handler in handlers.items():
            loop.add_signal_handler(getattr(signal, "SIG" + name), handler)
    except (ValueError, RuntimeError):  # not the main thread (tests run apps in threads)
        log.debug("signal handlers not installed: not in the main thread")


def remove(signal_names: tuple[str, ...]) -> None:
    loop = asyncio.get_running_loop()
    for name in signal_names:
        try:
            loop.remove_signal_handler(getattr(signal, "SIG" + name))
        except (ValueError, RuntimeError):
            pass
