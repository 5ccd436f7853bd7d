"""Which live sessions an external IDS alert is about (sans-IO).

An IDS sees packets, honeyswitch sees sessions; they meet on the TCP flow's unordered
address pair.  The alert's packet may be the server's reply (EVE ``direction:
to_client``, and every fast.log line is ambiguous), so keys ignore direction.  In
transparent mode the IDS sees the client talking to the *original* destination while
the session knows the listener's address, so both pairs are keys of the session; a
session can add more (e.g. its leg to the main backend, for an IDS that watches that
link).  With the ``communityid`` package an EVE alert's ``community_id`` is a further
key (both the spec's value and Suricata 7.0's loopback variant, see ``community.py``).
"""
from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import TypeVar

from .alert import Addr, IdsAlert, normalise_ip
from .community import community_ids

FlowKey = tuple[str, Addr, Addr]  # ("TCP", lower (ip, port), higher (ip, port))
K = TypeVar("K", bound=Hashable)


def flow_key(a: Addr, b: Addr, proto: str = "TCP") -> FlowKey:
    """The direction-free key of a flow between ``a`` and ``b``."""
    x = (normalise_ip(a[0]), int(a[1]))
    y = (normalise_ip(b[0]), int(b[1]))
    return (proto.upper(), *sorted((x, y)))  # type: ignore[return-value]


class SessionIndex:
    """Live TCP sessions by flow key (and Community ID), for :meth:`match`."""

    def __init__(self, use_community_id: bool = True, community_seed: int = 0) -> None:
        self._use_cid = use_community_id
        self._seed = community_seed
        self._by_key: dict[FlowKey, dict[str, None]] = {}  # dicts as ordered sets
        self._by_cid: dict[str, dict[str, None]] = {}
        self._keys: dict[str, tuple[list[FlowKey], list[str]]] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._keys

    def add(
        self,
        session_id: str,
        client: Addr,
        server: Addr,
        original_server: Addr | None = None,
        legs: Iterable[tuple[Addr, Addr]] = (),
    ) -> None:
        """Index a session by (client, server) and, in transparent mode, by
        (client, original_server); ``legs`` are further (local, remote) pairs."""
        self.remove(session_id)
        pairs = [(client, server), *legs]
        if original_server is not None:
            pairs.append((client, original_server))
        keys = list(dict.fromkeys(flow_key(a, b) for a, b in pairs))
        cids = list(dict.fromkeys(c for key in keys for c in self._cids_of(key)))
        for key in keys:
            self._by_key.setdefault(key, {})[session_id] = None
        for cid in cids:
            self._by_cid.setdefault(cid, {})[session_id] = None
        self._keys[session_id] = (keys, cids)

    def remove(self, session_id: str) -> bool:
        """Forget a session; ``False`` if it was not indexed."""
        entry = self._keys.pop(session_id, None)
        if entry is None:
            return False
        keys, cids = entry
        for key in keys:
            _discard(self._by_key, key, session_id)
        for cid in cids:
            _discard(self._by_cid, cid, session_id)
        return True

    def match(self, alert: IdsAlert) -> list[str]:
        """Ids of the live sessions the alert is about, in either direction."""
        if alert.proto is not None and alert.proto.upper() != "TCP":
            return []
        found: dict[str, None] = {}
        for key in _alert_keys(alert):
            found.update(self._by_key.get(key, {}))
        if alert.community_id and self._by_cid:
            found.update(self._by_cid.get(alert.community_id, {}))
        return list(found)

    def community_ids(self, session_id: str) -> list[str]:
        """The Community IDs a session is indexed by (to log next to the IDS's)."""
        entry = self._keys.get(session_id)
        return list(entry[1]) if entry else []

    def _cids_of(self, key: FlowKey) -> list[str]:
        if not self._use_cid:
            return []
        proto, a, b = key
        return community_ids(proto, a, b, self._seed)


def _alert_keys(alert: IdsAlert) -> list[FlowKey]:
    keys = []
    pairs = (
        (alert.src_ip, alert.src_port, alert.dest_ip, alert.dest_port),
        (alert.flow_src_ip, alert.flow_src_port, alert.flow_dest_ip, alert.flow_dest_port),
    )
    for sip, sport, dip, dport in pairs:
        if sip is not None and sport is not None and dip is not None and dport is not None:
            keys.append(flow_key((sip, sport), (dip, dport)))
    return keys


def _discard(index: dict[K, dict[str, None]], key: K, session_id: str) -> None:
    ids = index.get(key)
    if ids is not None:
        ids.pop(session_id, None)
        if not ids:
            del index[key]
