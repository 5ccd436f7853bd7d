"""Real Redis deployments for the ``[cluster]`` tests and benchmark: a redis-server that
can be killed, paused and restarted on the same address (with TLS and an ACL user if
asked), a Sentinel watching one, and a small Redis Cluster.  Everything runs on
loopback in a directory of its own, without persistence: a restart comes back empty,
as a cache-only Redis does after a crash.
"""
from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .procs import free_port, stop_process, wait_port, wait_unix


def _exe(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise FileNotFoundError(f"{name} is not installed")
    return path


@dataclass(frozen=True, slots=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path
    client_cert: Path
    client_key: Path


def make_tls(workdir: Path, host: str = "127.0.0.1") -> TlsFiles:
    """A throw-away CA, a server certificate for ``host`` (and localhost), and a client
    certificate, made with the openssl command line."""
    openssl = _exe("openssl")
    workdir.mkdir(parents=True, exist_ok=True)
    f = {n: workdir / n for n in ("ca.key", "ca.crt", "srv.key", "srv.csr", "srv.crt", "cli.key",
                                  "cli.csr", "cli.crt", "san.cnf")}
    f["san.cnf"].write_text(f"subjectAltName=IP:{host},DNS:localhost\n")

    def run(*args: str | Path) -> None:
        subprocess.run([openssl, *map(str, args)], check=True, capture_output=True, timeout=30)

    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
        "-subj", "/CN=honeyswitch test CA", "-keyout", f["ca.key"], "-out", f["ca.crt"])
    for name, cn in (("srv", host), ("cli", "honeyswitch")):
        run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", f"/CN={cn}",
            "-keyout", f[f"{name}.key"], "-out", f[f"{name}.csr"])
        extra: list[str | Path] = ["-extfile", f["san.cnf"]] if name == "srv" else []
        run("x509", "-req", "-in", f[f"{name}.csr"], "-CA", f["ca.crt"], "-CAkey", f["ca.key"],
            "-CAcreateserial", "-days", "2", "-out", f[f"{name}.crt"], *extra)
    return TlsFiles(f["ca.crt"], f["srv.crt"], f["srv.key"], f["cli.crt"], f["cli.key"])


class RedisProc:
    """One redis-server on 127.0.0.1 (or a unix socket), restartable on the same address."""

    def __init__(self, workdir: Path, *, port: int | None = None, unix: bool = False,
                 tls: TlsFiles | None = None, acl: str = "", extra: tuple[str, ...] = ()) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.unix = workdir / "redis.sock" if unix else None
        self.tls = tls
        args = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir),
                "--daemonize", "no", "--logfile", str(workdir / "redis.log"), *extra]
        if self.unix is not None:
            args += ["--port", "0", "--unixsocket", str(self.unix), "--unixsocketperm", "700"]
        elif tls is not None:
            args += ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(tls.cert),
                     "--tls-key-file", str(tls.key), "--tls-ca-cert-file", str(tls.ca), "--tls-auth-clients", "optional"]
        else:
            args += ["--port", str(self.port)]
        if acl:
            (workdir / "users.acl").write_text(acl)
            args += ["--aclfile", str(workdir / "users.acl")]
        else:
            args += ["--protected-mode", "no"]
        self.args = [_exe("redis-server"), *args]
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if self.unix is not None:
            wait_unix(self.unix)
        else:
            wait_port("127.0.0.1", self.port)

    def url(self, user: str = "", password: str = "") -> str:
        auth = f"{user}:{password}@" if password else ""
        if self.unix is not None:
            return f"unix://{auth}{self.unix}"
        return f"{'rediss' if self.tls else 'redis'}://{auth}127.0.0.1:{self.port}"

    def kill(self) -> None:
        """SIGKILL: what a crash looks like to the clients (their connections reset)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(5)

    def pause(self) -> None:
        """SIGSTOP: a Redis that accepts connections and answers nothing (slow, hung)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()
        self.start()

    def tls_flags(self) -> list[str]:
        """What redis-cli needs to talk to this server."""
        return ["--tls", "--cacert", str(self.tls.ca)] if self.tls is not None else []

    def cli(self, *args: str) -> str:
        """redis-cli against this server (TCP, with TLS if it has it)."""
        argv = [_exe("redis-cli"), "-h", "127.0.0.1", "-p", str(self.port), *self.tls_flags(), *args]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=True)
        return out.stdout

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a paused server cannot act on SIGTERM
            stop_process(self.proc)


class SentinelProc:
    """A redis-sentinel on 127.0.0.1 monitoring ``master_port`` as ``service``, with a
    quick failover (down after 500 ms)."""

    def __init__(self, workdir: Path, master_port: int, service: str = "hsmaster") -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        conf = workdir / "sentinel.conf"  # sentinel rewrites it: its own copy, writable
        conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {workdir}\nlogfile {workdir / 'sentinel.log'}\n"
            f"sentinel monitor {service} 127.0.0.1 {master_port} 1\n"
            f"sentinel down-after-milliseconds {service} 500\nsentinel failover-timeout {service} 2000\n")
        exe = shutil.which("redis-sentinel")
        argv = [exe, str(conf)] if exe else [_exe("redis-server"), str(conf), "--sentinel"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port("127.0.0.1", self.port)

    def stop(self) -> None:
        stop_process(self.proc)


def _cluster_port() -> int:
    # A cluster node also listens on port + 10000 (its bus): both must be free.
    for _ in range(100):
        port = free_port()
        if port + 10000 < 65536:
            try:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port + 10000))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port pair for a cluster node")


class RedisClusterProcs:
    """``n`` redis-server masters in cluster mode, joined by ``redis-cli --cluster create``
    (over TLS, the cluster bus too, with ``tls``)."""

    def __init__(self, workdir: Path, n: int = 3, tls: TlsFiles | None = None) -> None:
        self.nodes = []
        bus = ("--tls-cluster", "yes") if tls is not None else ()
        for i in range(n):
            port = _cluster_port()
            self.nodes.append(RedisProc(workdir / f"node{i}", port=port, tls=tls, extra=(
                "--cluster-enabled", "yes", "--cluster-config-file", str(workdir / f"node{i}" / "nodes.conf"),
                "--cluster-node-timeout", "2000", *bus)))
        create = [_exe("redis-cli"), *self.nodes[0].tls_flags(), "--cluster", "create",
                  *(f"127.0.0.1:{p.port}" for p in self.nodes), "--cluster-yes"]
        subprocess.run(create, check=True, capture_output=True, timeout=60)
        deadline = time.monotonic() + 20
        while "cluster_state:ok" not in self.nodes[0].cli("cluster", "info"):
            if time.monotonic() > deadline:
                raise TimeoutError("the Redis Cluster did not reach cluster_state:ok")
            time.sleep(0.1)

    @property
    def urls(self) -> list[str]:
        return [p.url() for p in self.nodes]

    def stop(self) -> None:
        for p in self.nodes:
            p.stop()
