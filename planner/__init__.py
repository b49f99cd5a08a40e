"""planner: the domain (tasks, dependencies, agents, leases), its engine and CLI.

Built on :mod:`eventstore`; see DESIGN.md for the decide/evolve shape.
"""
