"""The blacklist: sources sent straight to the honeypot (DIRECT) when they come back.

The accept path asks :meth:`Blacklist.is_listed` for every new connection, so the list
lives in a dict in memory: one lookup and one clock read.  SQLite (via the writer
thread) keeps it across restarts and shares it with other processes: the CLI adds an
address, the daemon's periodic :meth:`Blacklist.refresh` notices (``PRAGMA
data_version``) and reloads.  Blacklist writes are queued as *critical* jobs, which the
writer never drops.  Addresses on the configured allowlist are never listed.
"""
from __future__ import annotations

import heapq
import ipaddress
import threading
import time
from collections.abc import Callable
from typing import Any

from ..config import BlacklistConfig
from ..events import iso_timestamp, make_event
from .db import Store
from .export import export as _export

Entry = dict[str, Any]  # ip, reason, by, added, expires (epoch seconds; None = never)

_UPSERT = ("INSERT INTO blacklist (ip, reason, added_by, added, expires) VALUES (?, ?, ?, ?, ?) "
           "ON CONFLICT (ip) DO UPDATE SET reason = excluded.reason, added_by = excluded.added_by, "
           "added = excluded.added, expires = excluded.expires")


def normalize_ip(ip: str) -> str | None:
    """The canonical text of an address (IPv4-mapped IPv6 as IPv4, no scope), or None."""
    try:
        addr = ipaddress.ip_address(str(ip).strip())
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        if addr.scope_id:
            addr = ipaddress.IPv6Address(str(addr).split("%", 1)[0])
    return str(addr)


