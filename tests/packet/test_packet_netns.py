"""Packet mode for real (root): network namespaces, the kernel's TCP on every host,
NFQUEUE, raw sockets.  Addresses in 198.18.40.0/21 and 2001:2:0:40::/64-style prefixes.

Two topologies: a server host where main and the honeypot listen on two ports and
honeyswitch runs beside them; and a gateway in front of a main host and a honeypot host.
SACK, window scaling and timestamps stay at Linux's defaults (on), and the tests check
the connections really use them; one test turns all three off on the honeypot's host,
so the honeypot's connection and the client's (main's) disagree on every option.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from honeyswitch.testing import netns, pktlab, require

pytestmark = [pytest.mark.root, pytest.mark.slow]
NSLAB = Path(__file__).resolve().parents[1] / "intercept"  # the namespace tests' helpers


@pytest.fixture
def lab() -> Iterator[netns.Lab]:
    require.root()
    for program in ("ip", "nsenter", "nft", "iptables", "ip6tables", "sysctl"):
        require.program(program)
    pytest.importorskip("netfilterqueue")
    lab = netns.Lab("pk")
    try:
        yield lab
    finally:
        lab.close()


TOPOLOGIES = [
    pytest.param(False, False, id="v4-host"),
    pytest.param(True, False, id="v6-host"),
    pytest.param(False, True, id="v4-gateway"),
    pytest.param(True, True, id="v6-gateway"),
]


def daemon(lab: netns.Lab, topo: pktlab.Topology, tmp_path: Path, **svc: object):
    import sys

    sys.path.insert(0, str(NSLAB))
    from nslab import Daemon, write_config  # the namespace tests' daemon helper

    service = {"name": "web", "mode": "packet", "main": topo.url(topo.main),
               "honeypot": topo.url(topo.honeypot), **svc}
    cfg = write_config(tmp_path / "hs.toml", [service])
    return Daemon(lab, topo.daemon_ns, cfg)


def sessions(d) -> list[dict]:
    return json.loads(d.cli("sessions", "--json").stdout)


def switch(d, session_id: str) -> None:
    """Switch through the CLI; a refusal says what happened to the honeypot leg."""
    try:
        assert "switched" in d.cli("switch", session_id).stdout
    except RuntimeError as e:
        legs = d.events("honeypot_dropped") + d.events("backend_failure")
        raise AssertionError(f"{e}; honeypot events: {legs}") from None


WARM = pktlab.pattern(100, 4)


def warm(d, sock: socket.socket, timeout: float = 10.0) -> int:
    """A small round trip, then wait until the honeypot has answered it too; returns the
    bytes it took.  Megabytes sent before the honeypot's handshake is through can fill
    its buffer while the honeypot's SYN-ACK waits in the queue behind them, and the
    honeypot is then dropped by design; tests of what follows start once it is up."""
    assert pktlab.echo_roundtrip(sock, WARM, timeout=30) == WARM
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        live = sessions(d)
        if live and live[0]["bytes_from_honeypot"] >= len(WARM):
            return len(b"ECHO 100\n") + len(WARM)
        time.sleep(0.05)
    raise AssertionError(f"the honeypot did not answer within {timeout}s: {sessions(d)}")


def main_counter(topo: pktlab.Topology) -> None:
    """Count packets reaching main's port on main's host, RSTs aside (ours)."""
    port = topo.main[1]
    netns.run(topo.main_ns, ["nft", "-f", "-"], stdin=(
        "table inet capture {\n chain in {\n  type filter hook input priority 0;\n"
        f"  tcp dport {port} tcp flags & rst == 0 counter\n }}\n}}\n"))


def main_packets(topo: pktlab.Topology) -> int:
    out = netns.run(topo.main_ns, ["nft", "-j", "list", "table", "inet", "capture"]).stdout
    for item in json.loads(out)["nftables"]:
        for expr in item.get("rule", {}).get("expr", []):
            if "counter" in expr:
                return int(expr["counter"]["packets"])
    raise AssertionError("no counter")


def negotiated(sock: socket.socket) -> set[str]:
    """What the client's connection uses, from TCP_INFO's tcpi_options."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    flags = {1: "ts", 2: "sack", 4: "wscale"}
    return {name for bit, name in flags.items() if info[5] & bit}


