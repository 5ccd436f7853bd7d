"""Small plaintext SMTP, IMAP and POP3 servers for the STARTTLS tests.

They speak enough of each protocol for Python's smtplib, imaplib and poplib (and swaks)
to log in, send or fetch a message and quit, and none of them offers STARTTLS itself:
honeyswitch must answer the upgrade.  Each is a :mod:`honeyswitch.testing.servers`
handler, so the test sees every byte a backend received.
"""
from __future__ import annotations

import asyncio

from .servers import ConnRecord, Handler


def _lines_server(greeting: bytes, answer: type[_Dialog]) -> Handler:
    async def handler(rec: ConnRecord, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        dialog = answer()
        writer.write(greeting)
        while not dialog.done:
            line = await reader.readline()
            if not line:
                rec.eof = True
                break
            rec.received += line
            writer.write(dialog.reply(line))
            await writer.drain()
        writer.close()

    return handler


class _Dialog:
    done = False

    def reply(self, line: bytes) -> bytes:
        raise NotImplementedError


class _Smtp(_Dialog):
    def __init__(self) -> None:
        self.data = False
        self.messages = 0

    def reply(self, line: bytes) -> bytes:
        if self.data:
            if line.rstrip(b"\r\n") == b".":
                self.data = False
                self.messages += 1
                return b"250 2.0.0 Ok: queued as %d\r\n" % self.messages
            return b""
        verb = line.split(b" ", 1)[0].strip().upper()
        if verb == b"EHLO":
            return b"250-mx.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n"
        if verb in (b"HELO", b"MAIL", b"RCPT", b"RSET", b"NOOP"):
            return b"250 2.0.0 Ok\r\n"
        if verb == b"DATA":
            self.data = True
            return b"354 End data with <CR><LF>.<CR><LF>\r\n"
        if verb == b"QUIT":
            self.done = True
            return b"221 2.0.0 Bye\r\n"
        return b"502 5.5.2 Error: command not recognized\r\n"


class _Imap(_Dialog):
    def reply(self, line: bytes) -> bytes:
        parts = line.strip().split(b" ")
        tag, verb = parts[0], (parts[1].upper() if len(parts) > 1 else b"")
        if verb == b"CAPABILITY":
            return b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n" + tag + b" OK CAPABILITY completed\r\n"
        if verb == b"LOGIN":
            return tag + b" OK [CAPABILITY IMAP4rev1] LOGIN completed\r\n"
        if verb in (b"SELECT", b"EXAMINE"):
            return b"* 1 EXISTS\r\n* 0 RECENT\r\n" + tag + b" OK [READ-WRITE] SELECT completed\r\n"
        if verb == b"NOOP":
            return tag + b" OK NOOP completed\r\n"
        if verb == b"LOGOUT":
            self.done = True
            return b"* BYE logging out\r\n" + tag + b" OK LOGOUT completed\r\n"
        return tag + b" BAD unknown command\r\n"


class _Pop3(_Dialog):
    def reply(self, line: bytes) -> bytes:
        verb = line.strip().split(b" ", 1)[0].upper()
        if verb == b"CAPA":
            return b"+OK Capability list follows\r\nUSER\r\nUIDL\r\n.\r\n"
        if verb in (b"USER", b"PASS", b"NOOP"):
            return b"+OK\r\n"
        if verb == b"STAT":
            return b"+OK 1 18\r\n"
        if verb == b"RETR":
            return b"+OK 18 octets\r\nSubject: hi\r\n\r\nhello\r\n.\r\n"
        if verb == b"QUIT":
            self.done = True
            return b"+OK bye\r\n"
        return b"-ERR unknown command\r\n"


def smtp() -> Handler:
    return _lines_server(b"220 mx.test ESMTP honeyswitch-test\r\n", _Smtp)


def imap() -> Handler:
    return _lines_server(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] test IMAP ready\r\n", _Imap)


def pop3() -> Handler:
    return _lines_server(b"+OK test POP3 ready\r\n", _Pop3)
