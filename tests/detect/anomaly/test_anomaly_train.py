"""Training sources (sample dir, pcap/pcapng, transcripts) and the train/score CLI."""
from __future__ import annotations

import argparse
import base64
import json
import random
import struct
from pathlib import Path

import pytest
from anomaly_corpus import benign_http

from honeyswitch.cli import score as score_cli
from honeyswitch.cli import train as train_cli
from honeyswitch.detect.anomaly import collect, load_model, train_model
from honeyswitch.detect.anomaly.pcap import read_frames
from honeyswitch.detect.anomaly.tcpflows import requests_from_frames
from honeyswitch.detect.anomaly.train import requests_from_transcripts, sample

CLIENT, SERVER = bytes([192, 0, 2, 1]), bytes([192, 0, 2, 80])
CLIENT6, SERVER6 = bytes(15) + b"\x01", bytes(15) + b"\x50"


# ---------------------------------------------------------------- synthetic captures

def tcp(sport: int, dport: int, seq: int, flags: int, payload: bytes = b"") -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, flags, 65535, 0, 0) + payload


def ipv4(src: bytes, dst: bytes, segment: bytes) -> bytes:
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(segment), 1, 0x4000, 64, 6, 0, src, dst) + segment


def ipv6(src: bytes, dst: bytes, segment: bytes) -> bytes:
    return struct.pack("!IHBB16s16s", 6 << 28, len(segment), 6, 64, src, dst) + segment


def ether(packet: bytes, vlan: bool = False) -> bytes:
    tag = b"\x81\x00\x00\x05" if vlan else b""
    return b"\x02" * 6 + b"\x04" * 6 + tag + b"\x08\x00" + packet


def classic_pcap(frames: list[bytes], linktype: int = 1) -> bytes:
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)
    for i, f in enumerate(frames):
        out += struct.pack("<IIII", 1700000000 + i, 0, len(f), len(f)) + f
    return out


def pcapng(frames: list[bytes], linktype: int = 1) -> bytes:
    def block(btype: int, body: bytes) -> bytes:
        body += b"\x00" * (-len(body) % 4)
        return struct.pack("<II", btype, len(body) + 12) + body + struct.pack("<I", len(body) + 12)

    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    out += block(1, struct.pack("<HHI", linktype, 0, 65535))
    out += block(99, b"custom block, skipped")
    for f in frames:
        out += block(6, struct.pack("<IIIII", 0, 0, 0, len(f), len(f)) + f)
    return out


def http_flow(sport: int, reqs: list[bytes], wrap=lambda seg, c2s: ether(ipv4(*((CLIENT, SERVER) if c2s else (SERVER, CLIENT)), seg))):  # type: ignore[no-untyped-def]
    """Handshake, each request in two segments (second sent first, then a retransmit), replies, FIN."""
    cseq, sseq = 1000, 5000
    frames = [wrap(tcp(sport, 80, cseq, 0x02), True), wrap(tcp(80, sport, sseq, 0x12), False)]
    cseq, sseq = cseq + 1, sseq + 1
    for req in reqs:
        half = len(req) // 2
        frames.append(wrap(tcp(sport, 80, cseq + half, 0x18, req[half:]), True))  # out of order
        frames.append(wrap(tcp(sport, 80, cseq, 0x18, req[:half]), True))
        frames.append(wrap(tcp(sport, 80, cseq, 0x18, req[:half]), True))  # retransmission
        cseq += len(req)
        reply = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
        frames.append(wrap(tcp(80, sport, sseq, 0x18, reply), False))
        sseq += len(reply)
    frames.append(wrap(tcp(sport, 80, cseq, 0x11), True))
    return frames


