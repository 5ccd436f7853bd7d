"""Config keys, each declared once: name, kind (type and validation), default, doc.

Every table of the config file is a :class:`Section` of :class:`Key` declarations, kept
next to the settings they build (:mod:`honeyswitch.config` for the daemon's own,
:mod:`honeyswitch.detect.config` for detection, :mod:`honeyswitch.intercept.settings`
for transparent deployment).  From the declarations come:

- validation: :func:`read` turns one TOML table into a :class:`Table` of parsed values,
  defaults filled in and parsed the same way, or raises a one-line ConfigError naming
  the file and key;
- environment overrides (``HONEYSWITCH_<SECTION>_<KEY>``), parsed by the key's kind;
- the commented reference the README shows (:func:`reference`; a test keeps them equal).

Defaults are written as they would be in the file ("4MiB", "127.0.0.1:8439"), so the
reference shows them as an operator writes them.  Rules across keys (``quiet_max`` at
least ``quiet_time``; interception keys only with ``intercept``) live in the code that
builds the settings, which reports through :meth:`Table.fail` in the same form.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

REQUIRED: Any = type("Required", (), {"__repr__": lambda self: "REQUIRED"})()
_SIZE = re.compile(r"^\s*(\d+)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?\s*$", re.I)
_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1000, "kib": 1024, "m": 1 << 20, "mb": 10**6,
          "mib": 1 << 20, "g": 1 << 30, "gb": 10**9, "gib": 1 << 30}
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


class ConfigError(ValueError):
    """A configuration problem, as one line naming the file and key."""


# ------------------------------------------------------------------ kinds


class Kind:
    """A key's type: ``parse`` turns a TOML value into the setting or raises ValueError
    with the problem ("must be ..."); ``from_env`` reads an environment variable's text."""

    def parse(self, value: Any, base: Path) -> Any:
        return value

    def from_env(self, text: str) -> Any:
        return text


def _type_problem(value: Any, *names: str) -> str:
    return f"must be {' or '.join(names)}, not {type(value).__name__} {value!r}"


class Bool(Kind):
    def parse(self, value: Any, base: Path) -> bool:
        if not isinstance(value, bool):
            raise ValueError(_type_problem(value, "bool"))
        return value

    def from_env(self, text: str) -> Any:
        word = text.strip().lower()
        return True if word in _TRUE else False if word in _FALSE else text


@dataclass(frozen=True)
class Number(Kind):
    minimum: float = 0.0

    def parse(self, value: Any, base: Path) -> float:
        if isinstance(value, bool):
            raise ValueError(f"must be a number, not {value!r}")
        if not isinstance(value, (int, float)):
            raise ValueError(_type_problem(value, "int", "float"))
        if value < self.minimum:
            raise ValueError(f"must be >= {self.minimum:g}, not {value:g}")
        return float(value)

    def from_env(self, text: str) -> Any:
        try:
            return int(text) if text.strip().lstrip("-").isdigit() else float(text)
        except ValueError:
            return text


@dataclass(frozen=True)
class Integer(Kind):
    low: int
    high: int

    def parse(self, value: Any, base: Path) -> int:
        if isinstance(value, bool):
            raise ValueError(f"must be a number, not {value!r}")
        if not isinstance(value, int):
            raise ValueError(_type_problem(value, "int"))
        if not self.low <= value <= self.high:
            raise ValueError(f"must be an integer {self.low}-{self.high:#x}, not {value!r}")
        return value

    def from_env(self, text: str) -> Any:
        try:
            return int(text, 0)
        except ValueError:
            return text


class Size(Kind):
    """Bytes: 65536, or text with a unit ("4MiB", "256KiB", "1GB")."""

    def parse(self, value: Any, base: Path) -> int:
        if isinstance(value, bool):
            raise ValueError(f"must be a size, not {value!r}")
        if isinstance(value, int):
            number = value
        elif isinstance(value, str) and (m := _SIZE.match(value)):
            number = int(m.group(1)) * _UNITS[(m.group(2) or "").lower()]
        else:
            raise ValueError(f'must be a size like 65536 or "4MiB", not {value!r}')
        if number <= 0:
            raise ValueError("must be > 0")
        return number


@dataclass(frozen=True)
class Choice(Kind):
    options: tuple[str, ...]
    normalize: Callable[[str], str] | None = None

    def parse(self, value: Any, base: Path) -> str:
        if not isinstance(value, str):
            raise ValueError(_type_problem(value, "str"))
        if self.normalize is not None:
            value = self.normalize(value)
        if value not in self.options:
            raise ValueError(f"must be one of {', '.join(map(repr, self.options))}, not {value!r}")
        return value


@dataclass(frozen=True)
class Text(Kind):
    pattern: str | None = None  # a full match is required
    rule: str = ""  # the pattern in words, for the error

    def parse(self, value: Any, base: Path) -> str:
        if not isinstance(value, str):
            raise ValueError(_type_problem(value, "str"))
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            raise ValueError(f"must be {self.rule}, not {value!r}")
        return value


@dataclass(frozen=True)
class FilePath(Kind):
    """A path, relative to the config file's directory; ``exists``: "file" to require one."""

    exists: str = ""
    missing: str = "no such file"

    def parse(self, value: Any, base: Path) -> Path:
        if not isinstance(value, str):
            raise ValueError(_type_problem(value, "str"))
        if not value:
            raise ValueError("must not be empty")
        p = Path(value).expanduser()
        p = p if p.is_absolute() else base / p
        if self.exists == "file" and not p.is_file():
            raise ValueError(f"{p}: {self.missing}")
        return p


