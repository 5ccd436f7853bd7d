"""A small, DELIBERATELY INJECTABLE web application: a test target for attack tools.

This is a test target, not an example to follow.  ``/item?id=N`` pastes ``id`` into its
SQL text unescaped so that sqlmap finds a real injection; it binds to loopback only and
refuses any other address.  End-to-end tests run two of them as separate processes, main
with ``--data real`` and the honeypot with ``--data fake`` (same schema, other rows), put
honeyswitch in front and check what each one was asked from its access log.

HTTP/1.1 with keep-alive and Content-Length bodies (no chunked requests).  Routes:

=====================  =====================================================
``GET /``              index page (same in both data sets)
``GET /item?id=N``     one item; ``id`` is concatenated into SQL (injectable)
``GET /search?q=W``    items whose name contains W (parameterised, safe)
``GET /api/items``     every item as JSON
``GET /robots.txt``    static text
``GET /login``         the login form
``POST /login``        form ``user=..&password=..``: welcome, or the form again
=====================  =====================================================

The access log gets one JSON line per request, written before the reply::

    {"time": 1700000000.123456, "client": "127.0.0.1:40000", "peer": "127.0.0.1:40000",
     "conn": 3, "seq": 0, "method": "GET", "target": "/item?id=1"}

``client`` is the address from a PROXY v2 header when ``--proxy-protocol`` is on (the
real client behind honeyswitch), else the TCP peer; ``conn`` numbers connections and
``seq`` requests within one.  Run it as::

    python -m honeyswitch.testing.webapp --listen 127.0.0.1:0 --access-log F --data real

which prints the bound port on its first stdout line.  :class:`WebAppProcess` does that
from a test.
"""
from __future__ import annotations

import argparse
import asyncio
import html
import ipaddress
import json
import os
import select
import sqlite3
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs, unquote_plus, urlsplit

# The banner of Python's http.server: nmap -sV recognises it as http, so its http-*
# scripts run against the random test port.
SERVER = f"BaseHTTP/0.6 Python/{sys.version.split()[0]}"
MAX_HEAD = 64 << 10
MAX_BODY = 1 << 20
IDLE = 30.0  # seconds a keep-alive connection may wait for its next request
PROXY_V2 = b"\r\n\r\n\x00\r\nQUIT\n"
REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
           405: "Method Not Allowed", 411: "Length Required", 413: "Payload Too Large",
           431: "Request Header Fields Too Large", 500: "Internal Server Error",
           501: "Not Implemented", 505: "HTTP Version Not Supported"}

# Two data sets with one schema: the honeypot's rows look plausible but are not main's.
Row = tuple[Any, ...]
DATA: dict[str, dict[str, list[Row]]] = {
    "real": {
        "items": [(i, f"{w} {n}", round(4.5 + 3.25 * i, 2)) for i, (w, n) in enumerate(
            [("Steel", "hammer"), ("Oak", "table"), ("Linen", "shirt"), ("Glass", "vase"),
             ("Copper", "kettle"), ("Wool", "scarf"), ("Cedar", "chair"), ("Brass", "lamp"),
             ("Cotton", "towel"), ("Maple", "shelf"), ("Clay", "pot"), ("Silk", "tie")], 1)],
        "users": [(1, "admin", "real-S3cret-9f2c"), (2, "alice", "real-alice-77d1"),
                  (3, "bob", "real-bob-0a4e")],
    },
    "fake": {
        "items": [(i, f"{w} {n}", round(5.0 + 2.75 * i, 2)) for i, (w, n) in enumerate(
            [("Iron", "mallet"), ("Pine", "desk"), ("Hemp", "coat"), ("Stone", "bowl"),
             ("Tin", "teapot"), ("Felt", "hat"), ("Birch", "stool"), ("Zinc", "lantern"),
             ("Bamboo", "mat"), ("Ash", "rack"), ("Slate", "jar"), ("Satin", "bow")], 1)],
        "users": [(1, "admin", "honey-token-51ab"), (2, "alice", "honey-alice-c3d0"),
                  (3, "bob", "honey-bob-e812")],
    },
}

LOGIN_FORM = (b"<form method=\"post\" action=\"/login\"><input name=\"user\">"
              b"<input name=\"password\" type=\"password\"><button>log in</button></form>\n")
INDEX = (b"<!doctype html><html><head><title>hs-webapp shop</title></head><body>"
         b"<h1>Shop</h1><ul><li><a href=\"/item?id=1\">first item</a></li>"
         b"<li><a href=\"/search?q=a\">search</a></li><li><a href=\"/api/items\">api</a></li>"
         b"</ul>" + LOGIN_FORM + b"</body></html>\n")
ROBOTS = b"User-agent: *\nDisallow: /admin/\n"


