"""Names of the buffers rules can inspect, and when each becomes available.

``pkt`` is the reassembled stream of one direction (or, for packet rules, the chunk).
The ``http.*`` buffers are parsed from each client request (see :mod:`.http`); a rule
using them is evaluated once per request, when the last buffer it needs is complete:
after the request line, after the headers, or after the body.
"""
from __future__ import annotations

PKT = "pkt"

# Request buffers by the point of the request at which they are complete.
LEVEL_STREAM, LEVEL_LINE, LEVEL_HEADERS, LEVEL_BODY = 0, 1, 2, 3
LINE_BUFFERS = ("http.method", "http.uri", "http.uri.raw", "http.request_line",
                "http.protocol")
HEADER_BUFFERS = ("http.header", "http.header.raw", "http.cookie", "http.user_agent",
                  "http.host", "http.host.raw", "http.accept", "http.accept_enc",
                  "http.accept_lang", "http.referer", "http.connection",
                  "http.content_type", "http.content_len", "http.start",
                  "http.header_names")
BODY_BUFFERS = ("http.request_body",)
# Handshake buffers: matched once per session against the client's TLS handshake, when
# honeyswitch terminates it (``tls`` in the service), never against the stream.
TLS_BUFFERS = ("tls.sni", "ja3.hash", "ja3.string", "ja4.hash")
LEVELS: dict[str, int] = {PKT: LEVEL_STREAM}
LEVELS.update({b: LEVEL_LINE for b in LINE_BUFFERS})
LEVELS.update({b: LEVEL_HEADERS for b in HEADER_BUFFERS})
LEVELS.update({b: LEVEL_BODY for b in BODY_BUFFERS})

# Sticky-buffer keywords (everything after them inspects that buffer).
STICKY: dict[str, str] = {b: b for b in LEVELS if b != PKT}
STICKY.update({
    "pkt_data": PKT,
    "http_request_line": "http.request_line",
    "http_accept": "http.accept", "http_accept_enc": "http.accept_enc",
    "http_accept_lang": "http.accept_lang", "http_referer": "http.referer",
    "http_connection": "http.connection", "http_content_type": "http.content_type",
    "http_content_len": "http.content_len", "http_start": "http.start",
    "http_header_names": "http.header_names", "http_protocol": "http.protocol",
    "http.request_body": "http.request_body", "http.uri.raw": "http.uri.raw",
    "http.header.raw": "http.header.raw", "http.host.raw": "http.host.raw",
    "file.data": "file.data", "file_data": "file.data",
    "tls.sni": "tls.sni", "tls_sni": "tls.sni", "ja3.hash": "ja3.hash", "ja3_hash": "ja3.hash",
    "ja3.string": "ja3.string", "ja3_string": "ja3.string", "ja4.hash": "ja4.hash",
})
# Snort-style content modifiers (they move the content just before them).
MODIFIERS: dict[str, str] = {
    "http_uri": "http.uri", "http_raw_uri": "http.uri.raw", "http_method": "http.method",
    "http_header": "http.header", "http_raw_header": "http.header.raw",
    "http_cookie": "http.cookie", "http_raw_cookie": "http.cookie",
    "http_user_agent": "http.user_agent", "http_host": "http.host",
    "http_raw_host": "http.host.raw", "http_client_body": "http.request_body",
}
# Response-side HTTP inspection: we only parse requests.
RESPONSE = frozenset({
    "http.stat_code", "http_stat_code", "http.stat_msg", "http_stat_msg",
    "http.response_line", "http_response_line", "http.response_body",
    "http_server_body", "http.server", "http_server", "http.location", "http_location",
    "http.response_header",
})
# Other sticky buffers Suricata knows that would need another parser.
OTHER_BUFFER_PREFIXES = ("tls", "dns", "ssh", "smb", "krb5", "dcerpc", "ja3", "ja4",
                         "file", "http2", "smtp", "ftp", "sip", "mqtt", "snmp", "quic",
                         "ike", "nfs", "rfb", "modbus", "dnp3", "enip", "ldap",
                         "x509", "email", "websocket", "pop3", "imap", "http")


def is_http(buffer: str) -> bool:
    return buffer.startswith("http.")


def looks_like_buffer(keyword: str) -> bool:
    """Whether an unknown keyword names a sticky buffer (for the skip reason)."""
    head = keyword.replace("_", ".").split(".", 1)[0]
    return "." in keyword or (head in OTHER_BUFFER_PREFIXES and "_" in keyword)
