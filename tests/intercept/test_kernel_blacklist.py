"""The blacklist in the kernel: the plugin alone (fake loader), then for real in a
namespace, where a listed client going around honeyswitch to main's own port is
redirected to the honeypot."""
from __future__ import annotations

import asyncio
import logging
import time

import pytest
from nslab import Daemon, hs, write_config

from honeyswitch.intercept.kernelset import KernelBlacklist
from honeyswitch.intercept.runner import RunError
from honeyswitch.store.export import export_nft
from honeyswitch.testing import netns


class FakeBlacklist:
    def __init__(self) -> None:
        self.items: list[dict] = []

    def entries(self) -> list[dict]:
        return list(self.items)

    def export(self, fmt: str) -> str:
        assert fmt == "nft"
        return export_nft(self.items, 1000.0)


async def test_syncs_the_export_only_when_the_entries_change():
    bl, loaded = FakeBlacklist(), []
    plugin = KernelBlacklist(bl, load=loaded.append)
    assert await plugin.sync_once()  # the empty set at start: the kernel may hold stale ones
    assert not await plugin.sync_once()
    bl.items.append({"ip": "198.18.0.2", "expires": None})
    assert await plugin.sync_once()
    assert loaded[-1] == export_nft(bl.items, 1000.0)
    assert "add element inet honeyswitch honeyswitch_blacklist { 198.18.0.2 }" in loaded[-1]
    assert plugin.syncs == 2


async def test_a_failing_nft_is_logged_once_and_retried(caplog):
    bl, calls = FakeBlacklist(), []

    def broken(text: str) -> None:
        calls.append(text)
        if len(calls) < 3:
            raise RunError("nft -f -: Error: Could not process rule: Operation not permitted")

    plugin = KernelBlacklist(bl, load=broken)
    with caplog.at_level(logging.WARNING):
        assert not await plugin.sync_once()
        assert not await plugin.sync_once()
    assert len([r for r in caplog.records if "blacklist set not updated" in r.message]) == 1
    assert await plugin.sync_once()  # it recovered: the kernel got the entries after all
    assert plugin.failures == 2 and plugin.syncs == 1


async def test_changed_wakes_the_plugin_and_never_raises():
    bl, loaded = FakeBlacklist(), []
    plugin = KernelBlacklist(bl, load=loaded.append)
    plugin.changed()  # before start: nothing to wake, no error
    plugin.start()
    try:
        for _ in range(100):
            if loaded:
                break
            await asyncio.sleep(0.01)
        bl.items.append({"ip": "198.18.0.9", "expires": None})
        plugin.changed()
        for _ in range(200):
            if len(loaded) == 2:
                break
            await asyncio.sleep(0.01)
        assert len(loaded) == 2 and "198.18.0.9" in loaded[-1]
    finally:
        await plugin.stop()


@pytest.mark.root
def test_listed_source_going_around_honeyswitch_is_redirected(lab, tmp_path):
    srv, cli = lab.ns("bsrv"), lab.ns("bcli")
    lab.link(srv, "198.18.0.1/30", cli, "198.18.0.2/30")
    lab.line_server(srv, "main", "198.18.0.1", 9000)  # main is reachable directly
    lab.line_server(srv, "honeypot", "127.0.0.1", 9001)
    cfg = write_config(tmp_path / "hs.toml", [{
        "name": "echo", "listen": "0.0.0.0:9100",
        "main": "tcp://198.18.0.1:9000", "honeypot": "tcp://127.0.0.1:9001",
    }], firewall={"blacklist_set": True})
    hs(srv, cfg, "firewall", "apply")
    daemon = Daemon(lab, srv, cfg)

    def ask(line: bytes) -> bytes:
        with netns.connect(cli, ("198.18.0.1", 9000)) as sock:
            sock.sendall(line)
            return sock.recv(4096)

    assert ask(b"a\n") == b"main 198.18.0.2: a\n"  # not listed: main, no honeyswitch
    daemon.cli("blacklist", "add", "198.18.0.2", "--reason", "test")
    wait_for_set(srv, lambda text: "198.18.0.2" in text)
    assert ask(b"b\n") == b"honeypot 127.0.0.1: b\n"  # listed: the kernel sent it to us
    start = daemon.wait_event("session_start")
    assert (start["state"], start["dest_ip"], start["dest_port"]) == ("direct", "198.18.0.1", 9000)
    daemon.cli("blacklist", "remove", "198.18.0.2")
    wait_for_set(srv, lambda text: "198.18.0.2" not in text)
    assert ask(b"c\n") == b"main 198.18.0.2: c\n"


def wait_for_set(ns: str, ok, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = netns.run(ns, ["nft", "list", "set", "inet", "honeyswitch", "honeyswitch_blacklist"]).stdout
        if ok(text):
            return
        time.sleep(0.05)
    raise TimeoutError(f"kernel set not updated: {text}")
