"""Collect benign training requests from files, captures or transcripts, and fit a model.

Three sources, all bounded and all giving :class:`~.requests.Request` objects:

* a directory of sample files, one request per file (every regular file below it, in
  name order; hidden files skipped);
* a pcap/pcapng capture: TCP to the server ``port`` is reassembled per flow and split
  into requests by the server's replies (:mod:`.tcpflows`);
* JSON-lines transcripts (a file, or every ``*.jsonl`` below a directory), one record
  per chunk: ``{"t": <time>, "s": "client" | "main" | "honeypot", "d": <base64>}``,
  each file being one session; ``main`` and ``honeypot`` bytes both count as the
  server's reply.  Header and mark records (no ``"s"``) are passed over, except that a
  ``{"mark": "switch"}`` ends the session's training data: from there on the client is
  a detected attacker, and the request in progress (the one that tripped the switch) is
  dropped.  Malformed lines are skipped and counted (a recorder killed mid-write leaves
  half a line).

Large inputs are reduced to ``max_samples`` requests by seeded reservoir sampling, so
memory stays bounded and the sample is uniform over the whole input.
"""
from __future__ import annotations

import base64
import binascii
import json
import os
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from .fit import fit
from .model import AnomalyModel, ModelConfig
from .pcap import read_frames
from .requests import DEFAULT_CAP, Direction, Request, RequestSplitter
from .tcpflows import requests_from_frames

MAX_SAMPLES = 50000
MAX_LINE = 16 << 20  # one transcript record


@dataclass(slots=True)
class TrainingSet:
    requests: list[Request]
    seen: int = 0  # requests found before sampling
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def sample(requests: Iterable[Request], max_samples: int = MAX_SAMPLES, seed: int = 0) -> TrainingSet:
    """Uniform sample of at most ``max_samples`` requests (reservoir sampling)."""
    rng = random.Random(seed)
    out = TrainingSet([])
    for req in requests:
        out.seen += 1
        if len(out.requests) < max_samples:
            out.requests.append(req)
        else:
            j = rng.randrange(out.seen)
            if j < max_samples:
                out.requests[j] = req
    return out


def _files(root: Path, pattern: str) -> list[Path]:
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise ValueError(f"{root}: no such file or directory")
    return sorted(p for p in root.rglob(pattern)
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts))


def requests_from_dir(root: str | Path, cap: int = DEFAULT_CAP) -> Iterator[Request]:
    """One request per file; only the first ``cap`` bytes are read."""
    for path in _files(Path(root), "*"):
        with open(path, "rb") as fh:
            data = fh.read(cap)
            length = max(len(data), os.fstat(fh.fileno()).st_size)
        if length:
            yield Request(data, length)


def requests_from_pcap(path: str | Path, port: int, cap: int = DEFAULT_CAP) -> Iterator[Request]:
    if not 0 < port < 65536:
        raise ValueError(f"port must be 1..65535, got {port}")
    with open(path, "rb") as fh:
        yield from requests_from_frames(read_frames(fh), port, cap)


def requests_from_transcripts(root: str | Path, cap: int = DEFAULT_CAP,
                              skipped: TrainingSet | None = None) -> Iterator[Request]:
    """Requests of every transcript file (each one session) under ``root``."""
    for path in _files(Path(root), "*.jsonl"):
        splitter = RequestSplitter(cap)
        with open(path, "rb") as fh:
            for line in _lines(fh, skipped):
                record = _record(line, skipped)
                if record == "switch":
                    splitter = RequestSplitter(cap)  # drop the request that tripped it
                    break
                if isinstance(record, tuple):
                    yield from splitter.feed(*record)
        yield from splitter.end()


def _lines(fh: BinaryIO, skipped: TrainingSet | None) -> Iterator[bytes]:
    """Lines of at most MAX_LINE bytes; longer ones are skipped without being held."""
    while line := fh.readline(MAX_LINE + 1):
        if len(line) > MAX_LINE:
            while line and not line.endswith(b"\n"):
                line = fh.readline(MAX_LINE)
            if skipped is not None:
                skipped.skip("oversized line")
        elif line.strip():
            yield line


def _record(line: bytes, skipped: TrainingSet | None) -> tuple[Direction, bytes] | str | None:
    """``(direction, bytes)`` of a data line, ``"switch"`` at a switch mark, else None.

    Malformed lines are counted in ``skipped``; header and other mark lines are not.
    """
    try:
        rec = json.loads(line)
        if isinstance(rec, dict) and "s" not in rec and ("header" in rec or "mark" in rec):
            return "switch" if rec.get("mark") == "switch" else None
        side = rec["s"]
        data = base64.b64decode(rec["d"], validate=True)
        if side not in ("client", "main", "honeypot"):
            raise ValueError(side)
    except (ValueError, KeyError, TypeError, binascii.Error, RecursionError):
        if skipped is not None:
            skipped.skip("malformed record")
        return None
    return ("client" if side == "client" else "server"), data


def collect(source: str, location: str | Path, cap: int = DEFAULT_CAP, port: int | None = None,
            max_samples: int = MAX_SAMPLES) -> TrainingSet:
    """Training requests from ``source`` ("dir", "pcap" or "transcripts")."""
    if source == "dir":
        return sample(requests_from_dir(location, cap), max_samples)
    if source == "pcap":
        if port is None:
            raise ValueError("a pcap source needs the server port")
        return sample(requests_from_pcap(location, port, cap), max_samples)
    if source == "transcripts":
        counts = TrainingSet([])
        out = sample(requests_from_transcripts(location, cap, counts), max_samples)
        out.skipped = counts.skipped
        return out
    raise ValueError(f"unknown training source {source!r}")


def train_model(requests: list[Request], config: ModelConfig | None = None, service: str = "") -> AnomalyModel:
    """Fit a model to collected requests (their true lengths feed the length prior)."""
    return fit([r.data for r in requests], config, service, lengths=[r.length for r in requests])
