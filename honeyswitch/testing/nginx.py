"""Debian's nginx as a test backend on loopback: our own config, directory and port
(never the system's), static files from ``root``, plaintext or TLS with its own
certificate, optionally behind PROXY v2.  Its error log is at ``info`` so a reset from
honeyswitch shows as "reset by peer"."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from . import require
from .procs import Program, free_port, stop_process, wait_started

TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def config(workdir: Path, server: str, *, http: str = "", connections: int = 256,
           error_level: str = "info") -> str:
    """An ``nginx.conf`` of our own: pid, error log and temporary files in ``workdir``
    (never the system's), the ``http`` block's own lines, and one ``server`` block.
    Run it with ``-g "daemon off;"``.  As root its worker runs as root too, so it can
    read files wherever a test put them."""
    temps = "".join(f"    {kind}_temp_path {workdir}/{kind};\n" for kind in TEMP_PATHS)
    return (f"{'user root;' if os.geteuid() == 0 else ''}\n"
            f"worker_processes 1;\npid {workdir}/nginx.pid;\nerror_log {workdir}/error.log {error_level};\n"
            f"events {{ worker_connections {connections}; }}\n"
            f"http {{\n    access_log off;\n{temps}{http}"
            f"    server {{\n{server}    }}\n}}\n")


SITE = """\
    types {{ text/html html; application/octet-stream bin; }}
    log_format hs '{client} "$request" $status $body_bytes_sent';
    keepalive_timeout 60s;
    keepalive_requests 10000;
"""
SERVER = """\
        listen 127.0.0.1:{port}{ssl}{proxy};
        {certs}
        access_log {dir}/access.log hs;
        root {root};
        location / {{ try_files $uri $uri/index.html =404; }}
"""


def argv(workdir: Path, conf: Path) -> list[str]:
    """The command line that runs ``conf`` in the foreground, its prefix ``workdir``."""
    return [require.program("nginx"), "-p", str(workdir), "-c", str(conf), "-e", str(workdir / "error.log"),
            "-g", "daemon off;"]


class Nginx(Program):
    def access(self) -> list[str]:
        path = self.dir / "access.log"
        return path.read_text().splitlines() if path.exists() else []

    def errors(self) -> str:
        path = self.dir / "error.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        stop_process(self.proc)


def start(workdir: Path, root: Path, *, cert: Path | None = None, key: Path | None = None,
          proxy_protocol: bool = False) -> Nginx:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = workdir / "nginx.conf"
    client = "$proxy_protocol_addr:$proxy_protocol_port" if proxy_protocol else "$remote_addr:$remote_port"
    server = SERVER.format(port=port, dir=workdir, root=root, ssl=" ssl" if cert else "",
                           proxy=" proxy_protocol" if proxy_protocol else "",
                           certs=f"ssl_certificate {cert}; ssl_certificate_key {key};" if cert else "")
    conf.write_text(config(workdir, server, http=SITE.format(client=client)))
    with open(workdir / "stderr.log", "wb") as log:
        proc = subprocess.Popen(argv(workdir, conf), stdout=subprocess.DEVNULL, stderr=log)
    wait_started(proc, port, workdir / "stderr.log")
    return Nginx(workdir, port, proc)
