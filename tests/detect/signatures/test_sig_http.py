"""HTTP request buffers: the incremental parser and rules on each sticky buffer."""
from __future__ import annotations

import pytest

from honeyswitch.detect.signatures.buffers import LEVEL_BODY, LEVEL_HEADERS, LEVEL_LINE
from honeyswitch.detect.signatures.http import HttpRequestParser, normalize_uri

REQ = (b"GET /shop/item%20one.php?id=1&x=%2e%2e HTTP/1.1\r\n"
       b"Host: Shop.Example.COM:8080\r\n"
       b"User-Agent: Mozilla/5.0 (X11) TestUA\r\n"
       b"Accept: text/html\r\n"
       b"Accept-Language: en-US\r\n"
       b"Cookie: session=abc123\r\n"
       b"X-Folded: first\r\n"
       b"  second\r\n"
       b"\r\n")
POST = (b"POST /login HTTP/1.1\r\nHost: shop\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 27\r\n\r\nuser=alice&pass=secret%21xx")
CHUNKED = (b"POST /up HTTP/1.1\r\nHost: shop\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nTrailer: x\r\n\r\n")


def parse_all(data: bytes, step: int | None = None, **kw: int):
    parser = HttpRequestParser(**kw)
    events = []
    step = step or len(data)
    for i in range(0, len(data), step):
        events.extend(parser.feed(data[i:i + step]))
    return parser, events


@pytest.mark.parametrize("step", [None, 1, 7])
def test_parser_levels_and_buffers(step) -> None:
    _, events = parse_all(REQ + POST + CHUNKED, step)
    assert [lvl for lvl, _ in events] == [LEVEL_LINE, LEVEL_HEADERS, LEVEL_BODY] * 3
    get, post, chunked = events[0][1], events[3][1], events[6][1]
    assert get.buffer("http.method") == b"GET"
    assert get.buffer("http.uri.raw") == b"/shop/item%20one.php?id=1&x=%2e%2e"
    assert get.buffer("http.uri") == b"/shop/item one.php?id=1&x=.."
    assert get.buffer("http.protocol") == b"HTTP/1.1"
    assert get.buffer("http.request_line") == REQ.split(b"\r\n")[0]
    assert get.buffer("http.host") == b"shop.example.com"
    assert get.buffer("http.host.raw") == b"Shop.Example.COM:8080"
    assert get.buffer("http.user_agent") == b"Mozilla/5.0 (X11) TestUA"
    assert get.buffer("http.cookie") == b"session=abc123"
    assert get.buffer("http.accept_lang") == b"en-US"
    assert b"Cookie" not in get.buffer("http.header")
    assert b"X-Folded: first second\r\n" in get.buffer("http.header")
    assert get.buffer("http.header_names") == (
        b"\r\nHost\r\nUser-Agent\r\nAccept\r\nAccept-Language\r\nCookie\r\nX-Folded\r\n\r\n")
    assert get.buffer("http.header.raw").endswith(b"  second\r\n\r\n")
    assert get.buffer("http.start").startswith(b"GET /shop") and get.buffer("http.start").endswith(b"\r\n\r\n")
    assert get.buffer("http.request_body") is None
    assert get.buffer("http.referer") is None
    assert post.buffer("http.request_body") == b"user=alice&pass=secret%21xx"
    assert post.buffer("http.content_len") == b"27"
    assert chunked.buffer("http.request_body") == b"hello, world"


def test_parser_limits() -> None:
    long_uri = b"GET /" + b"A" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\n\r\n"
    parser, events = parse_all(long_uri, 1000, max_line=1024)
    first = events[0][1]
    assert first.line_truncated and len(first.request_line) == 1024
    assert [e[1].buffer("http.uri") for e in events if e[0] == LEVEL_LINE][1] == b"/next"
    big = b"POST / HTTP/1.1\r\nContent-Length: 100000\r\n\r\n" + b"B" * 100_000 + b"GET /after HTTP/1.0\r\n\r\n"
    _, events = parse_all(big, 4096, max_body=1000)
    body = [e[1] for e in events if e[0] == LEVEL_BODY][0]
    assert len(body.buffer("http.request_body")) == 1000
    assert events[-3][1].buffer("http.uri") == b"/after"


@pytest.mark.parametrize("data", [
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # TLS
    b"CONNECT host:443 HTTP/1.1\r\n\r\n\x16\x03\x01",   # tunnel: stop after the request
    b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n\x81\x85garbage",
])
def test_parser_gives_up_on_non_http(data: bytes) -> None:
    parser, _ = parse_all(data)
    assert not parser.active


@pytest.mark.parametrize("raw,norm", [
    (b"/a%41b", b"/aAb"), (b"/%zz", b"/%zz"), (b"/..%2f..%2fetc", b"/../../etc"),
    (b"http://Host:81/p?q=%3c", b"/p?q=<"), (b"/a+b", b"/a+b"),
])
def test_normalize_uri(raw: bytes, norm: bytes) -> None:
    assert normalize_uri(raw) == norm


def R(options: str, sid: int = 1) -> str:
    return (f'alert http any any -> any any (msg:"t{sid}"; flow:established,to_server; '
            f'{options} sid:{sid}; rev:1;)')


