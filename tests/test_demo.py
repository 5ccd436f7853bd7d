"""The README's first command runs the demo; it must end with the attacker switched."""
from __future__ import annotations

import subprocess
import sys


def test_demo_runs_and_switches_the_attacker(tmp_path):
    res = subprocess.run(
        [sys.executable, "-m", "honeyswitch", "demo", "--dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    assert out.rstrip().endswith("demo: OK")
    assert "attacker <- VALUE changeme-honeytoken" in out
    assert "SWITCH TO HONEYPOT" in out  # the rendered transcript marks the switch
    assert (tmp_path / "events.jsonl").stat().st_size > 0
    assert list((tmp_path / "transcripts").glob("*.jsonl"))
