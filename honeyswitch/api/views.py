"""Control API routes that are not operations (:mod:`.operations`): a session's
transcript as JSON (read in a thread) and as a pcap download (not JSON).

Transcripts are attacker bytes.  The JSON gives each data record twice, as ``text``
(printable ASCII, every other byte a ``\\xNN`` escape: safe anywhere) and as ``hex``;
the page shows them with ``textContent`` only.  Reading a transcript file is blocking
I/O and runs in a thread.  A transcript larger than :data:`JSON_DATA_MAX` is cut in the
JSON (``truncated``); the pcap always has all of it.
"""
from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..record.escape import escape_bytes
from ..record.transcripts import read_transcript, transcript_file, write_pcap

if TYPE_CHECKING:
    from .operations import ControlPort

JSON_DATA_MAX = 2 << 20  # bytes of session data in one transcript JSON answer


# Each route and what it does, as the README's API table shows it.
DOCS = {
    "/api/v1/sessions/{id}/transcript": "the transcript as JSON: header, records in order, each data record "
                                        "as escaped `text` and `hex`, marks (cut at 2 MiB: `truncated`)",
    "/api/v1/sessions/{id}/pcap": "the transcript as a pcap download",
}


def add_routes(web_app: web.Application, app_key: web.AppKey[ControlPort]) -> None:
    async def transcript(request: web.Request) -> web.Response:
        path = _path(request.app[app_key], request.match_info["id"])
        return web.json_response(await asyncio.to_thread(transcript_json, path))

    async def pcap(request: web.Request) -> web.Response:
        sid = request.match_info["id"]
        path = _path(request.app[app_key], sid)
        body = await asyncio.to_thread(_pcap_bytes, path)
        return web.Response(body=body, content_type="application/vnd.tcpdump.pcap",
                            headers={"Content-Disposition": f'attachment; filename="{sid}.pcap"'})

    r = web_app.router
    r.add_get("/api/v1/sessions/{id}/transcript", transcript)
    r.add_get("/api/v1/sessions/{id}/pcap", pcap)


def _path(app: ControlPort, session_id: str) -> Path:
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