BUFFER_CASES = [
    ('http.method; content:"GET";', True),
    ('http.method; content:"POST";', False),
    ('content:"GET"; http_method;', True),
    ('http.uri; content:"/shop/item one.php";', True),
    ('http.uri; content:"%20";', False),
    ('http.uri.raw; content:"%20";', True),
    ('content:"%2e%2e"; http_raw_uri;', True),
    ('uricontent:"x=..";', True),
    ('http.uri; content:"/shop"; startswith; content:"id=1"; distance:0;', True),
    ('http.request_line; content:"GET /shop"; startswith; content:"HTTP/1.1"; endswith;', True),
    ('http.protocol; content:"HTTP/1.1"; bsize:8;', True),
    ('http.header; content:"Host|3a| Shop.Example.COM"; content:"|0d 0a|";  distance:0;', True),
    ('http.header; content:"session=abc123";', False),  # cookies have their own buffer
    ('http.header.raw; content:"|0d 0a|  second";', True),
    ('content:"TestUA"; http_user_agent;', True),
    ('http.user_agent; content:"Mozilla/5.0"; startswith; content:"TestUA"; endswith;', True),
    ('http.host; content:"shop.example.com"; bsize:16;', True),
    ('http.host.raw; content:"COM:8080";', True),
    ('http.cookie; content:"session="; pcre:"/^[a-z0-9]+$/R";', True),
    ('http.accept; content:"text/html";', True),
    ('http.accept_lang; content:"en-US";', True),
    ('http.referer; content:"x";', False),  # no Referer header: no buffer
    ('http.referer; content:!"x";', False),
    ('http.header_names; content:"|0d 0a|Host|0d 0a|User-Agent|0d 0a|";', True),
    ('http.start; content:"HTTP/1.1|0d 0a|Host";', True),
    ('pcre:"/item\\x20one/U";', True),
    ('pcre:"/testua$/Vi";', True),
    ('pcre:"/^shop\\.example/W";', True),
    ('urilen:>10;', True),
    ('urilen:<10;', False),
    ('urilen:34,raw;', True),
    ('http.method; content:"GET"; http.uri; content:"/shop"; http.user_agent; content:"TestUA";', True),
    ('content:"GET /shop";', True),  # raw stream content in an http rule
]


@pytest.mark.parametrize("options,expect", BUFFER_CASES)
def test_buffer_rules(sig, options: str, expect: bool) -> None:
    assert bool(sig.sids(R(options), [REQ], sig.flow(port=80))) is expect


BODY_CASES = [
    ('http.request_body; content:"pass=secret";', True),
    ('content:"pass="; http_client_body;', True),
    ('file.data; content:"user=alice"; startswith;', True),
    ('http.method; content:"POST"; http.request_body; content:"alice";', True),
    ('http.content_type; content:"x-www-form-urlencoded";', True),
    ('http.content_len; byte_test:0,>,20,0,string,dec;', True),
    ('http.request_body; pcre:"/secret%21/P";', True),
]


@pytest.mark.parametrize("options,expect", BODY_CASES)
def test_body_rules(sig, options: str, expect: bool) -> None:
    assert bool(sig.sids(R(options), [POST], sig.flow(port=80))) is expect


def test_request_split_at_every_offset(sig) -> None:
    rules = "\n".join([
        R('http.uri; content:"item one";', 1),
        R('http.user_agent; content:"TestUA";', 2),
        R('http.request_body; content:"pass=secret";', 3),
    ])
    det = sig.detector(rules)
    data = REQ + POST
    for cut in range(len(data) + 1):
        alerts = sig.run(det, [data[:cut], data[cut:]], sig.flow(port=80))
        assert sorted(a.details["sid"] for a in alerts) == [1, 2, 3], cut


def test_pipelined_requests_each_inspected(sig) -> None:
    rules = R('http.uri; content:"/admin";')
    pipelined = b"".join(b"GET /admin/%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(5))
    assert sig.sids(rules, [pipelined], sig.flow(port=80)) == [1] * 5
    assert sig.sids(rules, [pipelined[i:i + 10] for i in range(0, len(pipelined), 10)],
                    sig.flow(port=80)) == [1] * 5


def test_rule_fires_when_its_buffers_complete(sig) -> None:
    uri_rule = R('http.uri; content:"/evil";', 1)
    header_rule = R('http.user_agent; content:"bad";', 2)
    det = sig.detector(uri_rule + "\n" + header_rule)
    ins = det.new_stream(sig.flow(port=80))
    assert [a.details["sid"] for a in ins.feed(b"GET /evil HTTP/1.1\r\n", True)] == [1]
    assert list(ins.feed(b"User-Agent: bad\r\n", True)) == []
    assert [a.details["sid"] for a in ins.feed(b"\r\n", True)] == [2]


def test_long_uri_inspected_before_the_line_ends(sig) -> None:
    det = sig.detector(R('http.uri; content:"AAAA";'))
    ins = det.new_stream(sig.flow(port=80))
    assert [a.details["sid"] for a in ins.feed(b"GET /" + b"A" * 20_000, True)] == [1]


@pytest.mark.parametrize("options,reason", [
    ('flow:to_client; http.stat_code; content:"200";', "http response inspection"),
    ('flow:to_client; file.data; content:"<html";', "http response inspection"),
    ('http.response_body; content:"x";', "http response inspection"),
    ('tls.sni; content:"x";', "tls buffers on a non-tls rule"),  # an alert http header
    ('dns.query; content:"x";', "unsupported buffer: dns.query"),
])
def test_unsupported_http_parts_are_skipped(options: str, reason: str) -> None:
    from honeyswitch.detect.signatures import parse_rules
    rs = parse_rules(f'alert http any any -> any any (msg:"x"; {options} sid:1;)')
    assert not rs.rules and rs.skipped[0].reason == reason
