"""Control API endpoints the dashboard needs beyond the operator's calls: a session's
transcript as JSON and as pcap, and alerts per minute.

Transcripts are attacker bytes.  The JSON gives each data record twice, as ``text``
(printable ASCII, every other byte a ``\\xNN`` escape: safe anywhere) and as ``hex``;
the page shows them with ``textContent`` only.  Reading a transcript file is blocking
I/O and runs in a thread.  A transcript larger than :data:`JSON_DATA_MAX` is cut in the
JSON (``truncated``); the pcap always has all of it.
"""
from __future__ import annotations

import asyncio
import io
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..record.escape import escape_bytes
from ..record.transcripts import read_transcript, transcript_file, write_pcap
from ..store.schema import PARTIAL_EVENT_INDEX

if TYPE_CHECKING:
    from .control import Control

JSON_DATA_MAX = 2 << 20  # bytes of session data in one transcript JSON answer
MINUTES_MAX = 24 * 60


def add_routes(web_app: web.Application, app_key: web.AppKey[Control]) -> None:
    async def transcript(request: web.Request) -> web.Response:
        path = _path(request.app[app_key], request.match_info["id"])
        return web.json_response(await asyncio.to_thread(transcript_json, path))

    async def pcap(request: web.Request) -> web.Response:
        sid = request.match_info["id"]
        path = _path(request.app[app_key], sid)
        body = await asyncio.to_thread(_pcap_bytes, path)
        return web.Response(body=body, content_type="application/vnd.tcpdump.pcap",
                            headers={"Content-Disposition": f'attachment; filename="{sid}.pcap"'})

    async def alert_rate(request: web.Request) -> web.Response:
        app = request.app[app_key]
        if app.store is None:
            raise web.HTTPServiceUnavailable(reason="the daemon is starting or stopping")
        try:
            minutes = max(1, min(int(request.query.get("minutes", "60")), MINUTES_MAX))
        except ValueError:
            raise web.HTTPBadRequest(reason="minutes must be an integer") from None
        return web.json_response({"minutes": alerts_per_minute(app, minutes, time.time())})

    r = web_app.router
    r.add_get("/api/v1/sessions/{id}/transcript", transcript)
    r.add_get("/api/v1/sessions/{id}/pcap", pcap)
    r.add_get("/api/v1/alerts/per-minute", alert_rate)


def _path(app: Control, session_id: str) -> Path:
    try:
        path = transcript_file(app.config.transcripts_dir, session_id)
    except ValueError:
        raise web.HTTPBadRequest(reason="not a session id") from None
    if not path.is_file():
        raise web.HTTPNotFound(reason=f"no transcript for session {session_id!r} "
                               "(only sessions that reached the honeypot have one)")
    return path


def transcript_json(path: Path) -> dict[str, Any]:
    """The transcript at ``path`` for the page: header, then records in file order."""
    header: dict[str, Any] = {}
    records: list[dict[str, Any]] = []
    offsets = {"client": 0, "main": 0, "honeypot": 0}
    shown = 0
    truncated = False
    for rec in read_transcript(path):
        if "header" in rec:
            header = {k: v for k, v in rec.items() if k != "header"}
        elif "mark" in rec:
            records.append(rec)
        else:
            data: bytes = rec["d"]
            stream = rec["s"]
            offsets[stream] += len(data)
            if shown + len(data) > JSON_DATA_MAX:
                truncated = True
                continue
            shown += len(data)
            records.append({"t": rec["t"], "stream": stream, "offset": offsets[stream] - len(data),
                            "length": len(data), "text": escape_bytes(data), "hex": data.hex()})
    return {"header": header, "records": records, "bytes": offsets, "truncated": truncated}


def _pcap_bytes(path: Path) -> bytes:
    out = io.BytesIO()
    write_pcap(read_transcript(path), None, out)
    return out.getvalue()


def alerts_per_minute(app: Control, minutes: int, now: float) -> list[dict[str, Any]]:
    """Alert counts per UTC minute over the last ``minutes``, oldest first, zeros included."""
    assert app.store is not None
    start = int(now // 60 - minutes + 1) * 60
    since = datetime.fromtimestamp(start, UTC).isoformat()
    rows = app.store.query(
        "SELECT substr(ts, 1, 16) AS minute, count(*) AS n FROM events "
        f"WHERE event_type = 'alert' AND {PARTIAL_EVENT_INDEX} AND ts >= ? GROUP BY minute", (since,))
    counts = {r["minute"]: r["n"] for r in rows}
    out = []
    for i in range(minutes):
        t = start + 60 * i
        label = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M")
        out.append({"t": t, "alerts": int(counts.get(label, 0))})
    return out
