"""The benchmark harness still runs end to end: ``python -m bench --quick --only bulk1``
against direct, HAProxy and honeyswitch MIRROR, and its JSON has the documented shape.
(The benchmark itself is ``make bench``; this only keeps it from rotting.)"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TARGETS = ("direct", "haproxy", "hs-mirror")

pytestmark = [
    pytest.mark.slow,  # about 15 s: three short iperf3 runs and a daemon start
    pytest.mark.skipif(shutil.which("iperf3") is None or shutil.which("haproxy") is None,
                       reason="needs iperf3 and haproxy (scripts/install-system-deps)"),
]


def test_quick_bulk1_writes_a_table_and_json(tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "bulk1", "--targets", ",".join(TARGETS),
         "--out", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=90,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "bulk1:" in res.stdout and "x haproxy" in res.stdout
    (path,) = tmp_path.glob("*.json")
    doc = json.loads(path.read_text())
    assert doc["schema"] == "honeyswitch-bench/1"
    assert {"started", "seconds", "settings", "machine", "targets", "cases", "table"} <= doc.keys()
    case = doc["cases"]["bulk1"]
    assert case["metrics"][0] == "gbit_s"
    for name in TARGETS:
        slot = case["results"][name]
        assert slot["errors"] == [] and slot["skipped"] is None, slot
        (run,) = slot["runs"]
        assert run["gbit_s"] > 0 and run["gbytes"] > 0
        median = slot["summary"]["gbit_s"]
        assert median["n"] == 1 and median["min"] == median["median"] == median["max"]
    assert case["results"]["direct"]["ratios"]["gbit_s"]["vs_direct"] == pytest.approx(1.0)
    assert case["results"]["hs-mirror"]["ratios"]["gbit_s"]["vs_haproxy"] > 0
    assert case["results"]["hs-mirror"]["runs"][0]["proxy_cpu_s_per_gb"] > 0
    # iperf3's control and data connections, each a mirrored session of the daemon
    assert case["results"]["hs-mirror"]["runs"][0]["events"]["session_start"] >= 2


def test_profile_divides_the_proxys_counters_by_a_fixed_load() -> None:
    """``python -m bench.profile``: a fixed number of round trips, per-operation figures."""
    res = subprocess.run(
        [sys.executable, "-m", "bench.profile", "pingpong", "--conns", "4", "--rounds", "50"],
        cwd=REPO, capture_output=True, text=True, timeout=90,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "hs-mirror pingpong: 200 operations" in res.stdout
    cpu = [line for line in res.stdout.splitlines() if "proxy CPU µs/op" in line]
    assert cpu and float(cpu[0].split()[3]) > 0
