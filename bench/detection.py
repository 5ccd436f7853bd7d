"""What the detection configurations need: the ET rule files, a rule of our own that the
inline switch probe hits, anomaly models trained here on HTTP-like requests, and EVE
alert lines for the external-IDS switch.

The bench writes the detection keys (service ``rules = [paths]``, ``protocol``,
``anomaly_model = "path"``; ``[[ids]]`` for the EVE tailer; ``[scoring]``) and lets
``honeyswitch check`` decide: a configuration whose keys are rejected (an installation
without them) is skipped with the checker's line as the note.
"""
from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_RULES_DIR = REPO.parent / "shared" / "data" / "et-open"
PROBE = b"?HSBENCH-SWITCH-PROBE"  # "?": the honeypot marks its reply (see servers.py)
RULE_SID = 9_990_001
BENCH_RULE = (
    f'alert tcp any any -> any any (msg:"honeyswitch bench inline switch probe"; '
    f'flow:to_server; content:"{PROBE[1:].decode()}"; classtype:attempted-admin; priority:1; '
    f'sid:{RULE_SID}; rev:1;)\n'
)

# TOML for the EVE tailer ({path} is the eve.json file), tried in order with
# `honeyswitch check` until one is accepted; `--eve-config FILE` replaces the list.
EVE_CANDIDATES = (
    '[[ids]]\nname = "bench-eve"\nformat = "suricata-eve"\npath = "{path}"\n',
)

UAS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
)
WORDS = "shoes shirt laptop phone cable garden chair coffee book travel winter sale".split()
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def rule_files(rules_dir: Path) -> list[Path]:
    return sorted(rules_dir.glob("*.rules"))


def write_bench_rule(work: Path) -> Path:
    path = work / "bench-switch.rules"
    path.write_text(BENCH_RULE)
    return path


# Each service's model is trained on the kind of traffic the bench sends it, as an
# operator trains on the service's own normal traffic: the bench measures inspection of
# benign traffic, not the alert pipeline (a model that flags every request would turn
# each ping-pong round trip into an alert, an incident update and store writes).
def _http(rng: random.Random) -> bytes:
    if rng.random() < 0.5:  # what wrk sends
        return f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{rng.randint(1024, 65535)}\r\nConnection: close\r\n\r\n".encode()
    path = "/" + "/".join(rng.choice(WORDS) for _ in range(rng.randint(0, 3)))
    if rng.random() < 0.5:
        path += f"?id={rng.randint(1, 99999)}&q={rng.choice(WORDS)}"
    heads = [f"Host: 127.0.0.1:{rng.randint(1024, 65535)}", f"User-Agent: {rng.choice(UAS)}",
             "Accept: */*", f"Connection: {rng.choice(['close', 'keep-alive'])}"]
    return (f"GET {path} HTTP/1.1\r\n" + "\r\n".join(heads) + "\r\n\r\n").encode()


def _echo(rng: random.Random) -> bytes:
    """Lowercase text, as the ping-pong and idle clients send."""
    n = rng.choice((5, 64, rng.randint(2, 256)))
    return "".join(rng.choice(LETTERS) for _ in range(n)).encode() + (b"\n" if rng.random() < 0.3 else b"")


def _bulk(rng: random.Random) -> bytes:
    """iperf3: random payload on the data streams; a cookie and JSON on the control one."""
    roll = rng.random()
    if roll < 0.7:
        return rng.randbytes(rng.randint(1024, 16384))
    if roll < 0.85:
        return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(36)).encode() + b"\0"
    return json.dumps({"tcp": True, "omit": 1, "time": rng.randint(1, 10), "parallel": rng.randint(1, 4),
                       "len": 131072, "client_version": "3.12"}).encode()


SAMPLERS = {"http": _http, "echo": _echo, "bulk": _bulk}


def train_model(work: Path, service: str, samples: int = 1000) -> Path:
    """A model of the bench's traffic for ``service`` (``honeyswitch train``)."""
    data = work / f"train-{service}"
    data.mkdir(parents=True, exist_ok=True)
    rng = random.Random(5)
    sampler = SAMPLERS.get(service, _http)
    for i in range(samples):
        (data / f"{i:05d}.req").write_bytes(sampler(rng))
    out = work / f"model-{service}.npz"
    res = subprocess.run(
        [sys.executable, "-m", "honeyswitch", "train", "--service", service, "--from-dir", str(data),
         "-o", str(out)] + (["--percent-decode"] if service == "http" else []),
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    if res.returncode != 0:
        raise RuntimeError(f"honeyswitch train: {res.stderr.strip()[-300:]}")
    return out


def eve_alert(client_port: int, listen_port: int) -> str:
    """One Suricata 7 EVE alert line for the client's flow (client -> honeyswitch)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+0000")
    flow = {"src_ip": "127.0.0.1", "src_port": client_port, "dest_ip": "127.0.0.1", "dest_port": listen_port}
    event = {
        "timestamp": now, "flow_id": random.getrandbits(50), "in_iface": "lo", "event_type": "alert",
        **flow, "proto": "TCP",
        "alert": {"action": "allowed", "gid": 1, "signature_id": RULE_SID + 1, "rev": 1,
                  "signature": "honeyswitch bench EVE probe", "category": "Attempted Administrator Privilege Gain",
                  "severity": 1},
        "app_proto": "failed", "direction": "to_server",
        "flow": {"pkts_toserver": 2, "pkts_toclient": 1, "bytes_toserver": 120, "bytes_toclient": 60,
                 "start": now, **flow},
    }
    return json.dumps(event, separators=(",", ":")) + "\n"
