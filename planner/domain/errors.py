"""Domain errors: a command refused, with what, where and what to do. A leaf module."""

from __future__ import annotations


class DomainError(ValueError):
    """A command the planner refuses; nothing was written."""


class UnknownTask(DomainError):
    def __init__(self, task: str, role: str = "task"):
        self.task = task
        super().__init__(f"unknown {role} {task!r}: `planner tree` lists the ids")


class DuplicateTask(DomainError):
    def __init__(self, task: str):
        self.task = task
        super().__init__(f"a task with id {task!r} already exists; choose another id or omit it to get one")


class CycleError(DomainError):
    """An edge (or move) that would make some task wait on itself."""

    def __init__(self, task: str, depends_on: str, chain: list[tuple[str, str]]):
        self.task, self.depends_on, self.chain = task, depends_on, chain
        if not chain:
            why = f"{task} and {depends_on} are the same task or one contains the other"
        else:
            edges = ", ".join(f"{a} -> {b}" for a, b in chain)
            why = (f"it would close the cycle {task} -> {depends_on} (new), {edges}; "
                   f"removing one of {edges} would allow it")
        super().__init__(f"{task} cannot depend on {depends_on}: {why}")


class ProjectNotFound(DomainError):
    def __init__(self, project: str, home: str):
        self.project, self.home = project, home
        super().__init__(f"no project {project!r} in {home}: create it with `planner init` "
                         "(or Planner.open(..., create=True))")


class InvalidPlanError(DomainError):
    """A batch of tasks (an import, a decomposition) with problems; nothing was written.

    ``problems`` lists every one as ``(where, what)``, ``where`` being a JSON path
    (``tasks[3].dependencies[0]``) or ``file:line``.
    """

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source, self.problems = source, problems
        lines = "\n".join(f"  {where}: {what}" for where, what in problems)
        super().__init__(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in {source}, nothing "
                         f"imported (--skip-invalid imports the rest):\n{lines}")


class UnknownAgent(DomainError):
    def __init__(self, agent: str):
        self.agent = agent
        super().__init__(f"unknown agent {agent!r}: register it first (`planner agent register` or "
                         "Planner.register_agent); `planner agents` lists them")


class StaleLease(DomainError):
    """A command on a leased task without the lease's current token (fencing): refused, nothing
    written. Typically a worker whose lease expired and whose task went to someone else."""

    def __init__(self, task: str, token: int | None, holder: str | None, current: int | None):
        self.task, self.token, self.holder, self.current = task, token, holder, current
        if holder is None:
            why = f"{task} is not leased any more (token {token} expired or was released)"
        elif token is None:
            why = f"{task} is leased to {holder}: present its lease token"
        else:
            why = f"token {token} is stale: {task} is now leased to {holder} under token {current}"
        super().__init__(f"stale lease: {why}; nothing was changed")
