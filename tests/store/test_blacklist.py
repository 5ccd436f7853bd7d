"""The blacklist: O(1) checks, expiry on an injected clock, allowlist, normalisation,
persistence across restarts and sharing between processes."""
from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from honeyswitch.config import BlacklistConfig
from honeyswitch.store.blacklist import Blacklist, normalize_ip
from honeyswitch.store.db import Store

ALLOW = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8:1::/48"))
CONFIG = BlacklistConfig(ttl=100.0, allowlist=ALLOW)


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "hs.db")
    yield s
    s.close()


def make(store: Store, clock: Clock | None = None, events: list[dict[str, Any]] | None = None) -> Blacklist:
    return Blacklist(store, CONFIG, on_change=None if events is None else events.append, clock=clock or Clock())


@pytest.mark.parametrize("raw,norm", [
    ("192.0.2.1", "192.0.2.1"), ("::ffff:192.0.2.1", "192.0.2.1"), (" 192.0.2.1 ", "192.0.2.1"),
    ("2001:DB8::0001", "2001:db8::1"), ("fe80::1%eth0", "fe80::1"), ("nope", None), ("", None),
    ("192.0.2.256", None),
])
def test_normalize_ip(raw: str, norm: str | None) -> None:
    assert normalize_ip(raw) == norm


def test_add_check_remove_with_events(store: Store) -> None:
    events: list[dict[str, Any]] = []
    clock = Clock()
    bl = make(store, clock, events)
    entry = bl.add("192.0.2.1", "switched", "switch:s1")
    assert entry == {"ip": "192.0.2.1", "reason": "switched", "by": "switch:s1",
                     "added": clock.now, "expires": clock.now + 100}
    assert bl.is_listed("192.0.2.1") and "192.0.2.1" in bl
    assert not bl.is_listed("192.0.2.2")
    assert bl.remove("192.0.2.1", "operator") is True
    assert bl.remove("192.0.2.1", "operator") is False
    assert not bl.is_listed("192.0.2.1")
    assert [e["event_type"] for e in events] == ["blacklist_add", "blacklist_remove"]
    add = events[0]
    assert add["ip"] == add["src_ip"] == "192.0.2.1" and add["by"] == "switch:s1"
    assert add["expires"] == "1970-01-12T13:48:20.000000+00:00"  # clock.now + 100 as ISO
    assert add["session_id"] is None


def test_ipv4_mapped_is_one_address(store: Store) -> None:
    bl = make(store)
    assert bl.add("::ffff:198.51.100.7", "r", "op")["ip"] == "198.51.100.7"
    assert bl.is_listed("198.51.100.7") and bl.is_listed("::ffff:198.51.100.7")
    bl.add("2001:db8::5", "r", "op")
    assert bl.is_listed("2001:DB8:0::5")
    assert bl.remove("::ffff:198.51.100.7", "op")
    assert not bl.is_listed("198.51.100.7")


def test_allowlist_is_never_listed(store: Store) -> None:
    events: list[dict[str, Any]] = []
    bl = make(store, events=events)
    for ip in ("10.1.2.3", "::ffff:10.9.9.9", "2001:db8:1::7"):
        assert bl.add(ip, "r", "op") is None
        assert not bl.is_listed(ip)
    assert bl.add("not an ip", "r", "op") is None
    assert bl.entries() == [] and events == []


def test_allowlisted_rows_in_sqlite_are_ignored(store: Store) -> None:
    Blacklist(store, BlacklistConfig(ttl=0)).add("10.1.2.3", "r", "other process")
    store.flush()
    assert not make(store).is_listed("10.1.2.3")


def test_expiry_with_an_injected_clock(store: Store) -> None:
    events: list[dict[str, Any]] = []
    clock = Clock()
    bl = make(store, clock, events)
    bl.add("192.0.2.1", "r", "op")  # ttl 100 from config
    bl.add("192.0.2.2", "r", "op", ttl=10)
    bl.add("192.0.2.3", "r", "op", ttl=0)  # never expires
    clock.now += 10
    assert not bl.is_listed("192.0.2.2")  # expired counts as not listed before expire() runs
    assert bl.is_listed("192.0.2.1") and bl.is_listed("192.0.2.3")
    assert [e["ip"] for e in bl.entries()] == ["192.0.2.1", "192.0.2.3"]
    assert bl.expire() == ["192.0.2.2"]
    assert bl.expire() == []
    clock.now += 1000
    assert bl.expire() == ["192.0.2.1"]
    assert bl.is_listed("192.0.2.3")
    assert [e["event_type"] for e in events][-2:] == ["blacklist_expire", "blacklist_expire"]
    bl.flush()
    assert [r["ip"] for r in store.query("SELECT ip FROM blacklist")] == ["192.0.2.3"]


