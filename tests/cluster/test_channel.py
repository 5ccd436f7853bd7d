"""The supervisor-worker channel: requests, errors, notifications, a peer going away."""
from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from honeyswitch.cluster import channel as channel_mod
from honeyswitch.cluster.channel import Channel, ChannelClosed
from honeyswitch.tasks import spawn


async def _pair(handler: Any = None, notify: Any = None) -> tuple[Channel, Channel]:
    a, b = socket.socketpair()
    sup = Channel("sup", notify=notify)
    worker = Channel("worker", handler=handler)
    await sup.open(a)
    await worker.open(b)
    return sup, worker


async def test_call_answer_and_error():
    async def handler(op: str, args: dict[str, Any]) -> Any:
        if op == "add":
            return args["a"] + args["b"]
        raise ValueError(f"unknown op {op!r}")

    sup, worker = await _pair(handler)
    assert await sup.call("add", a=2, b=3) == 5
    results = await asyncio.gather(*(sup.call("add", a=i, b=i) for i in range(50)))
    assert results == [2 * i for i in range(50)]  # concurrent calls get their own answers
    with pytest.raises(RuntimeError, match="unknown op 'nope'"):
        await sup.call("nope")
    sup.close()
    worker.close()


async def test_notifications_reach_the_other_side():
    got: list[dict[str, Any]] = []
    sup, worker = await _pair(notify=got.append)
    worker.notify({"event": {"event_type": "session_start"}})
    worker.notify({"ready": True})
    for _ in range(100):
        if len(got) == 2:
            break
        await asyncio.sleep(0.01)
    assert got == [{"event": {"event_type": "session_start"}}, {"ready": True}]
    sup.close()
    worker.close()


async def test_peer_going_away_fails_pending_calls():
    started = asyncio.Event()

    async def handler(op: str, args: dict[str, Any]) -> Any:
        started.set()
        await asyncio.sleep(60)

    sup, worker = await _pair(handler)
    call = spawn(sup.call("slow"), name="test-call")
    await started.wait()
    worker.close()
    with pytest.raises(ChannelClosed):
        await call
    await asyncio.wait_for(sup.closed.wait(), 5)
    with pytest.raises(ChannelClosed):
        await sup.call("again")


async def test_over_long_or_garbage_line_closes(monkeypatch):
    monkeypatch.setattr(channel_mod, "MAX_LINE", 1024)
    a, b = socket.socketpair()
    sup = Channel("sup")
    await sup.open(a)
    b.sendall(b"x" * 5000 + b"\n")
    await asyncio.wait_for(sup.closed.wait(), 5)
    b.close()

    a, b = socket.socketpair()
    sup = Channel("sup")
    await sup.open(a)
    b.sendall(b"\xff\xfe not json\n")
    await asyncio.wait_for(sup.closed.wait(), 5)
    b.close()