class Blacklist:
    """In-memory blacklist backed by the store's ``blacklist`` table."""

    def __init__(self, store: Store, config: BlacklistConfig,
                 on_change: Callable[[dict[str, Any]], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self._config = config
        self.on_change = on_change
        self.clock = clock
        self._entries: dict[str, Entry] = {}
        self._expiry: list[tuple[float, str]] = []  # heap; stale items skipped lazily
        self._pending = 0  # our writes not yet committed; refresh waits for them
        self._lock = threading.Lock()
        self._version = store.data_version()
        self._load()

    # ------------------------------------------------------------ the accept path

    def is_listed(self, ip: str) -> bool:
        """Whether ``ip`` is listed and not expired (O(1))."""
        entry = self._entries.get(ip)
        if entry is None:
            if ":" not in ip:
                return False  # sockets give canonical IPv4 text: no second try needed
            key = normalize_ip(ip)
            entry = self._entries.get(key) if key else None
            if entry is None:
                return False
        expires = entry["expires"]
        return expires is None or expires > self.clock()

    # ------------------------------------------------------------ changes

    def add(self, ip: str, reason: str, by: str, ttl: float | None = None) -> Entry | None:
        """List ``ip`` for ``ttl`` seconds (default: the config's; 0 = until removed).

        An entry already there is refreshed; its expiry never gets earlier.  Returns
        the entry, or None for an invalid or allowlisted address."""
        ttl = self.config.ttl if ttl is None else ttl
        if ttl < 0:
            raise ValueError(f"ttl must be >= 0, not {ttl}")
        now = self.clock()
        return self._put(ip, reason, by, now + ttl if ttl > 0 else None, now)

    def merge(self, ip: str, reason: str, by: str, expires: float | None, *, origin: str,
              record: bool = True) -> Entry | None:
        """List ``ip`` until ``expires`` (None: until removed) as host ``origin`` decided
        ([cluster]).  It merges as :meth:`add` does; ``by`` is kept as ``by@origin``.
        ``record`` False leaves the event to another process of this host (each worker
        applies the cluster's decisions, one records them)."""
        now = self.clock()
        if expires is not None and expires <= now:
            return None
        return self._put(ip, reason, f"{by}@{origin}", expires, now, record=record, origin=origin)

    def remove(self, ip: str, by: str, *, record: bool = True) -> bool:
        """Unlist ``ip``; True if it was listed."""
        key = normalize_ip(ip)
        if key is None:
            return False
        now = self.clock()
        was = self._active(key, now) is not None
        self._entries.pop(key, None)
        # Deleted in SQLite even if unknown here: another process may have added it.
        self._persist("DELETE FROM blacklist WHERE ip = ?", (key,))
        if was and record:
            self._emit("blacklist_remove", now, key, by=by)
        return was

    def _put(self, ip: str, reason: str, by: str, expires: float | None, now: float, *,
             record: bool = True, origin: str = "") -> Entry | None:
        key = normalize_ip(ip)
        if key is None or self.config.allowed(key):
            return None
        old = self._active(key, now)
        if old is not None:
            expires = None if expires is None or old["expires"] is None else max(expires, old["expires"])
        entry = {"ip": key, "reason": reason, "by": by,
                 "added": old["added"] if old else now, "expires": expires}
        self._entries[key] = entry
        if expires is not None:
            heapq.heappush(self._expiry, (expires, key))
        self._persist(_UPSERT, (key, reason, by, entry["added"], expires))
        if record:
            self._emit("blacklist_add", now, key, reason=reason, by=by, origin=origin or None,
                       expires=None if expires is None else iso_timestamp(expires))
        return dict(entry)

    def expire(self) -> list[str]:
        """Drop the entries whose time is up; returns their addresses.  Call periodically."""
        now = self.clock()
        gone = []
        heap = self._expiry
        while heap and heap[0][0] <= now:
            expires, key = heapq.heappop(heap)
            entry = self._entries.get(key)
            if entry is None or entry["expires"] != expires:
                continue  # removed or refreshed since
            del self._entries[key]
            gone.append(key)
            # Only if still expired in SQLite: another process may have refreshed it.
            self._persist("DELETE FROM blacklist WHERE ip = ? AND expires IS NOT NULL AND expires <= ?",
                          (key, now))
            self._emit("blacklist_expire", now, key)
        return gone

    def refresh(self) -> bool:
        """Reload from SQLite if another process changed it; True if reloaded.

        Skipped while our own writes are still queued, so a reload cannot briefly lose
        an entry we just added; the next call catches up."""
        with self._lock:
            if self._pending:
                return False
        version = self.store.data_version()
        if version == self._version:
            return False
        self._version = version
        self._load()
        return True

    # ------------------------------------------------------------ reading

    def entries(self) -> list[Entry]:
        """The active entries (copies), oldest first."""
        now = self.clock()
        live = [dict(e) for e in self._entries.values() if e["expires"] is None or e["expires"] > now]
        return sorted(live, key=lambda e: (e["added"], e["ip"]))

    def export(self, fmt: str) -> str:
        """The active entries as ``text``, ``nft`` or ``ipset`` (see :mod:`.export`)."""
        return _export(fmt, self.entries(), self.clock())

    @property
    def config(self) -> BlacklistConfig:
        return self._config

    @config.setter
    def config(self, config: BlacklistConfig) -> None:
        self.set_config(config)

    def set_config(self, config: BlacklistConfig) -> None:
        """Use a reloaded config (also ``bl.config = new``); entries now on the
        allowlist are removed."""
        self._config = config
        for key in [k for k in self._entries if config.allowed(k)]:
            self.remove(key, "allowlist")

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every change so far is committed (the CLI, shutdown)."""
        return self.store.flush(timeout)

    def __len__(self) -> int:
        return len(self.entries())

    def __contains__(self, ip: object) -> bool:
        return isinstance(ip, str) and self.is_listed(ip)

    # ------------------------------------------------------------ internals

    def _active(self, key: str, now: float) -> Entry | None:
        entry = self._entries.get(key)
        if entry is None or (entry["expires"] is not None and entry["expires"] <= now):
            return None
        return entry

    def _load(self) -> None:
        rows = self.store.query("SELECT ip, reason, added_by, added, expires FROM blacklist")
        # Rows listed by a process with another allowlist stay in SQLite but never count here.
        self._entries = {r["ip"]: {"ip": r["ip"], "reason": r["reason"], "by": r["added_by"],
                                   "added": r["added"], "expires": r["expires"]}
                         for r in rows if not self.config.allowed(r["ip"])}
        self._expiry = [(e["expires"], ip) for ip, e in self._entries.items() if e["expires"] is not None]
        heapq.heapify(self._expiry)

    def _persist(self, sql: str, params: tuple[Any, ...]) -> None:
        with self._lock:
            self._pending += 1
        if not self.store.submit_sql(sql, params, critical=True, done=self._written):
            self._written()

    def _written(self) -> None:
        with self._lock:
            self._pending -= 1

    def _emit(self, event_type: str, now: float, ip: str, **fields: Any) -> None:
        if self.on_change is not None:
            self.on_change(make_event(event_type, None, timestamp=iso_timestamp(now), src_ip=ip, ip=ip, **fields))
