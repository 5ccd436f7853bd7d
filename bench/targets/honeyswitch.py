"""honeyswitch run as the daemon it is (``python -m honeyswitch run -c cfg``), in the
modes the issue asks for:

``hs-mirror``    MIRROR, no inline detectors.
``hs-workers``   the same with ``[daemon] workers = 2``: a supervisor and two worker
                 processes.  ``shard = "connection"``, as every bench client is 127.0.0.1
                 and source sharding would send them all to one worker.
``hs-detect``    MIRROR with the ET slice and an anomaly model on every service (their
                 switch threshold is out of reach, so detectors work but never switch,
                 except on the ``switch`` service, where the bench's own rule switches).
``hs-honeypot``  127.0.0.1 blacklisted before any load: every session goes DIRECT to the
                 honeypot, as a switched attacker's next sessions do.
``hs-eve``       only the ``switch`` service, with an EVE alert tailer.
"""
from __future__ import annotations

import http.client
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from .. import detection
from ..procs import REPO, Proc, free_port, wait_port
from ..servers import Pair
from . import Skip, Target, count_events

TOKEN = "bench-token"
HS = [sys.executable, "-m", "honeyswitch"]
NEVER = 1e12  # a switch threshold no detector score reaches

COMMON = """
[store]
path = "state/honeyswitch.db"
[events]
path = "events.jsonl"
[transcripts]
dir = "transcripts"
# The switch cases switch hundreds of sessions from 127.0.0.1; blacklisting it on switch
# would send every later bench session DIRECT.
[blacklist]
on_switch = false
[control]
listen = "127.0.0.1:{api}"
token = "{token}"
"""


def _toml_list(paths: list[Path]) -> str:
    return "[" + ", ".join(json.dumps(str(p)) for p in paths) + "]"


