"""stress: demos, stress runners and benchmarks that drive the public API from outside."""
