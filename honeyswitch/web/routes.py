"""Dashboard routes: the static page (no data in it, so no token needed) and a live
stream of events as newline-delimited JSON (token needed, like every API call).

The page asks for the control token and keeps it in the tab's sessionStorage; it sends
it as a bearer header, never in a URL.  Each stream subscriber has a bounded queue: a
slow browser loses events (counted in a ``dropped`` line), it never slows the daemon.
"""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

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
        return await _stream(request, request.app[app_key])

    web_app.router.add_get("/", index)
    web_app.router.add_static("/static/", STATIC, follow_symlinks=False, append_version=False)
    web_app.router.add_get("/api/v1/stream", stream)


async def _stream(request: web.Request, app: ControlPort) -> web.StreamResponse:
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(STREAM_QUEUE)
    dropped = 0

    def on_event(event: dict[str, Any]) -> None:
        nonlocal dropped
        try:
            queue.put_nowait(event)
        except asyncio.QueueFull:
            dropped += 1

    resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson", "Cache-Control": "no-store"})
    await resp.prepare(request)
    unsubscribe = app.subscribe(on_event)
    try:
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), KEEPALIVE)
            except TimeoutError:
                event = {"event_type": "keepalive"}
            if dropped:
                await resp.write(json.dumps({"event_type": "stream_dropped", "count": dropped}).encode() + b"\n")
                dropped = 0
            await resp.write(json.dumps(event, default=str).encode() + b"\n")
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        unsubscribe()
    return resp