@dataclass(frozen=True)
class ListOf(Kind):
    item: Kind
    single: bool = False  # a lone item (not in a list) is taken as a list of one

    def parse(self, value: Any, base: Path) -> tuple[Any, ...]:
        if self.single and not isinstance(value, list):
            value = [value]
        if not isinstance(value, list):
            raise ValueError(_type_problem(value, "list"))
        return tuple(self.item.parse(v, base) for v in value)

    def from_env(self, text: str) -> Any:
        return [self.item.from_env(v.strip()) for v in text.split(",") if v.strip()]


@dataclass(frozen=True)
class Custom(Kind):
    """A kind of one key's own: ``check(value, base)`` returns the setting or raises ValueError."""

    check: Callable[[Any, Path], Any]
    env: Callable[[str], Any] = str

    def parse(self, value: Any, base: Path) -> Any:
        return self.check(value, base)

    def from_env(self, text: str) -> Any:
        return self.env(text)


class TableOf(Kind):
    """A nested table, checked by the code that builds its setting."""

    def parse(self, value: Any, base: Path) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise ValueError(_type_problem(value, "dict"))
        return value


# ------------------------------------------------------------------ declarations


@dataclass(frozen=True)
class Key:
    name: str
    kind: Kind
    default: Any  # a TOML value, parsed like a given one; None: no value; REQUIRED
    doc: str
    example: Any = None  # what the reference shows instead of the default


@dataclass(frozen=True)
class Section:
    name: str
    keys: tuple[Key, ...]
    array: bool = False  # [[name]]: a list of tables
    doc: str = ""  # a comment line above the section in the reference
    fields: dict[str, Key] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", {k.name: k for k in self.keys})
        if len(self.fields) != len(self.keys):
            raise ValueError(f"section {self.name}: a key is declared twice")

    def extend(self, keys: Iterable[Key]) -> Section:
        return Section(self.name, (*self.keys, *keys), self.array, self.doc)


class Table:
    """One validated table: parsed values by key, and errors naming file and key."""

    def __init__(self, src: str, prefix: str, values: dict[str, Any], given: set[str]) -> None:
        self.src, self.prefix = src, prefix
        self._values = values
        self._given = given

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def given(self, key: str) -> bool:
        """Whether the file set ``key`` (rather than its default)."""
        return key in self._given

    def fail(self, key: str, problem: str) -> NoReturn:
        raise ConfigError(f"{self.src}: {where(self.prefix, key)}: {problem}")


def where(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix and key else (prefix or key)


def read(section: Section, raw: Any, src: str, prefix: str, base: Path) -> Table:
    """Validate one table of ``section`` (``prefix`` names it in errors: "service[0]")."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{src}: {prefix}: must be a table")
    for name in raw:
        if name not in section.fields:
            known = ", ".join(sorted(section.fields))
            raise ConfigError(f"{src}: {where(prefix, name)}: unknown key (known: {known})")
    values: dict[str, Any] = {}
    for key in section.keys:
        value = raw.get(key.name, key.default)
        if value is REQUIRED:
            raise ConfigError(f"{src}: {where(prefix, key.name)}: is required")
        try:
            values[key.name] = None if value is None else key.kind.parse(value, base)
        except ValueError as e:
            raise ConfigError(f"{src}: {where(prefix, key.name)}: {e}") from None
    return Table(src, prefix, values, set(raw))


def read_array(section: Section, raw: Any, src: str, base: Path) -> list[Table]:
    """Validate ``[[section]]`` tables."""
    if not isinstance(raw, list):
        raise ConfigError(f"{src}: {section.name}: must be [[{section.name}]] tables")
    return [read(section, t, src, f"{section.name}[{i}]", base) for i, t in enumerate(raw)]


def env_overrides(sections: Sequence[Section], data: dict[str, Any], environ: Mapping[str, str],
                  prefix: str = "HONEYSWITCH_", skip: Iterable[str] = ()) -> None:
    """``HONEYSWITCH_<SECTION>_<KEY>=text`` sets ``[section] key`` (not arrays of tables),
    read by the key's kind; an unknown key in a known section is left for :func:`read`
    to report."""
    by_name = {s.name: s for s in sections if not s.array}
    for name, text in environ.items():
        if not name.startswith(prefix) or name in skip:
            continue
        section_name, _, key = name[len(prefix):].lower().partition("_")
        section = by_name.get(section_name)
        if section is None or not key:
            continue
        table = data.setdefault(section_name, {})
        if isinstance(table, dict):
            declared = section.fields.get(key)
            table[key] = declared.kind.from_env(text) if declared is not None else text


# ------------------------------------------------------------------ the reference

COMMENT_COLUMN = 38


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_bare(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML form for {value!r}")


def _default_note(key: Key) -> str:
    """What the reference says of a key's default when the line shows something else."""
    if key.default is REQUIRED:
        return "required"
    if key.example is None or key.default is None or key.example == key.default:
        return ""
    return f"default {toml_value(key.default)}"


def _bare(key: Any) -> str:
    text = str(key)
    return text if re.fullmatch(r"[A-Za-z0-9_-]+", text) else toml_value(text)


def reference(sections: Sequence[Section]) -> str:
    """Every key of every section as commented TOML: what the README shows."""
    blocks = []
    for s in sections:
        lines = [f"# {s.doc}"] if s.doc else []
        lines.append(f"[[{s.name}]]" if s.array else f"[{s.name}]")
        for key in s.keys:
            shown = key.example if key.example is not None else key.default
            off = shown is None or shown is REQUIRED  # nothing to show: the line stays a comment
            line = ("# " if off else "") + f"{key.name} = " + ("..." if off else toml_value(shown))
            comment = "; ".join(part for part in (key.doc, _default_note(key)) if part)
            lines.append(f"{line:<{COMMENT_COLUMN - 1}} # {comment}" if comment else line)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"
