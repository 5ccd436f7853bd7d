"""``python -m bench.packet_mode``: packet mode against proxy mode and a direct
connection, in the same run (root: network namespaces; not part of ``make bench``).

A client namespace and a server namespace joined by a veth pair (198.18.44.0/24); main and
the honeypot are the same recording stream server on two ports of the server.  For each
target, one connection measures:

- bulk: main sends N bytes (``SEND``); Gbit/s at the client;
- latency: a 64-byte line echoed R times in a closed loop; round trips/s, p50 and p99;
- packets/s: packets on the client's link during bulk (both directions), and for packet
  mode the packets honeyswitch read from its queue, from its health counters.

    python -m bench.packet_mode --quick       # a smoke: small sizes, one run
    python -m bench.packet_mode --runs 3      # the measurement (needs a quiet machine)
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from honeyswitch.testing import netns, pktlab

CLIENT_IP, SERVER_IP = "198.18.44.2", "198.18.44.1"
MAIN, HONEYPOT, PROXY = 8080, 8081, 8090
TOKEN = "bench-token"
HERE = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.packet_mode", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, one run (a smoke)")
    ap.add_argument("--runs", type=int, default=None, help="runs per target (default 3; --quick 1)")
    ap.add_argument("--bulk-mb", type=int, default=None, help="MB per bulk run (default 256; --quick 8)")
    ap.add_argument("--round-trips", type=int, default=None, help="per latency run (default 5000; --quick 200)")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    return ap.parse_args(argv)


def start_daemon(lab: netns.Lab, ns: str, work: Path, mode: str) -> None:
    svc = {"name": "bench", "main": f"tcp://{SERVER_IP}:{MAIN}", "honeypot": f"tcp://{SERVER_IP}:{HONEYPOT}"}
    if mode == "packet":
        svc["mode"] = "packet"
    else:
        svc["listen"] = f"{SERVER_IP}:{PROXY}"
    lines = ["[[service]]", *(f"{k} = {json.dumps(v)}" for k, v in svc.items())]
    for table, keys in (("store", {"path": str(work / "hs.db")}), ("events", {"path": str(work / "events.jsonl")}),
                        ("transcripts", {"dir": str(work / "transcripts")}),
                        ("control", {"listen": "127.0.0.1:8439", "token": TOKEN})):
        lines += [f"[{table}]", *(f"{k} = {json.dumps(v)}" for k, v in keys.items())]
    cfg = work / f"{mode}.toml"
    cfg.write_text("\n".join(lines) + "\n")
    lab.spawn(ns, [sys.executable, "-m", "honeyswitch", "run", "-c", str(cfg)], log=work / f"{mode}.log")
    netns.wait_port(ns, ("127.0.0.1", 8439), timeout=20)


def health(ns: str) -> dict[str, Any]:
    out = netns.run(ns, ["curl", "-s", "-H", f"Authorization: Bearer {TOKEN}", "http://127.0.0.1:8439/api/v1/health"])
    return json.loads(out.stdout)


def link_packets(ns: str, iface: str) -> int:
    (link,) = json.loads(netns.run(ns, ["ip", "-s", "-j", "link", "show", "dev", iface]).stdout)
    stats = link["stats64"]
    return int(stats["rx"]["packets"]) + int(stats["tx"]["packets"])


def bulk(client: str, port: int, nbytes: int) -> float:
    sock = netns.connect(client, (SERVER_IP, port), timeout=30)
    try:
        t0 = time.perf_counter()
        sock.sendall(b"SEND %d 1\n" % nbytes)
        pktlab.recv_exact(sock, nbytes, timeout=300)
        return time.perf_counter() - t0
    finally:
        sock.close()


def latency(client: str, port: int, rounds: int) -> list[float]:
    sock = netns.connect(client, (SERVER_IP, port), timeout=30)
    line = b"x" * 63 + b"\n"
    out = []
    try:
        for _ in range(rounds):
            t0 = time.perf_counter()
            sock.sendall(line)
            pktlab.recv_exact(sock, len(line), timeout=10)
            out.append(time.perf_counter() - t0)
    finally:
        sock.close()
    return out


def measure(lab: netns.Lab, client: str, server: str, iface: str, port: int, mode: str,
            nbytes: int, rounds: int) -> dict[str, Any]:
    before, q_before, t0 = link_packets(client, iface), _queued(server, mode), time.perf_counter()
    seconds = bulk(client, port, nbytes)
    wall = time.perf_counter() - t0
    pkts, queued = link_packets(client, iface) - before, _queued(server, mode) - q_before
    rtts = sorted(latency(client, port, rounds))
    return {
        "gbit_s": nbytes * 8 / seconds / 1e9,
        "link_pps": pkts / wall,
        "queue_pps": queued / wall if mode == "packet" else None,
        "round_trips_s": len(rtts) / sum(rtts),
        "p50_us": rtts[len(rtts) // 2] * 1e6,
        "p99_us": rtts[min(len(rtts) - 1, int(len(rtts) * 0.99))] * 1e6,
    }


def _queued(server: str, mode: str) -> int:
    if mode != "packet":
        return 0
    time.sleep(1.1)  # the daemon publishes its counters once a second
    return int(health(server)["counters"].get("packets_queued", 0))


def run(args: argparse.Namespace) -> dict[str, Any]:
    runs = args.runs or (1 if args.quick else 3)
    nbytes = (args.bulk_mb or (8 if args.quick else 256)) << 20
    rounds = args.round_trips or (200 if args.quick else 5000)
    results: dict[str, list[dict[str, Any]]] = {"direct": [], "proxy": [], "packet": []}
    with netns.Lab("bp") as lab, tempfile.TemporaryDirectory(prefix="hs-pktbench-") as tmp:
        work = Path(tmp)
        client, server = lab.ns("c"), lab.ns("s")
        iface, _ = lab.link(client, f"{CLIENT_IP}/24", server, f"{SERVER_IP}/24")
        for port in (MAIN, HONEYPOT):
            pktlab.start_stream_server(lab, server, SERVER_IP, port, work / f"{port}.log")
        for target in ("direct", "proxy", "packet"):
            procs = len(lab.procs)
            if target != "direct":
                start_daemon(lab, server, work, target)
            port = PROXY if target == "proxy" else MAIN
            for _ in range(runs):
                results[target].append(measure(lab, client, server, iface, port, target, nbytes, rounds))
            for proc in lab.procs[procs:]:  # stop this target's daemon before the next
                proc.terminate()
                proc.wait(15)
            del lab.procs[procs:]
    return {"schema": "honeyswitch-pktbench/1", "started": datetime.now(UTC).isoformat(), "runs": runs,
            "bulk_bytes": nbytes, "round_trips": rounds, "results": results}


def table(doc: dict[str, Any]) -> str:
    cols = ("gbit_s", "link_pps", "queue_pps", "round_trips_s", "p50_us", "p99_us")
    lines = [f"{'target':<8} " + " ".join(f"{c:>14}" for c in cols)]
    for target, rows in doc["results"].items():
        cells = []
        for c in cols:
            vals = [r[c] for r in rows if r[c] is not None]
            cells.append(f"{statistics.median(vals):>14.3f}" if vals else f"{'-':>14}")
        lines.append(f"{target:<8} " + " ".join(cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    doc = run(args)
    print(table(doc))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"packet-{doc['started'].replace(':', '')}.json"
    path.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
