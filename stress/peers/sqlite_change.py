"""The SQLite peer of ``planner set TASK STATE`` run as a process of its own (stdlib ``sqlite3``).

``python -m stress.peers.sqlite_change DB TASK STATE`` is one state change, as a shell
script or an agent shelling out would make it: open the database (WAL,
``synchronous=FULL``: a ``COMMIT`` returns once the WAL is fsynced, the promise of the
planner's default durability), then::

    BEGIN IMMEDIATE                                  -- the write lock
    SELECT state FROM tasks WHERE id = ?             -- read
    (refuse an unknown task or an illegal transition: exit 1 with one line)
    UPDATE tasks SET state = ? WHERE id = ?          -- decide
    INSERT INTO events(task, from_state, to_state)   -- the history
    COMMIT

The legal transitions are the README's state table (a copy: peers import nothing of the
planner). :func:`create` makes the database with every task pending; :func:`states`
reads it back for the check afterwards.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterable
from pathlib import Path

BUSY_TIMEOUT_MS = 60_000
LEGAL = {
    "pending": {"assigned", "in_progress", "blocked", "cancelled"},
    "assigned": {"in_progress", "pending", "blocked", "failed", "cancelled"},
    "in_progress": {"completed", "failed", "pending", "blocked", "cancelled"},
    "blocked": {"pending", "in_progress", "failed", "cancelled"},
    "failed": {"pending", "cancelled"},
    "completed": set(),
    "cancelled": set(),
}


def create(db_path: str | Path, tasks: Iterable[str]) -> None:
    """The database with every task in ``tasks`` pending and no events."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE tasks (id TEXT PRIMARY KEY, state TEXT NOT NULL)")
        conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, task TEXT NOT NULL, "
                     "from_state TEXT NOT NULL, to_state TEXT NOT NULL)")
        conn.executemany("INSERT INTO tasks (id, state) VALUES (?, 'pending')", [(t,) for t in tasks])
    finally:
        conn.close()


def states(db_path: str | Path) -> dict[str, str]:
    """Every task's state, and ``#events``: how many changes were recorded."""
    conn = sqlite3.connect(db_path)
    try:
        out = dict(conn.execute("SELECT id, state FROM tasks"))
        out["#events"] = str(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
        return out
    finally:
        conn.close()


def change(db_path: str | Path, task: str, state: str) -> str | None:
    """One durable, checked state change; None, or why it was refused."""
    conn = sqlite3.connect(db_path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("BEGIN IMMEDIATE")
        row = conn.execute("SELECT state FROM tasks WHERE id = ?", (task,)).fetchone()
        if row is None or state not in LEGAL[row[0]]:
            conn.execute("ROLLBACK")
            return f"unknown task {task}" if row is None else f"{task}: {row[0]} -> {state} is not legal"
        conn.execute("UPDATE tasks SET state = ? WHERE id = ?", (state, task))
        conn.execute("INSERT INTO events (task, from_state, to_state) VALUES (?, ?, ?)", (task, row[0], state))
        conn.execute("COMMIT")
        return None
    finally:
        conn.close()


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m stress.peers.sqlite_change DB TASK STATE", file=sys.stderr)
        return 2
    refused = change(*argv)
    if refused:
        print(f"refused: {refused}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
