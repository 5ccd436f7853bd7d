"""Scores, correlation and decisions: what alerts add up to, per session and per source.

Sans-IO: callers pass the time in.  Session scores live in the session core (they decide
the switch); this package keeps what outlives a session: decaying source scores,
incidents (a source's alerts grouped in time) and the blacklist decision.
"""
