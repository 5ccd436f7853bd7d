"""The demo: a small stateful service, a honeypot copy of it, and a scripted attack."""
