"""Anomaly detector throughput on HTTP-like requests: scores/s and MB/s (about 15 s).

    python3 bench/anomaly_throughput.py [--seconds-per-case 3]

Cases: training (fit with out-of-fold calibration), ``model.score(bytes)`` one request at
a time, the inline inspector fed 1460-byte chunks with ``request_end`` (what a session
pays per request), and batch ``score_many``; each with and without the opt-in n-gram part.
"""
from __future__ import annotations

import argparse
import random
import string
import time
from collections.abc import Callable

from honeyswitch.detect.anomaly import (
    AlertPolicy,
    AnomalyDetector,
    ModelConfig,
    Shape,
    fit,
    score_many,
)
from honeyswitch.detect.base import FlowInfo

UAS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
]
WORDS = "shoes shirt laptop phone cable garden chair coffee book travel winter sale camera".split()


def request(rng: random.Random) -> bytes:
    path = "/" + "/".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4)))
    if rng.random() < 0.6:
        path += f"?id={rng.randint(1, 99999)}&q={'+'.join(rng.sample(WORDS, 2))}&page={rng.randint(1, 9)}"
    token = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(32))
    heads = ["Host: shop.example.com", f"User-Agent: {rng.choice(UAS)}", "Accept: */*",
             "Accept-Language: en-US,en;q=0.9", f"Cookie: sessionid={token}", "Connection: keep-alive"]
    body = ""
    method = "GET"
    if rng.random() < 0.2:
        method, body = "POST", f"user={rng.choice(WORDS)}&qty={rng.randint(1, 5)}&note={'+'.join(rng.sample(WORDS, 3))}"
        heads += ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(body)}"]
    return (f"{method} {path} HTTP/1.1\r\n" + "\r\n".join(heads) + "\r\n\r\n" + body).encode()


def timed(fn: Callable[[], int], budget: float) -> tuple[int, int, float]:
    """Run ``fn`` (returns bytes processed) until ``budget`` seconds pass: (calls, bytes, secs)."""
    calls = nbytes = 0
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < budget:
        nbytes += fn()
        calls += 1
    return calls, nbytes, elapsed


def report(label: str, items: int, nbytes: int, secs: float) -> None:
    print(f"  {label:<42} {items / secs:>10,.0f} req/s  {nbytes / secs / 1e6:>7.1f} MB/s")


def bench(cfg: ModelConfig, name: str, train: list[bytes], probe: list[bytes], budget: float) -> None:
    print(f"{name}:")
    t0 = time.perf_counter()
    model = fit(train, cfg, "web")
    fit_s = time.perf_counter() - t0
    report(f"fit {len(train)} requests (5-fold calibration)", len(train), sum(map(len, train)), fit_s)

    it = iter(range(10**12))

    def one() -> int:
        req = probe[next(it) % len(probe)]
        model.score(req)
        return len(req)

    calls, nbytes, secs = timed(one, budget)
    report("model.score(request)", calls, nbytes, secs)

    det = AnomalyDetector({"web": model}, {"web": AlertPolicy(request_end=b"\r\n\r\n")})
    insp = det.new_stream(FlowInfo("web", "b", "192.0.2.1", 40000, "192.0.2.80", 80))
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"

    def inline() -> int:
        req = probe[next(it) % len(probe)]
        for i in range(0, len(req), 1460):
            insp.feed(req[i:i + 1460], True)
        insp.feed(reply, False)
        return len(req)

    calls, nbytes, secs = timed(inline, budget)
    report("inspector.feed (1460-byte chunks + reply)", calls, nbytes, secs)

    batch = probe[:1000]

    def many() -> int:
        score_many(model, batch)
        return sum(map(len, batch))

    calls, nbytes, secs = timed(many, budget)
    report("score_many (batches of 1000)", calls * len(batch), nbytes, secs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds-per-case", type=float, default=1.6)
    args = ap.parse_args()
    rng = random.Random(1)
    train = [request(rng) for _ in range(2000)]
    probe = [request(rng) for _ in range(3000)]
    size = sum(map(len, probe)) / len(probe)
    print(f"HTTP-like requests, mean {size:.0f} bytes; {args.seconds_per_case:.1f} s per case")
    base = ModelConfig(shape=Shape(percent_decode=True))
    bench(base, "default (PAYL + rare + length, percent-decode)", train, probe, args.seconds_per_case)
    bench(ModelConfig(shape=Shape(percent_decode=True), ngram=3), "with n-gram part (n=3, opt-in)",
          train, probe, args.seconds_per_case)


if __name__ == "__main__":
    main()
