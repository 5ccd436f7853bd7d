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

CONF = """
{user}
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    types {{ text/html html; application/octet-stream bin; }}
    log_format hs '{client} "$request" $status $body_bytes_sent';
    keepalive_timeout 60s;
    keepalive_requests 10000;
    server {{
        listen 127.0.0.1:{port}{ssl}{proxy};
        {certs}
        access_log {dir}/access.log hs;
        root {root};
        location / {{ try_files $uri $uri/index.html =404; }}
    }}
}}
"""


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
    exe = require.program("nginx")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = workdir / "nginx.conf"
    conf.write_text(CONF.format(
        user="user root;" if os.geteuid() == 0 else "", dir=workdir, port=port, root=root,
        ssl=" ssl" if cert else "", proxy=" proxy_protocol" if proxy_protocol else "",
        certs=f"ssl_certificate {cert}; ssl_certificate_key {key};" if cert else "",
        client="$proxy_protocol_addr:$proxy_protocol_port" if proxy_protocol else "$remote_addr:$remote_port"))
    with open(workdir / "stderr.log", "wb") as log:
        proc = subprocess.Popen([exe, "-p", str(workdir), "-c", str(conf), "-e", str(workdir / "error.log"),
                                 "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=log)
    wait_started(proc, port, workdir / "stderr.log")
    return Nginx(workdir, port, proc)
