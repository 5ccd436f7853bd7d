"""Helpers of the packet-mode tests: a recording stream server run inside a namespace,
a client that checks bytes by SHA-256, and the impairment tool's launcher.

:data:`STREAM_SERVER` serves every connection the same way: each line ``ECHO n`` makes
it read ``n`` bytes and send them back; ``SEND n seed`` sends ``n`` bytes of a seeded
pattern; anything else is echoed line by line.  It appends one JSON line per connection
to its log when the connection ends: peer, bytes received and their SHA-256, and how it
ended (``eof``, ``reset`` for ECONNRESET, or the error).  Main and the honeypot run the
same program, so they are byte-for-byte identical services.
"""
from __future__ import annotations

import hashlib
import json
import socket
import time
from pathlib import Path
from typing import Any

from . import netns

STREAM_SERVER = r"""
import hashlib, json, random, socket, sys, threading
host, port, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
srv = socket.socket(fam, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((host, port)); srv.listen(64)
lock = threading.Lock()
def pattern(n, seed):
    return random.Random(seed).randbytes(n)
def serve(conn, peer):
    got, h, end = 0, hashlib.sha256(), "eof"
    buf = b""
    try:
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            got += len(chunk); h.update(chunk); buf += chunk
            while b"\n" in buf:
                line, _, buf = buf.partition(b"\n")
                words = line.split()
                if words[:1] == [b"ECHO"]:
                    n = int(words[1])
                    while len(buf) < n:
                        more = conn.recv(65536)
                        if not more:
                            raise EOFError("short")
                        got += len(more); h.update(more); buf += more
                    conn.sendall(buf[:n]); buf = buf[n:]
                elif words[:1] == [b"SEND"]:
                    conn.sendall(pattern(int(words[1]), int(words[2])))
                else:
                    conn.sendall(line + b"\n")
    except ConnectionResetError:
        end = "reset"
    except Exception as e:
        end = type(e).__name__
    finally:
        conn.close()
        with lock, open(log, "a") as f:
            f.write(json.dumps({"peer": peer[0], "port": peer[1], "bytes": got,
                                "sha256": h.hexdigest(), "end": end}) + "\n")
while True:
    c, p = srv.accept()
    threading.Thread(target=serve, args=(c, p), daemon=True).start()
"""


def start_stream_server(lab: netns.Lab, ns: str, host: str, port: int, log: Path) -> None:
    lab.spawn(ns, ["python3", "-c", STREAM_SERVER, host, str(port), str(log)])
    netns.wait_port(ns, (host, port))


def server_log(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def wait_log(log: Path, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entries = server_log(log)
        if len(entries) >= count:
            return entries
        time.sleep(0.05)
    raise TimeoutError(f"{log}: {len(server_log(log))} of {count} connections logged after {timeout}s")


def pattern(n: int, seed: int) -> bytes:
    import random

    return random.Random(seed).randbytes(n)


def recv_exact(sock: socket.socket, n: int, timeout: float = 30.0) -> bytes:
    """Read ``n`` bytes (bounded in time); raises on EOF or timeout."""
    deadline = time.monotonic() + timeout
    out = bytearray()
    while len(out) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"got {len(out)} of {n} bytes after {timeout}s")
        sock.settimeout(left)
        chunk = sock.recv(min(1 << 20, n - len(out)))
        if not chunk:
            raise ConnectionError(f"EOF after {len(out)} of {n} bytes")
        out += chunk
    return bytes(out)


def echo_roundtrip(sock: socket.socket, data: bytes, timeout: float = 30.0) -> bytes:
    """``ECHO n`` and ``data``; returns what came back (sent and read concurrently)."""
    import threading

    errors: list[BaseException] = []

    def send() -> None:
        try:
            sock.sendall(b"ECHO %d\n" % len(data) + data)
        except BaseException as e:  # handed to the caller
            errors.append(e)

    t = threading.Thread(target=send)
    t.start()
    try:
        back = recv_exact(sock, len(data), timeout)
    finally:
        t.join(timeout)
    if errors:
        raise errors[0]
    return back


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
