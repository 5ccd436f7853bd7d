"""Packet-level mode: honeyswitch sees a service's TCP packets through NFQUEUE.

Sans-IO parts (no sockets): :mod:`.checksum`, :mod:`.headers`, :mod:`.options` parse and
rewrite IPv4/IPv6 + TCP packets; :mod:`.seq` is 32-bit sequence arithmetic;
:mod:`.reasm` reassembles a direction's byte stream; :mod:`.sender` is the small
retransmitting sender honeyswitch uses for bytes it must deliver itself; :mod:`.flow` is
the per-connection state machine that drives the proxy mode's session core from packets.
:mod:`.runner` and :mod:`.mode` are the asyncio edge (timers, the queue, injection).
"""
