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
    """Live TCP sessions by flow key (and Community ID), for :meth:`match`.

    Community IDs cost ~50 us each with the ``communityid`` package, too much for every
    accepted connection, so a session's are computed only when first needed: for
    :meth:`community_ids`, or when an alert carrying one matches no flow key.
    """

    def __init__(self, use_community_id: bool = True, community_seed: int = 0) -> None:
        self._use_cid = use_community_id
        self._seed = community_seed
        self._by_key: dict[FlowKey, dict[str, None]] = {}  # dicts as ordered sets
        self._by_cid: dict[str, dict[str, None]] = {}
        self._keys: dict[str, list[FlowKey]] = {}
        self._cids: dict[str, list[str]] = {}  # sessions whose Community IDs are indexed
        self._pending: dict[str, None] = {}  # ... and those whose are not yet

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
        for key in keys:
            self._by_key.setdefault(key, {})[session_id] = None
        self._keys[session_id] = keys
        if self._use_cid:
            self._pending[session_id] = None

    def remove(self, session_id: str) -> bool:
        """Forget a session; ``False`` if it was not indexed."""
        keys = self._keys.pop(session_id, None)
        if keys is None:
            return False
        for key in keys:
            _discard(self._by_key, key, session_id)
        for cid in self._cids.pop(session_id, ()):
            _discard(self._by_cid, cid, session_id)
        self._pending.pop(session_id, None)
        return True

    def match(self, alert: IdsAlert) -> list[str]:
        """Ids of the live sessions the alert is about, in either direction."""
        if alert.proto is not None and alert.proto.upper() != "TCP":
            return []
        found: dict[str, None] = {}
        for key in _alert_keys(alert):
            found.update(self._by_key.get(key, {}))
        if not found and alert.community_id and self._use_cid:
            self._index_pending()
            found.update(self._by_cid.get(alert.community_id, {}))
        return list(found)

    def community_ids(self, session_id: str) -> list[str]:
        """The Community IDs a session is indexed by (to log next to the IDS's)."""
        if session_id in self._pending:
            self._index_cids(session_id)
        return list(self._cids.get(session_id, ()))

    def _index_pending(self) -> None:
        for session_id in list(self._pending):
            self._index_cids(session_id)

    def _index_cids(self, session_id: str) -> None:
        del self._pending[session_id]
        cids = list(dict.fromkeys(
            cid for proto, a, b in self._keys[session_id]
            for cid in community_ids(proto, a, b, self._seed)))
        for cid in cids:
            self._by_cid.setdefault(cid, {})[session_id] = None
        self._cids[session_id] = cids


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
