"""The SQLite peer of a loaded plan (stdlib ``sqlite3``), for ``python -m stress.bench load``.

The same project in one SQLite database, set up for the same durability
promise as the planner's log: WAL journal with ``PRAGMA synchronous=FULL``.
Schema (the fixture format's fields, one row per task, one per edge)::

    tasks(id TEXT PRIMARY KEY, parent TEXT, state TEXT, priority INTEGER,  -- rank: low 0 .. critical 3
          effort REAL, added INTEGER,                                      -- added: order in the file
          title TEXT, description TEXT, capabilities TEXT, metadata TEXT)  -- the last two as JSON text
    deps(task TEXT, depends_on TEXT, PRIMARY KEY (task, depends_on)) WITHOUT ROWID
    indexes: tasks(parent), tasks(state, priority DESC, added), deps(depends_on)

What the benchmark measures on it:

* :func:`create` ("import"): create the file and insert every task and edge
  in one transaction (``executemany``), committed durably.
* :func:`load` ("cold load"): open the database and build the in-memory view
  a user of it would need: every task as a dict (capabilities and metadata
  decoded from JSON with the stdlib ``json``), children and dependency lists
  per task. Two ``SELECT``\\ s, O(n + e).
* :func:`ready` ("ready top-20"): one SQL query for the pending leaves whose
  dependencies are all ``completed``, ``ORDER BY priority DESC, added LIMIT k``.
  **Simplified semantics**: a container's dependencies do not hold back the
  tasks under it, and a dependency on a container looks at the container's
  own ``state`` column instead of rolling up its children; there is no
  critical-path tie-break. The planner does all three, so the peer's answer
  is cheaper to compute and may differ in content (never in length on a
  fresh project, where the benchmark compares only sizes).
* :func:`closes_cycle` ("cycle check of one new edge"): a recursive CTE
  following ``deps`` from ``depends_on``; the edge closes a cycle when it
  reaches ``task``. Same simplification (task-to-task edges only).

Also a command line, so the peer can be timed as a whole process next to
``planner ready --json``::

    python -m stress.peers.sqlite_plan DB ready [--limit K]    # the top-K (default: all) as JSON rows

which prints, like ``planner ready --json``, one object per task (its
columns, capabilities and metadata decoded, and its dependency ids).
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

PRIORITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}

SCHEMA = """
CREATE TABLE tasks (
    id TEXT PRIMARY KEY, parent TEXT, state TEXT NOT NULL, priority INTEGER NOT NULL,
    effort REAL NOT NULL, added INTEGER NOT NULL, title TEXT NOT NULL, description TEXT NOT NULL,
    capabilities TEXT NOT NULL, metadata TEXT NOT NULL
);
CREATE TABLE deps (task TEXT NOT NULL, depends_on TEXT NOT NULL, PRIMARY KEY (task, depends_on)) WITHOUT ROWID;
CREATE INDEX tasks_parent ON tasks(parent);
CREATE INDEX tasks_ready ON tasks(state, priority DESC, added);
CREATE INDEX deps_depends_on ON deps(depends_on);
"""

READY_SQL = """
SELECT t.id FROM tasks AS t
WHERE t.state = 'pending'
  AND NOT EXISTS (SELECT 1 FROM tasks AS c WHERE c.parent = t.id)
  AND NOT EXISTS (SELECT 1 FROM deps AS d JOIN tasks AS u ON u.id = d.depends_on
                  WHERE d.task = t.id AND u.state <> 'completed')
ORDER BY t.priority DESC, t.added
LIMIT ?
"""

CYCLE_SQL = """
WITH RECURSIVE reach(t) AS (
    SELECT ?
    UNION
    SELECT d.depends_on FROM deps AS d JOIN reach ON d.task = reach.t
)
SELECT 1 FROM reach WHERE t = ? LIMIT 1
"""


def connect(db_path: str | Path) -> sqlite3.Connection:
    """A connection in autocommit mode (explicit BEGIN), WAL, ``synchronous=FULL``."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


