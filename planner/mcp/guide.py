"""What the MCP server tells a language model besides the tools' own descriptions: the
server's instructions (sent once, at the start of a session) and the ``work-next-task`` prompt."""

from __future__ import annotations


def instructions(project: str, agent: str) -> str:
    """The server's instructions: the protocol in a few lines."""
    return f"""\
A shared task plan (project {project!r}) that many agents work on at once; you are agent {agent!r}.
Protocol: claim_task leases you the best ready task you can do and starts it (or nothing, when none fits).
Work on it; call checkpoint_task with notes (and data) at each milestone: it saves where you are for whoever
resumes the task and renews your lease. A lease expires if not renewed (renew_lease) within its TTL; then the
task goes to another agent and your token turns stale. End with complete_task, or fail_task with a reason
(it is retried while attempts are left), or release_task to give it back untouched. This session keeps your
lease tokens; pass one only to act on a lease claimed elsewhere. A refused call changes nothing and says why
in one line. Read planner://{project}/overview for progress, ready work, agents and blockers."""


def work_next_task(project: str, agent: str, task: str | None = None) -> str:
    """The ``work-next-task`` prompt: claim, resume from a checkpoint, checkpoint, complete."""
    which = f"call claim_task with task={task!r}" if task else "call claim_task (no arguments: the best ready task you can do)"
    return f"""\
You are agent {agent!r} on the shared plan of project {project!r}. Work on one task, from claim to completion:

1. Claim: {which}. If "claimed" is false, nothing fits you now: stop and report the message.
2. Read the task: its title, description, verify_command and dependencies (show_task for any of them).
   If "resume_from" holds a checkpoint, an earlier attempt got that far: read its notes and data, continue
   from there, do not start over.
3. Work. At each milestone (and at least every few minutes: the lease expires after "expires_in" seconds
   without one) call checkpoint_task with short notes on what is done and what is next, and data with
   anything a successor needs (branch, files, commands). It renews your lease.
4. If the task turns out to need other work first, add_task for it and add_dependency; then release_task.
5. When the work is done and verified (run its verify_command if it has one), call complete_task.
   If you cannot finish it, call fail_task with the reason (another attempt may follow), or release_task
   to hand it back without using an attempt.
A refused call (isError) wrote nothing; its message says what to do (e.g. a stale token: your lease expired
and the task went to another agent: stop working on it)."""
