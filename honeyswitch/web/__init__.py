"""The web dashboard: static page + live event stream, served by the control API."""
