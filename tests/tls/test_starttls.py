"""The STARTTLS machine as scripts of both directions: what is forwarded, what the
client sees, where the upgrade happens."""
from __future__ import annotations

import pytest

from honeyswitch.tls.starttls import LINE_MAX, StartTls

C, S = "client", "server"


def play(protocol: str, script: list[tuple[str, bytes, bytes]], *, tls_at: int | None = None) -> StartTls:
    """Each step: (who, bytes in, what comes out: forwarded for the client, shown to
    the client for the server).  ``tls_at``: the step before which TLS becomes active."""
    m = StartTls(protocol)
    for i, (who, data, expect) in enumerate(script):
        if tls_at is not None and i == tls_at:
            m.tls_active = True
        if who == C:
            step = m.client_bytes(data)
            got = step.forward if not step.upgrade else b"UPGRADE:" + step.reply
        else:
            got = m.server_bytes(data)
        assert got == expect, f"step {i} ({who} {data!r}): {got!r}"
    return m


def test_smtp_ehlo_advertises_and_upgrade_is_answered_here() -> None:
    play("smtp", [
        (S, b"220 mx.test ESMTP\r\n", b"220 mx.test ESMTP\r\n"),
        (C, b"EHLO client\r\n", b"EHLO client\r\n"),
        (S, b"250-mx.test\r\n250-PIPELINING\r\n", b""),
        (S, b"250 8BITMIME\r\n", b"250-mx.test\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n"),
        (C, b"STARTTLS\r\n", b"UPGRADE:220 2.0.0 Ready to start TLS\r\n"),
        (C, b"EHLO client\r\n", b"EHLO client\r\n"),
        (S, b"250-mx.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n", b"250-mx.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n"),
        (C, b"MAIL FROM:<a@b>\r\n", b"MAIL FROM:<a@b>\r\n"),
    ], tls_at=5)


def test_smtp_one_line_ehlo_and_main_that_advertises_itself() -> None:
    play("smtp", [(C, b"ehlo x\r\n", b"ehlo x\r\n"), (S, b"250 mx\r\n", b"250-mx\r\n250 STARTTLS\r\n")])
    play("smtp", [(C, b"EHLO x\r\n", b"EHLO x\r\n"),
                  (S, b"250-mx\r\n250-STARTTLS\r\n250 SIZE\r\n", b"250-mx\r\n250-STARTTLS\r\n250 SIZE\r\n")])


def test_smtp_after_tls_drops_mains_own_starttls_even_last() -> None:
    m = play("smtp", [(C, b"EHLO x\r\n", b"EHLO x\r\n"), (S, b"250-mx\r\n250 STARTTLS\r\n", b"250-mx\r\n250 STARTTLS\r\n"),
                      (C, b"STARTTLS\r\n", b"UPGRADE:220 2.0.0 Ready to start TLS\r\n"),
                      (C, b"EHLO x\r\n", b"EHLO x\r\n"), (S, b"250-mx\r\n250 STARTTLS\r\n", b"250 mx\r\n")], tls_at=3)
    assert m.rewrite_done and m.server_bytes(b"250 STARTTLS\r\n") == b"250 STARTTLS\r\n"  # pass-through after


def test_injection_after_starttls_is_dropped() -> None:
    m = StartTls("smtp")
    step = m.client_bytes(b"EHLO x\r\nSTARTTLS\r\nRSET\r\nMAIL FROM:<evil>\r\n")
    assert step.forward == b"EHLO x\r\n" and step.upgrade and step.dropped == len(b"RSET\r\nMAIL FROM:<evil>\r\n")


def test_smtp_data_body_is_not_a_command() -> None:
    play("smtp", [(C, b"MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n", b"MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n"),
                  (S, b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n", b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"),  # pipelined
                  (S, b"354 End data with <CR><LF>.<CR><LF>\r\n", b"354 End data with <CR><LF>.<CR><LF>\r\n"),
                  (C, b"STARTTLS\r\n.\r\n", b"STARTTLS\r\n.\r\n"),
                  (S, b"250 2.0.0 Ok: queued\r\n", b"250 2.0.0 Ok: queued\r\n"),
                  (C, b"STARTTLS\r\n", b"UPGRADE:220 2.0.0 Ready to start TLS\r\n")])