class Honeyswitch(Target):
    def __init__(self, name: str, pairs: dict[str, Pair], work: Path, *, rules_dir: Path,
                 honeypot_buffer: str | None = None, eve_template: str | None = None) -> None:
        super().__init__(pairs, work / name)
        self.name = name
        self.mode = "mirror" if name == "hs-workers" else name.removeprefix("hs-")
        self.workers = 2 if name == "hs-workers" else 1
        self.rules_dir = rules_dir
        self.honeypot_buffer = honeypot_buffer
        self.eve_templates = (eve_template,) if eve_template else detection.EVE_CANDIDATES
        self.eve_path = self.work / "eve.json"
        self.kinds = ["switch"] if self.mode == "eve" else list(pairs)
        self.ports = {kind: free_port() for kind in self.kinds}
        self.api_port = free_port()
        self.proc: Proc | None = None
        self._http: http.client.HTTPConnection | None = None
        self.config = self.work / "honeyswitch.toml"
        self.work.mkdir(parents=True, exist_ok=True)
        try:
            self.config.write_text(self._config_text())
        except Skip as e:
            self.available, self.note = False, str(e)

    # ---------------------------------------------------------------- config

    def _service(self, kind: str) -> str:
        pair = self.pairs[kind]
        lines = [
            "[[service]]", f'name = "{kind}"', f'listen = "127.0.0.1:{self.ports[kind]}"',
            f'main = "tcp://127.0.0.1:{pair.main.port}"', f'honeypot = "tcp://127.0.0.1:{pair.honeypot.port}"',
        ]
        if self.honeypot_buffer:
            lines.append(f'honeypot_buffer = "{self.honeypot_buffer}"')
        if self.mode == "detect":
            lines += self._detect_keys(kind)
        elif self.mode == "eve":
            lines.append("switch_threshold = 1")
        return "\n".join(lines) + "\n"

    def _detect_keys(self, kind: str) -> list[str]:
        rules = detection.rule_files(self.rules_dir)
        if not rules:
            raise Skip(f"no *.rules in {self.rules_dir} (give --rules-dir)")
        if kind == "switch":
            # Any alert switches; no anomaly model here, as the probes are not HTTP.
            return [f"rules = {_toml_list(rules + [detection.write_bench_rule(self.work)])}",
                    "switch_threshold = 1"]
        model = self.work / f"model-{kind}.npz"
        keys = [f"rules = {_toml_list(rules)}", f'anomaly_model = "{model}"', f"switch_threshold = {NEVER:.0f}.0"]
        if kind == "http":
            keys.append('protocol = "http"')  # HTTP buffers for the rules, request ends for the model
        return keys

    def _config_text(self, eve: str = "") -> str:
        services = "\n".join(self._service(k) for k in self.kinds)
        text = services + COMMON.format(api=self.api_port, token=TOKEN)
        if self.workers > 1:
            text += f'[daemon]\nworkers = {self.workers}\nshard = "connection"\n'
        if self.mode in ("detect", "eve"):
            # Alerts add up per source; 127.0.0.1 must never be blacklisted by its score,
            # or every later bench session would go DIRECT.
            text += f"[scoring]\nblacklist_threshold = {NEVER:.0f}.0\n"
        return text + eve

    def check(self) -> str:
        """'' when ``honeyswitch check`` accepts the config, else its complaint."""
        res = subprocess.run(HS + ["check", "-c", str(self.config)], capture_output=True, text=True,
                             timeout=120, cwd=REPO)
        return "" if res.returncode == 0 else (res.stderr.strip().splitlines() or ["rejected"])[-1]

    def prepare(self) -> None:
        """Probe the keys this mode needs; an unsupported mode is marked unavailable."""
        if not self.available:
            return
        if self.mode == "eve":
            self._choose_eve()
            return
        if self.mode == "detect":
            # The model files must exist before `check` may look at them.
            for kind in self.kinds:
                if kind != "switch":
                    detection.train_model(self.work, kind)
        problem = self.check()
        if problem:
            self.available = False
            self.note = f"config rejected: {problem}"

    def _choose_eve(self) -> None:
        first = ""
        for template in self.eve_templates:
            self.config.write_text(self._config_text(template.format(path=self.eve_path)))
            problem = self.check()
            if not problem:
                self.note = "EVE tailer config: " + " ".join(template.split())
                return
            first = first or problem
        self.available = False
        self.note = f"no EVE tailer config accepted yet: {first}"

    # ------------------------------------------------------------- lifecycle

    def start(self) -> None:
        self.eve_path.touch()
        self.proc = Proc(self.name, HS + ["run", "-c", str(self.config)], self.work / "daemon.log", cwd=self.work)
        timeout = 300 if self.mode == "detect" else 30  # compiling ~4,000 rules takes a while
        wait_port(self.api_port, timeout, self.proc)
        for port in self.ports.values():
            wait_port(port, timeout, self.proc)
        if self.mode == "honeypot":
            res = subprocess.run(HS + ["blacklist", "add", "127.0.0.1", "--reason", "bench", "-c", str(self.config)],
                                 capture_output=True, text=True, timeout=30, cwd=REPO)
            if res.returncode != 0:
                raise RuntimeError(f"blacklist add: {res.stderr.strip()}")

    def stop(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
        if self.proc is not None:
            self.proc.stop()
            self.proc = None

    def port(self, kind: str) -> int:
        return self.ports[kind]

    def pids(self) -> list[int]:
        """The daemon, and its workers when it is a supervisor."""
        if self.proc is None:
            return []
        return [self.proc.pid, *_children(self.proc.pid)]

    def events_mark(self) -> int:
        path = self.work / "events.jsonl"
        return path.stat().st_size if path.exists() else 0

    def events_since(self, mark: int) -> dict[str, int]:
        return count_events(self.work / "events.jsonl", mark)

    # ------------------------------------------------------------ control API

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        """One control API call on a kept-alive connection (reopened once if it broke)."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        for attempt in (1, 2):
            if self._http is None:
                self._http = http.client.HTTPConnection("127.0.0.1", self.api_port, timeout=10)
            try:
                self._http.request(method, path, body=data, headers=headers)
                resp = self._http.getresponse()
                return resp.status, json.loads(resp.read() or b"null")
            except (OSError, http.client.HTTPException):
                self._http.close()
                self._http = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []
