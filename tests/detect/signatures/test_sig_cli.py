"""``honeyswitch rules check``: counts, reasons grouped with example sids, exit codes."""
from __future__ import annotations

import argparse
from pathlib import Path

from honeyswitch.cli import rules as rules_cli
from honeyswitch.detect.signatures import default_rules_path

SAMPLE = """\
alert tcp any any -> any any (msg:"ok"; content:"a"; sid:1; rev:1;)
alert udp any any -> any any (msg:"udp"; content:"a"; sid:2; rev:1;)
alert udp any any -> any any (msg:"udp"; content:"a"; sid:3; rev:1;)
alert tcp any any -> any any (msg:"bad"; content:"|zz|"; sid:4; rev:1;)
alert tls any any -> any any (msg:"tls"; tls.cert_subject; content:"x"; sid:5; rev:1;)
# alert tcp any any -> any any (msg:"disabled"; content:"a"; sid:6; rev:1;)
alert tcp any any -> any any (msg:"continued"; \\
    content:"b"; sid:7; rev:1;)
"""


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="honeyswitch")
    rules_cli.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_check_reports_counts_and_reasons(tmp_path: Path, capsys) -> None:
    path = tmp_path / "sample.rules"
    path.write_text(SAMPLE)
    args = parse(["rules", "check", str(path)])
    assert args.func is rules_cli.run
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "loaded 2 (33.3%), skipped 4, disabled 1" in out
    assert "2  unsupported protocol: udp e.g. sid 2, 3" in out
    assert "1  invalid content e.g. sid 4" in out
    assert "1  unsupported buffer: tls.cert_subject e.g. sid 5" in out


def test_check_default_rules(capsys) -> None:
    args = parse(["rules", "check", str(default_rules_path())])
    assert args.func(args) == 0
    assert ", skipped 0," in capsys.readouterr().out


def test_unreadable_file_exits_2(tmp_path: Path, capsys) -> None:
    args = parse(["rules", "check", str(tmp_path / "missing.rules")])
    assert args.func(args) == 2
    assert "cannot read" in capsys.readouterr().err


def test_classification_option(tmp_path: Path, capsys) -> None:
    cls = tmp_path / "classification.config"
    cls.write_text("config classification: custom,Custom,1\n")
    rules = tmp_path / "r.rules"
    rules.write_text('alert tcp any any -> any any (msg:"c"; content:"a"; classtype:custom; sid:1;)\n')
    args = parse(["rules", "check", "--classification", str(cls), str(rules)])
    assert args.func(args) == 0
    args = parse(["rules", "check", "--classification", str(tmp_path / "nope"), str(rules)])
    assert args.func(args) == 2
