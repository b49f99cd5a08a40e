"""Peers: the same workload implemented on other stores, for benchmarks to compare against."""
