"""Debian's Postfix as a real SMTP backend for tests: a private instance (its own config,
queue and data directories, one smtpd on a loopback port), run in the foreground with
its log in a file.  No TLS of its own: honeyswitch answers STARTTLS.  Every message is
accepted and discarded; the log says what the server saw (its ``disconnect`` line
counts the commands: ``ehlo=2 mail=1 ... starttls=1`` only if it saw one)."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from . import require
from .procs import Program, free_port, stop_process, wait_started

MAIN_CF = """compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = {name}.test
mydestination = example.test
mynetworks = 127.0.0.0/8
local_recipient_maps =
default_transport = discard
local_transport = discard
alias_maps =
alias_database =
maillog_file = /dev/stdout
syslog_name = {name}
smtpd_banner = $myhostname ESMTP
"""


class Postfix(Program):
    def log(self) -> str:
        return (self.dir / "maillog").read_text(errors="replace")

    def stop(self) -> None:
        subprocess.run(["postfix", "-c", str(self.dir / "etc"), "stop"], capture_output=True, timeout=30)
        stop_process(self.proc, 15)
        shutil.rmtree(self.dir, ignore_errors=True)


def start(name: str) -> Postfix:
    """A Postfix named ``name`` (``main``, ``honeypot``) on a free loopback port.

    Its directory is outside pytest's private temp tree: Postfix's own processes run as
    the postfix user and must reach their queue."""
    require.program("postfix")
    require.root()
    d = Path(tempfile.mkdtemp(prefix=f"hs-postfix-{name}-"))
    d.chmod(0o755)
    for sub in ("etc", "queue", "data"):
        (d / sub).mkdir()
    shutil.chown(d / "data", "postfix")
    port = free_port()
    master = Path("/etc/postfix/master.cf").read_text().splitlines()
    lines = [ln for ln in master if not ln.startswith("smtp ") or " inet " not in ln]
    lines.append(f"127.0.0.1:{port} inet n - n - - smtpd")
    (d / "etc" / "master.cf").write_text("\n".join(lines) + "\n")
    (d / "etc" / "main.cf").write_text(MAIN_CF.format(d=d, name=name))
    with open(d / "maillog", "wb") as log:
        proc = subprocess.Popen(["postfix", "-c", str(d / "etc"), "start-fg"], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    wait_started(proc, port, d / "maillog")
    return Postfix(d, port, proc)
