"""``honeyswitch init``: every kind of starter config passes ``check`` as written, and
what it shows commented out is the real default."""
from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from honeyswitch.cli.main import main
from honeyswitch.config import build
from honeyswitch.starter import KINDS, render


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_is_accepted_by_check(kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "etc" / "honeyswitch.toml"
    assert main(["init", "--service", kind, "-o", str(out)]) == 0
    assert out.stat().st_mode & 0o777 == 0o640
    assert main(["check", "-c", str(out)]) == 0
    assert capsys.readouterr().out.strip().endswith(f"{out}: OK")


def test_several_kinds_in_one_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "all.toml"
    argv = ["init", "-o", str(out)]
    for kind in KINDS:
        argv += ["--service", kind]
    assert main(argv) == 0
    assert main(["check", "-c", str(out)]) == 0
    assert capsys.readouterr().out.count("service ") == len(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_commented_keys_show_the_defaults(kind: str, tmp_path: Path):
    text = render([kind], "state", "log")
    live = render([kind], "state", "log", live=True)
    assert live != text
    as_written = build(tomllib.loads(text), "starter.toml", tmp_path)
    everything = build(tomllib.loads(live), "starter.toml", tmp_path)
    # The only table that is an example rather than a default: the [[ids]] feed.
    everything = dataclasses.replace(everything, detection=dataclasses.replace(everything.detection, ids=()))
    assert everything == as_written


def test_refuses_to_overwrite_and_prints_without_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "hs.toml"
    out.write_text("mine")
    assert main(["init", "--service", "http", "-o", str(out)]) == 1
    assert out.read_text() == "mine" and "--force" in capsys.readouterr().err
    assert main(["init", "--service", "http", "-o", str(out), "--force"]) == 0
    assert main(["init", "--service", "redis"]) == 0
    printed = capsys.readouterr().out
    assert 'protocol = "redis"' in printed and "/var/lib/honeyswitch/honeyswitch.db" in printed
