"""Session ids: 12 hex digits, unique, and never shared by forked workers."""
from __future__ import annotations

import os
import re

from honeyswitch.relay import ids


def test_ids_are_12_hex_digits_and_unique_across_pool_refills() -> None:
    got = [ids.new_session_id() for _ in range(3 * ids.POOL_IDS + 7)]
    assert all(re.fullmatch(r"[0-9a-f]{12}", i) for i in got)
    assert len(set(got)) == len(got)


def test_a_forked_child_does_not_reuse_the_parents_pool() -> None:
    ids.new_session_id()  # the pool is filled: a child copying it would repeat these
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(r)
        os.write(w, ",".join(ids.new_session_id() for _ in range(20)).encode())
        os._exit(0)
    os.close(w)
    child = os.read(r, 65536).decode().split(",")
    os.close(r)
    os.waitpid(pid, 0)
    parent = [ids.new_session_id() for _ in range(20)]
    assert len(child) == 20 and not set(child) & set(parent)
