"""Installing as a new operator does: a wheel built from this checkout, in a clean venv,
without extras.  ``check``, ``run`` (relaying a real connection through the shipped
default rules) and ``demo`` work; what needs an extra says so in one line.

The wheel and the venv are made once per test session (``conftest.py``).
"""
from __future__ import annotations

import socket
import subprocess
import zipfile
from pathlib import Path

import pytest

from honeyswitch.testing.daemon import Daemon, echo_backends, write_config

pytestmark = pytest.mark.slow


def test_the_wheel_holds_the_package_data_and_no_tests(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "honeyswitch/rules/default.rules" in names
    assert {"honeyswitch/web/static/index.html", "honeyswitch/web/static/app.js"} <= names
    assert not any(n.startswith(("tests/", "bench/")) for n in names)


def test_the_installed_hot_modules_are_compiled(clean_venv: Path):
    # Built in a venv without the dependencies: mypyc takes them as untyped and compiles.
    probe = "import honeyswitch.native as n; print(n.compiled())"
    out = subprocess.run([str(clean_venv / "bin/python"), "-c", probe], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert out.strip() == "True"


def test_no_extras_installed(clean_venv: Path):
    probe = "import importlib.util as u; print([m for m in ('numpy', 'hyperscan', 'redis') if u.find_spec(m)])"
    out = subprocess.run([str(clean_venv / "bin/python"), "-c", probe], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_check_and_run_with_the_default_rules(clean_venv: Path, tmp_path: Path):
    hs = [str(clean_venv / "bin/honeyswitch")]
    with echo_backends() as (main, honeypot):
        cfg, listen, api = write_config(tmp_path, main.port, honeypot.port, body='rules = ["default"]',
                                        token="test-token")
        res = subprocess.run([*hs, "check", "-c", str(cfg)], capture_output=True, text=True, timeout=60)
        assert res.returncode == 0 and res.stdout.strip().endswith("OK"), res.stderr
        daemon = Daemon(cfg, api, command=hs)
        try:
            with socket.create_connection(("127.0.0.1", listen), timeout=5) as client:
                client.sendall(b"GET / HTTP/1.0\r\n\r\n")
                assert client.recv(4096).startswith(b"M:GET /")
            # A request the shipped rules know goes to the honeypot before main sees it.
            with socket.create_connection(("127.0.0.1", listen), timeout=5) as client:
                client.sendall(b"GET /../../etc/passwd HTTP/1.0\r\n\r\n")
                assert client.recv(4096).startswith(b"H:")
        finally:
            err = daemon.stop()
    assert "Traceback" not in err
    assert "pure-Python prefilter" in err  # says how to get the fast one, once


def test_demo_runs(clean_venv: Path, tmp_path: Path):
    res = subprocess.run([str(clean_venv / "bin/honeyswitch"), "demo", "--dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Traceback" not in res.stderr


def test_an_optional_part_is_one_line_naming_its_extra(clean_venv: Path, tmp_path: Path):
    hs = str(clean_venv / "bin/honeyswitch")
    (tmp_path / "req").write_bytes(b"GET / HTTP/1.0\r\n\r\n")
    for argv in (["train", "--service", "web", "--from-dir", str(tmp_path), "-o", str(tmp_path / "m.npz")],
                 ["score", "--model", str(tmp_path / "m.npz"), str(tmp_path / "req")]):
        res = subprocess.run([hs, *argv], capture_output=True, text=True, timeout=60)
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2 and len(lines) == 1, res.stderr
        assert "pip install 'honeyswitch[anomaly]'" in lines[0]


def test_a_cluster_without_its_extra_is_one_line_naming_it(clean_venv: Path, tmp_path: Path):
    cfg, _, _ = write_config(tmp_path, 1, 2, token="test-token")
    cfg.write_text(cfg.read_text() + '[cluster]\nredis = "redis://127.0.0.1:1"\nhost = "a"\n')
    hs = str(clean_venv / "bin/honeyswitch")
    assert subprocess.run([hs, "check", "-c", str(cfg)], capture_output=True, timeout=60).returncode == 0
    res = subprocess.run([hs, "run", "-c", str(cfg)], capture_output=True, text=True, timeout=60)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert "pip install 'honeyswitch[cluster]'" in lines[0]
