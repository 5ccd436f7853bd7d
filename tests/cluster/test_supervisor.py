"""``[daemon] workers = 2``: a supervisor and two worker processes behind one port, with
real echo servers as main and honeypot, driven over real sockets and the control API."""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from honeyswitch.tasks import spawn
from honeyswitch.testing import servers
from honeyswitch.testing.procs import free_port

HS = [sys.executable, "-m", "honeyswitch"]
TOKEN = "cluster-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
pytestmark = pytest.mark.slow


class Cluster:
    def __init__(self, tmp: Path, main_port: int, hp_port: int, *, shard: str = "connection",
                 extra: str = "") -> None:
        self.listen, self.api_port = free_port(), free_port()
        self.tmp = tmp
        self.config = tmp / "honeyswitch.toml"
        self.config.write_text(f"""
[daemon]
workers = 2
shard = "{shard}"
[[service]]
name = "echo"
listen = "127.0.0.1:{self.listen}"
main = "tcp://127.0.0.1:{main_port}"
honeypot = "tcp://127.0.0.1:{hp_port}"
{extra}
[store]
path = "state/honeyswitch.db"
[events]
path = "events.jsonl"
[transcripts]
dir = "transcripts"
[blacklist]
on_switch = false
[control]
listen = "127.0.0.1:{self.api_port}"
token = "{TOKEN}"
""")
        self.proc: subprocess.Popen[str] | None = None
        self.url = f"http://127.0.0.1:{self.api_port}"

    async def start(self) -> None:
        self.proc = subprocess.Popen(HS + ["run", "-c", str(self.config)], cwd=self.tmp,
                                     stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.proc.communicate()[1]
            try:
                health = await self.api("GET", "/api/v1/health")
                if health.get("workers_up") == 2:
                    return
            except (aiohttp.ClientError, OSError):
                pass
            await asyncio.sleep(0.1)
        raise AssertionError("cluster did not come up")

    def workers(self) -> list[int]:
        assert self.proc is not None
        text = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        return [int(p) for p in text.split()]

    async def api(self, method: str, path: str, body: Any = None) -> Any:
        async with aiohttp.ClientSession() as http, \
                http.request(method, self.url + path, json=body, headers=AUTH) as resp:
            return await resp.json()

    def events(self) -> list[dict[str, Any]]:
        path = self.tmp / "events.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    async def wait_events(self, event_type: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The events of a type once ``count`` are in the log (writers flush in batches)."""
        deadline = time.monotonic() + timeout
        while True:
            found = [e for e in self.events() if e["event_type"] == event_type]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.05)

    def stop(self) -> str:
        assert self.proc is not None
        workers = self.workers() if self.proc.poll() is None else []
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, err
        for pid in workers:
            assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
        return err


@pytest.fixture
async def echo_pair(make_server):
    return await make_server(servers.echo(b"M:")), await make_server(servers.echo(b"H:"))


@pytest.fixture
async def cluster(tmp_path, echo_pair):
    main, hp = echo_pair
    c = Cluster(tmp_path, main.port, hp.port)
    await c.start()
    yield c
    if c.proc is not None and c.proc.poll() is None:
        c.stop()


async def _open(port: int, src: str = "127.0.0.1") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(src, 0))


async def _say(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], data: bytes) -> bytes:
    reader, writer = conn
    writer.write(data)
    return await asyncio.wait_for(reader.readexactly(len(data) + 2), 10)


async def test_sessions_spread_over_both_workers_byte_exact(cluster):
    conns = [await _open(cluster.listen) for _ in range(24)]
    payloads = [os.urandom(200_000 + i) for i in range(len(conns))]

    async def exchange(conn: Any, data: bytes) -> str:
        reader, writer = conn
        writer.write(data)
        writer.write_eof()
        got = await asyncio.wait_for(reader.read(), 30)
        return hashlib.sha256(got).hexdigest()

    sessions = await cluster.api("GET", "/api/v1/sessions")
    assert len(sessions["sessions"]) == 24
    assert {s["worker"] for s in sessions["sessions"]} == {0, 1}
    health = await cluster.api("GET", "/api/v1/health")
    assert health["sessions"] == 24 and health["workers"] == 2
    # The echo server replies "M:" once per read it makes, so compare what the client got
    # without the prefixes against what it sent.
    digests = await asyncio.gather(*(exchange(c, p) for c, p in zip(conns, payloads, strict=True)))
    assert len(digests) == 24
    for (_, w), _ in zip(conns, payloads, strict=True):
        w.close()


