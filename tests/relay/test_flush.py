"""The honeypot's copy of the client's bytes, batched while a session is mirrored
(relay/flusher.py): held, then sent whole and in order before anything else towards the
honeypot; over real sockets, fewer writes than requests and every byte there."""
from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

from honeyswitch.core.types import End, Opened, SwitchRequested
from honeyswitch.relay.backends import Peer
from honeyswitch.relay.flusher import FLUSH_BYTES, HoneypotFlusher
from honeyswitch.relay.runner import SessionRunner
from honeyswitch.testing import servers
from honeyswitch.testing.harness import connect, make_config, running

CLIENT, MAIN, HONEYPOT = End.CLIENT, End.MAIN, End.HONEYPOT


class FakeConn:
    """A connection that records what the runner does to it."""

    def __init__(self, log: list[tuple[str, Any]], end: End) -> None:
        self.log, self.end = log, end

    def write(self, data: bytes) -> None:
        self.log.append((f"{self.end.value} write", data))

    def write_eof(self) -> None:
        self.log.append((f"{self.end.value} eof", None))

    def close(self, reset: bool) -> None:
        self.log.append((f"{self.end.value} close", reset))

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


class Ctx:
    def emit(self, event_type: str, runner: Any, fields: dict[str, Any]) -> None: ...

    def open_transcript(self, runner: Any) -> Any:
        return NullTranscript()

    def on_switch(self, runner: Any) -> None: ...

    def on_backend_open(self, runner: Any, end: End, transport: Any) -> None: ...

    def on_session_end(self, runner: Any) -> None: ...


class NullTranscript:
    def add(self, stream: str, data: bytes) -> None: ...

    def mark(self, note: str, **fields: Any) -> None: ...

    def persist(self) -> None: ...

    def close(self) -> None: ...


async def mirrored(tmp_path: Path, policy: dict[str, Any] | None = None) -> tuple[SessionRunner, list[Any], HoneypotFlusher]:
    cfg = make_config(tmp_path, [{"name": "s", "main": "tcp://127.0.0.1:9", "honeypot": "tcp://127.0.0.1:9",
                                  **(policy or {})}])
    log: list[tuple[str, Any]] = []
    loop = asyncio.get_running_loop()
    flusher = HoneypotFlusher(loop, delay=3600)  # fired by hand here
    runner = SessionRunner(Ctx(), cfg.services[0], FakeConn(log, CLIENT),  # type: ignore[arg-type]
                           Peer("t1", "127.0.0.1", 1, "127.0.0.1", 2), loop=loop, flusher=flusher)
    runner.session.start()  # connects are not run: the fakes stand in for both backends
    runner.conns[MAIN], runner.conns[HONEYPOT] = FakeConn(log, MAIN), FakeConn(log, HONEYPOT)
    runner.request(Opened(MAIN))
    runner.request(Opened(HONEYPOT))
    return runner, log, flusher


def writes(log: list[tuple[str, Any]], what: str) -> list[Any]:
    return [arg for name, arg in log if name == what]


async def test_held_until_the_flusher_then_sent_as_one(tmp_path: Path) -> None:
    runner, log, flusher = await mirrored(tmp_path)
    for i in range(3):
        runner.on_data(CLIENT, b"req %d\n" % i)
    assert writes(log, "main write") == [b"req 0\n", b"req 1\n", b"req 2\n"]  # main's copy at once
    assert writes(log, "honeypot write") == []
    flusher.flush_all()
    assert writes(log, "honeypot write") == [b"req 0\nreq 1\nreq 2\n"]
    flusher.flush_all()
    assert len(writes(log, "honeypot write")) == 1


async def test_held_bytes_go_before_the_honeypots_eof(tmp_path: Path) -> None:
    runner, log, _ = await mirrored(tmp_path)
    runner.on_data(CLIENT, b"last\n")
    runner.on_eof(CLIENT)
    hp = [(name, arg) for name, arg in log if name.startswith("honeypot")]
    assert hp[0] == ("honeypot write", b"last\n")
    assert hp[1][0] in ("honeypot eof", "honeypot close")


async def test_held_bytes_go_before_a_reset_when_the_client_is_lost(tmp_path: Path) -> None:
    """The client gone with an error resets both backends; the honeypot still gets what
    main got before its RST (its state must match main's)."""
    runner, log, _ = await mirrored(tmp_path)
    runner.on_data(CLIENT, b"SET k v\n")
    runner.on_lost(CLIENT, ConnectionResetError("reset by peer"))
    hp = [(name, arg) for name, arg in log if name.startswith("honeypot")]
    assert hp == [("honeypot write", b"SET k v\n"), ("honeypot close", True)]


async def test_held_bytes_of_a_dropped_honeypot_are_not_sent(tmp_path: Path) -> None:
    runner, log, _ = await mirrored(tmp_path)
    runner.on_data(CLIENT, b"a")
    runner.on_write_paused(HONEYPOT)  # fell behind: dropped, by design
    assert runner.session.state.value == "main_only"
    assert writes(log, "honeypot write") == [] and ("honeypot close", True) in log


