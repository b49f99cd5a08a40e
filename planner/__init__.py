"""planner: the domain (tasks, dependencies, agents, leases), its engine, the service and its adapters.

The folders are the layers (imports point down only; see DESIGN.md)::

    planner/cli, agents, plans, spec    adapters: the command line and watch, planner work's
                                        supervisor and workers, plan import/export/decomposition,
                                        the original spec's API
    planner/service                     every command and query as JSON-ready data
    planner/engine                      read-decide-append on a store; maintenance steps
    planner/domain                      event and command schemas, the rules (pure)

Below them: :mod:`projections` (evolve) and :mod:`eventstore` (the store protocol).
"""


def __getattr__(name: str):
    # Lazy, so that `import planner` costs nothing: a query answered from a snapshot never
    # loads pydantic or the rules.
    if name == "Planner":  # the engine, or a client of `planner serve` when one runs (planner.connect)
        from planner.connect import Planner

        return Planner
    if name == "SuperPlanner":
        from planner.spec.spec_api import SuperPlanner

        return SuperPlanner
    if name == "AgentCoordinator":
        from planner.spec.coordination import AgentCoordinator

        return AgentCoordinator
    if name in ("DomainError", "UnknownTask", "DuplicateTask", "CycleError", "InvalidPlanError", "StaleLease",
                "UnknownAgent", "ProjectNotFound"):
        from planner.domain import errors

        return getattr(errors, name)
    if name == "IllegalTransition":
        from planner.domain.transitions import IllegalTransition

        return IllegalTransition
    raise AttributeError(f"module 'planner' has no attribute {name!r}")
