"""Session ids: 12 random hex digits (48 bits), as ``secrets.token_hex(6)`` gives, but
cut from a pool of ``os.urandom`` bytes filled in bulk, one system call per 512 ids.

The pool is emptied in a forked child (workers are fresh processes, but anything that
forks must not hand out its parent's next ids).
"""
from __future__ import annotations

import os

ID_BYTES = 6
POOL_IDS = 512

_pool = ""
_pos = 0


def new_session_id() -> str:
    global _pool, _pos
    pos = _pos
    if pos >= len(_pool):
        _pool, pos = os.urandom(ID_BYTES * POOL_IDS).hex(), 0
    _pos = pos + 2 * ID_BYTES
    return _pool[pos:_pos]


def _forget() -> None:
    global _pool, _pos
    _pool, _pos = "", 0


os.register_at_fork(after_in_child=_forget)
