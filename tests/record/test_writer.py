"""The writer thread: order, batch hooks, flush, bounded queue, critical jobs, close."""
from __future__ import annotations

import threading

from honeyswitch.record.writer import Writer


def test_jobs_run_in_order_and_flush_waits() -> None:
    w = Writer()
    seen: list[int] = []
    for i in range(1000):
        w.submit(lambda i=i: seen.append(i))
    assert w.flush(5)
    assert seen == list(range(1000))
    w.close()


def test_batch_hook_runs_after_jobs() -> None:
    w = Writer()
    log: list[str] = []
    w.add_batch_hook(lambda: log.append("hook"))
    w.submit(lambda: log.append("job"))
    w.flush(5)
    assert log[0] == "job" and "hook" in log
    w.close()


def _blocked_writer(maxsize: int) -> tuple[Writer, threading.Event]:
    gate = threading.Event()
    w = Writer(maxsize=maxsize)
    w.submit(gate.wait, critical=True)  # holds the thread so the queue fills up
    return w, gate


def test_full_queue_drops_ordinary_jobs_but_not_critical_ones() -> None:
    w, gate = _blocked_writer(maxsize=3)
    done: list[str] = []
    while w.pending < 3:  # the blocking job may or may not have been taken yet
        w.submit(lambda: done.append("x"))
    assert w.submit(lambda: done.append("dropped")) is False
    assert w.dropped >= 1
    assert w.submit(lambda: done.append("critical"), critical=True) is True
    gate.set()
    w.flush(5)
    assert "dropped" not in done and done[-1] == "critical"
    w.close()


def test_failing_job_is_counted_and_the_thread_goes_on() -> None:
    w = Writer()
    seen: list[int] = []
    w.submit(lambda: 1 / 0)
    w.submit(lambda: seen.append(1))
    w.flush(5)
    assert w.errors == 1 and seen == [1]
    w.close()


def test_close_drains_the_queue() -> None:
    w, gate = _blocked_writer(maxsize=100)
    seen: list[int] = []
    for i in range(50):
        w.submit(lambda i=i: seen.append(i))
    gate.set()
    w.close()
    assert seen == list(range(50))
    assert w.submit(lambda: None) is False  # closed
    assert w.flush(1)


def test_flush_from_the_writer_thread_does_not_deadlock() -> None:
    w = Writer()
    result: list[bool] = []
    w.submit(lambda: result.append(w.flush(1)))
    w.flush(5)
    assert result == [True]
    w.close()
