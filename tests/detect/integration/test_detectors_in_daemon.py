"""A service with both signature rules and an anomaly model, in a running daemon: every
detector sees every call, including the end of the session, and one detector's
exception is recorded as a ``detector_error`` while the others and the session go on."""
from __future__ import annotations

import asyncio
import random
from pathlib import Path

from honeyswitch.detect.anomaly import fit, save_model
from honeyswitch.detect.base import FlowInfo
from honeyswitch.detect.setup import Detectors
from honeyswitch.testing import servers
from honeyswitch.testing.harness import connect, make_config, running, session_of

RULES = 'alert tcp any any -> any any (msg:"evil word"; content:"evil"; sid:9100001; rev:1;)\n'
ODD = bytes(range(256))  # nothing like the model's training requests


def model_file(tmp: Path) -> Path:
    rng = random.Random(3)
    lines = [f"GET /item/{rng.randrange(1000)}?page={rng.randrange(9)}\n".encode() for _ in range(200)]
    path = tmp / "web.npz"
    save_model(fit(lines, service="web"), path)
    return path


def web_service(tmp: Path, main_url: str, honeypot_url: str) -> dict[str, object]:
    (tmp / "local.rules").write_text(RULES)
    return {"name": "web", "main": main_url, "honeypot": honeypot_url, "rules": [str(tmp / "local.rules")],
            "anomaly_model": str(model_file(tmp)), "switch_threshold": 10_000}


async def test_the_last_request_is_scored_when_the_session_ends(tmp_path, make_server):
    # Main and the honeypot read and never reply: the anomaly model sees no reply, so only
    # the end of the session can score the request.
    main = await make_server(servers.sink())
    honeypot = await make_server(servers.sink())
    cfg = make_config(tmp_path, [web_service(tmp_path, main.url, honeypot.url)])
    async with running(cfg) as (app, events):
        assert [d.name for d in app.detectors.by_service["web"]] == ["signature", "anomaly"]
        reader, writer = await connect(app)
        writer.write(b"evil " + ODD)
        await writer.drain()
        sid = await session_of(app, writer)
        first = await events.wait_for("alert", detector="signature")
        assert not events.of_type("alert", detector="anomaly")
        writer.close()
        end = await events.wait_for("session_end", session_id=sid)
        alert = await events.wait_for("alert", detector="anomaly", session_id=sid)
    assert events.events.index(alert) < events.events.index(end)
    assert end["score"] == alert["session_score"] == first["score"] + alert["score"]


class Broken:
    """A detector with a bug on some input: the daemon must contain it."""

    name = "broken"

    def new_stream(self, flow: FlowInfo) -> Broken:
        return self

    def feed(self, data: bytes, to_server: bool) -> list:
        if b"boom" in data:
            raise ZeroDivisionError("division by zero")
        return []

    def finish(self) -> list:
        return []


async def test_a_failing_detector_is_recorded_and_the_others_go_on(tmp_path, make_server):
    main = await make_server(servers.echo(b"M:"))
    honeypot = await make_server(servers.echo(b"H:"))
    cfg = make_config(tmp_path, [web_service(tmp_path, main.url, honeypot.url)])
    async with running(cfg) as (app, events):
        real = app.detectors.by_service["web"]
        app.detectors = Detectors({"web": [Broken(), *real]})
        reader, writer = await connect(app)
        writer.write(b"boom evil")
        assert await asyncio.wait_for(reader.readexactly(11), 5) == b"M:boom evil"  # relayed as ever
        sid = await session_of(app, writer)
        error = await events.wait_for("detector_error", detector="broken")
        first = await events.wait_for("alert", detector="signature", session_id=sid)  # the others inspected it
        writer.write(b" evil again")
        assert await asyncio.wait_for(reader.readexactly(13), 5) == b"M: evil again"
        await events.wait_for("alert", detector="signature", session_id=sid, session_score=2 * first["score"])
        writer.close()
        await events.wait_for("session_end", session_id=sid)
    assert error["session_id"] == sid and error["src_ip"] == "127.0.0.1"
    assert error["error"] == "ZeroDivisionError: division by zero"
    assert len(events.of_type("detector_error")) == 1
    assert app.counters["detector_errors"] == 1
