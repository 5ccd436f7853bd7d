"""exec: backends: a program started per session with the stream on stdin/stdout."""
from __future__ import annotations

import asyncio
import os
import shlex
import sys
from pathlib import Path

from honeyswitch.demo import service
from honeyswitch.record.transcripts import read_transcript
from honeyswitch.testing import servers
from honeyswitch.testing.harness import connect, make_config, running, session_of

DEMO_STDIO = shlex.join([sys.executable, "-m", "honeyswitch.demo.service", "--stdio", "--data", "fake"])


async def test_exec_honeypot_takes_over_a_line_service(tmp_path):
    main_store = service.Store(dict(service.REAL_DATA))
    main_srv = await service.serve(main_store, "127.0.0.1", 0)
    main_url = f"tcp://127.0.0.1:{main_srv.sockets[0].getsockname()[1]}"
    cfg = make_config(
        tmp_path,
        [{"name": "kv", "main": main_url, "honeypot": f"exec:{DEMO_STDIO}", "align": "quiet",
          "quiet_time": 0.1}],
    )
    try:
        async with running(cfg) as (app, events):
            reader, writer = await connect(app)
            assert await asyncio.wait_for(reader.readline(), 5) == service.GREETING
            writer.write(b"GET customer:1001\n")
            assert b"DE89" in await asyncio.wait_for(reader.readline(), 5)
            sid = await session_of(app, writer)
            app.switch_session(sid, "operator", "test")
            writer.write(b"GET customer:1001\n")
            assert b"DE00" in await asyncio.wait_for(reader.readline(), 5)
            writer.write(b"QUIT\n")
            assert await asyncio.wait_for(reader.readline(), 5) == b"BYE\n"
            assert await asyncio.wait_for(reader.read(), 5) == b""  # the program exited: EOF
            writer.close()
            end = await events.wait_for("session_end")
    finally:
        main_srv.close()
    assert end["switched"] is True
    assert main_store.log == ["GET customer:1001\n"]


async def test_exec_backend_gets_connection_facts_and_is_reaped(tmp_path):
    main = await servers.TestServer(servers.echo()).start()
    script = 'echo "$TCPREMOTEIP $HONEYSWITCH_SESSION"; echo oops >&2; exec cat'
    cfg = make_config(
        tmp_path,
        [{"name": "sh", "main": main.url, "honeypot": "exec:/bin/sh -c " + shlex.quote(script)}],
    )
    before = _children()
    async with running(cfg) as (app, events):
        reader, writer = await connect(app)
        writer.write(b"hello\n")
        assert await asyncio.wait_for(reader.readline(), 5) == b"hello\n"
        sid = await session_of(app, writer)
        await events.wait_for("divergence")  # its first line differs from main's echo
        app.switch_session(sid, "operator", "test")
        writer.write(b"after\n")
        # Its first line differs from main's echo: divergence turns the switch quiet,
        # so the client gets the honeypot's answer to "after" and nothing else of it.
        got = await asyncio.wait_for(reader.readuntil(b"after\n"), 5)
        writer.close()
        end = await events.wait_for("session_end")
        divergence = events.of_type("divergence")
        for _ in range(100):  # the program gets EOF, then at most EXEC_GRACE to exit
            if _children() <= before:
                break
            await asyncio.sleep(0.05)
    await main.close()
    assert got == b"after\n"
    assert divergence and divergence[0]["position"] == 0
    honeypot_said = b"".join(r["d"] for r in read_transcript(Path(end["transcript"]))
                             if r.get("s") == "honeypot")
    assert f"127.0.0.1 {sid}".encode() in honeypot_said  # the UCSPI variables reached it
    assert _children() <= before, "exec backend left a process behind"


async def test_exec_program_that_cannot_start_leaves_main_serving(tmp_path):
    main = await servers.TestServer(servers.echo()).start()
    cfg = make_config(tmp_path, [{"name": "x", "main": main.url, "honeypot": "exec:/nonexistent/program"}])
    async with running(cfg) as (app, events):
        reader, writer = await connect(app)
        writer.write(b"still served\n")
        assert await asyncio.wait_for(reader.readline(), 5) == b"still served\n"
        writer.close()
        failure = await events.wait_for("backend_failure")
    await main.close()
    assert failure["end"] == "honeypot"


def _children() -> set[int]:
    """Live (non-zombie) children of this process."""
    me = os.getpid()
    out = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == me:
            out.add(int(pid))
    return out


class _Sink:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def on_data(self, end, data) -> None:
        self.calls.append(("data", data))

    def on_eof(self, end) -> None:
        self.calls.append(("eof", None))

    def on_lost(self, end, exc) -> None:
        self.calls.append(("lost", exc))


class _Proc:
    """The subprocess transport as ExecConn sees it: an exit status, nothing else."""

    def __init__(self, code: int) -> None:
        self.code, self.closed = code, False

    def get_returncode(self) -> int:
        return self.code

    def close(self) -> None:
        self.closed = True


async def test_an_exit_reported_before_the_last_output_waits_for_it() -> None:
    """The loop can report a program's exit before the rest of its stdout and the EOF: its
    last words and the EOF still come first, so the client gets a FIN, not a RST."""
    from honeyswitch.core.types import End
    from honeyswitch.relay.conns import ExecConn

    sink, proc = _Sink(), _Proc(0)
    conn = ExecConn(sink, End.HONEYPOT, "prog")  # type: ignore[arg-type]
    conn.connection_made(proc)  # type: ignore[arg-type]
    conn.process_exited()
    assert sink.calls == [] and not proc.closed
    conn.pipe_data_received(1, b"BYE\n")
    conn.pipe_connection_lost(1, None)
    assert sink.calls == [("data", b"BYE\n"), ("eof", None), ("lost", None)] and proc.closed


async def test_a_failed_program_is_a_failure_after_its_output() -> None:
    from honeyswitch.core.types import End
    from honeyswitch.relay.conns import ExecConn

    sink = _Sink()
    conn = ExecConn(sink, End.HONEYPOT, "prog")  # type: ignore[arg-type]
    conn.connection_made(_Proc(3))  # type: ignore[arg-type]
    conn.pipe_connection_lost(1, None)
    conn.process_exited()
    assert [c[0] for c in sink.calls] == ["eof", "lost"]
    assert "exited with status 3" in str(sink.calls[1][1])
