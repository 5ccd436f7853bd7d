"""Each payload option on its own: rule text, payload, whether it matches."""
from __future__ import annotations

import pytest


def R(options: str) -> str:
    return f'alert tcp any any -> any any (msg:"t"; flow:to_server; {options} sid:1; rev:1;)'


CASES = [
    # content, escapes
    ('content:"abc";', b"xxabcxx", True),
    ('content:"abc";', b"xxabxcx", False),
    ('content:"|41 42|C";', b"zABCz", True),
    ('content:"|4142|";', b"zABz", True),
    ('content:"a|3b|b";', b"a;b", True),
    (r'content:"a\"b\;c";', b'a"b;c', True),
    ('content:"|00 ff|";', b"\x00\xff", True),
    # nocase
    ('content:"ABC"; nocase;', b"xabcx", True),
    ('content:"ABC";', b"xabcx", False),
    ('content:"abc"; nocase;', b"xAbCx", True),
    # negation
    ('content:!"evil";', b"good", True),
    ('content:!"evil";', b"so evil", False),
    ('content:"a"; content:!"b"; distance:0; within:2;', b"axb", False),
    ('content:"a"; content:!"b"; distance:0; within:2;', b"axxb", True),
    # offset / depth
    ('content:"abc"; offset:2;', b"abcabc", True),
    ('content:"abc"; offset:2;', b"abcxx", False),
    ('content:"abc"; depth:3;', b"abcx", True),
    ('content:"abc"; depth:3;', b"xabc", False),
    ('content:"abc"; offset:1; depth:3;', b"xabc", True),
    ('content:"abc"; offset:1; depth:3;', b"xxabc", False),
    # distance / within (relative to the previous match's end)
    ('content:"a"; content:"b"; distance:2;', b"axxb", True),
    ('content:"a"; content:"b"; distance:2;', b"axb", False),
    ('content:"bc"; content:"ab"; distance:-3;', b"abc", True),
    ('content:"a"; content:"b"; within:2;', b"axb", True),
    ('content:"a"; content:"b"; within:2;', b"axxb", False),
    ('content:"a"; content:"b"; distance:1; within:2;', b"axb", True),
    ('content:"a"; content:"b"; distance:1; within:2;', b"ab", False),
    ('content:"a"; content:"b"; distance:1; within:2;', b"axxxb", False),
    ('content:"a"; content:"b"; within:1;', b"axab", True),  # backtracks to the 2nd "a"
    ('content:"a"; content:"b"; distance:0; content:"c"; within:1;', b"ab_a_bc", True),
    # startswith / endswith / rawbytes
    ('content:"GET"; startswith;', b"GET /", True),
    ('content:"GET"; startswith;', b" GET /", False),
    ('content:"end"; endswith;', b"the end", True),
    ('content:"end"; endswith;', b"end of it", False),
    ('content:"a"; content:"end"; distance:0; endswith;', b"a end end", True),
    ('content:"abc"; rawbytes;', b"abc", True),
    # fast_pattern picks the prefilter literal; the rule still needs every content
    ('content:"abc"; content:"zzz"; fast_pattern;', b"abc zzz", True),
    ('content:"abc"; content:"zzz"; fast_pattern;', b"zzz", False),
    ('content:"abcdef"; fast_pattern:2,3;', b"xabcdefx", True),
    ('content:"abcdef"; fast_pattern:2,3;', b"cde", False),
    ('content:"abc"; fast_pattern:only;', b"abc", True),
    # pcre
    ('pcre:"/ab+c/";', b"xabbbc", True),
    ('pcre:"/ABC/i";', b"xabc", True),
    ('pcre:"/ABC/";', b"xabc", False),
    ('pcre:"/a.b/s";', b"a\nb", True),
    ('pcre:"/a.b/";', b"a\nb", False),
    ('pcre:"/^b/m";', b"a\nb", True),
    ('pcre:"/^b/";', b"a\nb", False),
    ('pcre:"/a b c/x";', b"abc", True),
    ('content:"a"; pcre:"/^b/R";', b"ab", True),
    ('content:"a"; pcre:"/^b/R";', b"axb", False),
    ('content:"key="; pcre:"/^\\d+&/R";', b"key=x key=12&", True),
    ('pcre:!"/evil/";', b"good", True),
    ('pcre:!"/evil/";', b"evil", False),
    ('pcre:"/(?<w>ab)\\k<w>/";', b"abab", True),
    ('pcre:"/\\x{41}\\x42[[:digit:]]+/";', b"AB12", True),
    ('pcre:"/a(?i)b/";', b"aB", True),
    ('pcre:"/a(?i)b/";', b"AB", False),
    ('pcre:"/^abc/A";', b"abc", True),
    ('pcre:"/a+?b/G";', b"aab", True),
    ('content:"x"; pcre:"/y/R"; content:"z"; distance:0;', b"xyz", True),
    # isdataat
    ('content:"a"; isdataat:2,relative;', b"abc", True),
    ('content:"a"; isdataat:2,relative;', b"ab", False),
    ('content:"a"; isdataat:!1,relative;', b"xa", True),
    ('content:"a"; isdataat:3;', b"abcd", True),
    ('content:"a"; isdataat:3;', b"abc", False),
    # byte_test / byte_jump
    ('content:"L"; byte_test:1,>,10,0,relative;', b"L\x20", True),
    ('content:"L"; byte_test:1,>,10,0,relative;', b"L\x05", False),
    ('content:"L"; byte_test:2,=,258,0,relative,big;', b"L\x01\x02", True),
    ('content:"L"; byte_test:2,=,258,0,relative,little;', b"L\x02\x01", True),
    ('content:"n="; byte_test:3,=,123,0,relative,string,dec;', b"n=123abc", True),
    ('content:"n="; byte_test:2,>,0x1f,0,relative,string,hex;', b"n=2a", True),
    ('content:"F"; byte_test:1,&,0x80,0,relative;', b"F\x81", True),
    ('content:"F"; byte_test:1,!&,0x80,0,relative;', b"F\x01", True),
    ('content:"F"; byte_test:1,=,1,0,relative,bitmask 0xf0;', b"F\x1f", True),
    ('content:"L"; byte_jump:1,0,relative; content:"X"; within:1;', b"L\x02abX", True),
    ('content:"L"; byte_jump:1,0,relative; content:"X"; within:1;', b"L\x01abX", False),
    ('content:"L"; byte_jump:1,0,relative,post_offset 1; content:"X"; within:1;', b"L\x01abX", True),
    # dsize (per chunk)
    ('dsize:>5; content:"a";', b"abcdef", True),
    ('dsize:>5; content:"a";', b"abc", False),
    ('dsize:3<>6;', b"abcd", True),
    ('dsize:3<>6;', b"abcdef", False),
    ('dsize:!3;', b"abcd", True),
    # TCP flags on data segments
    ('flags:AP; content:"a";', b"a", True),
    ('flags:A+; content:"a";', b"a", True),
]


@pytest.mark.parametrize("options,payload,expect", CASES)
def test_option(sig, options: str, payload: bytes, expect: bool) -> None:
    assert bool(sig.sids(R(options), [payload])) is expect


FLOW_CASES = [
    ("flow:to_server;", True, True),
    ("flow:to_server;", False, False),
    ("flow:from_client;", True, True),
    ("flow:to_client;", False, True),
    ("flow:from_server;", True, False),
    ("flow:established,to_server;", True, True),
    ("", False, True),
    ("", True, True),
]


@pytest.mark.parametrize("flow,to_server,expect", FLOW_CASES)
def test_flow_direction(sig, flow: str, to_server: bool, expect: bool) -> None:
    rules = f'alert tcp any any -> any any (msg:"t"; {flow} content:"abc"; sid:1;)'
    assert bool(sig.sids(rules, [(b"xabcx", to_server)])) is expect
