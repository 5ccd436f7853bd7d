"""The one place that runs firewall programs (nft, iptables, ip, ipset).

Builders elsewhere are pure and return text or :class:`Step` lists; this module carries
them out and turns a failure into one line: the program, what it was doing, and the
first line the program printed.
"""
from __future__ import annotations

import shlex
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

TIMEOUT = 30.0  # seconds; a firewall program that hangs longer is broken


class RunError(RuntimeError):
    """A firewall command failed; the message is one line."""


@dataclass(frozen=True, slots=True)
class Step:
    """One command of a plan.

    ``unless``: a check command; when it succeeds the step is already done and skipped.
    ``may_fail``: a failure is expected (deleting what may not exist) and ignored.
    ``repeat``: run until it fails (deleting every copy of a duplicated rule).
    ``stdin``: text fed to the command (``nft -f -``, ``ipset restore``)."""

    argv: tuple[str, ...]
    unless: tuple[str, ...] | None = None
    may_fail: bool = False
    repeat: bool = False
    stdin: str | None = None

    def shell(self) -> str:
        """The step as a shell line, for ``plan`` output."""
        cmd = shlex.join(self.argv)
        if self.stdin is not None:
            cmd = f"{cmd} <<'EOF'\n{self.stdin.rstrip(chr(10))}\nEOF"
        if self.unless is not None:
            return f"{shlex.join(self.unless)} 2>/dev/null || {cmd}"
        if self.repeat:
            return f"while {cmd} 2>/dev/null; do :; done"
        if self.may_fail:
            return f"{cmd} 2>/dev/null || true"
        return cmd


def run(argv: Sequence[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``argv``; raises RunError when it cannot start or exits non-zero."""
    try:
        res = subprocess.run(list(argv), input=stdin, capture_output=True, text=True, timeout=TIMEOUT)
    except FileNotFoundError:
        raise RunError(f"{argv[0]}: not installed") from None
    except subprocess.TimeoutExpired:
        raise RunError(f"{shlex.join(argv)}: no answer after {TIMEOUT:g}s") from None
    if res.returncode != 0:
        raise RunError(f"{shlex.join(argv)}: {_first_line(res.stderr or res.stdout)}")
    return res


def run_nft(text: str) -> None:
    """Load ``text`` with ``nft -f -``: one atomic transaction, all or nothing."""
    run(["nft", "-f", "-"], stdin=text)


def run_steps(steps: Iterable[Step]) -> int:
    """Carry out ``steps`` in order; returns how many ran; raises RunError on the first
    failure that was not expected."""
    done = 0
    for step in steps:
        if step.unless is not None and _succeeds(step.unless):
            continue
        if step.repeat:
            for _ in range(64):  # bounded: a rule cannot be duplicated that often by us
                if not _succeeds(step.argv, step.stdin):
                    break
            done += 1
            continue
        try:
            run(step.argv, step.stdin)
        except RunError:
            if not step.may_fail:
                raise
        done += 1
    return done


def _succeeds(argv: Sequence[str], stdin: str | None = None) -> bool:
    try:
        run(argv, stdin)
    except RunError:
        return False
    return True


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:300]
    return "failed"
