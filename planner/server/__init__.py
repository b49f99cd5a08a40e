"""``planner serve``: the long-running server of a home, and its control (status, stop)."""
