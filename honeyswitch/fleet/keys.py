"""Where things live in Redis.

Every key starts with ``{prefix}:``.  The braces are a Redis Cluster hash tag: all of
honeyswitch's keys hash to one slot, so one Lua script may touch an entry, its
tombstone, its index and the decision stream atomically, and one ``XREAD`` may wait on
several streams.  The data is small (entries and shares, not traffic), so a Cluster
serves it from one shard and adds failover rather than spread.
"""
from __future__ import annotations


class Keys:
    def __init__(self, prefix: str) -> None:
        self.base = "{" + prefix + "}"
        b = self.base
        self.epoch = f"{b}:epoch"  # random, set by the first host to meet an empty Redis
        self.blacklist = f"{b}:bl"  # sorted set: listed address -> expiry (ms; +inf: never)
        self.sources = f"{b}:src"  # sorted set: address with shares -> when they all fade (ms)
        self.decisions = f"{b}:decisions"  # stream: every change of the two above
        self.events = f"{b}:events"  # stream: every host's events, as JSON lines
        self.nodes = f"{b}:nodes"  # sorted set: node -> last heartbeat (ms)

    def entry(self, ip: str) -> str:
        """Hash: one listed address (fields of BlacklistEntry); expires with it."""
        return f"{self.base}:bl:{ip}"

    def tombstone(self, ip: str) -> str:
        """String: when ``ip`` was last removed (adds decided earlier lose)."""
        return f"{self.base}:bl-:{ip}"

    def source(self, ip: str) -> str:
        """Hash: node -> that node's SourceShare of ``ip``; expires when all have faded."""
        return f"{self.base}:src:{ip}"

    def sessions(self, node: str) -> str:
        """String: ``node``'s live sessions (JSON), refreshed every sessions_interval."""
        return f"{self.base}:sessions:{node}"

    def owner(self, node: str) -> str:
        """String: a random token of the process that goes by ``node`` (two processes
        with one name would ignore each other's decisions: this tells)."""
        return f"{self.base}:owner:{node}"

    def commands(self, node: str) -> str:
        """Stream: switch requests addressed to ``node`` (read with a consumer group)."""
        return f"{self.base}:cmd:{node}"

    def replies(self, node: str) -> str:
        """Stream: answers to the switch requests ``node`` sent."""
        return f"{self.base}:reply:{node}"
