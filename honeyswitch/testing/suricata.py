"""A real Suricata for tests: write a small config and rules into a directory, capture on
an interface (loopback by default) behind a BPF filter, and wait until it is ready.

Loopback needs care (shared/notes/ids-formats-and-detection.md §0.5, §6.2): HOME_NET must
include 127.0.0.0/8 and EXTERNAL_NET be ``any`` or ET-style rules never fire; checksums
are often not filled in on ``lo`` (``-k none``); other loopback traffic would flood
eve.json (the BPF filter and an alert-only eve-log keep it small).  Capture is AF_PACKET
with tpacket-v2, which hands packets over at once (``--pcap`` waits up to 500 ms).
Needs root for the capture; install with ``shared/tools/install-suricata``.

    cfg = SuricataConfig(workdir=tmp, rules=[RULE], bpf=f"tcp port {port}", http_ports=(port,))
    with SuricataProcess.start(cfg) as ids:      # blocks until "Engine started", bounded
        ... ids.eve_path, ids.fast_path, ids.reopen_logs() ...
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

READY = "Engine started"
# classtype names and priorities come from the package's files, when it has them
_ETC = Path("/etc/suricata")
_ETC_FILES = {"classification-file": "classification.config",
              "reference-config-file": "reference.config"}


def binary() -> str | None:
    return shutil.which("suricata")


def available() -> bool:
    """Installed, and we may capture packets (root)."""
    return binary() is not None and os.geteuid() == 0


@dataclass(frozen=True, slots=True)
class SuricataConfig:
    workdir: Path
    rules: Sequence[str]
    interface: str = "lo"
    bpf: str = ""  # e.g. "tcp port 18080"
    home_net: str = "[127.0.0.0/8,198.18.0.0/15]"
    external_net: str = "any"
    http_ports: Sequence[int] = (80,)
    community_id: bool = True
    eve_types: Sequence[str] = ("alert",)
    fast_log: bool = True
    runmode: str = "single"  # one packet thread: the lowest alert latency on a small box
    capture: str = "af-packet"  # or "pcap"
    cluster_id: int = 0  # AF_PACKET fanout group; 0: one derived from workdir


# The other groups ET rules use (Suricata's stock values), so that a real ruleset loads
# without "error parsing signature" for each rule naming one.
_OTHER_SERVERS = "".join(f'\n    {g}: "$HOME_NET"' for g in (
    "SMTP_SERVERS", "SQL_SERVERS", "DNS_SERVERS", "TELNET_SERVERS", "AIM_SERVERS", "DC_SERVERS",
    "DNP3_SERVER", "DNP3_CLIENT", "MODBUS_CLIENT", "MODBUS_SERVER", "ENIP_CLIENT", "ENIP_SERVER"))
_OTHER_PORTS = "".join(f'\n    {g}: "{v}"' for g, v in (
    ("SHELLCODE_PORTS", "!80"), ("ORACLE_PORTS", "1521"), ("SSH_PORTS", "22"), ("DNP3_PORTS", "20000"),
    ("MODBUS_PORTS", "502"), ("FILE_DATA_PORTS", "[$HTTP_PORTS,110,143]"), ("FTP_PORTS", "21"),
    ("GENEVE_PORTS", "6081"), ("VXLAN_PORTS", "4789"), ("TEREDO_PORTS", "3544")))


def _cluster_id(cfg: SuricataConfig) -> int:
    # instances sharing a fanout group on one interface would split its packets
    return cfg.cluster_id or 1000 + zlib.crc32(str(cfg.workdir).encode()) % 60000


def render_yaml(cfg: SuricataConfig) -> str:
    """The suricata.yaml for ``cfg`` (pure; Suricata fills in everything else)."""
    ports = ",".join(str(p) for p in cfg.http_ports)
    types = "".join(f"\n        - {t}" for t in cfg.eve_types)
    fast = "yes" if cfg.fast_log else "no"
    capture = _capture_yaml(cfg) if cfg.capture == "af-packet" else ""
    files = "".join(f"{key}: {_ETC / name}\n" for key, name in _ETC_FILES.items()
                    if (_ETC / name).exists())
    return f"""%YAML 1.1
---
vars:
  address-groups:
    HOME_NET: "{cfg.home_net}"
    EXTERNAL_NET: "{cfg.external_net}"
    HTTP_SERVERS: "$HOME_NET"{_OTHER_SERVERS}
  port-groups:
    HTTP_PORTS: "[{ports}]"{_OTHER_PORTS}