async def test_a_switch_sends_what_is_held_first(tmp_path: Path) -> None:
    runner, log, _ = await mirrored(tmp_path)
    runner.on_data(CLIENT, b"GET 1\n")
    runner.request(SwitchRequested("operator"))
    assert writes(log, "honeypot write") == [b"GET 1\n"]
    runner.on_data(CLIENT, b"GET 2\n")  # switched: straight to the honeypot
    assert writes(log, "honeypot write") == [b"GET 1\n", b"GET 2\n"]


async def test_bulk_is_not_held(tmp_path: Path) -> None:
    runner, log, _ = await mirrored(tmp_path)
    big = b"x" * FLUSH_BYTES
    runner.on_data(CLIENT, big)
    assert writes(log, "honeypot write") == [big]
    runner.on_data(CLIENT, b"a" * 100)
    runner.on_data(CLIENT, b"b" * (FLUSH_BYTES - 100))  # reaches FLUSH_BYTES held
    assert writes(log, "honeypot write")[1:] == [b"a" * 100 + b"b" * (FLUSH_BYTES - 100)]


async def test_quiet_alignment_sends_at_once(tmp_path: Path) -> None:
    runner, log, _ = await mirrored(tmp_path, {"align": "quiet"})
    runner.on_data(CLIENT, b"GET 1\n")
    assert writes(log, "honeypot write") == [b"GET 1\n"]


async def test_a_dropped_honeypot_gets_nothing_held(tmp_path: Path) -> None:
    runner, log, flusher = await mirrored(tmp_path)
    runner.on_data(CLIENT, b"GET 1\n")
    runner.on_write_paused(HONEYPOT)  # fell behind: dropped, reset
    flusher.flush_all()
    assert writes(log, "honeypot write") == []
    assert writes(log, "honeypot close") == [True]


def counting_echo(reads: list[int]) -> servers.Handler:
    async def handler(rec: servers.ConnRecord, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1 << 16):
            reads.append(len(data))
            rec.received += data
            writer.write(data)
            await writer.drain()
        rec.eof = True
        writer.close()
    return handler


async def request_reply(tmp_path: Path, make_server: Any, rounds: int, **keys: Any) -> int:
    """``rounds`` request/reply round trips through a daemon; how often the honeypot read."""
    hp_reads: list[int] = []
    main = await make_server(servers.echo())
    honeypot = await make_server(counting_echo(hp_reads))
    cfg = make_config(tmp_path, [{"name": "echo", "main": main.url, "honeypot": honeypot.url, **keys}])
    sent = b""
    async with running(cfg) as (app, events):
        reader, writer = await connect(app)
        for i in range(rounds):
            msg = b"request %04d\n" % i
            writer.write(msg)
            sent += msg
            assert await asyncio.wait_for(reader.readexactly(len(msg)), 5) == msg
        writer.write_eof()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        end = await events.wait_for("session_end")
    assert honeypot.conns[0].sha256() == hashlib.sha256(sent).hexdigest()  # every byte, in order
    assert end["bytes_from_honeypot"] == len(sent)
    return len(hp_reads)


async def test_request_reply_over_sockets_batches_the_honeypot(tmp_path: Path, make_server: Any) -> None:
    reads = await request_reply(tmp_path, make_server, 200)
    assert reads < 200 * 0.8, f"{reads} honeypot reads for 200 requests"


async def test_honeypot_batch_0_sends_each_copy_at_once(tmp_path: Path, make_server: Any) -> None:
    reads = await request_reply(tmp_path, make_server, 50, honeypot_batch=0)
    assert reads >= 50 * 0.8, f"{reads} honeypot reads for 50 requests"


class Clock:
    """A loop stand-in for the flusher: time moves by hand, call_at is recorded."""

    def __init__(self) -> None:
        self.now = 100.0
        self.timers: list[tuple[float, Any]] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Any) -> Any:
        self.timers.append((when, callback))
        return self

    def cancel(self) -> None: ...


class Runner:
    def __init__(self, log: list[str], name: str) -> None:
        self.log, self.name = log, name

    def flush_honeypot(self) -> None:
        self.log.append(self.name)


def test_sessions_come_due_one_by_one() -> None:
    clock, log = Clock(), []
    flusher = HoneypotFlusher(clock, delay=0.02)  # type: ignore[arg-type]
    flusher.add(Runner(log, "a"))
    clock.now += 0.015
    flusher.add(Runner(log, "b"))
    assert clock.timers == [(100.02, flusher._fire)]  # one timer, for the first
    clock.now = 100.02
    flusher._fire()
    assert log == ["a"]  # b asked 15 ms later: not yet
    assert clock.timers[-1] == (100.035, flusher._fire)
    clock.now = 100.035
    flusher._fire()
    assert log == ["a", "b"]
