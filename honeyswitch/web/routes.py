"""Dashboard routes: the static page (no data in it, so no token needed) and a live
stream of events as newline-delimited JSON (token needed, like every API call): this
host's, or with ``?cluster=1`` every host's, from the cluster's Redis stream.

The page asks for the control token and keeps it in the tab's sessionStorage; it sends
it as a bearer header, never in a URL.  Each stream subscriber has a bounded queue: a
slow browser loses events (counted in a ``dropped`` line), it never slows the daemon.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..tasks import spawn

if TYPE_CHECKING:
    from ..api.operations import ControlPort

STATIC = Path(__file__).with_name("static")
PUBLIC_PATHS = ("/", "/static/")  # served without the token: no data in them
STREAM_QUEUE = 1000
KEEPALIVE = 15.0  # seconds between keep-alive lines on an idle stream
_SECURITY_HEADERS = {
    # Nothing inline, nothing from elsewhere: an attacker's bytes that somehow became
    # markup could neither run nor load anything.
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def is_public(path: str) -> bool:
    return path == "/" or (path.startswith("/static/") and ".." not in path)


def add_routes(web_app: web.Application, app_key: web.AppKey[ControlPort]) -> None:
    async def index(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html", headers=_SECURITY_HEADERS)

    async def stream(request: web.Request) -> web.StreamResponse:
        control = request.app[app_key]
        if request.query.get("cluster") in ("1", "true", "yes"):
            events = control.cluster_events(request.query.get("since", "$")[:40])
            if events is None:
                raise web.HTTPConflict(reason="no [cluster] in the config: /api/v1/stream has this host's events")
            return await _cluster_stream(request, events)
        return await _stream(request, control)

    web_app.router.add_get("/", index)
    web_app.router.add_static("/static/", STATIC, follow_symlinks=False, append_version=False)
    web_app.router.add_get("/api/v1/stream", stream)


async def _cluster_stream(request: web.Request, events: AsyncIterator[dict[str, Any]]) -> web.StreamResponse:
    """Every host's events as they reach the cluster's Redis stream, each with its
    ``host`` (``?cluster=1``; ``&since=ID`` replays from a stream id, "0" from the start)."""
    resp = await _open(request)
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(STREAM_QUEUE)

    async def pump() -> None:  # reads Redis while the client is slow: a full queue drops
        async for event in events:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

    reader = spawn(pump(), name="cluster-stream")
    try:
        await _write_from(resp, queue, lambda: 0)
    finally:
        reader.cancel()
        await asyncio.wait([reader])  # its generator closes with it (and its clients, if its own)
    return resp


async def _open(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson", "Cache-Control": "no-store"})
    await resp.prepare(request)
    return resp


async def _write_from(resp: web.StreamResponse, queue: asyncio.Queue[dict[str, Any]],
                      dropped: Callable[[], int]) -> None:
    """Write the queue's events as lines until the client goes; keep-alives while idle,
    and a ``stream_dropped`` line when ``dropped()`` counts losses."""
    try:
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), KEEPALIVE)
            except TimeoutError:
                event = {"event_type": "keepalive"}
            lost = dropped()
            if lost:
                await resp.write(json.dumps({"event_type": "stream_dropped", "count": lost}).encode() + b"\n")
            await resp.write(json.dumps(event, default=str).encode() + b"\n")
    except (ConnectionResetError, asyncio.CancelledError):
        pass


async def _stream(request: web.Request, app: ControlPort) -> web.StreamResponse:
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(STREAM_QUEUE)
    dropped = 0

    def on_event(event: dict[str, Any]) -> None:
        nonlocal dropped
        try:
            queue.put_nowait(event)
        except asyncio.QueueFull:
            dropped += 1

    def take_dropped() -> int:
        nonlocal dropped
        n, dropped = dropped, 0
        return n

    resp = await _open(request)
    unsubscribe = app.subscribe(on_event)
    try:
        await _write_from(resp, queue, take_dropped)
    finally:
        unsubscribe()
    return resp