def create(db_path: str | Path, fixture: dict[str, Any]) -> int:
    """Create the database from fixture-format data (one durable transaction); return the task count."""
    tasks = fixture["tasks"]
    conn = connect(db_path)
    try:
        conn.executescript(SCHEMA)
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO tasks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ((t["id"], t.get("parent_id"), t.get("status", "pending"), PRIORITY_RANK[t.get("priority", "medium")],
              float(t.get("estimated_effort", 1.0)), i, t["name"], t.get("description", ""),
              json.dumps(t.get("capabilities_required", [])), json.dumps(t.get("metadata", {})))
             for i, t in enumerate(tasks)),
        )
        conn.executemany(
            "INSERT OR IGNORE INTO deps VALUES (?, ?)",
            ((t["id"], d) for t in tasks for d in t.get("dependencies", [])),
        )
        conn.execute("COMMIT")
    finally:
        conn.close()
    return len(tasks)


class PlanView:
    """What :func:`load` builds: tasks by id, children and dependencies per task."""

    __slots__ = ("tasks", "children", "depends_on")

    def __init__(self) -> None:
        self.tasks: dict[str, dict[str, Any]] = {}
        self.children: dict[str, list[str]] = {}
        self.depends_on: dict[str, list[str]] = {}


def load(db_path: str | Path) -> PlanView:
    """Open the database and read every task and edge into a :class:`PlanView`. O(n + e)."""
    conn = connect(db_path)
    try:
        view = PlanView()
        tasks, children, depends_on = view.tasks, view.children, view.depends_on
        loads = json.loads
        for tid, parent, state, prio, effort, added, title, desc, caps, meta in conn.execute(
                "SELECT id, parent, state, priority, effort, added, title, description, capabilities, metadata "
                "FROM tasks ORDER BY added"):
            tasks[tid] = {"id": tid, "parent": parent, "state": state, "priority": prio, "effort": effort,
                          "added": added, "title": title, "description": desc, "capabilities": loads(caps),
                          "metadata": loads(meta)}
            children[tid] = []
            depends_on[tid] = []
        for tid, parent in ((t["id"], t["parent"]) for t in tasks.values()):
            if parent is not None:
                children[parent].append(tid)
        for task, dep in conn.execute("SELECT task, depends_on FROM deps"):
            depends_on[task].append(dep)
    finally:
        conn.close()
    return view


def ready(conn: sqlite3.Connection, limit: int | None = 20) -> list[str]:
    """The top ``limit`` (None: all) ready task ids by one query (simplified semantics: see the module docstring)."""
    return [tid for (tid,) in conn.execute(READY_SQL, (-1 if limit is None else limit,))]


def closes_cycle(conn: sqlite3.Connection, task: str, depends_on: str) -> bool:
    """Would ``task -> depends_on`` close a cycle of task-to-task edges? One recursive query."""
    return conn.execute(CYCLE_SQL, (depends_on, task)).fetchone() is not None


def ready_rows(conn: sqlite3.Connection, limit: int | None = 20) -> list[dict[str, Any]]:
    """:func:`ready`, then those tasks' rows and dependency ids (two more queries): what the command line prints."""
    ids = ready(conn, limit)
    wanted = json.dumps(ids)
    rows: dict[str, dict[str, Any]] = {}
    for tid, parent, state, prio, effort, title, desc, caps, meta in conn.execute(
            "SELECT id, parent, state, priority, effort, title, description, capabilities, metadata FROM tasks "
            "WHERE id IN (SELECT value FROM json_each(?))", (wanted,)):
        rows[tid] = {"id": tid, "title": title, "description": desc, "parent": parent, "state": state,
                     "priority": prio, "effort": effort, "capabilities": json.loads(caps),
                     "metadata": json.loads(meta), "depends_on": []}
    for task, dep in conn.execute("SELECT task, depends_on FROM deps WHERE task IN (SELECT value FROM json_each(?)) "
                                  "ORDER BY task, depends_on", (wanted,)):
        rows[task]["depends_on"].append(dep)
    return [rows[tid] for tid in ids]


def main(argv: list[str] | None = None) -> int:
    """``DB ready [--limit K]``: print the top-K (default: all) ready tasks as a JSON list (the process-level peer)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2 or args[1] != "ready":
        print("usage: python -m stress.peers.sqlite_plan DB ready [--limit K]", file=sys.stderr)
        return 2
    limit = int(args[3]) if len(args) >= 4 and args[2] == "--limit" else None
    conn = connect(args[0])
    try:
        print(json.dumps(ready_rows(conn, limit)))
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
