"""Inline signature inspection throughput on HTTP-like traffic, or on bulk uploads.

Loads the ET Open slice plus honeyswitch's default rules, builds one detector, then
feeds synthetic keep-alive HTTP sessions (requests in, HTML/JSON responses out, 1% of
requests carrying an attack) through per-session inspectors, chunked like socket
reads, for a bounded time.  Prints MB/s over both directions and for client bytes.

``--traffic bulk`` feeds what the ``bulk1`` case sends instead: an iperf3-like upload
of random bytes to a plain TCP port, in 256,000-byte reads (what the daemon gets per
``data_received`` at full speed).

    python3 bench/inspect_throughput.py [--seconds 15] [--prefilter auto|hyperscan|python]
                                        [--traffic http|bulk]
"""
from __future__ import annotations

import argparse
import glob
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from honeyswitch.detect.base import FlowInfo  # noqa: E402
from honeyswitch.detect.signatures import SignatureDetector, default_rules_path, load_ruleset  # noqa: E402

ET_DIR = "/work/shared/data/et-open"
PATHS = ["/", "/index.html", "/static/js/app.%d.js", "/api/v1/items/%d", "/search?q=shoes+%d&page=2",
         "/images/p%d.jpg", "/account/orders?id=%d", "/blog/2024/%d/how-to-choose"]
AGENTS = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/120.0.0.0 Safari/537.36",
          "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Firefox/115.0",
          "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15",
          "curl/8.4.0"]
ATTACKS = [b"/item.php?id=1%20UNION%20SELECT%20user,pass%20FROM%20users;--",
           b"/download?file=../../../../etc/passwd", b"/ping?h=127.0.0.1;id",
           b"/search?q=%3Cscript%3Ealert(1)%3C/script%3E"]


def request(rng: random.Random, n: int) -> bytes:
    if rng.random() < 0.01:
        uri = rng.choice(ATTACKS)
    else:
        path = rng.choice(PATHS)
        uri = (path % n if "%d" in path else path).encode()
    head = (b"Host: shop.example.com\r\nUser-Agent: " + rng.choice(AGENTS).encode() +
            b"\r\nAccept: text/html,application/xhtml+xml,*/*;q=0.8\r\n"
            b"Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate\r\n"
            b"Cookie: session=%016x; theme=dark\r\nConnection: keep-alive\r\n" % rng.getrandbits(64))
    if rng.random() < 0.2:
        body = b"username=user%d&password=%016x&remember=1" % (n, rng.getrandbits(64))
        return (b"POST /login HTTP/1.1\r\n" + head + b"Content-Type: application/"
                b"x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    return b"GET " + uri + b" HTTP/1.1\r\n" + head + b"\r\n"


def response(rng: random.Random) -> bytes:
    words = [b"shoes", b"order", b"price", b"<div class=\"item\">", b"</div>", b"<a href=\"/p\">",
             b"{\"id\": 12, \"name\": \"x\"}", b"<script src=\"/app.js\"></script>"]
    body = b" ".join(rng.choice(words) for _ in range(rng.randint(50, 600)))
    return (b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/html; charset=utf-8\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body) + body)


def chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def make_sessions(count: int, per_session: int) -> list[list[tuple[bytes, bool]]]:
    rng = random.Random(7)
    sessions = []
    for s in range(count):
        script: list[tuple[bytes, bool]] = []
        for i in range(per_session):
            script += [(c, True) for c in chunks(request(rng, s * 1000 + i), 1460)]
            script += [(c, False) for c in chunks(response(rng), 16384)]
        sessions.append(script)
    return sessions


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=15.0, help="inspection time budget")
    ap.add_argument("--prefilter", default="auto", choices=["auto", "hyperscan", "python"])
    ap.add_argument("--et-dir", default=ET_DIR)
    ap.add_argument("--traffic", default="http", choices=["http", "bulk"])
    args = ap.parse_args()

    t0 = time.perf_counter()
    paths = sorted(glob.glob(f"{args.et_dir}/*.rules")) + [str(default_rules_path())]
    cls = Path(args.et_dir) / "classification.config"
    ruleset = load_ruleset(paths, classification=cls if cls.exists() else None)
    t1 = time.perf_counter()
    det = SignatureDetector(ruleset, prefilter=args.prefilter, clock=lambda: 0.0)
    t2 = time.perf_counter()
    print(f"rules: {ruleset.loaded} loaded, {len(ruleset.skipped)} skipped "
          f"(load {t1 - t0:.1f} s, compile {t2 - t1:.2f} s, prefilter {args.prefilter})")
    if args.traffic == "bulk":
        return bulk(det, args.seconds)
    sessions = make_sessions(200, 20)

    total = client = alerts = requests = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    deadline = wall0 + args.seconds
    for n, script in enumerate(_cycle(sessions)):
        if time.perf_counter() > deadline:
            break
        ins = det.new_stream(FlowInfo("web", f"s{n}", f"203.0.113.{n % 250}", 40000 + n % 20000,
                                      "192.0.2.1", 80))
        for data, to_server in script:
            alerts += len(ins.feed(data, to_server))
            total += len(data)
            client += len(data) if to_server else 0
        requests += 20
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    print(f"inspected {total / 1e6:.1f} MB ({client / 1e6:.1f} MB client->server), "
          f"{requests} requests, {alerts} alerts in {wall:.1f} s (cpu {cpu:.1f} s)")
    print(f"throughput: {total / cpu / 1e6:.1f} MB/s both directions, "
          f"{client / cpu / 1e6:.1f} MB/s client bytes, {requests / cpu:.0f} requests/s (per CPU second)")
    return 0


def bulk(det: SignatureDetector, seconds: float) -> int:
    """Random bytes to a plain TCP port, 256,000 bytes per read, 64 MB per session."""
    rng = random.Random(7)
    blocks = [rng.randbytes(256_000) for _ in range(16)]
    cookie = b"abcdefghijklmnopqrstuvwxyz234567abcd\0"  # iperf3's first bytes
    warm = det.new_stream(FlowInfo("bulk", "warm", "203.0.113.9", 39999, "192.0.2.1", 45201))
    for data in (cookie, blocks[0]):  # compiles the service's prefilter databases
        warm.feed(data, True)
    total = sessions = 0
    setup = 0.0
    cpu0 = time.process_time()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        t = time.process_time()
        ins = det.new_stream(FlowInfo("bulk", f"s{sessions}", "203.0.113.9", 40000 + sessions,
                                      "192.0.2.1", 45201))
        ins.feed(cookie, True)
        setup += time.process_time() - t
        sessions += 1
        for i in range(250):
            ins.feed(blocks[i % len(blocks)], True)
            total += len(blocks[i % len(blocks)])
    cpu = time.process_time() - cpu0 - setup
    print(f"inspected {total / 1e6:.1f} MB of bulk upload in {sessions} sessions "
          f"(cpu {cpu:.1f} s, plus {setup:.2f} s session setup)")
    print(f"throughput: {total / cpu / 1e6:.1f} MB/s client bytes (per CPU second), "
          f"{cpu / total * 1e9:.2f} CPU s/GB")
    return 0


def _cycle(items: list[list[tuple[bytes, bool]]]):
    while True:
        yield from items


if __name__ == "__main__":
    sys.exit(main())
