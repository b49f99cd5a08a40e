"""The API of the original benchmark spec (BENCH-001/002), as a thin facade over the planner."""
