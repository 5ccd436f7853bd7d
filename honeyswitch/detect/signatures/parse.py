"""Rule text -> :class:`~.rule.Rule`.

``idstools.rule`` splits the text into header fields and an ordered option list; the
meaning of every option is ours.  Options are walked in order, keeping Suricata's
notion of the *current buffer*: a sticky-buffer keyword (``http.uri;``) switches it, a
Snort-style modifier (``http_uri;``) moves the content just before it.  Unknown
keywords make the rule :class:`Unsupported` (skipped with a counted reason); malformed
values raise :class:`RuleError`.  Both are ``ValueError``.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from idstools import rule as idsrule

from . import buffers as B
from .byteops import parse_byte_jump, parse_byte_test
from .classify import DEFAULT_CLASSIFICATION, DEFAULT_PRIORITY, ScorePolicy
from .errors import RuleError, Unsupported, invalid
from .header import DEFAULT_PORT_VARS, Header, parse_header
from .match import Chain
from .options import Bsize, Content, ContentBuilder, IsDataAt, Matcher, Pcre
from .pcre import parse_pcre
from .rule import ORDER_OTHER, ORDER_PASS, ORDER_SETTER, Rule
from .select import choose_literal
from .state import parse_flowbits, parse_threshold
from .tls import check_handshake_rule, parse_tls_version
from .values import Comparison, parse_comparison, parse_content, parse_int, split_args

MAX_RULE = 16 << 10
MAX_OPTIONS = 256
_OPTION_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}$")
_CONTENT_MODS = frozenset({"nocase", "offset", "depth", "distance", "within", "startswith",
                           "endswith", "fast_pattern", "rawbytes"})
_IGNORED = frozenset({"reference", "target", "tag", "prefilter", "requires", "gid", "rev",
                      "sid", "msg"})
_FLOW = {"to_server": True, "from_client": True, "to_client": False, "from_server": False}
_FLOW_OK = frozenset({"established", "stateless", "only_stream", "no_frag", "only_frag"})


@dataclass(frozen=True, slots=True)
class ParseContext:
    """What parsing needs besides the text: classtype priorities, port vars, scores."""

    classification: Mapping[str, int] = field(default_factory=lambda: DEFAULT_CLASSIFICATION)
    port_vars: Mapping[str, str] = field(default_factory=lambda: DEFAULT_PORT_VARS)
    scores: ScorePolicy = field(default_factory=ScorePolicy)


def tokenize(text: str) -> dict[str, Any]:
    """Split one enabled rule with idstools; any failure is a RuleError."""
    text = text.strip()
    if len(text) > MAX_RULE:
        raise invalid("rule", f"longer than {MAX_RULE} characters")
    head, paren, rest = text.partition("(")
    text = " ".join(head.split()) + " " + paren + rest
    try:
        parsed = idsrule.parse(text)
    except Exception as exc:  # idstools raises bare Exception, IndexError, ...
        raise invalid("rule syntax", type(exc).__name__) from None
    if parsed is None:
        raise invalid("rule syntax", "not a rule")
    if len(parsed["options"]) > MAX_OPTIONS:
        raise invalid("rule", "too many options")
    return parsed


def parse_rule(text: str, ctx: ParseContext | None = None) -> Rule:
    """Parse one rule line (uncommented); raises RuleError / Unsupported."""
    ctx = ctx or ParseContext()
    fields = tokenize(text)
    header = parse_header(fields, ctx.port_vars)
    builder = _Builder(ctx)
    for opt in fields["options"]:
        builder.option(str(opt["name"]), opt["value"])
    return builder.build(header, fields.get("raw") or text.strip())


class _Builder:
    """Walks the options of one rule, keeping the current buffer."""

    def __init__(self, ctx: ParseContext) -> None:
        self.ctx = ctx
        self.buffer = B.PKT
        self.items: list[tuple[str, Matcher | ContentBuilder]] = []
        self.last_content: int | None = None
        self.meta: dict[str, Any] = {"flowbits": [], "metadata": []}
        self.handlers: dict[str, Callable[[str | None], None]] = {
            "content": self._content, "uricontent": self._uricontent, "pcre": self._pcre,
            "isdataat": self._isdataat, "bsize": self._bsize, "byte_test": self._byte_test,
            "byte_jump": self._byte_jump, "flow": self._flow, "flowbits": self._flowbits,
            "noalert": lambda _v: self.meta.__setitem__("noalert", True),
            "dsize": lambda v: self._once("dsize", parse_comparison(v, "dsize")),
            "urilen": self._urilen, "threshold": self._threshold, "flags": self._flags,
            "detection_filter": self._detection_filter, "classtype": self._classtype,
            "priority": lambda v: self._once("priority", parse_int(v, "priority", 1, 255)),
            "metadata": lambda v: self.meta["metadata"].extend(split_args(v)),
            "tls.version": lambda v: self._once("tls_version", parse_tls_version(v)),
        }

    # ------------------------------------------------------------ dispatch
    def option(self, name: str, value: str | None) -> None:
        if not _OPTION_NAME.match(name):
            raise invalid("option syntax", name[:40])
        name = name.lower()
        if name in ("sid", "gid", "rev"):
            self._once(name, parse_int(value, name, 0, (1 << 32) - 1))
        elif name == "msg":
            self.meta["msg"] = re.sub(r"\\(.)", r"\1", _unquote(value))[:512]
        elif name in self.handlers:
            self.handlers[name](value)
        elif name in _CONTENT_MODS:
            self._modify(name, value)
        elif name in B.MODIFIERS:
            self._move_last(B.MODIFIERS[name])
        elif name in B.STICKY:
            self.buffer = B.STICKY[name]
            self.last_content = None
        elif name in B.RESPONSE:
            raise Unsupported("http response inspection", name)
        elif name in _IGNORED:
            pass
        elif B.looks_like_buffer(name):
            raise Unsupported(f"unsupported buffer: {name}")
        else:
            raise Unsupported(f"unsupported keyword: {name}")

    def _once(self, key: str, value: Any) -> None:
        if key in self.meta:
            raise invalid(key, "given twice")
        self.meta[key] = value

    # ------------------------------------------------------------ payload
    def _content(self, value: str | None, buffer: str | None = None) -> None:
        pattern, negated = parse_content(value)
        self.items.append((buffer or self.buffer, ContentBuilder(pattern, negated)))
        self.last_content = len(self.items) - 1

    def _uricontent(self, value: str | None) -> None:
        self._content(value, "http.uri")

    def _modify(self, name: str, value: str | None) -> None:
        if self.last_content is None:
            raise invalid(name, "not after a content")
        builder = self.items[self.last_content][1]
        assert isinstance(builder, ContentBuilder)
        builder.modify(name, value)

    def _move_last(self, buffer: str) -> None:
        if self.last_content is None:
            raise invalid("content modifier", f"{buffer} not after a content")
        _, builder = self.items[self.last_content]
        self.items[self.last_content] = (buffer, builder)

    def _pcre(self, value: str | None) -> None:
        spec = parse_pcre(value)
        self.items.append((spec.buffer or self.buffer, Pcre(spec)))
        self.last_content = None

    def _isdataat(self, value: str | None) -> None:
        args = split_args(value)
        if not args:
            raise invalid("isdataat", "missing value")
        first = args[0]
        negated = first.startswith("!")
        if set(args[1:]) - {"relative", "rawbytes"}:
            raise invalid("isdataat", f"unknown argument in {value!r:.40}")
        pos = parse_int(first.lstrip("!"), "isdataat", 0, 1 << 20)
        self.items.append((self.buffer, IsDataAt(pos, "relative" in args[1:], negated)))

    def _bsize(self, value: str | None) -> None:
        if self.buffer == B.PKT:
            raise invalid("bsize", "needs a sticky buffer")
        self.items.append((self.buffer, Bsize(parse_comparison(value, "bsize"))))

    def _byte_test(self, value: str | None) -> None:
        self.items.append((self.buffer, parse_byte_test(value)))

    def _byte_jump(self, value: str | None) -> None:
        self.items.append((self.buffer, parse_byte_jump(value)))

    # ------------------------------------------------------------ flow and state
    def _flow(self, value: str | None) -> None:
        for word in split_args(value):
            word = word.lower()
            if word in _FLOW:
                self._once("to_server", _FLOW[word])
            elif word == "not_established":
                raise Unsupported("flow:not_established never matches inline")
            elif word == "no_stream":
                self.meta["packet"] = True
            elif word not in _FLOW_OK:
                raise invalid("flow", f"unknown flow option {word[:30]!r}")

    def _flags(self, value: str | None) -> None:
        # Inline we see only data, which travels in ACK (usually PSH) segments.
        spec = (value or "").split(",")[0].strip().upper()
        if not spec or set(spec) - set("AP+*"):
            raise Unsupported("flags: TCP flags other than ACK/PSH", spec[:12])

    def _flowbits(self, value: str | None) -> None:
        op = parse_flowbits(value)
        if op is None:
            self.meta["noalert"] = True
        else:
            self.meta["flowbits"].append(op)

    def _urilen(self, value: str | None) -> None:
        text, _, kind = (value or "").partition(",")
        kind = kind.strip().lower()
        if kind not in ("", "raw", "norm"):
            raise invalid("urilen", f"unknown argument {kind[:20]!r}")
        self._once("urilen", (parse_comparison(text, "urilen"), kind == "raw"))

    def _threshold(self, value: str | None) -> None:
        self._once("threshold", parse_threshold(value, detection_filter=False))

    def _detection_filter(self, value: str | None) -> None:
        self._once("detection_filter", parse_threshold(value, detection_filter=True))

    def _classtype(self, value: str | None) -> None:
        self._once("classtype", (value or "").strip()[:64])

    # ------------------------------------------------------------ build
    def build(self, header: Header, raw: str) -> Rule:
        meta = self.meta
        if "sid" not in meta:
            raise invalid("sid", "missing")
        to_server = meta.get("to_server")
        chains = self._chains(to_server, header)
        if "tls_version" in meta or any(c.buffer in B.TLS_BUFFERS for c in chains):
            return self._handshake_rule(header, raw, chains, to_server)
        level = max((B.LEVELS[c.buffer] for c in chains), default=B.LEVEL_STREAM)
        if "urilen" in meta:
            level = max(level, B.LEVEL_LINE)
        if level and to_server is False:
            raise Unsupported("http response inspection", "request buffer on to_client")
        if level and header.app_proto not in (None, "http"):
            raise Unsupported("http buffers on a non-http rule", header.proto)
        if level:
            to_server = True
        packet = bool(meta.get("packet") or "dsize" in meta or header.proto == "tcp-pkt")
        if packet and level:
            raise Unsupported("packet keywords with http buffers")
        return self._rule(header, raw, chains, to_server, level, packet)

    def _chains(self, to_server: bool | None, header: Header) -> tuple[Chain, ...]:
        grouped: dict[str, list[Matcher]] = {}
        for buffer, item in self.items:
            if buffer == "file.data":
                if header.app_proto not in (None, "http"):
                    raise Unsupported(f"unsupported buffer: file.data ({header.proto})")
                if to_server is not True:
                    raise Unsupported("http response inspection", "file.data")
                buffer = "http.request_body"
            built = item.build() if isinstance(item, ContentBuilder) else item
            grouped.setdefault(buffer, []).append(built)
        return tuple(Chain.of(buf, items) for buf, items in grouped.items())

    def _handshake_rule(self, header: Header, raw: str, chains: tuple[Chain, ...],
                        to_server: bool | None) -> Rule:
        check_handshake_rule(header, chains, to_server, self.meta)
        rule = self._rule(header, raw, chains, True, B.LEVEL_STREAM, False)
        return dataclasses.replace(rule, handshake=True, literal=None, tls_version=self.meta.get("tls_version"))

    def _rule(self, header: Header, raw: str, chains: tuple[Chain, ...],
              to_server: bool | None, level: int, packet: bool) -> Rule:
        meta, ctx = self.meta, self.ctx
        classtype = meta.get("classtype", "")
        priority = meta.get("priority") or ctx.classification.get(classtype, DEFAULT_PRIORITY)
        flowbits = meta["flowbits"]
        sets = tuple(op for op in flowbits if not op.is_check)
        order = ORDER_PASS if header.action == "pass" else ORDER_SETTER if sets else ORDER_OTHER
        dsize: Comparison | None = meta.get("dsize")
        return Rule(
            gid=meta.get("gid", 1), sid=meta["sid"], rev=meta.get("rev", 0),
            msg=meta.get("msg", ""), header=header, to_server=to_server, chains=chains,
            dsize=dsize, urilen=meta.get("urilen"),
            flowbit_checks=tuple(op for op in flowbits if op.is_check), flowbit_sets=sets,
            threshold=meta.get("threshold"), detection_filter=meta.get("detection_filter"),
            classtype=classtype, priority=priority,
            score=ctx.scores.score(priority, _score_override(meta["metadata"])),
            noalert=bool(meta.get("noalert")), literal=choose_literal(chains, level),
            packet=packet, anchored=_anchored(chains), level=level, order=order,
            raw=raw[:MAX_RULE])


def _anchored(chains: tuple[Chain, ...]) -> bool:
    return any(isinstance(item, Content) and not item.relative
               and (item.depth is not None or item.offset > 0)
               for chain in chains if chain.buffer == B.PKT for item in chain.items)


def _unquote(value: str | None) -> str:
    text = (value or "").strip()
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def _score_override(metadata: list[str]) -> float | None:
    for entry in metadata:
        key, _, value = entry.strip().partition(" ")
        if key == "honeyswitch_score":
            try:
                score = float(value.strip())
            except ValueError:
                raise invalid("metadata", f"honeyswitch_score {value[:20]!r}") from None
            if not 0 <= score <= 1_000_000:
                raise invalid("metadata", "honeyswitch_score out of range")
            return score
    return None


__all__ = ["ParseContext", "RuleError", "Unsupported", "parse_rule", "tokenize"]
