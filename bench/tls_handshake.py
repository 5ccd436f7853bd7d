"""Which way to terminate TLS in the relay: our SSLObject + MemoryBIO pump
(:class:`honeyswitch.tls.conn.TlsStream`, the ClientHello read as it passes) or the
event loop's own TLS (``loop.connect_accepted_socket(ssl=...)``) after peeking at the
ClientHello with ``MSG_PEEK``.  Both compute JA3/JA4 of every hello, serve one short
reply and close; ``openssl s_time -new`` clients make new handshakes as fast as they
can.  Reported: handshakes/s and the server's CPU per handshake (the steadier figure).

    .venv/bin/python -m bench.tls_handshake [--seconds 5] [--clients 2] [--key ec|rsa]
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from honeyswitch.core.types import End
from honeyswitch.testing.certs import CertAuthority
from honeyswitch.tls.conn import TlsStream
from honeyswitch.tls.fingerprint import fingerprints
from honeyswitch.tls.hello import HelloError, HelloReader

REPLY = b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"


def _context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


class _BioServer(TlsStream):
    def __init__(self, ctx: ssl.SSLContext) -> None:
        super().__init__(None, End.CLIENT)
        self.ctx, self.reader, self.buf = ctx, HelloReader(), bytearray()

    def plain_received(self, data: bytes) -> None:
        self.buf += data
        try:
            hello = self.reader.feed(data)
        except HelloError:
            self.abort()
            return
        if hello is not None:
            fingerprints(hello)
            self.start_tls(self.ctx, server_side=True, data=bytes(self.buf))

    def handshake_done(self) -> None:
        self.write(REPLY)
        self.close(reset=False)


class _LoopTls(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(REPLY)  # type: ignore[attr-defined]
        transport.close()


async def _peek_then_start_tls(loop: asyncio.AbstractEventLoop, sock: socket.socket, ctx: ssl.SSLContext) -> None:
    reader = HelloReader()
    seen = 0
    while True:
        fut: asyncio.Future[None] = loop.create_future()
        loop.add_reader(sock.fileno(), fut.set_result, None)
        try:
            await fut
        finally:
            loop.remove_reader(sock.fileno())
        data = sock.recv(65536, socket.MSG_PEEK)
        if not data:
            sock.close()
            return
        try:
            hello = reader.feed(data[seen:])
        except HelloError:
            sock.close()
            return
        seen = len(data)
        if hello is not None:
            fingerprints(hello)
            break
        await asyncio.sleep(0.001)  # peeked bytes keep the socket readable: poll, not spin
    await loop.connect_accepted_socket(_LoopTls, sock, ssl=ctx, ssl_handshake_timeout=10)


def _serve(mode: str, cert: Path, key: Path, port_out: multiprocessing.Queue[int]) -> None:
    import uvloop

    async def main() -> None:
        loop = asyncio.get_running_loop()
        ctx = _context(cert, key)
        if mode == "bio":
            server = await loop.create_server(lambda: _BioServer(ctx), "127.0.0.1", 0, backlog=1024)
            port_out.put(server.sockets[0].getsockname()[1])
            await asyncio.Event().wait()
        lsock = socket.create_server(("127.0.0.1", 0), backlog=1024)
        lsock.setblocking(False)
        port_out.put(lsock.getsockname()[1])
        tasks = set()
        while True:
            sock, _ = await loop.sock_accept(lsock)
            sock.setblocking(False)
            task = loop.create_task(_peek_then_start_tls(loop, sock, ctx))  # noqa: TID251 (bench only)
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    uvloop.run(main())


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def s_time(port: int, seconds: int, clients: int, www: str | None = None) -> int:
    """Connections ``clients`` parallel ``openssl s_time -new`` runs made in ``seconds``
    (each a full handshake; with ``www``, also a GET of that page)."""
    argv = ["openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-new", "-time", str(seconds)]
    argv += ["-www", www] if www else []
    runs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            for _ in range(clients)]
    total = 0
    for run in runs:
        out, _ = run.communicate(timeout=seconds + 60)
        m = re.search(r"(\d+) connections in ([\d.]+) real seconds", out)
        total += int(m.group(1)) if m else 0
    return total


def measure(mode: str, cert: Path, key: Path, seconds: float, clients: int) -> dict[str, float]:
    q: multiprocessing.Queue[int] = multiprocessing.Queue()
    proc = multiprocessing.Process(target=_serve, args=(mode, cert, key, q), daemon=True)
    proc.start()
    port = q.get(timeout=10)
    time.sleep(0.2)
    cpu0 = _cpu(proc.pid)  # type: ignore[arg-type]
    total = s_time(port, int(seconds), clients)
    cpu = _cpu(proc.pid) - cpu0  # type: ignore[arg-type]
    proc.kill()
    proc.join()
    return {"handshakes_per_s": total / seconds, "cpu_us_per_handshake": 1e6 * cpu / max(total, 1),
            "handshakes": total}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--key", choices=("ec", "rsa"), default="ec")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        issued = CertAuthority(Path(tmp)).issue("bench.test", names=("127.0.0.1",), kind=args.key)
        results: dict[str, list[dict[str, float]]] = {"bio": [], "loop": []}
        for _ in range(args.rounds):  # interleaved, so drift on the machine hits both alike
            for mode in results:
                results[mode].append(measure(mode, issued.cert, issued.key, args.seconds, args.clients))
    for mode, runs in results.items():
        rates = sorted(r["handshakes_per_s"] for r in runs)
        cpus = sorted(r["cpu_us_per_handshake"] for r in runs)
        print(f"{mode:5} ({args.key}): {rates[len(rates) // 2]:8.0f} handshakes/s (range {rates[0]:.0f}-{rates[-1]:.0f}),"
              f" server CPU {cpus[len(cpus) // 2]:6.0f} us per handshake")
    return 0


if __name__ == "__main__":
    sys.exit(main())
