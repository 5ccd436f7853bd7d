"""STARTTLS for SMTP, IMAP and POP3, answered by honeyswitch itself (sans-IO).

The backends speak plaintext and never see the upgrade: main and the honeypot get the
same commands before and after it, so their states stay alike and a switch after the
upgrade needs nothing special.  :class:`StartTls` watches both directions of the
plaintext phase:

- client lines are passed on until the upgrade command (``STARTTLS``, IMAP's
  ``tag STARTTLS``, POP3's ``STLS``), which is answered here and never forwarded; bytes
  the client sent after it, before its TLS, are dropped (the CVE-2011-0411 injection);
- capability replies from the server (EHLO, IMAP CAPABILITY in any of its three places,
  POP3 CAPA) get the upgrade advertised before TLS when main does not advertise it,
  and lose it in the first capability reply after TLS, as RFC 3207/2595 require.

SMTP ``DATA`` bodies (from the server's 354 on: a refused ``DATA`` starts none), SMTP
``BDAT`` chunks (RFC 3030, counted in bytes) and IMAP literals are skipped, so a body
line that reads ``STARTTLS`` is data.  Lines are bounded (:data:`LINE_MAX`): a longer
one passes as is.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

LINE_MAX = 8192
REPLY_MAX = 16384  # an SMTP EHLO reply is held whole (to add or drop one line)
_IMAP_LITERAL = re.compile(rb"\{(\d{1,9})\+?\}\r?\n$")


@dataclass(frozen=True, slots=True)
class ClientStep:
    forward: bytes  # to the backends (through the session)
    reply: bytes = b""  # to the client, from honeyswitch itself
    upgrade: bool = False  # start the client's TLS now
    dropped: int = 0  # bytes after the upgrade command, discarded


class StartTls:
    def __init__(self, protocol: str) -> None:
        if protocol not in ("smtp", "imap", "pop3"):
            raise ValueError(f"no STARTTLS for {protocol!r}")
        self.protocol = protocol
        self.upgraded = False  # the command was answered: TLS from the next client byte
        self.tls_active = False  # the client's TLS is up (set by the relay)
        self._client = bytearray()
        self._server = bytearray()
        self._reply: list[bytes] = []  # a multi-line reply being held (SMTP EHLO, POP3 CAPA)
        self._capability_cmd = False  # the last client command asks for capabilities
        self._data_wait = False  # SMTP DATA sent, the server's 354 not seen yet
        self._data_mode = False  # SMTP DATA body (after the 354)
        self._literal = 0  # IMAP literal or SMTP BDAT chunk bytes still to pass
        self.rewrite_done = False  # the first capability reply after TLS went by

    # ----------------------------------------------------------- client -> server

    def client_bytes(self, data: bytes) -> ClientStep:
        if self.rewrite_done:
            return ClientStep(data)
        self._client += data
        out = bytearray()
        while self._client:
            if self._literal:
                n = min(self._literal, len(self._client))
                out += self._client[:n]
                del self._client[:n]
                self._literal -= n
                continue
            end = self._client.find(b"\n")
            if end < 0:
                if len(self._client) > LINE_MAX:
                    out += self._client
                    self._client.clear()
                break
            line = bytes(self._client[:end + 1])
            del self._client[:end + 1]
            reply = self._command(line)
            if reply is not None and self.upgraded:
                reply = None  # after TLS (tracked only for the capability reply): the backend answers
            if reply is not None:
                dropped = len(self._client)
                self._client.clear()
                self.upgraded = True
                return ClientStep(bytes(out), reply, True, dropped)
            out += line
        return ClientStep(bytes(out))

    def _command(self, line: bytes) -> bytes | None:
        """The reply to an upgrade command, or None for a line to forward."""
        words = line.strip().split()
        if self.protocol == "smtp":
            if self._data_mode:
                self._data_mode = line.rstrip(b"\r\n") != b"."
                return None
            # A command while DATA waited for its 354: the server refused it (a client
            # sends the body only after the 354, which comes through here first).
            self._data_wait = False
            verb = words[0].upper() if words else b""
            self._capability_cmd = verb == b"EHLO"
            if verb == b"DATA":
                self._data_wait = True
            elif verb == b"BDAT" and len(words) > 1 and words[1].isdigit() and len(words[1]) <= 12:
                self._literal = int(words[1])  # RFC 3030: exactly that many bytes follow
            return b"220 2.0.0 Ready to start TLS\r\n" if verb == b"STARTTLS" and len(words) == 1 else None
        if self.protocol == "imap":
            if (m := _IMAP_LITERAL.search(line)) is not None:
                self._literal = int(m.group(1))
            verb = words[1].upper() if len(words) > 1 else b""
            self._capability_cmd = verb == b"CAPABILITY"
            if verb == b"STARTTLS" and len(words) == 2:
                return words[0] + b" OK Begin TLS negotiation now\r\n"
            return None
        verb = words[0].upper() if words else b""
        self._capability_cmd = verb == b"CAPA"
        return b"+OK Begin TLS negotiation\r\n" if verb == b"STLS" and len(words) == 1 else None

    # ----------------------------------------------------------- server -> client

    def server_bytes(self, data: bytes) -> bytes:
        """Main's (or the honeypot's) bytes as the client should see them."""
        if self.rewrite_done or (self.upgraded and not self.tls_active):
            return data
        self._server += data
        out = bytearray()
        while True:
            end = self._server.find(b"\n")
            if end < 0:
                if len(self._server) > LINE_MAX:
                    out += self._flush_reply() + self._server
                    self._server.clear()
                break
            line = bytes(self._server[:end + 1])
            del self._server[:end + 1]
            out += self._server_line(line)
            if self.rewrite_done:
                out += self._server
                self._server.clear()
                break
        return bytes(out)

    def _flush_reply(self) -> bytes:
        held, self._reply = self._reply, []
        return b"".join(held)

    def _server_line(self, line: bytes) -> bytes:
        if self.protocol == "imap":
            return self._imap_line(line)
        if self.protocol == "smtp":
            return self._smtp_line(line)
        return self._pop3_line(line)

    def _smtp_line(self, line: bytes) -> bytes:
        if self._data_wait and line[:4] == b"354 ":
            self._data_wait, self._data_mode = False, True
        if not (self._capability_cmd and line[:3] == b"250"):
            return self._flush_reply() + line
        self._reply.append(line)
        if sum(map(len, self._reply)) > REPLY_MAX:
            return self._flush_reply()
        if line[3:4] == b"-":
            return b""
        lines, self._reply = self._reply, []
        self._capability_cmd = False
        return self._rewrite_ehlo(lines)

    def _rewrite_ehlo(self, lines: list[bytes]) -> bytes:
        keywords = [ln[4:].strip().upper() for ln in lines]
        if self.tls_active:
            self.rewrite_done = True
            kept = [ln for ln, kw in zip(lines, keywords, strict=True) if kw != b"STARTTLS"] or lines[:1]
            last = kept[-1]
            kept[-1] = last[:3] + b" " + last[4:]
            return b"".join(kept)
        if b"STARTTLS" in keywords[1:] or len(lines) == 0:
            return b"".join(lines)
        *head, last = lines
        if not head:  # a one-line reply: the greeting line becomes "250-"
            return last[:3] + b"-" + last[4:] + b"250 STARTTLS\r\n"
        return b"".join(head) + b"250-STARTTLS\r\n" + last

    def _imap_line(self, line: bytes) -> bytes:
        upper = line.upper()
        at = upper.find(b"CAPABILITY")
        if at < 0 or not (upper.startswith(b"* ") or b"[CAPABILITY" in upper):
            return line
        bracket = upper.find(b"]", at) if upper[at - 1:at] == b"[" else -1
        stop = bracket if bracket >= 0 else len(line.rstrip(b"\r\n"))
        caps, rest = line[at:stop], line[stop:]
        words = caps.split(b" ")
        has = any(w.upper() == b"STARTTLS" for w in words)
        if self.tls_active:
            self.rewrite_done = True
            words = [w for w in words if w.upper() != b"STARTTLS"]
        elif not has:
            words.append(b"STARTTLS")
        return line[:at] + b" ".join(words) + rest

    def _pop3_line(self, line: bytes) -> bytes:
        if not self._capability_cmd:
            return line
        stripped = line.rstrip(b"\r\n").upper()
        if stripped.startswith(b"-ERR"):
            self._capability_cmd = False
            return line
        if stripped == b".":
            self._capability_cmd = False
            has = any(ln.rstrip(b"\r\n").upper() == b"STLS" for ln in self._reply)
            body = self._flush_reply()
            if self.tls_active:
                self.rewrite_done = True
                return body + line
            return body + (b"" if has else b"STLS\r\n") + line
        if self.tls_active and stripped == b"STLS":
            return b""
        self._reply.append(line)
        if sum(map(len, self._reply)) > REPLY_MAX:
            self._capability_cmd = False
            return self._flush_reply()
        return b""
