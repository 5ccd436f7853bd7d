"""The blacklist in the kernel: keep the nftables sets of table ``inet honeyswitch`` equal
to the daemon's blacklist (``[firewall] blacklist_set = true``).

With the rules of ``honeyswitch firewall apply``, a listed source's packets to the
protected ports (intercepted ones and main's own port) are redirected to honeyswitch,
which sends them to the honeypot; the kernel takes them even where honeyswitch is not
otherwise in the path.

A plugin with a small lifecycle (start / changed / stop) that fails alone: a failing
``nft`` is logged and retried later, and never touches a session.  The set content is
the blacklist export of :mod:`honeyswitch.store.export` (one transaction: flush and
fill), so the kernel never sees a half-updated set.  Entries carry their remaining time
as an nft timeout, so the kernel forgets them when honeyswitch does, even if honeyswitch
is stopped.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ..tasks import spawn
from .runner import RunError, run_nft
from .settings import FirewallConfig

log = logging.getLogger(__name__)
RECHECK = 5.0  # seconds: catch entries another process wrote to the shared store


class KernelBlacklist:
    """Syncs ``blacklist`` (a :class:`~honeyswitch.store.blacklist.Blacklist`) into nft."""

    def __init__(self, blacklist: Any, load: Callable[[str], None] = run_nft) -> None:
        self.blacklist = blacklist
        self._load = load
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._synced: tuple[Any, ...] | None = None  # what the kernel holds, as we last set it
        self._last_error = ""
        self.syncs = 0
        self.failures = 0

    @classmethod
    def from_config(cls, fw: FirewallConfig, blacklist: Any) -> KernelBlacklist | None:
        return cls(blacklist) if fw.blacklist_set and blacklist is not None else None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        spawn(self._run(), name="kernelset")

    def changed(self) -> None:
        """The blacklist changed: sync soon.  Safe from any thread, never raises."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def stop(self) -> None:
        from ..tasks import cancel_all

        await cancel_all("kernelset")
        self._loop = None

    async def _run(self) -> None:
        while True:
            await self.sync_once()
            try:
                await asyncio.wait_for(self._wake.wait(), RECHECK)
            except TimeoutError:
                pass
            self._wake.clear()

    async def sync_once(self) -> bool:
        """Load the current entries if they differ from the kernel's; True if loaded."""
        entries = self.blacklist.entries()
        key = tuple((e["ip"], e["expires"]) for e in entries)
        if key == self._synced:
            return False
        text = self.blacklist.export("nft")
        try:
            # nft may take a while on a busy host: never in the event loop's thread.
            await asyncio.to_thread(self._load, text)
        except (RunError, OSError) as e:
            self.failures += 1
            if str(e) != self._last_error:  # once per distinct problem, not every retry
                log.warning("blacklist set not updated (retrying): %s", e)
                self._last_error = str(e)
            return False
        self._synced, self._last_error = key, ""
        self.syncs += 1
        return True
