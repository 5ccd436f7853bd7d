"""AlertTailer on real files: start position, appends, partial lines, rotation by rename
and by copytruncate, a file that appears late, bad lines, callbacks, stop."""
from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from honeyswitch.detect.ids import AlertTailer, IdsAlert, SuricataEveParser, SuricataFastParser
from honeyswitch.detect.ids.follow import FileFollower
from honeyswitch.detect.ids.inotify import DirWatch

POLL = 0.01
WAIT = 5.0  # bound on every wait; passing runs take milliseconds


def eve(sid: int, event_type: str = "alert") -> str:
    event = {
        "timestamp": "2026-11-25T16:29:18.395060+0000", "event_type": event_type,
        "src_ip": "127.0.0.1", "src_port": 40000 + sid % 1000, "dest_ip": "127.0.0.1",
        "dest_port": 18080, "proto": "TCP", "direction": "to_server",
        "alert": {"gid": 1, "signature_id": sid, "rev": 1, "signature": f"test {sid}",
                  "severity": 2},
    }
    return json.dumps(event) + "\n"


def append(path: Path, text: str | bytes) -> None:
    data = text.encode() if isinstance(text, str) else text
    with open(path, "ab") as f:
        f.write(data)


async def until(cond: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


@pytest.fixture(params=[True, False], ids=["inotify", "polling"])
def use_inotify(request) -> bool:
    return request.param


@pytest.fixture
async def tail(tmp_path, use_inotify):
    """``await tail(path, **kw)`` -> (tailer, received alerts); all stopped afterwards."""
    started: list[AlertTailer] = []

    async def make(path: Path, **kw) -> tuple[AlertTailer, list[IdsAlert]]:
        got: list[IdsAlert] = []
        kw.setdefault("parser", SuricataEveParser())
        tailer = AlertTailer(path, poll_interval=POLL, on_alert=got.append,
                             use_inotify=use_inotify, **kw)
        await tailer.start()
        started.append(tailer)
        return tailer, got

    yield make
    for t in started:
        await t.stop()


def sids(alerts: list[IdsAlert]) -> list[int | None]:
    return [a.sid for a in alerts]


async def test_starts_at_end_and_picks_up_appends(tmp_path, tail):
    path = tmp_path / "eve.json"
    append(path, eve(1) + eve(2))
    tailer, got = await tail(path)
    append(path, eve(3))
    await until(lambda: len(got) == 1)
    append(path, eve(4) + eve(5))
    await until(lambda: len(got) == 3)
    assert sids(got) == [3, 4, 5]
    assert tailer.stats.lines == 3 and tailer.stats.alerts == 3


async def test_start_at_beginning_reads_what_is_there(tmp_path, tail):
    path = tmp_path / "eve.json"
    append(path, eve(1) + eve(2))
    _, got = await tail(path, start="beginning")
    await until(lambda: len(got) == 2)
    assert sids(got) == [1, 2]


async def test_partial_line_is_completed_later(tmp_path, tail):
    path = tmp_path / "eve.json"
    path.touch()
    tailer, got = await tail(path)
    line = eve(7)
    append(path, line[:50])
    await asyncio.sleep(0.1)
    assert got == [] and tailer.stats.malformed == 0
    append(path, line[50:])
    await until(lambda: len(got) == 1)
    assert sids(got) == [7] and tailer.stats.malformed == 0


async def test_start_at_end_inside_a_line_skips_its_tail(tmp_path, tail):
    path = tmp_path / "eve.json"
    half = eve(1)[:40]
    append(path, eve(0) + half)
    tailer, got = await tail(path)
    append(path, eve(1)[40:] + eve(2))
    await until(lambda: len(got) == 1)
    assert sids(got) == [2] and tailer.stats.malformed == 0


async def test_rename_and_create_finishes_the_old_file_first(tmp_path, tail):
    path = tmp_path / "eve.json"
    writer = open(path, "a")  # like Suricata: one fd, kept until SIGHUP
    tailer, got = await tail(path)
    writer.write(eve(1))
    writer.flush()
    await until(lambda: len(got) == 1)
    os.rename(path, tmp_path / "eve.json.1")  # logrotate's rename ...
    path.touch()  # ... and "create"
    writer.write(eve(2))  # the IDS writes on until its SIGHUP
    writer.flush()
    writer.close()
    append(path, eve(3))  # after the HUP: the new file
    await until(lambda: len(got) == 3)
    assert sids(got) == [1, 2, 3]
    assert tailer.stats.rotations == 1
    append(tmp_path / "eve.json.1", eve(4))  # a straggler within the linger time
    append(path, eve(5))
    await until(lambda: len(got) == 5)
    assert sorted(sids(got)[3:]) == [4, 5]


async def test_renamed_away_without_new_file_keeps_reading(tmp_path, tail):
    path = tmp_path / "eve.json"
    path.touch()
    tailer, got = await tail(path)
    os.rename(path, tmp_path / "old.json")
    append(tmp_path / "old.json", eve(1))
    await until(lambda: len(got) == 1)
    append(path, eve(2))  # the new file appears later
    await until(lambda: len(got) == 2)
    assert sids(got) == [1, 2] and tailer.stats.rotations == 1


async def test_copytruncate_rewinds(tmp_path, tail):
    path = tmp_path / "eve.json"
    tailer, got = await tail(path, start="beginning")
    append(path, eve(1) + eve(2))
    await until(lambda: len(got) == 2)
    (tmp_path / "eve.json.1").write_bytes(path.read_bytes())  # copy ...
    with open(path, "r+b") as f:  # ... truncate
        f.truncate(0)
    await asyncio.sleep(0.05)
    append(path, eve(3))
    await until(lambda: len(got) == 3)
    assert sids(got) == [1, 2, 3] and tailer.stats.rotations == 1


async def test_truncation_under_a_non_append_writer_leaves_nuls(tmp_path, tail):
    path = tmp_path / "eve.json"
    append(path, eve(1) * 3)
    tailer, got = await tail(path)
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(0)
    await until(lambda: tailer.stats.rotations == 1)
    with open(path, "r+b") as f:  # the writer's offset did not move: a hole of NULs
        f.seek(size)
        f.write(eve(2).encode())
    await until(lambda: len(got) == 1)
    assert sids(got) == [2] and tailer.stats.malformed == 0


async def test_missing_file_is_waited_for(tmp_path, tail):
    path = tmp_path / "later" / "eve.json"
    tailer, got = await tail(path)
    await asyncio.sleep(0.05)
    path.parent.mkdir()
    append(path, eve(1) + eve(2))  # a new file is read from its start
    await until(lambda: len(got) == 2)
    assert sids(got) == [1, 2]


async def test_bad_lines_are_counted_and_skipped(tmp_path, tail):
    path = tmp_path / "eve.json"
    path.touch()
    tailer, got = await tail(path, max_line=2000)
    append(path, "not json\n" + "x" * 5000 + "\n" + eve(1, "flow") + "\n\n" + eve(2))
    append(path, "y" * 3000)  # an over-long partial line, counted once
    append(path, "y" * 3000 + "\n" + eve(3))
    await until(lambda: len(got) == 2)
    assert sids(got) == [2, 3]
    assert tailer.stats.as_dict() == {
        "lines": 4, "alerts": 2, "malformed": 1, "overlong": 2, "rotations": 0,
        "callback_errors": 0,
    }


async def test_callback_errors_do_not_stop_the_tailer(tmp_path, use_inotify):
    path = tmp_path / "eve.json"
    path.touch()
    got: list[int | None] = []

    async def on_alert(alert: IdsAlert) -> None:
        if alert.sid == 1:
            raise RuntimeError("consumer bug")
        got.append(alert.sid)

    tailer = AlertTailer(path, SuricataEveParser(), poll_interval=POLL, on_alert=on_alert,
                         use_inotify=use_inotify)
    async with tailer:
        append(path, eve(1) + eve(2))
        await until(lambda: got == [2])
    assert tailer.stats.callback_errors == 1


async def test_async_iteration_until_stop(tmp_path, use_inotify):
    path = tmp_path / "fast.log"
    path.touch()
    tailer = AlertTailer(path, SuricataFastParser(), poll_interval=POLL, use_inotify=use_inotify)
    await tailer.start()
    append(path, "11/25/2026-16:29:06.835874  [**] [1:2008538:8] ET SCAN Sqlmap SQL Injection "
                 "Scan [**] [Classification: Attempted Information Leak] [Priority: 2] {TCP} "
                 "127.0.0.1:58002 -> 127.0.0.1:18080\n")
    async with asyncio.timeout(WAIT):
        alert = await anext(tailer)
    assert alert.sid == 2008538 and alert.src_port == 58002
    await tailer.stop()
    async with asyncio.timeout(WAIT):
        rest = [a async for a in tailer]
    assert rest == []


async def test_real_eve_file_streamed_in_random_pieces(tmp_path, tail, shared_alerts):
    lines = shared_alerts("suricata7_eve_alerts_sqlmap_e2e.json")
    data = "".join(line + "\n" for line in lines).encode()
    path = tmp_path / "eve.json"
    path.touch()
    tailer, got = await tail(path)
    rng = random.Random(7)
    pos = 0
    while pos < len(data):
        step = rng.randint(1, 3000)
        append(path, data[pos:pos + step])
        pos += step
        if rng.random() < 0.3:
            await asyncio.sleep(0.003)
    await until(lambda: len(got) == 64)
    parser = SuricataEveParser()
    assert got == [parser.parse_line(line) for line in lines]
    assert tailer.stats.malformed == 0


async def test_inotify_wakes_the_tailer_long_before_the_poll(tmp_path):
    path = tmp_path / "eve.json"
    path.touch()
    got: list[IdsAlert] = []
    tailer = AlertTailer(path, SuricataEveParser(), poll_interval=30.0, on_alert=got.append)
    async with tailer:
        if tailer._watch is None:
            pytest.skip("inotify is not available here")
        delays = []
        for sid in range(20):
            start = time.monotonic()
            append(path, eve(sid))
            await until(lambda n=sid + 1: len(got) == n, timeout=WAIT)
            delays.append(time.monotonic() - start)
    delays.sort()
    assert delays[len(delays) // 2] < 0.1, delays  # p50; the poll would take 30 s


def test_follower_reads_in_bounded_steps(tmp_path):
    path = tmp_path / "big.log"
    path.write_bytes(b"x" * 99 + b"\n" + (b"y" * 99 + b"\n") * 99)
    follower = FileFollower(path, start="beginning", budget=1000)
    follower.open_initial()
    batches = []
    while True:
        batches.append(follower.read())
        if not follower.more:
            break
    assert len(batches) >= 10 and all(len(b) <= 10 for b in batches)  # 1000 bytes a step
    assert sum(map(len, batches)) == 100
    follower.close()


def test_follower_rejects_bad_start(tmp_path):
    with pytest.raises(ValueError):
        FileFollower(tmp_path / "x", start="middle")


def test_dirwatch_on_missing_directory_is_none(tmp_path):
    async def main() -> None:
        assert DirWatch.create(str(tmp_path / "nope" / "eve.json")) is None

    asyncio.run(main())


async def test_a_parser_bug_loses_the_line_not_the_tailer(tmp_path, tail):
    class Buggy(SuricataEveParser):
        def parse_line(self, line: str) -> IdsAlert | None:
            if '"signature_id": 1,' in line:
                raise RuntimeError("bug")
            return super().parse_line(line)

    path = tmp_path / "eve.json"
    path.touch()
    tailer, got = await tail(path, parser=Buggy())
    append(path, eve(1) + eve(2))
    await until(lambda: len(got) == 1)
    assert sids(got) == [2] and tailer.stats.malformed == 1
