"""Sans-IO core: the session state machine and its events and commands."""