def open_db(data: str) -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", check_same_thread=False)
    db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL)")
    db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, password TEXT)")
    db.executemany("INSERT INTO items VALUES (?, ?, ?)", DATA[data]["items"])
    db.executemany("INSERT INTO users VALUES (?, ?, ?)", DATA[data]["users"])
    db.commit()
    return db


@dataclass(slots=True)
class Request:
    method: str
    target: str
    version: str
    headers: dict[str, str]
    body: bytes = b""

    @property
    def keep_alive(self) -> bool:
        conn = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in conn
        return "close" not in conn


class BadRequest(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class WebApp:
    """The routes, over one sqlite database."""

    def __init__(self, data: str) -> None:
        self.db = open_db(data)

    def handle(self, req: Request) -> tuple[int, str, bytes]:
        url = urlsplit(req.target)
        if req.method not in ("GET", "HEAD", "POST"):
            return 405, "text/plain", b"method not allowed\n"
        route = {"/": self.index, "/item": self.item, "/search": self.search,
                 "/api/items": self.api_items, "/robots.txt": self.robots, "/login": self.login}.get(url.path)
        if route is None:
            return 404, "text/plain", b"not found\n"
        return route(req, url.query)

    def index(self, req: Request, query: str) -> tuple[int, str, bytes]:
        return 200, "text/html", INDEX

    def robots(self, req: Request, query: str) -> tuple[int, str, bytes]:
        return 200, "text/plain", ROBOTS

    def item(self, req: Request, query: str) -> tuple[int, str, bytes]:
        raw = query.split("id=", 1)[1].split("&", 1)[0] if "id=" in query else "0"
        # INJECTABLE ON PURPOSE: the test target for sqlmap (see the module docstring).
        # sqlite3 runs one statement per execute(): an injection reads, it cannot stack writes.
        sql = "SELECT id, name, price FROM items WHERE id = " + unquote_plus(raw)
        try:
            rows = self.db.execute(sql).fetchall()
        except (sqlite3.Error, ValueError, OverflowError) as e:
            # sqlmap recognises the DBMS from this message, as from a careless real app
            return 500, "text/html", f"<p>sqlite3.OperationalError: {html.escape(str(e))}</p>\n".encode()
        return 200, "text/html", _rows_html(rows)

    def search(self, req: Request, query: str) -> tuple[int, str, bytes]:
        q = parse_qs(query).get("q", [""])[0]
        rows = self.db.execute("SELECT id, name, price FROM items WHERE name LIKE ? ORDER BY id",
                               (f"%{q}%",)).fetchall()
        return 200, "text/html", _rows_html(rows)

    def api_items(self, req: Request, query: str) -> tuple[int, str, bytes]:
        rows = self.db.execute("SELECT id, name, price FROM items ORDER BY id").fetchall()
        body = json.dumps([{"id": i, "name": n, "price": p} for i, n, p in rows])
        return 200, "application/json", body.encode() + b"\n"

    def login(self, req: Request, query: str) -> tuple[int, str, bytes]:
        if req.method != "POST":
            return 200, "text/html", LOGIN_FORM
        form = parse_qs(req.body.decode("utf-8", "replace"))
        user, password = form.get("user", [""])[0], form.get("password", [""])[0]
        row = self.db.execute("SELECT 1 FROM users WHERE name = ? AND password = ?",
                              (user, password)).fetchone()
        if row is None:  # as most web forms do: 200 and the form again, with a message
            return 200, "text/html", b"<p>invalid credentials</p>\n" + LOGIN_FORM
        return 200, "text/html", f"<p>welcome {html.escape(user)}</p>\n".encode()


def _rows_html(rows: list[tuple[Any, ...]]) -> bytes:
    cells = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
                    for row in rows)
    return f"<html><body><table>{cells}</table><p>{len(rows)} rows</p></body></html>\n".encode()


# ------------------------------------------------------------------- the server


class Server:
    def __init__(self, app: WebApp, log: IO[str], proxy_protocol: bool) -> None:
        self.app = app
        self.log = log
        self.proxy_protocol = proxy_protocol
        self.conns = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.conns += 1
        conn = self.conns
        peer = _addr(writer.get_extra_info("peername"))
        try:
            client = await self._proxy_header(reader) if self.proxy_protocol else None
            await self._requests(reader, writer, conn, peer, client or peer)
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, BadRequest):
            pass
        finally:
            writer.close()

    async def _requests(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        conn: int, peer: str, client: str) -> None:
        for seq in range(1 << 30):
            try:
                req = await asyncio.wait_for(read_request(reader), IDLE)
            except BadRequest as e:
                writer.write(response(e.status, "text/plain", b"bad request\n", False, False))
                await writer.drain()
                return
            if req is None:
                return
            self._log(conn, seq, peer, client, req)
            status, ctype, body = self.app.handle(req)
            keep = req.keep_alive
            writer.write(response(status, ctype, body, keep, req.method == "HEAD", req.version))
            await writer.drain()
            if not keep:
                return

    async def _proxy_header(self, reader: asyncio.StreamReader) -> str | None:
        head = await reader.readexactly(16)
        if head[:12] != PROXY_V2:
            raise BadRequest(400)
        length = struct.unpack("!H", head[14:16])[0]
        body = await reader.readexactly(length)
        if head[13] == 0x11 and length >= 12:
            return f"{ipaddress.IPv4Address(body[:4])}:{struct.unpack('!H', body[8:10])[0]}"
        if head[13] == 0x21 and length >= 36:
            return f"[{ipaddress.IPv6Address(body[:16])}]:{struct.unpack('!H', body[32:34])[0]}"
        return None

    def _log(self, conn: int, seq: int, peer: str, client: str, req: Request) -> None:
        line = {"time": round(time.time(), 6), "client": client, "peer": peer, "conn": conn, "seq": seq,
                "method": req.method, "target": req.target}
        self.log.write(json.dumps(line) + "\n")
        self.log.flush()


