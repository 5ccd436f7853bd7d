"""Several hosts, one defence: the blacklist, source scores, incidents' running totals,
switch requests, live sessions and events shared through Redis (``[cluster]``).

Not to be confused with :mod:`honeyswitch.cluster`, the worker processes of one host.
Each honeyswitch process with a ``[cluster]`` table runs one
:class:`~honeyswitch.fleet.sync.FleetSync`; the daemon talks to it only through the two
Protocols of :mod:`honeyswitch.fleet.ports`.  docs/cluster.md describes what is shared,
how it lives in Redis and what happens while Redis is unreachable.

Only :mod:`.sync`, :mod:`.connect` and the modules they use need redis-py (the
``cluster`` extra); the config, the model and the sans-IO parts import without it.
"""
