"""The ET Open slice: how much loads, and real ET rules firing on crafted traffic."""
from __future__ import annotations

from pathlib import Path

import pytest

from honeyswitch.detect.base import FlowInfo
from honeyswitch.detect.signatures import (
    Ruleset,
    SignatureDetector,
    default_rules_path,
    load_ruleset,
)

ET_DIR = Path("/work/shared/data/et-open")
pytestmark = pytest.mark.skipif(not ET_DIR.is_dir(), reason="ET Open slice not available")


@pytest.fixture(scope="module")
def et() -> Ruleset:
    return load_ruleset(sorted(ET_DIR.glob("*.rules")),
                        classification=ET_DIR / "classification.config")


@pytest.fixture(scope="module")
def det(et: Ruleset) -> SignatureDetector:
    ours = load_ruleset([default_rules_path()])
    return SignatureDetector(Ruleset(et.rules + ours.rules), clock=lambda: 0.0)


def test_slice_loads(et: Ruleset, record_property) -> None:
    total = et.loaded + len(et.skipped)
    top = [(reason, len(items)) for reason, items in et.by_reason()[:8]]
    record_property("et_loaded", et.loaded)
    record_property("et_skipped", len(et.skipped))
    print(f"\nET slice: {et.loaded}/{total} loaded ({100 * et.loaded / total:.1f}%), "
          f"{len(et.skipped)} skipped, {et.disabled} disabled; top reasons: {top}")
    assert total > 5000
    assert et.loaded / total > 0.65
    # every rule here loads in Suricata 7: a skip must be "unsupported", never "invalid"
    assert not [s for s in et.skipped if s.reason.startswith("invalid")]


def sids(det: SignatureDetector, chunks, port: int = 80, src: str = "203.0.113.5") -> set[int]:
    ins = det.new_stream(FlowInfo("svc", "et", src, 51000, "192.0.2.1", port))
    found: set[int] = set()
    for chunk in chunks:
        data, to_server = chunk if isinstance(chunk, tuple) else (chunk, True)
        found.update(a.details["sid"] for a in ins.feed(data, to_server))
    return found


def get(uri: bytes, ua: bytes = b"Mozilla/5.0 (X11; Linux x86_64) Firefox/115.0") -> bytes:
    return b"GET " + uri + b" HTTP/1.1\r\nHost: victim.example\r\nUser-Agent: " + ua + b"\r\n\r\n"


@pytest.mark.parametrize("chunks,sid", [
    ([get(b"/", b"sqlmap/1.7.2#stable (https://sqlmap.org)")], 2008538),
    ([get(b"/", b"Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)")], 2009358),
    ([get(b"/", b"Mozilla/4.0 (Hydra)")], 2011497),
    ([get(b"/item.php?id=1%20UNION%20SELECT%20user,password%20FROM%20users;--")], 2006446),
    ([get(b"/search?q=%3Cscript%3Ealert(1)%3C/script%3E")], 2009714),
    ([get(b"/download.php?file=../../../../etc/passwd")], 2049400),
    ([get(b"/item.php?id=1%20AND%20(SELECT%201%20FROM%20(SELECT(SLEEP(5)))a)")], 2016935),
    ([(b"uid=0(root) gid=0(root) groups=0(root)\n", False)], 2100498),
])
def test_real_et_rules_fire(det: SignatureDetector, chunks, sid: int) -> None:
    assert sid in sids(det, chunks)


def test_et_rule_split_across_chunks(det: SignatureDetector) -> None:
    req = get(b"/", b"sqlmap/1.7.2#stable (https://sqlmap.org)")
    cut = req.index(b"sqlmap") + 3
    assert 2008538 in sids(det, [req[:cut], req[cut:]], src="203.0.113.6")


def test_et_ftp_brute_force_threshold(det: SignatureDetector) -> None:
    chunks = [(b"220 ready\r\n", False)]
    for _ in range(5):
        chunks += [b"USER root\r\n", (b"331 pw\r\n", False), b"PASS x\r\n",
                   (b"530 Login incorrect.\r\n", False)]
    assert 2002383 in sids(det, chunks, port=21, src="203.0.113.9")


def test_benign_http_is_quiet(det: SignatureDetector) -> None:
    reqs = [get(b"/"), get(b"/static/app.js"), get(b"/search?q=blue+shoes&page=2"),
            get(b"/api/v1/items/42", b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0")]
    found = sids(det, [b"".join(reqs)], src="203.0.113.20")
    rules = {r.sid: r for r in det.rules}
    assert not [s for s in found if rules[s].priority == 1], found
