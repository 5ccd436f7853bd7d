"""Why a rule was not loaded.

Every problem with a rule is a :class:`RuleError` (a ``ValueError``) carrying a short,
stable ``reason`` (used to group skipped rules in reports, e.g. ``"unsupported keyword:
byte_extract"``) and a free-form ``detail`` (which may quote the rule's text).
:class:`Unsupported` marks rules that are well formed but use something this engine does
not implement; the rest are malformed.
"""
from __future__ import annotations


class RuleError(ValueError):
    """A rule that cannot be loaded; ``reason`` is short and stable, ``detail`` specific."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class Unsupported(RuleError):
    """A well-formed rule that uses something this engine does not implement."""


def invalid(what: str, detail: str = "") -> RuleError:
    """A malformed rule: ``reason`` is ``"invalid <what>"``."""
    return RuleError(f"invalid {what}", detail)