REQS_A = [b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n", b"GET /bb?q=1 HTTP/1.1\r\nHost: x\r\n\r\n"]
REQS_B = [b"POST /login HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"]


def _interleaved() -> list[bytes]:
    a, b = http_flow(40001, REQS_A), http_flow(40002, REQS_B)
    noise = [ether(ipv4(CLIENT, SERVER, tcp(5555, 22, 1, 0x18, b"ssh noise"))), b"\x00" * 10,
             ether(b"\x45" + b"\x00" * 5, vlan=True)]
    out = []
    for i in range(max(len(a), len(b))):
        out += a[i:i + 1] + b[i:i + 1] + noise[i % 3:i % 3 + 1]
    return out


@pytest.mark.parametrize("writer", [classic_pcap, pcapng])
def test_pcap_reassembly_and_split(tmp_path: Path, writer) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "cap.pcap"
    path.write_bytes(writer(_interleaved()))
    data = collect("pcap", path, port=80)
    assert sorted(r.data for r in data.requests) == sorted(REQS_A + REQS_B)


def test_pcap_ipv6_raw_linktype_and_vlan(tmp_path: Path) -> None:
    v6 = http_flow(40003, REQS_B, wrap=lambda seg, c2s: ipv6(*((CLIENT6, SERVER6) if c2s else (SERVER6, CLIENT6)), seg))
    path = tmp_path / "v6.pcap"
    path.write_bytes(classic_pcap(v6, linktype=101))
    assert [r.data for r in collect("pcap", path, port=80).requests] == REQS_B
    vlan = http_flow(40004, REQS_A, wrap=lambda seg, c2s: ether(ipv4(*((CLIENT, SERVER) if c2s else (SERVER, CLIENT)), seg), vlan=True))
    path.write_bytes(classic_pcap(vlan))
    assert [r.data for r in collect("pcap", path, port=80).requests] == REQS_A


def test_pcap_bounded_flows_and_cap(tmp_path: Path) -> None:
    frames = []
    for port in range(41000, 41010):
        frames += http_flow(port, [b"GET /" + b"x" * 100 + b" HTTP/1.1\r\n\r\n"])
    reqs = list(requests_from_frames(((1, f) for f in frames), 80, cap=20, max_flows=3))
    assert len(reqs) == 10 and all(r.data == (b"GET /" + b"x" * 15) and r.length == 118 for r in reqs)


@pytest.mark.parametrize("blob, message", [
    (b"garbage!", "not a pcap"),
    (classic_pcap([b"x" * 50])[:-10], "truncated"),
    (struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1) + struct.pack("<IIII", 0, 0, 1 << 30, 1 << 30), "implausible"),
    (pcapng([b"x" * 40])[:-3], "truncated"),
])
def test_hostile_captures(tmp_path: Path, blob: bytes, message: str) -> None:
    path = tmp_path / "bad.pcap"
    path.write_bytes(blob)
    with pytest.raises(ValueError, match=message):
        with open(path, "rb") as fh:
            list(read_frames(fh))


def _record(side: str, data: bytes, t: float = 1.0) -> str:
    return json.dumps({"t": t, "s": side, "d": base64.b64encode(data).decode()})