default-log-dir: {cfg.workdir}
stats:
  enabled: no
outputs:
  - eve-log:
      enabled: yes
      filetype: regular
      filename: eve.json
      community-id: {"true" if cfg.community_id else "false"}
      types:{types}
  - fast:
      enabled: {fast}
      filename: fast.log
logging:
  default-log-level: notice
  outputs:
    - console:
        enabled: yes
    - file:
        enabled: yes
        level: info
        filename: suricata.log
app-layer:
  protocols:
    http:
      enabled: yes
unix-command:
  enabled: no
{capture}{files}"""


def _capture_yaml(cfg: SuricataConfig) -> str:
    # tpacket-v2 hands each packet over at once; v3 (and libpcap's --pcap mode, 500 ms
    # read timeout) deliver in blocks, which made alerts ~0.5 s late on a quiet loopback
    filt = capture_filter(cfg)
    bpf = f"\n    bpf-filter: {json.dumps(filt)}" if filt else ""
    return f"""af-packet:
  - interface: {cfg.interface}
    threads: 1
    cluster-id: {_cluster_id(cfg)}
    cluster-type: cluster_flow
    defrag: yes
    use-mmap: yes
    tpacket-v3: no
    checksum-checks: no{bpf}
"""


def command(cfg: SuricataConfig, exe: str = "suricata") -> list[str]:
    capture = "--af-packet" if cfg.capture == "af-packet" else "--pcap"
    argv = [exe, "-c", str(cfg.workdir / "suricata.yaml"), "-S", str(cfg.workdir / "test.rules"),
            f"{capture}={cfg.interface}", "-k", "none", "-l", str(cfg.workdir),
            "--runmode", cfg.runmode, "--pidfile", str(cfg.workdir / "suricata.pid")]
    filt = capture_filter(cfg)
    return argv + ([filt] if filt else [])


def capture_filter(cfg: SuricataConfig) -> str:
    """The BPF filter Suricata gets.  AF_PACKET on ``lo`` sees every packet twice, as it
    leaves and as it arrives; Suricata 7.0.10 handled the outgoing copies so that its
    packet pool ran dry after 2 x max-pending-packets packets (measured: then ~80 %
    drops, the capture thread spinning, no alerts), so only the arriving copy, which
    carries both directions of every conversation, is captured."""
    if cfg.capture == "af-packet" and cfg.interface == "lo":
        return f"inbound and ({cfg.bpf})" if cfg.bpf else "inbound"
    return cfg.bpf


class SuricataProcess:
    """A running Suricata; stop it with :meth:`stop` or use it as a context manager."""

    def __init__(self, cfg: SuricataConfig, proc: subprocess.Popen[bytes]) -> None:
        self.cfg = cfg
        self.proc = proc
        self.eve_path = cfg.workdir / "eve.json"
        self.fast_path = cfg.workdir / "fast.log"
        self.output_path = cfg.workdir / "suricata.out"

    @classmethod
    def start(cls, cfg: SuricataConfig, timeout: float = 60.0) -> SuricataProcess:
        """Write the files, start Suricata and wait (at most ``timeout`` s) until its
        engine runs; ``RuntimeError`` with its output if it exits or never gets there."""
        exe = binary()
        if exe is None:
            raise FileNotFoundError("suricata is not installed (shared/tools/install-suricata)")
        cfg.workdir.mkdir(parents=True, exist_ok=True)
        (cfg.workdir / "suricata.yaml").write_text(render_yaml(cfg))
        (cfg.workdir / "test.rules").write_text("".join(r.rstrip("\n") + "\n" for r in cfg.rules))
        out = open(cfg.workdir / "suricata.out", "wb")
        try:
            proc = subprocess.Popen(command(cfg, exe), stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
        finally:
            out.close()
        ids = cls(cfg, proc)
        try:
            ids._wait_ready(timeout)
        except BaseException:
            ids.stop()
            raise
        return ids

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if READY in self.output():
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"suricata exited with {self.proc.returncode}:\n{self.output()}")
            time.sleep(0.05)
        raise RuntimeError(f"suricata not ready after {timeout}s:\n{self.output()}")

    def output(self) -> str:
        try:
            return self.output_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def reopen_logs(self) -> None:
        """SIGHUP: Suricata closes its log files and opens them again (log rotation)."""
        self.proc.send_signal(signal.SIGHUP)

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def __enter__(self) -> SuricataProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
