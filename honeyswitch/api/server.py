"""The control API: live sessions, switching and the blacklist over HTTP.

Every request needs ``Authorization: Bearer <token>``.  Bodies are small JSON objects
(bounded by ``client_max_size``); every input is validated and errors are JSON
``{"error": "..."}`` with a 4xx status.
"""
from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .. import __version__
from ..config import ControlConfig
from ..store.blacklist import Blacklist
from ..store.db import Store
from ..web import routes
from . import auth, views
from .metrics import Metrics

if TYPE_CHECKING:
    from .control import Control

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_BODY = 64 << 10
APP_KEY: web.AppKey[Control] = web.AppKey("honeyswitch", object)  # type: ignore[arg-type]
METRICS_KEY: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)


def build_app(app: Control, token: str) -> web.Application:
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
    web_app[APP_KEY] = app
    r = web_app.router
    r.add_get("/api/v1/health", health)
    r.add_get("/api/v1/sessions", list_sessions)
    r.add_get("/api/v1/sessions/{id}", get_session)
    r.add_post("/api/v1/sessions/{id}/switch", switch_session)
    r.add_post("/api/v1/switch", switch_client)
    r.add_get("/api/v1/blacklist", list_blacklist)
    r.add_post("/api/v1/blacklist", add_blacklist)
    r.add_delete("/api/v1/blacklist/{ip}", remove_blacklist)
    r.add_get("/api/v1/events", list_events)
    r.add_get("/api/v1/alerts", list_alerts)
    r.add_get("/api/v1/incidents", list_incidents)
    r.add_get("/api/v1/sources", list_sources)
    r.add_get("/api/v1/ids", ids_status)
    r.add_get("/metrics", metrics)
    routes.add_routes(web_app, APP_KEY)
    views.add_routes(web_app, APP_KEY)  # the dashboard's transcript, pcap and alert-rate views
    web_app[METRICS_KEY] = Metrics(app)
    return web_app


async def start_api(app: Control, control: ControlConfig) -> web.AppRunner:
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


async def health(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    return _json({"status": "ok", "version": __version__,
                  "blacklist_threshold": app.config.detection.scoring.blacklist_threshold,
                  **await app.health()})


async def list_sessions(request: web.Request) -> web.Response:
    return _json({"sessions": await request.app[APP_KEY].sessions()})


async def get_session(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    sid = request.match_info["id"]
    live = await app.live_session(sid)
    if live is not None:
        return _json({"session": live, "live": True})
    row = app.store.session(sid) if app.store is not None else None
    if row is None:
        return _error(404, f"no session {sid!r}")
    return _json({"session": row, "live": False})


async def switch_session(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    sid = request.match_info["id"]
    body = await _body(request)
    ok = await app.switch_session(sid, "operator", _str(body, "reason", "control API"))
    if ok is None:
        return _error(404, f"no live session {sid!r}")
    if not ok:
        return _error(409, f"session {sid!r} cannot be switched (no honeypot)")
    return _json({"switched": [sid]})


async def switch_client(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    body = await _body(request)
    ip = _ip(body.get("client"))
    ids = await app.switch_client(ip, "operator", _str(body, "reason", "control API"))
    return _json({"switched": ids})


async def list_blacklist(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    return _json({"blacklist": _blacklist(app).entries()})


async def add_blacklist(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    body = await _body(request)
    ip = _ip(body.get("ip"))
    ttl = body.get("ttl")
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or ttl < 0):
        raise web.HTTPBadRequest(reason="ttl must be a number of seconds >= 0")
    entry = _blacklist(app).add(ip, reason=_str(body, "reason", "operator"), by="operator", ttl=ttl)
    if entry is None:
        return _error(409, f"{ip} is on the allowlist")
    return _json({"added": entry})


async def remove_blacklist(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    ip = _ip(request.match_info["ip"])
    if not _blacklist(app).remove(ip, by="operator"):
        return _error(404, f"{ip} is not blacklisted")
    return _json({"removed": ip})


async def list_events(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    q = request.query
    rows = _store(app).events(session_id=q.get("session_id"), event_type=q.get("event_type"), limit=_limit(q))
    return _json({"events": rows})


async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=await request.app[METRICS_KEY].render(),
                        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


async def list_alerts(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    q = request.query
    rows = _store(app).events(session_id=q.get("session_id"), event_type="alert",
                              src_ip=q.get("src_ip"), limit=_limit(q))
    return _json({"alerts": rows})


async def list_incidents(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    q = request.query
    return _json({"incidents": _store(app).incidents(limit=_limit(q), src_ip=q.get("src_ip"))})


async def list_sources(request: web.Request) -> web.Response:
    """Live decayed source scores, highest first."""
    app = request.app[APP_KEY]
    return _json({"sources": await app.sources(_limit(request.query))})


async def ids_status(request: web.Request) -> web.Response:
    return _json({"ids": await request.app[APP_KEY].ids_status()})


def _limit(q: Any, default: str = "100") -> int:
    try:
        return max(1, min(int(q.get("limit", default)), 10000))
    except ValueError:
        raise web.HTTPBadRequest(reason="limit must be an integer") from None


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


def _str(body: dict[str, Any], key: str, default: str) -> str:
    value = body.get(key, default)
    if not isinstance(value, str) or len(value) > 1000:
        raise web.HTTPBadRequest(reason=f"{key} must be a string of at most 1000 characters")
    return value


def _ip(value: Any) -> str:
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        raise web.HTTPBadRequest(reason="not an IP address") from None


def _blacklist(app: Control) -> Blacklist:
    if app.blacklist is None:
        raise web.HTTPServiceUnavailable(reason="the daemon is starting or stopping")
    return app.blacklist


def _store(app: Control) -> Store:
    if app.store is None:
        raise web.HTTPServiceUnavailable(reason="the daemon is starting or stopping")
    return app.store


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda o: json.dumps(o, default=str))


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status=status)