def test_add_refreshes_and_never_shortens(store: Store) -> None:
    clock = Clock()
    bl = make(store, clock)
    first = bl.add("192.0.2.1", "a", "op", ttl=10)
    clock.now += 5
    second = bl.add("192.0.2.1", "b", "op", ttl=10)
    assert second["added"] == first["added"] and second["expires"] == clock.now + 10
    assert second["reason"] == "b"
    assert bl.add("192.0.2.1", "c", "op", ttl=1)["expires"] == clock.now + 10
    assert bl.add("192.0.2.1", "d", "op", ttl=0)["expires"] is None
    assert bl.add("192.0.2.1", "e", "op", ttl=5)["expires"] is None
    clock.now += 9  # the old heap item (expires at +15) must not expire the refreshed entry
    assert bl.expire() == [] and bl.is_listed("192.0.2.1")
    with pytest.raises(ValueError):
        bl.add("192.0.2.9", "r", "op", ttl=-1)


def test_entries_survive_a_restart(tmp_path: Path) -> None:
    clock = Clock()
    store = Store(tmp_path / "hs.db")
    bl = Blacklist(store, CONFIG, clock=clock)
    bl.add("192.0.2.1", "r1", "op", ttl=50)
    bl.add("2001:db8::1", "r2", "op", ttl=0)
    store.close()  # right after add: the entries must be on disk
    store = Store(tmp_path / "hs.db")
    bl = Blacklist(store, CONFIG, clock=clock)
    assert bl.is_listed("192.0.2.1") and bl.is_listed("2001:db8::1")
    assert {e["ip"]: (e["reason"], e["expires"]) for e in bl.entries()} == {
        "192.0.2.1": ("r1", clock.now + 50), "2001:db8::1": ("r2", None)}
    store.close()


def test_refresh_sees_another_process(tmp_path: Path) -> None:
    clock = Clock()
    daemon_store, cli_store = Store(tmp_path / "hs.db"), Store(tmp_path / "hs.db")
    daemon = Blacklist(daemon_store, CONFIG, clock=clock)
    assert daemon.refresh() is False
    cli = Blacklist(cli_store, CONFIG, clock=clock)
    cli.add("198.51.100.1", "manual", "operator")
    cli.flush()
    assert not daemon.is_listed("198.51.100.1")
    assert daemon.refresh() is True
    assert daemon.is_listed("198.51.100.1")
    assert daemon.refresh() is False
    cli.remove("198.51.100.1", "operator")
    cli.flush()
    assert daemon.refresh() and not daemon.is_listed("198.51.100.1")
    daemon_store.close()
    cli_store.close()


def test_refresh_does_not_lose_our_queued_add(tmp_path: Path) -> None:
    clock = Clock()
    store, other = Store(tmp_path / "hs.db"), Store(tmp_path / "hs.db")
    bl = Blacklist(store, CONFIG, clock=clock)
    Blacklist(other, CONFIG, clock=clock).add("192.0.2.50", "r", "other")
    other.flush()
    bl.add("192.0.2.1", "r", "op")
    bl.refresh()  # whether it reloads now or after our write is committed,
    assert bl.is_listed("192.0.2.1")  # our entry is never missing
    bl.flush()
    bl.refresh()
    assert bl.is_listed("192.0.2.1") and bl.is_listed("192.0.2.50")
    store.close()
    other.close()


def test_expire_keeps_an_entry_another_process_refreshed(tmp_path: Path) -> None:
    clock = Clock()
    a_store, b_store = Store(tmp_path / "hs.db"), Store(tmp_path / "hs.db")
    a = Blacklist(a_store, CONFIG, clock=clock)
    a.add("192.0.2.1", "r", "op", ttl=10)
    a.flush()
    b = Blacklist(b_store, CONFIG, clock=clock)
    clock.now += 5
    b.add("192.0.2.1", "r", "op", ttl=100)
    b.flush()
    clock.now += 6
    assert a.expire() == ["192.0.2.1"]  # a's copy is out of date
    a.flush()
    assert a.refresh() and a.is_listed("192.0.2.1")  # b's refresh survived in SQLite
    a_store.close()
    b_store.close()


def test_set_config_removes_newly_allowed(store: Store) -> None:
    events: list[dict[str, Any]] = []
    bl = Blacklist(store, BlacklistConfig(ttl=0), on_change=events.append)
    bl.add("10.1.1.1", "r", "op")
    bl.add("192.0.2.1", "r", "op")
    bl.config = CONFIG  # what a config reload does
    assert not bl.is_listed("10.1.1.1") and bl.is_listed("192.0.2.1")
    assert bl.config is CONFIG
    assert events[-1]["event_type"] == "blacklist_remove" and events[-1]["by"] == "allowlist"


def test_export_uses_active_entries(store: Store) -> None:
    clock = Clock(1000.0)
    bl = make(store, clock)
    bl.add("192.0.2.9", "r", "op", ttl=0)
    bl.add("192.0.2.10", "r", "op", ttl=1)
    bl.add("2001:db8::1", "r", "op", ttl=30)
    clock.now += 1
    assert bl.export("text") == "192.0.2.9\n2001:db8::1\n"
    assert "add honeyswitch_blacklist6 2001:db8::1 timeout 29 -exist" in bl.export("ipset")
    assert "{ 192.0.2.9 }" in bl.export("nft")