@pytest.mark.parametrize("v6,gateway", TOPOLOGIES)
def test_mirrored_bytes_are_exact_on_main_and_honeypot(lab: netns.Lab, tmp_path: Path, v6: bool, gateway: bool) -> None:
    topo = pktlab.Topology(lab, v6, gateway)
    main_log, hp_log = topo.start_servers(tmp_path)
    d = daemon(lab, topo, tmp_path)
    sock = topo.connect()
    sent = b""
    for i, n in enumerate((1, 1000, 3 << 20)):
        data = pktlab.pattern(n, i)
        assert pktlab.sha(pktlab.echo_roundtrip(sock, data)) == pktlab.sha(data)
        sent += b"ECHO %d\n" % n + data
    (live,) = sessions(d)
    assert live["mode"] == "packet" and live["state"] == "mirror"
    assert live["bytes_from_client"] == len(sent)
    assert negotiated(sock) == {"ts", "sack", "wscale"}
    sock.close()
    main = [e for e in pktlab.wait_log(main_log, 2) if e["peer"] == topo.client_addr]
    hp = [e for e in pktlab.wait_log(hp_log, 2) if e["peer"] == topo.client_addr]
    assert [(e["bytes"], e["sha256"], e["end"]) for e in main] == [(len(sent), pktlab.sha(sent), "eof")]
    assert [(e["bytes"], e["sha256"], e["end"]) for e in hp] == [(len(sent), pktlab.sha(sent), "eof")]
    end = d.wait_event("session_end")
    assert end["state"] == "mirror" and end["bytes_main_to_client"] == end["bytes_from_honeypot"]


@pytest.mark.parametrize("align", ["bytes", "quiet"])
@pytest.mark.parametrize("v6,gateway", TOPOLOGIES)
def test_switch_goes_on_with_the_honeypot_and_resets_main(lab: netns.Lab, tmp_path: Path, v6: bool,
                                                         gateway: bool, align: str) -> None:
    topo = pktlab.Topology(lab, v6, gateway)
    main_log, hp_log = topo.start_servers(tmp_path)
    d = daemon(lab, topo, tmp_path, align=align, quiet_time=0.1)
    main_counter(topo)
    sock = topo.connect()
    warm(d, sock)
    first = pktlab.pattern(500_000, 1)
    assert pktlab.echo_roundtrip(sock, first) == first
    assert negotiated(sock) == {"ts", "sack", "wscale"}
    (live,) = sessions(d)
    switch(d, live["session_id"])
    d.wait_event("switch_done", timeout=10)
    before = main_packets(topo)
    (reset,) = [e for e in pktlab.wait_log(main_log, 2) if e["peer"] == topo.client_addr]
    assert reset["end"] == "reset"  # main's socket saw ECONNRESET
    later = b""
    for i in range(3):  # the same TCP connection, now served by the honeypot
        data = pktlab.pattern(700_000, 10 + i)
        assert pktlab.sha(pktlab.echo_roundtrip(sock, data)) == pktlab.sha(data)
        later += b"ECHO %d\n" % len(data) + data
    (live,) = sessions(d)
    assert live["state"] == "honeypot" and live["mode"] == "packet"
    sock.close()
    (hp,) = [e for e in pktlab.wait_log(hp_log, 2) if e["peer"] == topo.client_addr]
    whole = b"ECHO 100\n" + WARM + b"ECHO %d\n" % len(first) + first + later
    assert hp["sha256"] == pktlab.sha(whole) and hp["end"] == "eof"
    assert before > 0 and main_packets(topo) == before, "a client packet reached main after the switch"
    assert d.wait_event("session_end")["switched"] is True