async def test_switch_by_api_and_by_signal_reach_the_right_worker(cluster):
    conns = [await _open(cluster.listen) for _ in range(12)]
    for conn in conns:
        assert await _say(conn, b"hello") == b"M:hello"
    sessions = (await cluster.api("GET", "/api/v1/sessions"))["sessions"]
    by_port = {s["src_port"]: s for s in sessions}
    cli = await asyncio.to_thread(subprocess.run, HS + ["sessions", "-c", str(cluster.config)],
                                  capture_output=True, text=True, timeout=30, cwd=cluster.tmp)
    lines = cli.stdout.splitlines()
    assert cli.returncode == 0 and lines[0].split()[-1] == "WORKER" and len(lines) == 13, cli.stdout
    target = next(s for s in sessions if s["worker"] == 1)
    res = await cluster.api("POST", f"/api/v1/sessions/{target['session_id']}/switch", {"reason": "test"})
    assert res == {"switched": [target["session_id"]]}
    for conn in conns:
        port = conn[1].get_extra_info("sockname")[1]
        expect = b"H:ping" if by_port[port]["session_id"] == target["session_id"] else b"M:ping"
        assert await _say(conn, b"ping") == expect
    assert (await cluster.api("POST", "/api/v1/sessions/nosuchsession/switch")).get("error")

    assert cluster.proc is not None
    cluster.proc.send_signal(signal.SIGUSR1)  # the switch signal: every worker switches all
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # signals are asynchronous
        live = (await cluster.api("GET", "/api/v1/sessions"))["sessions"]
        if {s["state"] for s in live} == {"honeypot"}:
            break
        await asyncio.sleep(0.05)
    assert {s["state"] for s in live} == {"honeypot"} and {s["worker"] for s in live} == {0, 1}
    for conn in conns:
        assert await _say(conn, b"after") == b"H:after"
    metrics = await _text(cluster, "/metrics")
    assert 'honeyswitch_events_total{event_type="session_start"} 12.0' in metrics
    assert 'honeyswitch_sessions{service="echo",state="honeypot"} 12.0' in metrics
    for _, w in conns:
        w.close()


