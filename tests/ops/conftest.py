"""Fixtures for operating honeyswitch as an installed service: a wheel built from this
checkout and a clean venv it is installed in (no extras), made once per test session.

The venv is made with Debian's ``/usr/bin/python3`` where there is one (what an
operator on Debian uses) in a world-readable directory, so that tests can also run the
installed daemon as an unprivileged user, as its systemd unit does.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2]
_SKIP = shutil.ignore_patterns(".venv", ".git", "build", "dist", "*.egg-info", "__pycache__",
                               ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis",
                               "test-artifacts", "bench")


@pytest.fixture(scope="session")
def bare_venv() -> Iterator[Path]:
    """A fresh venv with nothing installed yet."""
    top = Path(tempfile.mkdtemp(prefix="honeyswitch-venv-"))
    os.chmod(top, 0o755)
    venv = top / "hs"
    python = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
    subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=120)
    yield venv
    shutil.rmtree(top, ignore_errors=True)


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory, bare_venv: Path) -> Path:
    """``pip wheel`` (the step ``pip install .`` performs) of a copy of the source tree
    without any build output, by the fresh venv's pip: the build (and its mypyc type
    check) sees none of the dependencies, as in an operator's first install."""
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    shutil.copytree(SRC, src, ignore=_SKIP)
    out = root / "dist"
    subprocess.run([str(bare_venv / "bin/pip"), "wheel", "-q", "--no-deps", "-w", str(out), str(src)],
                   check=True, timeout=600)
    (built,) = out.glob("honeyswitch-*.whl")
    return built


@pytest.fixture(scope="session")
def clean_venv(bare_venv: Path, wheel: Path) -> Path:
    """The fresh venv with the wheel and its core dependencies only."""
    subprocess.run([str(bare_venv / "bin/pip"), "install", "-q", str(wheel)], check=True, timeout=600)
    return bare_venv
