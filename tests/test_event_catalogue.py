"""Every event type the code emits is in the catalogue and documented (docs/events.md).

Walks the honeyswitch source for string literals given as the first argument of
``Emit(...)``, ``make_event(...)``, ``emit_event(...)`` and ``<anything>.emit(...)``;
where the fields are spelled out (a dict literal after ``Emit``, keyword arguments of
the others) their names must be fields of that type too.
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from honeyswitch.events import COMMON_FIELDS, EVENT_TYPES, make_event
from honeyswitch.record.escape import dumps

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "honeyswitch"
DOC = ROOT / "docs" / "events.md"
CALLS = {"Emit", "make_event", "emit_event", "emit"}
NOT_FIELDS = {"session"}  # make_event's own parameter


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def emitted() -> list[tuple[str, str, set[str]]]:
    """(where, event type, field names spelled out) for every emit call in the source."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or _name(node.func) not in CALLS or not node.args:
                continue
            first = node.args[0]
            if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                continue
            fields = {kw.arg for kw in node.keywords if kw.arg} - NOT_FIELDS
            for arg in node.args[1:]:
                if isinstance(arg, ast.Dict):
                    fields |= {k.value for k in arg.keys if isinstance(k, ast.Constant)}
            found.append((f"{path.relative_to(ROOT)}:{node.lineno}", first.value, fields))
    return found


def doc_sections() -> dict[str, str]:
    """``### `type` `` heading -> the text of its section."""
    text = DOC.read_text()
    parts = re.split(r"^### `([a-z_]+)`\s*$", text, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def test_the_walk_finds_the_cores_events() -> None:
    types = {t for _, t, _ in emitted()}
    assert {"switch", "switch_done", "alert", "backend_failure"} <= types


@pytest.mark.parametrize("where,event_type,fields", emitted(), ids=lambda v: v if isinstance(v, str) else "")
def test_emitted_event_is_catalogued_and_documented(where: str, event_type: str, fields: set[str]) -> None:
    assert event_type in EVENT_TYPES, f"{where}: {event_type!r} is not in honeyswitch.events.EVENT_TYPES"
    assert event_type in doc_sections(), f"{where}: {event_type!r} is not documented in docs/events.md"
    spec = EVENT_TYPES[event_type]
    if not spec.extra:
        unknown = fields - set(spec.fields) - set(COMMON_FIELDS)
        assert not unknown, f"{where}: {event_type} has undeclared field(s) {sorted(unknown)}"


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_catalogue_entry_is_documented_with_all_fields(event_type: str) -> None:
    section = doc_sections().get(event_type)
    assert section is not None, f"{event_type} has no '### `{event_type}`' section in docs/events.md"
    for name in EVENT_TYPES[event_type].fields:
        assert f"`{name}`" in section, f"docs/events.md: {event_type}: field {name} not documented"
    example = re.search(r"```json\n(.*?)\n```", section, re.S)
    assert example, f"docs/events.md: {event_type}: no example line"
    line = json.loads(example.group(1))
    assert line["event_type"] == event_type
    assert set(COMMON_FIELDS) | set(EVENT_TYPES[event_type].fields) <= set(line)


def test_documented_types_exist() -> None:
    assert set(doc_sections()) <= set(EVENT_TYPES)


def test_common_fields_documented() -> None:
    text = DOC.read_text()
    for name in COMMON_FIELDS:
        assert f"`{name}`" in text


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_example_builds_a_json_line(event_type: str) -> None:
    spec = EVENT_TYPES[event_type]
    event = make_event(event_type, None, **spec.example)
    assert list(event)[:8] == list(COMMON_FIELDS)
    if not spec.extra:
        assert set(event) == set(COMMON_FIELDS) | set(spec.fields)
    assert "\n" not in dumps(event)