def _addr(name: Any) -> str:
    host, port = name[0], name[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """The next request, None at a clean EOF between requests; BadRequest otherwise."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        if e.partial.strip():
            raise BadRequest(400) from None
        return None
    except asyncio.LimitOverrunError:
        raise BadRequest(431) from None
    lines = head[:-4].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise BadRequest(400)
    if parts[2] not in ("HTTP/1.0", "HTTP/1.1"):
        raise BadRequest(505)
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest(400)
        headers[name.lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise BadRequest(501)
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise BadRequest(400) from None
    if not 0 <= length <= MAX_BODY:
        raise BadRequest(413)
    body = await reader.readexactly(length) if length else b""
    return Request(parts[0], parts[1], parts[2], headers, body)


def response(status: int, ctype: str, body: bytes, keep_alive: bool, head_only: bool,
             version: str = "HTTP/1.1") -> bytes:
    conn = ("keep-alive" if version == "HTTP/1.0" else "") if keep_alive else "close"
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}", f"Server: {SERVER}",
             f"Content-Type: {ctype}", f"Content-Length: {len(body)}"]
    if status == 405:
        lines.append("Allow: GET, HEAD, POST")
    if conn:
        lines.append(f"Connection: {conn}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (b"" if head_only else body)


def parse_listen(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise SystemExit(f"webapp: refusing to listen on {host}: this injectable app binds to loopback only")
    return host, int(port)


async def serve(listen: str, access_log: Path, data: str, proxy_protocol: bool) -> None:
    host, port = parse_listen(listen)
    with open(access_log, "a", encoding="utf-8") as log:
        server = Server(WebApp(data), log, proxy_protocol)
        srv = await asyncio.start_server(server.serve, host, port, limit=MAX_HEAD, backlog=512)
        print(srv.sockets[0].getsockname()[1], flush=True)
        async with srv:
            await srv.serve_forever()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m honeyswitch.testing.webapp", description=__doc__.split("\n")[0])
    p.add_argument("--listen", default="127.0.0.1:0", help="loopback host:port (port 0: any free port)")
    p.add_argument("--access-log", required=True, type=Path)
    p.add_argument("--data", choices=sorted(DATA), default="real")
    p.add_argument("--proxy-protocol", action="store_true", help="expect a PROXY v2 header per connection")
    args = p.parse_args(argv)
    try:
        asyncio.run(serve(args.listen, args.access_log, args.data, args.proxy_protocol))
    except KeyboardInterrupt:
        pass


# ------------------------------------------------------------- from a test


class WebAppProcess:
    """The webapp as a subprocess on loopback; ``stop()`` (or ``with``) ends it."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, access_log: Path) -> None:
        self.proc = proc
        self.port = port
        self.access_log = access_log

    @classmethod
    def start(cls, access_log: Path, data: str = "real", proxy_protocol: bool = False,
              timeout: float = 15.0) -> WebAppProcess:
        argv = [sys.executable, "-m", "honeyswitch.testing.webapp", "--listen", "127.0.0.1:0",
                "--access-log", str(access_log), "--data", data]
        if proxy_protocol:
            argv.append("--proxy-protocol")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parents[2]),
                                                                         os.environ.get("PYTHONPATH")]))}
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env)
        assert proc.stdout is not None
        deadline = time.monotonic() + timeout
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if proc.poll() is not None or left <= 0:
                proc.kill()
                proc.wait(5)
                raise RuntimeError(f"webapp did not start (exit {proc.returncode})")
            if select.select([proc.stdout], [], [], min(left, 0.1))[0]:
                chunk = os.read(proc.stdout.fileno(), 64)
                if not chunk:
                    continue  # EOF: poll() reports the exit next time round
                line += chunk
        return cls(proc, int(line), access_log)

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def entries(self) -> list[dict[str, Any]]:
        """Every access log line so far."""
        try:
            text = self.access_log.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [json.loads(x) for x in text.splitlines() if x.endswith("}")]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> WebAppProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    main()

