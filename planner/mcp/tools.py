"""The MCP tools: one method each, on one :class:`~planner.mcp.session.AgentSession`.

A method's signature is its tool's input schema (pydantic reads the annotations: the
descriptions, bounds and choices below are what a model sees), its docstring the tool's
description (written for a language model), its return annotation the output schema. A
refusal (see :func:`~planner.mcp.refusals.refusal`) comes back as a tool error (``isError``)
whose text is the CLI's one-line message, and wrote nothing. No MCP import here but for
that error result; :mod:`planner.mcp.server` registers the methods.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import Field

from planner.mcp.refusals import refusal
from planner.mcp.session import AgentSession
from planner.mcp.shapes import AnalysisView, Checkpointed, Claimed, SessionStatus
from planner.service.schema import EventView, Lease, ReadyTask, TaskView, TreeNode

TaskId = Annotated[str, Field(description="a task's id, e.g. 'T12'", min_length=1)]
Token = Annotated[int | None, Field(description="the lease's fencing token; leave it out for a task this session "
                                               "claimed (the session keeps its tokens)")]
Ttl = Annotated[float | None, Field(gt=0, description="the lease's time to live in seconds (default: the project's)")]
Priority = Literal["low", "medium", "high", "critical"]
Capabilities = Annotated[list[str], Field(description="capabilities an agent needs for it, e.g. ['python', 'sql']")]

#: the tools that change nothing (read-only hints for the client)
QUERIES = frozenset({"status", "ready", "show_task", "tree", "history", "analyze"})


def refusals_as_tool_errors(method: Callable[..., Any]) -> Callable[..., Any]:
    """A tool method whose refusals return an ``isError`` result with the CLI's message (the
    SDK would prefix ``Error executing tool ...``); anything else is a bug and propagates."""
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except Exception as exc:
            message = refusal(exc)
            if message is None:
                raise
            from mcp.types import CallToolResult, TextContent

            return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)

    return call


class PlannerTools:
    """The tools of one session; :data:`NAMES` lists them in the order they are offered."""

    NAMES = ("status", "ready", "show_task", "tree", "history", "analyze", "add_task", "add_dependency",
             "remove_dependency", "edit_task", "claim_task", "renew_lease", "checkpoint_task", "complete_task",
             "fail_task", "release_task")

    def __init__(self, session: AgentSession):
        self.session = session
        self.service = session.service

    # -- reading the plan ------------------------------------------------------------
    @refusals_as_tool_errors
    def status(self) -> SessionStatus:
        """The project in numbers: mode (claims are paused in 'planning'), tasks, leaf tasks by state,
        how many are ready and held, progress, the lease TTL and attempts per task; and you: your agent
        name and, once you have claimed, your leases with their tokens and time left."""
        return self.session.status()

    @refusals_as_tool_errors
    def ready(self, limit: Annotated[int, Field(ge=1, le=1000, description="how many to list")] = 20,
              capabilities: Annotated[list[str] | None, Field(
                  description="only tasks these capabilities cover (default: every ready task)")] = None,
              ) -> list[ReadyTask]:
        """The tasks that can start now (dependencies done, not held), best first: priority, then
        critical-path weight (the effort of the longest chain that waits on it), then age.
        claim_task takes the best one you can do; this lists what is there."""
        return self.service.ready(limit, capabilities)

    @refusals_as_tool_errors
    def show_task(self, task: TaskId) -> TaskView:
        """One task in full: title, description, priority, effort, capabilities, verify_command, state,
        whether it is ready, its parent and children, what it depends on and what depends on it, its
        latest checkpoint (notes and data saved mid-task), its lease (holder, token, expiry) and attempts."""
        return self.service.show(task)

    @refusals_as_tool_errors
    def tree(self, root: Annotated[str | None, Field(description="start from this task (default: the top)")] = None,
             depth: Annotated[int | None, Field(ge=1, description="levels to show; a cut node counts its "
                                                                  "hidden_children (default 2; null: all)")] = 2,
             ) -> list[TreeNode]:
        """The task tree (subtasks under their parents, in the order they were added), each node with
        its state and whether it is done or ready."""
        return self.service.tree(root, depth)

    @refusals_as_tool_errors
    def history(self, task: TaskId) -> list[EventView]:
        """Every event about one task, oldest first (added, edited, dependencies, claims with their
        tokens, state changes with reasons, checkpoints, lease renewals, expiries, releases): who did
        what to it and why."""
        return self.service.history(task)

    @refusals_as_tool_errors
    def analyze(self, top: Annotated[int, Field(ge=1, le=100, description="how many bottlenecks")] = 10,
                levels: Annotated[bool, Field(description="also list every task of every parallel level "
                                                          "(large on big plans)")] = False) -> AnalysisView:
        """The plan's shape: the critical path (the longest chain by effort) and its effort, how many tasks
        each parallel level holds, the bottlenecks (tasks the most others wait on), the capabilities the
        tasks need, the remaining effort and progress."""
        return self.session.analyze(top, levels)

    # -- changing the plan -------------------------------------------------------------
    @refusals_as_tool_errors
    def add_task(self, title: Annotated[str, Field(min_length=1, description="what to do, in a few words")],
                 parent: Annotated[str | None, Field(description="add it as a subtask of this task")] = None,
                 depends_on: Annotated[list[str], Field(description="tasks that must be completed before it "
                                                                    "can start")] = [],  # noqa: B006 - pydantic copies it
                 priority: Priority = "medium",
                 effort: Annotated[float, Field(description="estimated effort, in hours")] = 1.0,
                 capabilities: Capabilities = [],  # noqa: B006
                 description: Annotated[str, Field(description="details: what done means, pointers")] = "",
                 id: Annotated[str | None, Field(description="its id (default: the next T<n>)")] = None,  # noqa: A002
                 verify_command: Annotated[str | None, Field(description="a command whose exit 0 shows the "
                                                                         "work is done")] = None) -> TaskView:
        """Add a task to the plan (refused, with nothing written, if a dependency is unknown or would
        close a cycle). Returns the new task, which says whether it is ready."""
        added = self.service.add_task(title, id=id, parent=parent, depends_on=depends_on, priority=priority,
                                      effort=effort, capabilities=capabilities, description=description,
                                      verify_command=verify_command)
        return self.service.show(added["id"])

    @refusals_as_tool_errors
    def add_dependency(self, task: TaskId, depends_on: Annotated[str, Field(
            description="the task that must be completed before `task` can start")]) -> TaskView:
        """Make `task` wait on `depends_on` (refused if that would close a cycle: the message names it)."""
        return self.service.add_dependency(task, depends_on)

    @refusals_as_tool_errors
    def remove_dependency(self, task: TaskId, depends_on: Annotated[str, Field(
            description="the task `task` should no longer wait on")]) -> TaskView:
        """Remove the dependency of `task` on `depends_on`."""
        return self.service.remove_dependency(task, depends_on)

    @refusals_as_tool_errors
    def edit_task(self, task: TaskId, title: Annotated[str | None, Field(min_length=1)] = None,
                  description: str | None = None, priority: Priority | None = None,
                  effort: Annotated[float | None, Field(description="hours")] = None,
                  capabilities: Annotated[list[str] | None, Field(
                      description="replaces the capabilities it needs")] = None) -> TaskView:
        """Change a task's title, description, priority, effort or required capabilities (the fields
        given; the others stay)."""
        return self.service.edit_task(task, title=title, description=description, priority=priority,
                                      effort=effort, capabilities=tuple(capabilities) if capabilities is not None
                                      else None)

    # -- working on a task ---------------------------------------------------------------
    @refusals_as_tool_errors
    def claim_task(self, task: Annotated[str | None, Field(
            description="this ready task rather than the best one you can do")] = None, ttl: Ttl = None) -> Claimed:
        """Lease the best ready task you can do (or `task`) and start it: it is yours until the lease
        expires (expires_in seconds, unless renewed by checkpoint_task or renew_lease). Returns the task,
        the lease's token (kept by this session), and resume_from: the checkpoint an earlier attempt
        left, to continue from. claimed is false when nothing ready fits you. Registers you on first use."""
        return self.session.claim(task, ttl)

    @refusals_as_tool_errors
    def renew_lease(self, task: TaskId, token: Token = None, ttl: Ttl = None) -> Lease:
        """Extend your lease on a task you are working on (say you are still at it); returns the new
        expiry. checkpoint_task renews it too."""
        return self.session.renew(task, token, ttl)

    @refusals_as_tool_errors
    def checkpoint_task(self, task: TaskId,
                        notes: Annotated[str, Field(description="what is done, what is next")] = "",
                        data: Annotated[dict[str, Any], Field(description="anything a successor needs to resume: "
                                                                          "branch, files, commands")] = {},  # noqa: B006
                        token: Token = None) -> Checkpointed:
        """Save where you are on a task (notes and data), for yourself or whoever resumes it if your
        lease ends; renews your lease. The latest checkpoint is what claim_task returns as resume_from."""
        return self.session.checkpoint(task, notes, data, token)

    @refusals_as_tool_errors
    def complete_task(self, task: TaskId, token: Token = None,
                      reason: Annotated[str | None, Field(description="how it was done or verified")] = None,
                      ) -> TaskView:
        """Mark a task you hold completed (after its verify_command passes, if it has one); the lease
        ends, and the tasks waiting only on it become ready."""
        return self.session.set_state(task, "completed", reason, token)

    @refusals_as_tool_errors
    def fail_task(self, task: TaskId, reason: Annotated[str, Field(min_length=1, description="what went wrong")],
                  token: Token = None) -> TaskView:
        """Report that you could not do a task you hold: the lease ends; the task is retried (back to
        pending, its checkpoint kept) while it has attempts left, else failed for good."""
        return self.session.set_state(task, "failed", reason, token)

    @refusals_as_tool_errors
    def release_task(self, task: TaskId, token: Token = None,
                     reason: Annotated[str | None, Field(description="why you give it back")] = None) -> TaskView:
        """Give a task you hold back, untouched or half done (its checkpoint stays): it goes back to
        pending for any agent, without using up an attempt."""
        return self.session.release(task, token, reason)