async def _text(cluster: Cluster, path: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(cluster.url + path, headers=AUTH) as resp:
        return await resp.text()


async def test_blacklist_from_the_api_reaches_every_worker(cluster):
    res = await cluster.api("POST", "/api/v1/blacklist", {"ip": "127.0.0.1", "ttl": 60})
    assert res["added"]["ip"] == "127.0.0.1"
    await asyncio.sleep(1.5)  # workers re-read the shared blacklist each second
    for _ in range(10):  # both workers: new sessions go straight to the honeypot
        conn = await _open(cluster.listen)
        assert await _say(conn, b"x") == b"H:x"
        conn[1].close()
    starts = await cluster.wait_events("session_start", 10)
    assert len(starts) == 10 and {e["state"] for e in starts} == {"direct"}


async def test_live_stream_forwards_worker_events(cluster):
    got: list[dict[str, Any]] = []

    async def watch() -> None:
        async with aiohttp.ClientSession() as http, \
                http.get(cluster.url + "/api/v1/stream", headers=AUTH) as resp:
            async for line in resp.content:
                event = json.loads(line)
                got.append(event)
                if event.get("event_type") == "session_end":
                    return

    task = spawn(watch(), name="test-watch")
    await asyncio.sleep(0.5)  # the workers hear that someone watches
    conn = await _open(cluster.listen)
    assert await _say(conn, b"hi") == b"M:hi"
    conn[1].close()
    await asyncio.wait_for(task, 10)
    kinds = [e["event_type"] for e in got]
    assert "session_start" in kinds and "session_end" in kinds


async def test_a_killed_worker_is_started_again_and_no_connection_is_refused(cluster):
    victim = cluster.workers()[1]
    os.kill(victim, signal.SIGKILL)
    # Connections keep working while the worker restarts: its socket stays open in the
    # supervisor, so the kernel queues what it hands that socket until the new worker runs.
    for _ in range(20):
        conn = await _open(cluster.listen)
        assert await _say(conn, b"up") == b"M:up"
        conn[1].close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        health = await cluster.api("GET", "/api/v1/health")
        if health["workers_up"] == 2 and victim not in cluster.workers():
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError("worker not restarted")
    exits = await cluster.wait_events("worker_exit", 1)
    assert exits and exits[0]["pid"] == victim and exits[0]["returncode"] == -signal.SIGKILL


async def test_source_sharding_keeps_a_client_on_one_worker(tmp_path, echo_pair):
    main, hp = echo_pair
    c = Cluster(tmp_path, main.port, hp.port, shard="source")
    await c.start()
    try:
        conns = [await _open(c.listen, src) for src in ["127.0.0.1"] * 6 + ["127.0.0.2"] * 6]
        for conn in conns:
            assert await _say(conn, b"s") == b"M:s"
        sessions = (await c.api("GET", "/api/v1/sessions"))["sessions"]
        workers = {ip: {s["worker"] for s in sessions if s["src_ip"] == ip} for ip in ("127.0.0.1", "127.0.0.2")}
        assert workers == {"127.0.0.1": {1}, "127.0.0.2": {0}}
        for _, w in conns:
            w.close()
    finally:
        c.stop()


async def test_a_worker_that_cannot_start_fails_the_daemon(tmp_path, echo_pair):
    main, hp = echo_pair
    model = tmp_path / "model.npz"
    model.write_bytes(b"not a model")
    c = Cluster(tmp_path, main.port, hp.port, extra=f'anomaly_model = "{model}"')
    res = subprocess.run(HS + ["run", "-c", str(c.config)], cwd=tmp_path, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 2, res.stderr
    # whichever worker fails first is named; its own one-line error is on stderr too
    assert "anomaly_model" in res.stderr and re.search(r"worker \d exited during startup", res.stderr)


async def test_reload_signal_reaches_every_worker(cluster, make_server):
    new_main = await make_server(servers.echo(b"N:"))
    text = cluster.config.read_text()
    old_main = text.split('main = "tcp://127.0.0.1:')[1].split('"')[0]
    text = text.replace(f"127.0.0.1:{old_main}", f"127.0.0.1:{new_main.port}")
    cluster.config.write_text(text.replace("on_switch = false", 'on_switch = false\nallowlist = ["127.0.0.0/8"]'))
    assert cluster.proc is not None
    cluster.proc.send_signal(signal.SIGHUP)
    reloads = await cluster.wait_events("config_reload", 2)
    assert len(reloads) == 2 and all(r["ok"] for r in reloads)
    for _ in range(12):  # whichever worker takes it, a new session uses the new main
        conn = await _open(cluster.listen)
        assert await _say(conn, b"r") == b"N:r"
        conn[1].close()
    # The supervisor's API follows the new blacklist settings too.
    res = await cluster.api("POST", "/api/v1/blacklist", {"ip": "127.0.0.1"})
    assert "allowlist" in res.get("error", ""), res


def _eve_alert(src: tuple[str, int], dest: tuple[str, int], sid: int, severity: int = 1) -> str:
    return json.dumps({
        "timestamp": "2026-11-25T16:29:18.395060+0000", "event_type": "alert", "proto": "TCP",
        "src_ip": src[0], "src_port": src[1], "dest_ip": dest[0], "dest_port": dest[1],
        "direction": "to_server",
        "alert": {"gid": 1, "signature_id": sid, "rev": 1, "signature": f"test {sid}", "severity": severity},
    }) + "\n"


async def test_ids_alerts_reach_the_worker_that_has_the_client(tmp_path, echo_pair):
    """Each worker follows the EVE file: an alert for a session switches it in whichever
    worker holds it, and an alert that matches no session is recorded once, by the
    worker that the source's connections would reach."""
    main, hp = echo_pair
    eve = tmp_path / "eve.json"
    eve.touch()
    c = Cluster(tmp_path, main.port, hp.port, shard="source",
                extra=f'switch_threshold = 50\n[[ids]]\nname = "suricata"\nformat = "suricata-eve"\n'
                      f'path = "{eve}"\npoll_interval = 0.02\n')
    await c.start()
    try:
        conns = {src: await _open(c.listen, src) for src in ("127.0.0.1", "127.0.0.2")}
        for conn in conns.values():
            assert await _say(conn, b"hi") == b"M:hi"
        sessions = {s["src_ip"]: s for s in (await c.api("GET", "/api/v1/sessions"))["sessions"]}
        assert {s["worker"] for s in sessions.values()} == {0, 1}
        s2 = sessions["127.0.0.2"]
        with eve.open("a") as f:
            f.write(_eve_alert((s2["src_ip"], s2["src_port"]), ("127.0.0.1", c.listen), 2001))
            f.write(_eve_alert(("127.0.0.9", 40000), ("127.0.0.1", c.listen), 2002))
        switches = await c.wait_events("switch", 1)
        assert [s["session_id"] for s in switches] == [s2["session_id"]]
        assert await _say(conns["127.0.0.2"], b"x") == b"H:x"
        assert await _say(conns["127.0.0.1"], b"y") == b"M:y"
        alerts = await c.wait_events("alert", 2)
        await asyncio.sleep(0.5)  # a duplicate from the other worker would be in by now
        alerts = [e for e in c.events() if e["event_type"] == "alert"]
        assert sorted(a["sid"] for a in alerts) == [2001, 2002]  # each once
        unmatched = next(a for a in alerts if a["sid"] == 2002)
        assert unmatched["session_id"] is None and unmatched["src_ip"] == "127.0.0.9"
        for _, w in conns.values():
            w.close()
    finally:
        c.stop()


async def test_workers_stop_when_the_supervisor_is_killed(cluster):
    workers = cluster.workers()
    assert cluster.proc is not None
    cluster.proc.kill()
    cluster.proc.wait(10)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if not any(Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]
                   for pid in workers):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("workers outlived their supervisor")
