"""Inline Snort/Suricata-style signatures, sans-IO.

Build once, then give every session an inspector::

    ruleset = load_ruleset([default_rules_path(), "/etc/honeyswitch/local.rules"],
                           classification="/etc/suricata/classification.config")
    detector = SignatureDetector(ruleset, protocols={"web": "http", "cache": "redis"})
    inspector = detector.new_stream(flow)          # per session
    alerts = inspector.feed(chunk, to_server=True)  # before forwarding the chunk

Modules: :mod:`.parse` (rule text -> :class:`Rule`; :mod:`.header`, :mod:`.values`,
:mod:`.byteops`, :mod:`.pcre` / :mod:`.pcre_translate` for the parts), :mod:`.options` /
:mod:`.match` (content, pcre, byte_* semantics), :mod:`.http` / :mod:`.http_request`
(request buffers), :mod:`.engine` / :mod:`.prefilter` / :mod:`.select` (multi-literal
prefilter), :mod:`.gate` (hyperscan pre-check for pcre), :mod:`.profile` (which rules
apply to a service), :mod:`.stream` (per-session inspector), :mod:`.detector`,
:mod:`.ruleset` (files, skip reasons), :mod:`.state` (flowbits, thresholds).
See README.md next to this file for what is supported.
"""
from __future__ import annotations

from .classify import DEFAULT_CLASSIFICATION, ScorePolicy, load_classification
from .detector import Limits, SignatureDetector
from .errors import RuleError, Unsupported
from .parse import ParseContext, parse_rule
from .prefilter import hyperscan_available
from .rule import Rule
from .ruleset import (
                      Ruleset,
                      Skipped,
                      default_rules_path,
                      load_file,
                      load_ruleset,
                      make_context,
                      parse_rules,
)
from .stream import SignatureInspector

__all__ = [
    "DEFAULT_CLASSIFICATION", "Limits", "ParseContext", "Rule", "RuleError", "Ruleset",
    "ScorePolicy", "SignatureDetector", "SignatureInspector", "Skipped", "Unsupported",
    "default_rules_path", "hyperscan_available", "load_classification", "load_file",
    "load_ruleset", "make_context", "parse_rule", "parse_rules",
]
