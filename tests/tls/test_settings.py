"""The ``tls`` keys of a service: contexts built at load time, one-line errors naming
the file and the key, SNI choice of certificates, ``tls://`` backends."""
from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest

from honeyswitch.config import ConfigError, build
from honeyswitch.testing.certs import CertAuthority


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("pki")
    ca = CertAuthority(d)
    other = CertAuthority(d / "other", name="other CA")
    return {"dir": d, "ca": ca, "web": ca.issue("www.example.test"), "api": ca.issue("api.example.test", names=("*.api.example.test",)),
            "rsa": ca.issue("www.example.test", kind="rsa"), "foreign": other.issue("www.example.test")}


def svc(**extra: Any) -> dict[str, Any]:
    return {"name": "web", "listen": "127.0.0.1:0", "main": "tcp://127.0.0.1:8080",
            "honeypot": "tcp://127.0.0.1:8081", **extra}


def load(base: Path, **extra: Any):  # type: ignore[no-untyped-def]
    return build({"service": [svc(**extra)]}, "hs.toml", base).services[0]


def test_terminating_service(pki: dict[str, Any]) -> None:
    web = pki["web"]
    s = load(pki["dir"], tls={"cert": str(web.cert), "key": str(web.key)})
    assert s.tls.min_version == "1.2" and s.tls.alpn == ("http/1.1",)
    assert s.tls.default.minimum_version is ssl.TLSVersion.TLSv1_2
    assert s.tls.default.options & ssl.OP_NO_RENEGOTIATION
    assert s.main.tls is None and s.main.url == "tcp://127.0.0.1:8080"


def test_relative_paths_and_sni_choice(pki: dict[str, Any]) -> None:
    web, api = pki["web"], pki["api"]
    s = load(pki["dir"], tls={"cert": web.cert.name, "key": web.key.name, "min_version": "1.3",
                              "certs": [{"sni": ["api.example.test", "*.api.example.test"],
                                         "cert": api.cert.name, "key": api.key.name}]})
    assert s.tls.context_for(b"API.example.test.") is s.tls.contexts[0][1]
    assert s.tls.context_for(b"v1.api.example.test") is s.tls.contexts[0][1]
    assert s.tls.context_for(b"a.b.api.example.test") is s.tls.default  # one label only
    assert s.tls.context_for(None) is s.tls.default and s.tls.context_for(b"\xff\x00") is s.tls.default
    assert s.tls.default.minimum_version is ssl.TLSVersion.TLSv1_3


def test_non_http_protocol_has_no_alpn(pki: dict[str, Any]) -> None:
    web = pki["web"]
    s = load(pki["dir"], protocol="smtp", tls={"cert": str(web.cert), "key": str(web.key), "starttls": "smtp"})
    assert s.tls.alpn == () and s.tls.starttls == "smtp"


def test_tls_backends(pki: dict[str, Any]) -> None:
    s = load(pki["dir"], main="tls://127.0.0.1:8443", main_tls={"ca": str(pki["web"].ca), "sni": "www.example.test"},
             honeypot="tls://localhost:9443", honeypot_tls={"verify": False})
    assert s.main.url == "tls://127.0.0.1:8443" and s.main.tls.server_hostname == "www.example.test"
    assert s.main.tls.context.verify_mode is ssl.CERT_REQUIRED and s.main.tls.context.check_hostname
    assert s.honeypot.tls.context.verify_mode is ssl.CERT_NONE
    # No ca: the system store; the host name is verified.
    s = load(pki["dir"], main="tls://www.example.test:443")
    assert s.main.tls.server_hostname == "www.example.test" and s.main.tls.context.verify_mode is ssl.CERT_REQUIRED


@pytest.mark.parametrize("extra, message", [
    ({"tls": {"cert": "missing.pem", "key": "web.key"}}, "service[0].tls.cert: {d}/missing.pem: cannot read: No such file"),
    ({"tls": {"cert": "{web.cert}", "key": "{web.cert}"}}, "service[0].tls.key: {web.cert}: no PEM private key in the file"),
    ({"tls": {"cert": "{web.key}", "key": "{web.key}"}}, "service[0].tls.cert: {web.key}: no PEM certificate in the file"),
    ({"tls": {"cert": "{web.cert}", "key": "{rsa.key}"}}, "service[0].tls.key: {rsa.key}: does not match the certificate in {web.cert}"),
    ({"tls": {"cert": "{web.cert}"}}, "service[0].tls.key: is required"),
    ({"tls": {"cert": "{web.cert}", "key": "{web.key}", "min_version": "1.0"}}, "service[0].tls.min_version: must be one of '1.2', '1.3'"),
    ({"tls": {"cert": "{web.cert}", "key": "{web.key}", "ciphers": "NOPE"}}, "service[0].tls.ciphers: no cipher can be selected"),
    ({"tls": {"cert": "{web.cert}", "key": "{web.key}", "alpn": ["h2"]}}, "service[0].tls.alpn: h2 is not supported"),
    ({"tls": {"cert": "{web.cert}", "key": "{web.key}", "ocsp": "x.der"}}, "service[0].tls.ocsp: OCSP stapling is not available"),
    ({"tls": {"cert": "{web.cert}", "key": "{web.key}", "colour": 1}}, "service[0].tls.colour: unknown key"),
    ({"tls": {"cert": "{web.cert}", "key": "{web.key}", "certs": [{"cert": "{api.cert}", "key": "{api.key}"}]}},
     "service[0].tls.certs[0].sni: must be a list of host names"),
    ({"tls": {"cert": "{web.cert}", "key": "{web.key}", "certs": [{"sni": ["a"], "cert": "{api.cert}", "key": "nope"}]}},
     "service[0].tls.certs[0].key: {d}/nope: cannot read"),
    ({"tls": "web.pem"}, "service[0].tls: must be a table"),
    ({"main_tls": {"ca": "{web.ca}"}}, "service[0].main_tls: needs a tls://host:port main backend"),
    ({"main": "tls://127.0.0.1:1", "main_tls": {"ca": "nope.pem"}}, "service[0].main_tls.ca: {d}/nope.pem: cannot read"),
    ({"main": "tls://127.0.0.1:1", "main_tls": {"cert": "{web.cert}"}}, "service[0].main_tls.key: client certificates need both"),
])
def test_mistakes_are_one_line(pki: dict[str, Any], extra: dict[str, Any], message: str) -> None:
    fmt = {"d": pki["dir"], "web": pki["web"], "rsa": pki["rsa"], "api": pki["api"]}

    def fill(value: Any) -> Any:
        if isinstance(value, str):
            return value.format(**fmt)
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v) for v in value]
        return value

    with pytest.raises(ConfigError) as e:
        load(pki["dir"], **fill(extra))
    text = str(e.value)
    assert "\n" not in text and text.startswith("hs.toml: ")
    assert message.format(**fmt) in text, text


def test_encrypted_key_is_refused_not_prompted(pki: dict[str, Any], tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(pki["web"].key.read_bytes(), None)
    enc = tmp_path / "enc.key"
    enc.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.BestAvailableEncryption(b"secret")))
    with pytest.raises(ConfigError, match=r"service\[0\]\.tls\.key: .*enc.key: is encrypted"):
        load(pki["dir"], tls={"cert": str(pki["web"].cert), "key": str(enc)})
