"""planner: the domain (tasks, dependencies, agents, leases), its engine and CLI.

Built on :mod:`eventstore`; see DESIGN.md for the decide/evolve shape.
"""


def __getattr__(name: str):
    # Lazy, so that leaf modules (planner.events, planner.states) import without the engine,
    # and projections can use them without an import cycle.
    if name == "Planner":
        from .engine import Planner

        return Planner
    if name == "SuperPlanner":
        from .spec_api import SuperPlanner

        return SuperPlanner
    if name == "AgentCoordinator":
        from .coordination import AgentCoordinator

        return AgentCoordinator
    if name in ("DomainError", "UnknownTask", "DuplicateTask", "CycleError", "InvalidPlanError"):
        from . import errors

        return getattr(errors, name)
    if name == "IllegalTransition":
        from .states import IllegalTransition

        return IllegalTransition
    raise AttributeError(f"module 'planner' has no attribute {name!r}")
