"""The SQLite peer of an agent's claim-and-complete cycle, for ``python -m stress.bench agents``.

The same durability promise as the planner's log with ``durability="always"``:
WAL journal, ``PRAGMA synchronous=FULL`` (a ``COMMIT`` returns once the WAL is
fsynced). One database per project; each agent process opens its own
connection. Schema::

    tasks(id TEXT PRIMARY KEY, state TEXT, priority INTEGER,   -- priority: low 0 .. critical 3
          added INTEGER, agent TEXT, token INTEGER)            -- added: order in the file
    deps(task, depends_on)  WITHOUT ROWID                      -- task waits on depends_on
    agents(id TEXT PRIMARY KEY, capacity INTEGER, held INTEGER)
    tokens(id = 1, last INTEGER)                               -- the fencing-token counter
    claims(token INTEGER PRIMARY KEY, task TEXT, agent TEXT)   -- every grant, for the checks
    index tasks(state, priority DESC, added)

The agent's cycle mirrors the planner's (``claim``, ``transition in_progress``,
``transition completed``, each acknowledged durably), three transactions:

1. :meth:`SqliteClaimer.claim`: ``BEGIN IMMEDIATE``; take a slot of the agent's
   capacity (``held < capacity``); pick the best pending task whose
   dependencies are all completed (``ORDER BY priority DESC, added LIMIT 1``);
   bump the token counter; mark the task assigned to the agent with that
   token; record the grant in ``claims``; ``COMMIT``.
2. :meth:`SqliteClaimer.start`: the task to ``in_progress`` if it is still
   ``assigned`` under that token (the fencing check), else :class:`StaleToken`.
3. :meth:`SqliteClaimer.complete`: ``completed`` under the same check, and the
   agent's slot given back, in one transaction.

**Simplified semantics**, all of which make the peer's work lighter than the
planner's: no capabilities, no containers (a dependency looks at the other
task's own state), no critical-path tie-break, no lease expiry or attempts,
no history beyond the ``claims`` rows. Like the other SQLite peers, a waiter
on the write lock sleeps in SQLite's busy handler rather than being woken.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

from stress.peers.sqlite_step import connect  # the same connection settings as the log's peer

PRIORITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}

SCHEMA = """
CREATE TABLE tasks (
    id TEXT PRIMARY KEY, state TEXT NOT NULL, priority INTEGER NOT NULL, added INTEGER NOT NULL,
    agent TEXT, token INTEGER
);
CREATE TABLE deps (task TEXT NOT NULL, depends_on TEXT NOT NULL, PRIMARY KEY (task, depends_on)) WITHOUT ROWID;
CREATE TABLE agents (id TEXT PRIMARY KEY, capacity INTEGER NOT NULL, held INTEGER NOT NULL);
CREATE TABLE tokens (id INTEGER PRIMARY KEY CHECK (id = 1), last INTEGER NOT NULL);
CREATE TABLE claims (token INTEGER PRIMARY KEY, task TEXT NOT NULL, agent TEXT NOT NULL);
CREATE INDEX tasks_ready ON tasks(state, priority DESC, added);
INSERT INTO tokens VALUES (1, 0);
"""

PICK_SQL = """
SELECT t.id FROM tasks AS t
WHERE t.state = 'pending'
  AND NOT EXISTS (SELECT 1 FROM deps AS d JOIN tasks AS u ON u.id = d.depends_on
                  WHERE d.task = t.id AND u.state <> 'completed')