def test_smtp_refused_data_starts_no_body() -> None:
    # Every recipient refused, so DATA is too: what the client sends next are commands.
    play("smtp", [(C, b"RCPT TO:<nobody@x>\r\nDATA\r\n", b"RCPT TO:<nobody@x>\r\nDATA\r\n"),
                  (S, b"550 5.1.1 unknown\r\n554 5.5.1 Error: no valid recipients\r\n",
                   b"550 5.1.1 unknown\r\n554 5.5.1 Error: no valid recipients\r\n"),
                  (C, b"RSET\r\n", b"RSET\r\n"), (S, b"250 2.0.0 Ok\r\n", b"250 2.0.0 Ok\r\n"),
                  (C, b"STARTTLS\r\n", b"UPGRADE:220 2.0.0 Ready to start TLS\r\n")])


def test_smtp_bdat_chunks_are_data_however_they_arrive() -> None:
    chunk = b"STARTTLS\r\n\x00\xff.\r\n"  # binary, with lines that look like commands
    play("smtp", [(C, b"BDAT %d\r\n" % len(chunk) + chunk[:5], b"BDAT %d\r\n" % len(chunk) + chunk[:5]),
                  (C, chunk[5:] + b"BDAT 10 LAST\r\nSTARTTLS\r\n", chunk[5:] + b"BDAT 10 LAST\r\nSTARTTLS\r\n"),
                  (C, b"STARTTLS\r\n", b"UPGRADE:220 2.0.0 Ready to start TLS\r\n")])
    m = StartTls("smtp")  # a size that is no number (or absurd) starts no chunk
    assert m.client_bytes(b"BDAT x\r\nBDAT 9999999999999\r\nSTARTTLS\r\n").upgrade


def test_imap_capability_in_greeting_untagged_and_tagged() -> None:
    play("imap", [
        (S, b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n", b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN STARTTLS] ready\r\n"),
        (C, b"a1 CAPABILITY\r\n", b"a1 CAPABILITY\r\n"),
        (S, b"* CAPABILITY IMAP4rev1 IDLE\r\na1 OK done\r\n", b"* CAPABILITY IMAP4rev1 IDLE STARTTLS\r\na1 OK done\r\n"),
        (C, b"a2 starttls\r\n", b"UPGRADE:a2 OK Begin TLS negotiation now\r\n"),
        (C, b"a3 CAPABILITY\r\n", b"a3 CAPABILITY\r\n"),
        (S, b"* CAPABILITY IMAP4rev1 STARTTLS IDLE\r\n", b"* CAPABILITY IMAP4rev1 IDLE\r\n"),
        (S, b"a3 OK [CAPABILITY IMAP4rev1 STARTTLS] x\r\n", b"a3 OK [CAPABILITY IMAP4rev1 STARTTLS] x\r\n"),
    ], tls_at=4)


def test_imap_literal_is_skipped() -> None:
    play("imap", [(C, b"a1 APPEND INBOX {12}\r\n", b"a1 APPEND INBOX {12}\r\n"),
                  (C, b"x STARTTLS\r\n", b"x STARTTLS\r\n"),
                  (C, b"a2 STARTTLS\r\n", b"UPGRADE:a2 OK Begin TLS negotiation now\r\n")])


def test_pop3_capa_and_stls() -> None:
    play("pop3", [
        (S, b"+OK POP3 ready\r\n", b"+OK POP3 ready\r\n"),
        (C, b"CAPA\r\n", b"CAPA\r\n"),
        (S, b"+OK\r\nUSER\r\n", b""),
        (S, b"UIDL\r\n.\r\n", b"+OK\r\nUSER\r\nUIDL\r\nSTLS\r\n.\r\n"),
        (C, b"STLS\r\n", b"UPGRADE:+OK Begin TLS negotiation\r\n"),
        (C, b"USER bob\r\n", b"USER bob\r\n"),
        (S, b"+OK\r\n", b"+OK\r\n"),
        (C, b"CAPA\r\n", b"CAPA\r\n"),
        (S, b"+OK\r\nSTLS\r\nUSER\r\n.\r\n", b"+OK\r\nUSER\r\n.\r\n"),
    ], tls_at=5)


def test_split_lines_and_long_lines() -> None:
    m = StartTls("pop3")
    assert m.client_bytes(b"ST").forward == b""
    step = m.client_bytes(b"LS\r\n")
    assert step.upgrade and step.reply.startswith(b"+OK")
    m = StartTls("smtp")
    long = b"X" * (LINE_MAX + 1)
    assert m.client_bytes(long).forward == long  # passed through, not held without bound
    assert m.server_bytes(long) == long


def test_unknown_protocol() -> None:
    with pytest.raises(ValueError):
        StartTls("ftp")
