"""The domain: event and command schemas, and the rules that decide commands (pure, no I/O)."""