def test_daemon_killed_mid_session_fail_open_keeps_main_serving(lab: netns.Lab, tmp_path: Path) -> None:
    topo = pktlab.Topology(lab, False, False)
    main_log, _ = topo.start_servers(tmp_path)
    d = daemon(lab, topo, tmp_path)
    sock = topo.connect()
    data = pktlab.pattern(200_000, 3)
    assert pktlab.echo_roundtrip(sock, data) == data
    os.kill(d.proc.pid, signal.SIGKILL)  # no cleanup: the queue rules stay, nobody reads them
    d.proc.wait(10)
    assert "NFQUEUE" in netns.run(topo.daemon_ns, ["iptables", "-t", "raw", "-S"]).stdout
    more = pktlab.pattern(1 << 20, 4)
    assert pktlab.echo_roundtrip(sock, more) == more  # main's client goes on
    fresh = topo.connect()
    assert pktlab.echo_roundtrip(fresh, b"new client") == b"new client"
    sock.close()
    fresh.close()
    entries = [e for e in pktlab.wait_log(main_log, 3) if e["peer"] == topo.client_addr]
    assert sorted(e["end"] for e in entries) == ["eof", "eof"]


@pytest.mark.parametrize("v6,gateway", [pytest.param(False, False, id="v4-host"),
                                        pytest.param(True, True, id="v6-gateway")])
def test_loss_reordering_and_duplication_keep_megabytes_exact(lab: netns.Lab, tmp_path: Path, v6: bool,
                                                              gateway: bool) -> None:
    topo = pktlab.Topology(lab, v6, gateway)
    main_log, hp_log = topo.start_servers(tmp_path)
    d = daemon(lab, topo, tmp_path)
    pktlab.impair(lab, topo, loss=0.01, reorder=0.03, delay=0.004, dup=0.02)
    sock = topo.connect()
    warm(d, sock)
    data = pktlab.pattern(4 << 20, 5)
    t0 = time.monotonic()
    assert pktlab.sha(pktlab.echo_roundtrip(sock, data, timeout=90)) == pktlab.sha(data)
    assert time.monotonic() - t0 < 90
    assert pktlab.duplicated(topo) > 0
    sock.close()
    sent = b"ECHO 100\n" + WARM + b"ECHO %d\n" % len(data) + data
    for log in (main_log, hp_log):
        (e,) = [e for e in pktlab.wait_log(log, 2, timeout=30) if e["peer"] == topo.client_addr]
        assert (e["bytes"], e["sha256"]) == (len(sent), pktlab.sha(sent))
    assert d.wait_event("session_end", timeout=30)["state"] == "mirror"


def test_switch_under_loss_still_lands(lab: netns.Lab, tmp_path: Path) -> None:
    topo = pktlab.Topology(lab, False, True)
    main_log, hp_log = topo.start_servers(tmp_path)
    d = daemon(lab, topo, tmp_path)
    pktlab.impair(lab, topo, loss=0.03, reorder=0.02)
    sock = topo.connect()
    warmed = warm(d, sock)
    first = pktlab.pattern(1 << 20, 6)
    assert pktlab.echo_roundtrip(sock, first, timeout=60) == first
    (live,) = sessions(d)
    d.cli("switch", live["session_id"])
    d.wait_event("switch_done", timeout=10)
    data = pktlab.pattern(2 << 20, 7)
    assert pktlab.sha(pktlab.echo_roundtrip(sock, data, timeout=90)) == pktlab.sha(data)
    sock.close()
    (reset,) = [e for e in pktlab.wait_log(main_log, 2) if e["peer"] == topo.client_addr]
    assert reset["end"] == "reset"
    (hp,) = [e for e in pktlab.wait_log(hp_log, 2, timeout=30) if e["peer"] == topo.client_addr]
    assert hp["bytes"] == warmed + len(b"ECHO 1048576\n") + len(first) + len(b"ECHO 2097152\n") + len(data)
    assert hp["end"] == "eof"


# The honeypot's host speaks plainer TCP than main's: no timestamps, no SACK, no window
# scaling (these net.ipv4 keys are per namespace and govern IPv6 TCP too).
PLAIN_TCP = ("net.ipv4.tcp_timestamps=0", "net.ipv4.tcp_sack=0", "net.ipv4.tcp_window_scaling=0")


