"""Recording: the background writer, the JSON-lines event log and session transcripts."""
