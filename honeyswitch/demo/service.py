"""A small stateful line protocol service ("demo-kv"), used as main and honeypot.

Commands, one per line: ``GET key``, ``SET key value``, ``DEL key``, ``KEYS``,
``QUIT``.  Replies are one line (``KEYS`` lists keys then ``END``).  The same program
serves as main (real records) and as honeypot (fake records): run it twice with
different data.  ``--stdio`` serves one session on stdin/stdout, as inetd runs a
program, for ``exec:`` backends.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

GREETING = b"+OK demo-kv ready\n"
MAX_LINE = 4096

REAL_DATA = {
    "customer:1001": "Alice Martin, IBAN DE89 3704 0044 0532 0130 00",
    "customer:1002": "Bruno Diaz, IBAN FR14 2004 1010 0505 0001 3M02 606",
    "config:db_password": "S3cr3t-pr0duction-pw",
}
FAKE_DATA = {
    "customer:1001": "Alice Martin, IBAN DE00 0000 0000 0000 0000 00",
    "customer:1002": "Bruno Diaz, IBAN FR00 0000 0000 0000 0000 0000 000",
    "config:db_password": "changeme-honeytoken-7f3a",
}


@dataclass
class Store:
    """The service's state, shared by all its sessions (like a real server's)."""

    data: dict[str, str] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)  # every command received, for the demo

    def execute(self, line: str) -> tuple[bytes, bool]:
        """Run one command; returns (reply, close connection)."""
        self.log.append(line)
        cmd, _, rest = line.strip().partition(" ")
        cmd = cmd.upper()
        if cmd == "GET":
            value = self.data.get(rest.strip())
            return (f"VALUE {value}\n" if value is not None else "NOT_FOUND\n").encode(), False
        if cmd == "SET":
            key, _, value = rest.strip().partition(" ")
            if not key:
                return b"ERR usage: SET key value\n", False
            self.data[key] = value
            return b"OK\n", False
        if cmd == "DEL":
            return (b"OK\n" if self.data.pop(rest.strip(), None) is not None else b"NOT_FOUND\n"), False
        if cmd == "KEYS":
            return "".join(f"{k}\n" for k in sorted(self.data)).encode() + b"END\n", False
        if cmd == "QUIT":
            return b"BYE\n", True
        return b"ERR unknown command\n", False


async def handle(store: Store, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(GREETING)
    try:
        while True:
            try:
                line = await reader.readuntil(b"\n")
            except asyncio.IncompleteReadError:
                break
            except asyncio.LimitOverrunError:
                writer.write(b"ERR line too long\n")
                break
            reply, close = store.execute(line.decode("utf-8", "replace"))
            writer.write(reply)
            await writer.drain()
            if close:
                break
    except ConnectionError:
        pass
    finally:
        writer.close()


async def serve(store: Store, host: str, port: int) -> asyncio.Server:
    return await asyncio.start_server(lambda r, w: handle(store, r, w), host, port, limit=MAX_LINE)


def serve_stdio(store: Store) -> None:
    """One session on stdin/stdout (for ``exec:`` backends)."""
    out = sys.stdout.buffer
    out.write(GREETING)
    out.flush()
    for raw in sys.stdin.buffer:
        reply, close = store.execute(raw[:MAX_LINE].decode("utf-8", "replace"))
        out.write(reply)
        out.flush()
        if close:
            break


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", default="127.0.0.1:0", help="host:port (ignored with --stdio)")
    ap.add_argument("--data", choices=("real", "fake"), default="real")
    ap.add_argument("--data-file", type=Path, help="JSON object of records instead")
    ap.add_argument("--stdio", action="store_true", help="serve one session on stdin/stdout")
    args = ap.parse_args(argv)
    data = json.loads(args.data_file.read_text()) if args.data_file else (
        REAL_DATA if args.data == "real" else FAKE_DATA)
    store = Store(dict(data))
    if args.stdio:
        serve_stdio(store)
        return 0
    host, _, port = args.listen.rpartition(":")

    async def run() -> None:
        server = await serve(store, host.strip("[]"), int(port))
        print(f"listening on {server.sockets[0].getsockname()[:2]}", flush=True)
        await server.serve_forever()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