@pytest.mark.parametrize("v6", [pytest.param(False, id="v4-gateway"), pytest.param(True, id="v6-gateway")])
def test_switch_to_a_honeypot_that_negotiated_other_tcp_options(lab: netns.Lab, tmp_path: Path, v6: bool) -> None:
    topo = pktlab.Topology(lab, v6, True)
    for key in PLAIN_TCP:
        netns.run(topo.hp_ns, ["sysctl", "-q", "-w", key])
    main_log, hp_log = topo.start_servers(tmp_path)
    d = daemon(lab, topo, tmp_path)
    main_counter(topo)
    sock = topo.connect()
    warmed = warm(d, sock)
    assert negotiated(sock) == {"ts", "sack", "wscale"}  # the client's connection is main's
    first = pktlab.pattern(1 << 20, 21)
    assert pktlab.echo_roundtrip(sock, first) == first
    (live,) = sessions(d)
    switch(d, live["session_id"])
    d.wait_event("switch_done", timeout=10)
    before = main_packets(topo)
    later = pktlab.pattern(3 << 20, 22)  # beyond an unscaled 64 KiB window many times over
    assert pktlab.sha(pktlab.echo_roundtrip(sock, later, timeout=60)) == pktlab.sha(later)
    assert pktlab.echo_roundtrip(sock, b"and a small one") == b"and a small one"
    sock.close()
    (reset,) = [e for e in pktlab.wait_log(main_log, 2) if e["peer"] == topo.client_addr]
    assert reset["end"] == "reset"
    (hp,) = [e for e in pktlab.wait_log(hp_log, 2, timeout=30) if e["peer"] == topo.client_addr]
    assert hp["bytes"] == (warmed + len(b"ECHO %d\n" % len(first)) + len(first) + len(b"ECHO %d\n" % len(later))
                           + len(later) + len(b"ECHO 15\n") + 15) and hp["end"] == "eof"
    assert main_packets(topo) == before, "a client packet reached main after the switch"
    assert d.wait_event("session_end")["switched"] is True


RULES = """
alert tcp any any -> any any (msg:"test: planted marker"; flow:to_server; content:"EVIL-MARKER"; \
metadata: honeyswitch_score 100; classtype:attempted-admin; sid:9990001; rev:1;)
"""


@pytest.mark.parametrize("v6,gateway", [pytest.param(False, False, id="v4-host"),
                                        pytest.param(True, True, id="v6-gateway")])
def test_signature_switches_inline_and_blacklists_the_source(lab: netns.Lab, tmp_path: Path, v6: bool,
                                                            gateway: bool) -> None:
    topo = pktlab.Topology(lab, v6, gateway)
    main_log, hp_log = topo.start_servers(tmp_path)
    rules = tmp_path / "test.rules"
    rules.write_text(RULES)
    d = daemon(lab, topo, tmp_path, rules=[str(rules)])
    sock = topo.connect()
    sock.sendall(b"hello\n")
    assert pktlab.recv_exact(sock, 6) == b"hello\n"
    sock.sendall(b"GET EVIL-MAR")  # the marker split across two segments
    time.sleep(0.2)
    sock.sendall(b"KER now\n")
    assert pktlab.recv_exact(sock, 20) == b"GET EVIL-MARKER now\n"  # the honeypot's answer
    alert = d.wait_event("alert")
    assert alert["sid"] == 9990001 and alert["score"] == 100
    assert d.wait_event("switch")["by"] == "detector:signature"
    sock.close()
    (main,) = [e for e in pktlab.wait_log(main_log, 2) if e["peer"] == topo.client_addr]
    assert main["bytes"] == len(b"hello\nGET EVIL-MAR") and main["end"] == "reset"  # never saw the match
    (hp,) = [e for e in pktlab.wait_log(hp_log, 2) if e["peer"] == topo.client_addr]
    assert hp["sha256"] == pktlab.sha(b"hello\nGET EVIL-MARKER now\n")
    end = d.wait_event("session_end")
    assert end["switched"] is True and end["transcript"] and Path(end["transcript"]).exists()
    assert d.wait_event("blacklist_add")["src_ip"] == topo.client_addr
    # The source is blacklisted: its next connection goes to the honeypot from the SYN on.
    again = topo.connect()
    assert pktlab.echo_roundtrip(again, b"x" * 300_000) == b"x" * 300_000
    again.close()
    deadline = time.monotonic() + 10  # the event log is written by a thread of its own
    while len(d.events("session_start")) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    starts = d.events("session_start")
    assert [s["state"] for s in starts] == ["mirror", "direct"] and {s["mode"] for s in starts} == {"packet"}
    assert len([e for e in pktlab.server_log(main_log) if e["peer"] == topo.client_addr]) == 1
    pktlab.wait_log(hp_log, 3)
