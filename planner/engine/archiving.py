"""What the planner puts in its git archive besides the events: a readable state, and messages.

The archive (:mod:`eventstore.archive`) is domain-free; the planner gives it two
callbacks:

* :func:`describe` turns a batch of records into a commit message a person can
  read: ``37 events: 5 completed, 9 claimed, 2 added, 1 lease expired`` and a
  body naming the tasks and agents involved.
* :class:`StateRenderer` renders the project's state as files that diff well:
  one JSON line per task, sorted by id, in 16 shard files
  (``state/tasks/<xx>.jsonl``, ``xx`` from a hash of the id; the callback
  returns paths under ``state/``) so that a commit
  rewrites only the shards whose tasks the batch touched (cost proportional to
  the batch, not to the project), plus ``state/project.json``. ``git log -p``
  then shows each task's change on its own line.
"""

from __future__ import annotations

import json
import zlib
from collections import Counter
from typing import Any

#: how a record type reads in a commit summary, and whether it is worth counting there
_PHRASES = {
    "task.added": "added", "task.edited": "edited", "task.moved": "moved", "dependency.added": "dependencies added",
    "dependency.removed": "dependencies removed", "task.checkpointed": "checkpoints", "task.assigned": "claimed",
    "lease.expired": "leases expired", "lease.released": "released", "agent.registered": "agents registered",
    "agent.deregistered": "agents deregistered", "project.mode_changed": "mode changes",
    "project.imported": "imports", "project.created": "project created",
}
SHARDS = 16


def shard_of(task: str) -> str:
    return f"{zlib.crc32(task.encode()) % SHARDS:02x}"


def _task_of(data: dict[str, Any]) -> str | None:
    return data.get("id") or data.get("task")


def describe(records: list[Any]) -> tuple[str, str]:
    """A summary line (counts, states first) and a body naming the tasks and agents. O(batch)."""
    counts: Counter[str] = Counter()
    tasks: set[str] = set()
    agents: set[str] = set()
    for record in records:
        data = record.data
        if record.type == "task.state_changed":
            counts[str(data["to_state"])] += 1
        elif record.type != "agent.heartbeat" and record.type != "lease.renewed":
            counts[_PHRASES.get(record.type, record.type)] += 1
        task = _task_of(data) if record.type.startswith(("task.", "dependency.", "lease.")) else None
        if task:
            tasks.add(task)
        for key in ("agent", "by"):
            if isinstance(data.get(key), str):
                agents.add(data[key])
    parts = ", ".join(f"{n} {what}" for what, n in counts.most_common())
    summary = f"{len(records)} event{'s' if len(records) != 1 else ''}" + (f": {parts}" if parts else "")
    body = []
    if tasks:
        body.append("Tasks: " + ", ".join(sorted(tasks)))
    if agents:
        body.append("Agents: " + ", ".join(sorted(agents)))
    return summary, "\n".join(body)


class StateRenderer:
    """Renders the shards a batch touched from a planner's graph (which must be at the
    batch's last seq: the planner archives only up to what it has folded)."""

    def __init__(self, graph_of: Any):
        self._graph_of = graph_of  # () -> the TaskGraph to render from

    def __call__(self, records: list[Any]) -> dict[str, bytes]:
        graph = self._graph_of()
        touched = {shard_of(t) for r in records if (t := _task_of(r.data)) and t in graph.tasks}
        if any(r.type in ("project.created", "project.imported") for r in records):
            touched = {shard_of(t) for t in graph.tasks}  # a new or imported project: every shard
        by_shard: dict[str, list[str]] = {s: [] for s in touched}
        for task in graph.tasks:
            shard = shard_of(task)
            if shard in by_shard:
                by_shard[shard].append(task)
        files = {f"tasks/{s}.jsonl": b"".join(self._line(graph, t) for t in sorted(ids))
                 for s, ids in by_shard.items()}
        files["project.json"] = json.dumps(
            {"name": graph.name, "mode": graph.mode, "seq": graph.seq, "tasks": len(graph.tasks),
             "leaves_by_state": {str(k): v for k, v in sorted(graph.counts.items()) if v},
             "agents": sorted(a.id for a in graph.agents.agents.values() if a.active)},
            indent=1, sort_keys=True).encode() + b"\n"
        return files

    @staticmethod
    def _line(graph: Any, task: str) -> bytes:
        node = graph.tasks[task]
        lease = graph.agents.leases.get(task)
        row = {"id": task, "title": node.title, "state": str(node.state), "parent": node.parent,
               "priority": node.priority, "effort": node.effort,
               "depends_on": sorted(graph.index.depends_on[task]),
               "holder": lease.agent if lease is not None else None}
        return json.dumps(row, sort_keys=True, ensure_ascii=False).encode() + b"\n"