def test_transcripts(tmp_path: Path) -> None:
    lines = [json.dumps({"t": 0, "header": "honeyswitch-transcript", "version": 1}),
             _record("client", b"GET /1 HTTP/1.1\r\n"), _record("client", b"\r\n"),
             _record("main", b"HTTP/1.1 200 OK\r\n\r\n"), _record("honeypot", b"HTTP/1.1 200 OK\r\n\r\n"),
             '{"t": 2, "s": "client", "d": "!!notbase64"}', "{half a line",
             _record("client", b"GET /2 HTTP/1.1\r\n\r\n"), _record("main", b"HTTP/1.1 404\r\n\r\n"),
             _record("client", b"GET /evil HTTP/1.1\r\n\r\n"),
             json.dumps({"t": 3, "mark": "switch", "by": "detector:signature"}),
             _record("client", b"GET /after-switch HTTP/1.1\r\n\r\n")]
    (tmp_path / "s1.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "s2.jsonl").write_text(_record("client", b"PING\r\n") + "\n")
    (tmp_path / "ignored.txt").write_text("not a transcript")
    data = collect("transcripts", tmp_path)
    assert [r.data for r in data.requests] == [b"GET /1 HTTP/1.1\r\n\r\n", b"GET /2 HTTP/1.1\r\n\r\n", b"PING\r\n"]
    assert data.skipped == {"malformed record": 2}


def test_transcript_oversized_line_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from honeyswitch.detect.anomaly import train as train_mod

    monkeypatch.setattr(train_mod, "MAX_LINE", 100)
    (tmp_path / "s.jsonl").write_text(_record("client", b"x" * 500) + "\n" + _record("client", b"ok") + "\n")
    counts = train_mod.TrainingSet([])
    assert [r.data for r in requests_from_transcripts(tmp_path, skipped=counts)] == [b"ok"]
    assert counts.skipped == {"oversized line": 1}


def test_sample_dir_and_reservoir(tmp_path: Path) -> None:
    for i, req in enumerate(benign_http(40, 1)):
        (tmp_path / f"{i:03d}.req").write_bytes(req)
    (tmp_path / ".hidden").write_bytes(b"secret")
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "big").write_bytes(b"A" * 70000)
    data = collect("dir", tmp_path, cap=1000)
    assert data.seen == 41 and len(data.requests) == 41
    big = [r for r in data.requests if r.length == 70000]
    assert len(big) == 1 and big[0].data == b"A" * 1000
    small = sample(data.requests, max_samples=10, seed=1)
    assert len(small.requests) == 10 and small.seen == 41
    with pytest.raises(ValueError):
        collect("dir", tmp_path / "missing")
    model = train_model(data.requests, service="web")
    assert model.max_length == 70000 and model.n_samples == 41


def _cli(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="honeyswitch")
    sub = parser.add_subparsers(dest="command", required=True)
    train_cli.add_parser(sub)
    score_cli.add_parser(sub)
    return parser.parse_args(argv)


def test_cli_train_and_score(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    samples = tmp_path / "samples"
    samples.mkdir()
    rng = random.Random(3)
    for i, req in enumerate(benign_http(150, 3)):
        (samples / f"{i}.req").write_bytes(req)
    model_path = tmp_path / "web.npz"
    args = _cli(["train", "--service", "web", "--from-dir", str(samples), "-o", str(model_path),
                 "--percent-decode", "--quantile", "0.995", "--max-samples", "120"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "120 samples (sampled from 150)" in out and "buckets: full=" in out and "quantile 0.995" in out
    model = load_model(model_path)
    assert model.config.shape.percent_decode and model.config.quantile == 0.995 and model.n_samples == 120

    good = samples / f"{rng.randrange(150)}.req"
    bad = tmp_path / "attack.req"
    bad.write_bytes(b"GET /x?id=1%27%20UNION%20ALL%20SELECT%20NULL%2CNULL%2CCONCAT(0x71)--%20- HTTP/1.1\r\n"
                    b"Host: x\r\nUser-Agent: sqlmap/1.7.2#stable (https://sqlmap.org)\r\n\r\n")
    args = _cli(["score", "--model", str(model_path), str(good)])
    assert args.func(args) == 0 and "normal" in capsys.readouterr().out
    args = _cli(["score", "--model", str(model_path), str(good), str(bad)])
    assert args.func(args) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith(str(bad)) and "ANOMALOUS" in lines[1]


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _cli(["train", "--service", "web", "--from-pcap", str(tmp_path / "x.pcap"), "-o", str(tmp_path / "m.npz")])
    assert args.func(args) == 1 and "--port" in capsys.readouterr().err
    args = _cli(["train", "--service", "web", "--from-dir", str(tmp_path / "none"), "-o", str(tmp_path / "m.npz")])
    assert args.func(args) == 1 and "no such file" in capsys.readouterr().err
    (tmp_path / "junk.npz").write_bytes(b"junk")
    args = _cli(["score", "--model", str(tmp_path / "junk.npz"), str(tmp_path / "junk.npz")])
    assert args.func(args) == 2 and "not a valid zip" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _cli(["train", "--service", "web", "-o", "m.npz"])  # a source is required
