"""Debian's Dovecot as a real IMAP and POP3 backend for tests: a private instance (its
own config, run and state directories, a maildir with one message for user ``bob``,
password ``secret``), in the foreground, no TLS of its own: honeyswitch answers
STARTTLS/STLS.  Its log tells what it saw (logins, bytes in and out per session)."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from . import require
from .procs import Program, free_port, stop_process, wait_started

CONF = """first_valid_uid = 100
base_dir = {d}/run
state_dir = {d}/state
protocols = imap pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
mail_location = maildir:{d}/mail/%u
default_internal_user = dovecot
default_login_user = dovenull
passdb {{
  driver = static
  args = password=secret
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={d}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {pop3}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
"""
MESSAGE = b"Subject: hi\r\n\r\nhello from dovecot\r\n"


class Dovecot(Program):
    """``port`` is the IMAP port; ``pop3_port`` the POP3 one."""

    pop3_port: int = 0

    @property
    def pop3_url(self) -> str:
        return f"tcp://127.0.0.1:{self.pop3_port}"

    def log(self) -> str:
        path = self.dir / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        stop_process(self.proc, 10)
        shutil.rmtree(self.dir, ignore_errors=True)


def start(name: str) -> Dovecot:
    require.program("dovecot")
    require.root()
    d = Path(tempfile.mkdtemp(prefix=f"hs-dovecot-{name}-"))  # outside pytest's private tree
    d.chmod(0o755)
    box = d / "mail" / "bob"
    for sub in ("run", "state", "mail/bob/new", "mail/bob/cur", "mail/bob/tmp"):
        (d / sub).mkdir(parents=True)
    (box / "new" / "1.test").write_bytes(MESSAGE)
    for path in [d / "mail", *(d / "mail").rglob("*")]:
        shutil.chown(path, "dovecot", "dovecot")
    imap, pop3 = free_port(), free_port()
    (d / "dovecot.conf").write_text(CONF.format(d=d, imap=imap, pop3=pop3))
    with open(d / "stderr.log", "wb") as log:
        proc = subprocess.Popen(["dovecot", "-c", str(d / "dovecot.conf"), "-F"], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    wait_started(proc, imap, d / "stderr.log")
    wait_started(proc, pop3, d / "stderr.log")
    server = Dovecot(d, imap, proc)
    server.pop3_port = pop3
    return server