ORDER BY t.priority DESC, t.added
LIMIT 1
"""


class StaleToken(Exception):
    """The task is not held under this token (the fencing check refused the command)."""


def create(db_path: str | Path, fixture: dict[str, Any]) -> int:
    """The database for fixture-format data (leaves only: containers are not modelled), in
    one durable transaction; return the task count."""
    tasks = fixture["tasks"]
    conn = connect(db_path)
    try:
        conn.executescript(SCHEMA)
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO tasks (id, state, priority, added) VALUES (?, ?, ?, ?)",
                         ((t["id"], t.get("status", "pending"), PRIORITY_RANK[t.get("priority", "medium")], i)
                          for i, t in enumerate(tasks)))
        conn.executemany("INSERT OR IGNORE INTO deps VALUES (?, ?)",
                         ((t["id"], d) for t in tasks for d in t.get("dependencies", ())))
        conn.execute("COMMIT")
    finally:
        conn.close()
    return len(tasks)


class SqliteClaimer:
    """One agent's connection: :meth:`register`, then :meth:`claim`, :meth:`start`, :meth:`complete`."""

    def __init__(self, db_path: str | Path, agent: str):
        self.agent = agent
        self.conn = connect(db_path)

    def register(self, capacity: int = 1) -> None:
        """Add (or reset) the agent, durably."""
        self.conn.execute("INSERT OR REPLACE INTO agents VALUES (?, ?, 0)", (self.agent, capacity))

    def claim(self) -> tuple[str, int] | None:
        """Lease the best ready task: ``(task, token)``, or None when the agent is full or
        nothing is ready. One durable transaction."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("UPDATE agents SET held = held + 1 WHERE id = ? AND held < capacity",
                            (self.agent,)).rowcount != 1:
                conn.execute("ROLLBACK")
                return None
            row = conn.execute(PICK_SQL).fetchone()
            if row is None:
                conn.execute("ROLLBACK")
                return None
            (task,) = row
            (token,) = conn.execute("UPDATE tokens SET last = last + 1 WHERE id = 1 RETURNING last").fetchone()
            conn.execute("UPDATE tasks SET state = 'assigned', agent = ?, token = ? WHERE id = ?",
                         (self.agent, token, task))
            conn.execute("INSERT INTO claims VALUES (?, ?, ?)", (token, task, self.agent))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return task, token

    def start(self, task: str, token: int) -> None:
        """``assigned`` -> ``in_progress`` under ``token`` (one durable statement), else :class:`StaleToken`."""
        if self.conn.execute("UPDATE tasks SET state = 'in_progress' WHERE id = ? AND token = ? AND state = 'assigned'",
                             (task, token)).rowcount != 1:
            raise StaleToken(f"{task} is not assigned under token {token}")

    def complete(self, task: str, token: int) -> None:
        """``in_progress`` -> ``completed`` under ``token``, and the agent's slot freed (one transaction)."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("UPDATE tasks SET state = 'completed' WHERE id = ? AND token = ? AND state = 'in_progress'",
                            (task, token)).rowcount != 1:
                raise StaleToken(f"{task} is not in progress under token {token}")
            conn.execute("UPDATE agents SET held = held - 1 WHERE id = ?", (self.agent,))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.conn.close()


def check(db_path: str | Path, claimed: list[tuple[str, int, str]], done: list[tuple[str, int]]) -> list[str]:
    """Problems after a run in which tasks only ever go forward (none is given back).

    ``claimed`` holds every acknowledged claim ``(task, token, agent)``, ``done``
    every acknowledged completion ``(task, token)``. Checks: no task granted twice;
    tokens 1..N with no gap and the counter at N; every acknowledged claim is a
    grant, every grant was acknowledged; every acknowledged completion left its
    task completed under its token, and every completed task was acknowledged;
    nothing is left assigned or in progress, no agent holds a slot.
    """
    conn = sqlite3.connect(db_path)
    try:
        grants = conn.execute("SELECT token, task, agent FROM claims ORDER BY token").fetchall()
        (last,) = conn.execute("SELECT last FROM tokens WHERE id = 1").fetchone()
        states = {tid: (state, token) for tid, state, token in conn.execute("SELECT id, state, token FROM tasks")}
        held = conn.execute("SELECT COUNT(*) FROM agents WHERE held <> 0").fetchone()[0]
    finally:
        conn.close()
    problems: list[str] = []
    twice = sorted(task for task, n in Counter(task for _, task, _ in grants).items() if n > 1)
    if twice:
        problems.append(f"{len(twice)} task(s) granted twice, e.g. {twice[:3]}")
    if [token for token, _, _ in grants] != list(range(1, len(grants) + 1)) or last != len(grants):
        problems.append(f"tokens are not 1..{len(grants)} (counter at {last})")
    logged = {(task, token, agent) for token, task, agent in grants}
    acked = set(claimed)
    if acked - logged:
        problems.append(f"{len(acked - logged)} acknowledged claim(s) not in the claims table, e.g. "
                        f"{sorted(acked - logged)[:3]}")
    if logged - acked:
        problems.append(f"{len(logged - acked)} grant(s) nobody acknowledged, e.g. {sorted(logged - acked)[:3]}")
    wrong = [(task, token) for task, token in done if states.get(task) != ("completed", token)]
    if wrong:
        problems.append(f"{len(wrong)} acknowledged completion(s) not completed under their token, e.g. {wrong[:3]}")
    completed = sum(1 for state, _ in states.values() if state == "completed")
    if completed != len(done):
        problems.append(f"{completed} task(s) completed but {len(done)} completion(s) acknowledged")
    stuck = sorted(tid for tid, (state, _) in states.items() if state in ("assigned", "in_progress"))
    if stuck:
        problems.append(f"{len(stuck)} task(s) left assigned or in progress, e.g. {stuck[:3]}")
    if held:
        problems.append(f"{held} agent(s) still hold a slot")
    return problems
