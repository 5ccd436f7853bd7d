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
import re
from collections.abc import AsyncIterator
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
STREAM_ID = re.compile(r"\$|\d{1,20}(-\d{1,20})?")  # where a cluster stream starts (Redis stream id)
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
            since = request.query.get("since", "$")
            if not STREAM_ID.fullmatch(since):
                raise web.HTTPBadRequest(reason='since: a stream id ("0", "1700000000000-0") or "$"')
            events = control.cluster_events(since)
            if events is None:
                raise web.HTTPConflict(reason="no [cluster] in the config: /api/v1/stream has this host's events")
            return await _cluster_stream(request, events)
        return await _stream(request, control)

    web_app.router.add_get("/", index)
    web_app.router.add_static("/static/", STATIC, follow_symlinks=False, append_version=False)
    web_app.router.add_get("/api/v1/stream", stream)


class _Feed:
    """A bounded queue between an event source and one stream's reader: a slow reader
    loses events (counted, and said in a ``stream_dropped`` line), it never slows the source."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(STREAM_QUEUE)
        self.dropped = 0

    def put(self, event: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1

    async def write_to(self, resp: web.StreamResponse) -> None:
        """Write the events as JSON lines until the client goes; keep-alives while idle."""
        try:
            while True:
                try:
                    event = await asyncio.wait_for(self.queue.get(), KEEPALIVE)
                except TimeoutError:
                    event = {"event_type": "keepalive"}
                if self.dropped:
                    lost, self.dropped = self.dropped, 0
                    await resp.write(json.dumps({"event_type": "stream_dropped", "count": lost}).encode() + b"\n")
                await resp.write(json.dumps(event, default=str).encode() + b"\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass


async def _open(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson", "Cache-Control": "no-store"})
    await resp.prepare(request)
    return resp


async def _stream(request: web.Request, app: ControlPort) -> web.StreamResponse:
    feed = _Feed()
    resp = await _open(request)
    unsubscribe = app.subscribe(feed.put)
    try:
        await feed.write_to(resp)
    finally:
        unsubscribe()
    return resp


async def _cluster_stream(request: web.Request, events: AsyncIterator[dict[str, Any]]) -> web.StreamResponse:
    """Every host's events as they reach the cluster's Redis stream, each with its
    ``host`` (``?cluster=1``; ``&since=ID`` replays from a stream id, "0" from the start)."""
    feed = _Feed()
    resp = await _open(request)

    async def pump() -> None:
        async for event in events:
            feed.put(event)

    reader = spawn(pump(), name="cluster-stream")
    try:
        await feed.write_to(resp)
    finally:
        reader.cancel()
        await asyncio.wait([reader])  # its generator closes with it (and its clients, if its own)
    return resp
