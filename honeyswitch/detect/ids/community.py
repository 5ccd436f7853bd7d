"""Community ID v1 (https://github.com/corelight/community-id-spec): the cross-tool flow
hash that Suricata writes as ``community_id`` with ``community-id: true``.

Computed with the ``communityid`` package (the spec's reference implementation).  Without
it installed, :func:`community_id` returns ``None`` and matching falls back to addresses
and ports, which carry the same information.

Suricata 7.0 (7.0.10 here) departs from the spec when both addresses are equal, as on
loopback: it orders the ports by comparing them in network byte order as host integers
(``src == dst && sp < dp`` on ``htons`` values in ``CalculateCommunityFlowIdv4``; later
Suricata compares ``ntohs``), so on little-endian machines 127.0.0.1:8080 <->
127.0.0.1:50003 hashes as if 50003 were the smaller port.  :func:`community_ids` gives
the spec's value and, where it differs, that one too.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from .alert import normalise_ip

try:
    import communityid as _cid
except ImportError:  # optional: only a second key for matching
    _cid = None

AVAILABLE = _cid is not None
_MAKERS = {"TCP": "make_tcp", "UDP": "make_udp", "SCTP": "make_sctp"}

Addr = tuple[str, int]


@lru_cache(maxsize=8)
def _hasher(seed: int) -> Any:
    assert _cid is not None
    return _cid.CommunityID(seed=seed)


def community_id(proto: str, src: Addr, dst: Addr, seed: int = 0) -> str | None:
    """``"1:<base64 sha1>"`` of a flow, the same whichever end is ``src``; ``None`` if
    the package is missing or the protocol has no ports."""
    flow = _flow(proto, src, dst)
    return None if flow is None else str(_hasher(seed).calc(flow))


def community_ids(proto: str, src: Addr, dst: Addr, seed: int = 0) -> list[str]:
    """The spec's Community ID of a flow, then Suricata 7.0's if it differs."""
    spec = community_id(proto, src, dst, seed)
    if spec is None:
        return []
    legacy = _suricata7_id(proto, src, dst, seed)
    return [spec] if legacy in (None, spec) else [spec, legacy]


def _suricata7_id(proto: str, src: Addr, dst: Addr, seed: int) -> str | None:
    if normalise_ip(src[0]) != normalise_ip(dst[0]):
        return None  # only equal addresses are ordered differently
    if _swapped(src[1]) > _swapped(dst[1]):
        src, dst = dst, src
    flow = _flow(proto, src, dst)
    if flow is None:
        return None
    hasher = _hasher(seed)  # hash() takes the tuple as given: no canonical reordering
    return str(hasher.render(hasher.hash(flow.in_nbo())))


def _swapped(port: int) -> int:
    """A port as a little-endian host reads its network-order bytes."""
    return ((port & 0xFF) << 8) | (port >> 8)


def _flow(proto: str, src: Addr, dst: Addr) -> Any:
    maker = _MAKERS.get(proto.upper())
    if _cid is None or maker is None:
        return None
    return getattr(_cid.FlowTuple, maker)(src[0], dst[0], src[1], dst[1])
