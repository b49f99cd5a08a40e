"""The engine: read-decide-append on a store, and its maintenance steps."""
