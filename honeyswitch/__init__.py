"""honeyswitch: mirror TCP sessions to a real server and a honeypot copy, and switch
attackers to the honeypot mid-session."""

from . import native

__version__ = "0.1.0"

native.install()  # compiled hot modules, or their Python sources (see native.py)
