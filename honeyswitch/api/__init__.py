"""Control API (HTTP + bearer token) and its client."""
