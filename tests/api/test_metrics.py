"""``/metrics`` against what really happened: real sessions through a real daemon
process, parsed with prometheus-client's own text parser, and scraped by Debian's
Prometheus where it is installed."""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from honeyswitch.testing import grafana
from honeyswitch.testing.daemon import TOKEN, Daemon, echo_backends, write_config
from honeyswitch.testing.procs import free_port, wait_port

BENIGN = 5
BROKEN = 2  # sessions of a service whose honeypot refuses


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(data: dict, name: str, **labels: str) -> float:
    return data.get((name, tuple(sorted(labels.items()))), 0.0)


def _say(sock: socket.socket, data: bytes) -> bytes:
    sock.sendall(data)
    return sock.recv(4096)


def wait_for_ends(daemon: Daemon, n: int) -> None:
    """Until the store (written in batches by the writer thread) has ``n`` session ends."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if len(daemon.api("GET", "/api/v1/events?event_type=session_end&limit=1000")["events"]) >= n:
            return
        time.sleep(0.05)
    raise TimeoutError(f"fewer than {n} session_end events stored")


@pytest.fixture
def traffic(tmp_path: Path):
    """A daemon that has seen: BENIGN benign sessions, one switched by the operator, one
    switched by the shipped rules, BROKEN whose honeypot refused; all ended."""
    with echo_backends() as (main, honeypot):
        dead = free_port()  # nothing listens here: the honeypot of service "broken" refuses
        broken_listen = free_port()
        body = f'''rules = ["default"]
protocol = "http"

[[service]]
name = "broken"
listen = "127.0.0.1:{broken_listen}"
main = "tcp://127.0.0.1:{main.port}"
honeypot = "tcp://127.0.0.1:{dead}"
'''
        cfg, listen, api = write_config(tmp_path, main.port, honeypot.port, body=body, token=TOKEN)
        daemon = Daemon(cfg, api)
        sent = received = 0
        try:
            for i in range(BENIGN):
                with socket.create_connection(("127.0.0.1", listen), timeout=5) as c:
                    req = b"GET /page/%d HTTP/1.0\r\n\r\n" % i
                    sent += len(req)
                    received += len(_say(c, req))
            with socket.create_connection(("127.0.0.1", listen), timeout=5) as c:
                assert _say(c, b"GET / HTTP/1.0\r\n\r\n").startswith(b"M:")
                sid = daemon.api("GET", "/api/v1/sessions")["sessions"][0]["session_id"]
                daemon.api("POST", f"/api/v1/sessions/{sid}/switch", {"reason": "test"})
                assert _say(c, b"x").startswith(b"H:")
            daemon.api("DELETE", "/api/v1/blacklist/127.0.0.1")
            with socket.create_connection(("127.0.0.1", listen), timeout=5) as c:
                assert _say(c, b"GET /../../etc/passwd HTTP/1.0\r\n\r\n").startswith(b"H:")
            daemon.api("DELETE", "/api/v1/blacklist/127.0.0.1")
            for _ in range(BROKEN):
                with socket.create_connection(("127.0.0.1", broken_listen), timeout=5) as c:
                    assert _say(c, b"hello\n") == b"M:hello\n"
            wait_for_ends(daemon, BENIGN + 2 + BROKEN)
            yield daemon, {"sent": sent, "received": received}
        finally:
            daemon.stop()


def test_counts_equal_what_happened(traffic):
    daemon, io = traffic
    data = samples(daemon.api("GET", "/metrics").decode())
    stored = daemon.api("GET", "/api/v1/events?limit=1000")["events"]
    kinds = [e["event_type"] for e in stored]
    for kind in ("session_start", "session_end", "switch", "switch_done", "alert", "honeypot_dropped"):
        assert value(data, "honeyswitch_events_total", event_type=kind) == kinds.count(kind), kind
    assert value(data, "honeyswitch_sessions_started_total", service="echo", state="mirror") == BENIGN + 2
    assert value(data, "honeyswitch_sessions_started_total", service="broken", state="mirror") == BROKEN
    assert value(data, "honeyswitch_sessions_ended_total", service="echo", state="honeypot") == 2
    assert value(data, "honeyswitch_switches_total", service="echo", by="operator") == 1
    assert value(data, "honeyswitch_switches_total", service="echo", by="detector:signature") == 1
    alerts = [e for e in stored if e["event_type"] == "alert"]
    assert alerts and value(data, "honeyswitch_alerts_total", detector="signature") == len(alerts)
    assert value(data, "honeyswitch_alert_score_total", detector="signature") == sum(a["score"] for a in alerts)
    assert value(data, "honeyswitch_honeypot_dropped_total", service="broken") == BROKEN
    assert value(data, "honeyswitch_honeypot_dropped_total", service="echo") == 0
    ends = [e for e in stored if e["event_type"] == "session_end" and e["service"] == "echo"]
    for direction, field in (("client", "bytes_from_client"), ("main", "bytes_main_to_client"),
                             ("honeypot", "bytes_from_honeypot")):
        assert value(data, "honeyswitch_bytes_total", service="echo", direction=direction) == \
            sum(e[field] for e in ends), direction
    assert value(data, "honeyswitch_bytes_total", service="echo", direction="client") >= io["sent"]
    for state in ("mirror", "honeypot", "direct", "main_only", "switching"):
        assert value(data, "honeyswitch_sessions", service="echo", state=state) == 0
    assert value(data, "honeyswitch_honeypot_lag_bytes", service="echo") == 0
    done = kinds.count("switch_done")
    assert done == 2 and value(data, "honeyswitch_switch_latency_seconds_count") == done
    assert value(data, "honeyswitch_switch_latency_seconds_bucket", le="+Inf") == done
    assert 0 < value(data, "honeyswitch_switch_latency_seconds_sum") < 5


def test_live_sessions_by_service_and_state(tmp_path: Path):
    with echo_backends() as (main, honeypot):
        cfg, listen, api = write_config(tmp_path, main.port, honeypot.port, token=TOKEN)
        daemon = Daemon(cfg, api)
        try:
            a = socket.create_connection(("127.0.0.1", listen), timeout=5)
            b = socket.create_connection(("127.0.0.1", listen), timeout=5)
            assert _say(a, b"1") == b"M:1" and _say(b, b"2") == b"M:2"
            sid = next(s["session_id"] for s in daemon.api("GET", "/api/v1/sessions")["sessions"]
                       if s["src_port"] == b.getsockname()[1])
            daemon.api("POST", f"/api/v1/sessions/{sid}/switch", {})
            assert _say(b, b"3") == b"H:3"
            text = daemon.api("GET", "/metrics").decode()
            data = samples(text)
            assert value(data, "honeyswitch_sessions", service="echo", state="mirror") == 1
            assert value(data, "honeyswitch_sessions", service="echo", state="honeypot") == 1
            # Live bytes count before the sessions end: the counter never goes back.
            assert value(data, "honeyswitch_bytes_total", service="echo", direction="client") == 3
            # A family without samples yet (no alert so far) still counts as there.
            names = {name for name, _ in data} | {f.name + suffix for f in text_string_to_metric_families(text)
                                                  for suffix in ("", "_total")}
            assert set(grafana.metrics(cluster=False)) <= names, set(grafana.metrics(cluster=False)) - names
            a.close()
            b.close()
        finally:
            daemon.stop()


def _query(port: int, expr: str) -> dict:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def _wait_ready(url: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:  # 503 while its storage starts
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("prometheus") is None, reason="Debian's prometheus is not installed")
def test_a_real_prometheus_scrapes_it(traffic, tmp_path: Path):
    daemon, _ = traffic
    port = free_port()
    conf = tmp_path / "prometheus.yml"
    conf.write_text(f"""global:
  scrape_interval: 1s
scrape_configs:
  - job_name: honeyswitch
    authorization:
      credentials: {TOKEN}
    static_configs:
      - targets: ["127.0.0.1:{daemon.api_port}"]
""")
    proc = subprocess.Popen(["prometheus", f"--config.file={conf}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_port("127.0.0.1", port, timeout=30)
        _wait_ready(f"http://127.0.0.1:{port}/-/ready")
        deadline = time.monotonic() + 30
        result: list = []
        while time.monotonic() < deadline and not result:
            result = _query(port, "honeyswitch_sessions_started_total")["data"]["result"]
            time.sleep(0.5)
        got = {(r["metric"]["service"], r["metric"]["state"]): float(r["value"][1]) for r in result}
        assert got == {("echo", "mirror"): BENIGN + 2, ("broken", "mirror"): BROKEN}
        targets = f"http://127.0.0.1:{port}/api/v1/targets"
        with urllib.request.urlopen(targets, timeout=5) as resp:
            (target,) = json.loads(resp.read())["data"]["activeTargets"]
        assert target["health"] == "up", target
        for expr in grafana.queries():  # every panel of the Grafana dashboard is valid PromQL
            assert _query(port, expr)["status"] == "success", expr
    finally:
        proc.terminate()
        proc.wait(20)
