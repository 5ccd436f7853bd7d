"""Several relay worker processes behind one set of listening ports.

The supervisor (:mod:`.supervisor`) binds one ``SO_REUSEPORT`` socket per worker for
every listen address (:mod:`.reuseport`), forks the workers, and serves the control API
for all of them, reaching each worker over a private channel (:mod:`.channel`).
"""
