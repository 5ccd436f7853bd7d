"""The compiled hot modules and their pure-Python fallback (honeyswitch/native.py).

Each case runs a fresh interpreter, as the choice is made once at ``import
honeyswitch``."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import honeyswitch
from honeyswitch import native

PKG = Path(honeyswitch.__file__).resolve().parent
BUILT = any(PKG.glob(f"{native.group_name().rsplit('.', 1)[1]}__mypyc*.so"))
PROBE = ("import honeyswitch.native as n, honeyswitch.core.session as s, honeyswitch.relay.runner as r;"
         "print(n.compiled(), s.__file__.endswith('.py'), r.__file__.endswith('.py'))")


def probe(env: dict[str, str] | None = None, path: Path | None = None) -> str:
    full = {k: v for k, v in os.environ.items() if k != native.PURE_ENV}
    full.update(env or {})
    if path is not None:
        full["PYTHONPATH"] = str(path)
    res = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=full,
                         cwd=path or Path.cwd(), timeout=60)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def test_pure_env_runs_the_sources() -> None:
    assert probe({native.PURE_ENV: "1"}) == "False True True"


@pytest.mark.skipif(not BUILT, reason="compiled modules not built here (no C compiler at install)")
def test_current_build_is_used() -> None:
    assert probe() == "True False False"


def test_digest_follows_the_sources(tmp_path: Path) -> None:
    copy = tmp_path / "honeyswitch"
    shutil.copytree(PKG, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = native.digest(tmp_path)
    assert before == native.digest()
    with open(copy / "core" / "replies.py", "a") as f:
        f.write("# edited\n")
    assert native.digest(tmp_path) != before


@pytest.mark.skipif(not BUILT, reason="compiled modules not built here (no C compiler at install)")
def test_edited_source_runs_as_python(tmp_path: Path) -> None:
    """A build of other sources (an edit since the build) is never used, for any module."""
    copy = tmp_path / "honeyswitch"
    shutil.copytree(PKG, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert probe(path=tmp_path) == "True False False"
    with open(copy / "core" / "replies.py", "a") as f:
        f.write("# edited\n")
    assert probe(path=tmp_path) == "False True True"
