"""Loading rule files: parse what we can, count what we skip and why.

A rule file is attacker-controllable input (downloaded rulesets, operator edits), so a
bad line is never fatal: it becomes a :class:`Skipped` entry with a stable reason.
Commented-out rules are counted as disabled.  Lines continued with a trailing ``\\`` are
joined.  When a (gid, sid) appears twice the higher ``rev`` wins, as in Suricata.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from .classify import DEFAULT_CLASSIFICATION, ScorePolicy, load_classification
from .errors import RuleError
from .header import ACTIONS, DEFAULT_PORT_VARS
from .parse import ParseContext, parse_rule
from .rule import Rule

MAX_FILE = 64 << 20
MAX_LINE = 64 << 10
_SID = re.compile(r"\bsid\s*:\s*(\d{1,10})")
_DISABLED = re.compile(r"^#+\s*(" + "|".join(sorted(ACTIONS)) + r")\s")


def default_rules_path() -> Path:
    """honeyswitch's own ruleset, shipped in the package."""
    return Path(str(resources.files("honeyswitch") / "rules" / "default.rules"))


@dataclass(frozen=True, slots=True)
class Skipped:
    source: str
    line: int
    sid: int | None
    reason: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Ruleset:
    rules: tuple[Rule, ...]
    skipped: tuple[Skipped, ...] = ()
    disabled: int = 0
    sources: tuple[str, ...] = field(default=())

    @property
    def loaded(self) -> int:
        return len(self.rules)

    def by_reason(self) -> list[tuple[str, list[Skipped]]]:
        """Skipped rules grouped by reason, most frequent first."""
        groups: dict[str, list[Skipped]] = {}
        for skip in self.skipped:
            groups.setdefault(skip.reason, []).append(skip)
        return sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))


def make_context(classification: str | Path | Mapping[str, int] | None = None,
                 port_vars: Mapping[str, str] | None = None,
                 scores: ScorePolicy | None = None) -> ParseContext:
    """A ParseContext; ``classification`` may be a classification.config path."""
    if classification is None:
        table: Mapping[str, int] = DEFAULT_CLASSIFICATION
    elif isinstance(classification, (str, Path)):
        table = load_classification(classification)
    else:
        table = classification
    variables = dict(DEFAULT_PORT_VARS)
    variables.update(port_vars or {})
    return ParseContext(table, variables, scores or ScorePolicy())


def iter_rule_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, logical line) with ``\\`` continuations joined."""
    pending: list[str] = []
    start = 0
    for number, line in enumerate(text.split("\n"), 1):
        if not pending:
            start = number
        stripped = line.rstrip()
        if stripped.endswith("\\") and sum(len(p) for p in pending) < MAX_LINE:
            pending.append(stripped[:-1])
            continue
        pending.append(line)
        yield start, " ".join(pending)
        pending = []
    if pending:
        yield start, " ".join(pending)


def parse_rules(text: str, source: str = "<string>",
                ctx: ParseContext | None = None) -> Ruleset:
    """Parse rule text; never raises for a bad rule."""
    ctx = ctx or ParseContext()
    rules: list[Rule] = []
    skipped: list[Skipped] = []
    disabled = 0
    for number, line in iter_rule_lines(text):
        line = line.strip()
        if not line or line.startswith("#"):
            disabled += bool(_DISABLED.match(line))
            continue
        try:
            rules.append(parse_rule(line, ctx))
        except RuleError as exc:
            skipped.append(_skip(source, number, line, exc.reason, exc.detail))
        except RecursionError:
            skipped.append(_skip(source, number, line, "invalid rule", "nesting too deep"))
    return Ruleset(tuple(rules), tuple(skipped), disabled, (source,))


def _skip(source: str, number: int, line: str, reason: str, detail: str) -> Skipped:
    m = _SID.search(line)
    return Skipped(source, number, int(m.group(1)) if m else None, reason, detail[:200])


def merge(parts: Iterable[Ruleset]) -> Ruleset:
    """Join rulesets; for a repeated (gid, sid) keep the highest rev."""
    best: dict[tuple[int, int], Rule] = {}
    skipped: list[Skipped] = []
    disabled = 0
    sources: list[str] = []
    for part in parts:
        skipped.extend(part.skipped)
        disabled += part.disabled
        sources.extend(part.sources)
        for rule in part.rules:
            old = best.get(rule.key)
            if old is not None:
                loser = rule if rule.rev <= old.rev else old
                skipped.append(Skipped("", 0, loser.sid, "duplicate sid", f"rev {loser.rev}"))
                if rule.rev <= old.rev:
                    continue
            best[rule.key] = rule
    return Ruleset(tuple(best.values()), tuple(skipped), disabled, tuple(sources))


def load_ruleset(paths: Iterable[str | Path], *,
                 classification: str | Path | Mapping[str, int] | None = None,
                 port_vars: Mapping[str, str] | None = None,
                 scores: ScorePolicy | None = None) -> Ruleset:
    """Load rule files (raises OSError if one cannot be read)."""
    ctx = make_context(classification, port_vars, scores)
    return merge(load_file(p, ctx) for p in paths)


def load_file(path: str | Path, ctx: ParseContext | None = None) -> Ruleset:
    path = Path(path)
    with path.open("rb") as fh:
        raw = fh.read(MAX_FILE + 1)
    if len(raw) > MAX_FILE:
        raise OSError(f"{path}: larger than {MAX_FILE} bytes")
    return parse_rules(raw.decode("utf-8", errors="replace"), str(path), ctx)
