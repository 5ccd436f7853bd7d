"""honeyswitch: mirror TCP sessions to a real server and a honeypot copy, and switch
attackers to the honeypot mid-session."""

__version__ = "0.1.0"
