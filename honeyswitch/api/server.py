"""The control API over HTTP: a route for every declared operation
(:mod:`.operations`), ``/metrics``, and the dashboard.

Every request needs ``Authorization: Bearer <token>``.  Bodies are small JSON objects
(bounded by ``client_max_size``); every input is validated and errors are JSON
``{"error": "..."}`` with a 4xx status.
"""
from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ..config import ControlConfig
from ..web import routes
from . import auth, views
from .metrics import Metrics
from .operations import OPERATIONS, ControlPort, Operation, OpError, perform

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_BODY = 64 << 10
APP_KEY: web.AppKey[ControlPort] = web.AppKey("honeyswitch", object)  # type: ignore[arg-type]
METRICS_KEY: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)


def build_app(control: ControlPort, token: str) -> web.Application:
    expected = token.encode()

    @web.middleware
    async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "GET" and routes.is_public(request.path):
            return await handler(request)
        given = request.headers.get("Authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), expected):
            return _error(401, "missing or wrong bearer token")
        try:
            return await handler(request)
        except web.HTTPException as e:
            return _error(e.status, e.reason)

    web_app = web.Application(middlewares=[require_token], client_max_size=MAX_BODY)
    web_app[APP_KEY] = control
    for op in OPERATIONS.values():
        if op.path is not None:
            web_app.router.add_route(op.method, op.path, _handler(op))
    web_app.router.add_get("/metrics", metrics)
    routes.add_routes(web_app, APP_KEY)
    views.add_routes(web_app, APP_KEY)  # the dashboard's transcript, pcap and alert-rate views
    web_app[METRICS_KEY] = Metrics(control)
    return web_app


async def start_api(app: ControlPort, control: ControlConfig) -> web.AppRunner:
    """Serve the API on ``control.listen``; returns the runner (``cleanup()`` stops it)."""
    assert control.listen is not None
    # Open streams to dashboards would hold a stop for the default 60 s: 1 s is plenty.
    runner = web.AppRunner(build_app(app, auth.token(control, create=True)), access_log=None,
                           shutdown_timeout=1.0)
    await runner.setup()
    host, port = control.listen
    await web.TCPSite(runner, host, port, reuse_address=True).start()
    return runner


def bound_address(runner: web.AppRunner) -> tuple[str, int]:
    """The API's address (its port when the config asked for port 0)."""
    for site in runner.sites:
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            addr = server.sockets[0].getsockname()
            return addr[0], addr[1]
    raise RuntimeError("control API is not listening")


# ----------------------------------------------------------------------- handlers


def _handler(op: Operation) -> Handler:
    """The route of ``op``: its arguments from the path, the query and the JSON body."""
    wants_body = any(arg.where == "body" for arg in op.args)

    async def handle(request: web.Request) -> web.StreamResponse:
        control = request.app[APP_KEY]
        given = {"path": request.match_info, "query": request.query,
                 "body": await _body(request) if wants_body else {}}
        try:
            return _json(await perform(control, op.name, op.parse(given)))
        except OpError as e:
            return _error(e.status, e.message)

    return handle


async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=await request.app[METRICS_KEY].render(),
                        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


# ------------------------------------------------------------------------ helpers


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise web.HTTPBadRequest(reason="body must be a JSON object") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(reason="body must be a JSON object")
    return body


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda o: json.dumps(o, default=str))


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status=status)
