"""The plain-SQL peer of an agent's claim -> in_progress -> completed cycle on PostgreSQL,
for ``python -m stress.bench postgres``.

One row per task; each agent process holds its own connection. The cycle, three
transactions as the planner's three commands, each committed durably
(``synchronous_commit=on``, the server's default)::

    claim     BEGIN; SELECT id FROM tasks WHERE state = 'pending' ORDER BY priority DESC, id
              LIMIT 1 FOR UPDATE SKIP LOCKED; UPDATE tasks SET state = 'assigned', agent = $me,
              token = nextval(...) WHERE id = $id; COMMIT
    start     UPDATE tasks SET state = 'in_progress' WHERE id = $id AND token = $token AND state = 'assigned'
    complete  UPDATE tasks SET state = 'completed'   WHERE id = $id AND token = $token AND state = 'in_progress'

What it leaves out, all of which makes its work lighter than the planner's: dependencies,
capabilities, agents' capacity, leases that expire, history (there is no log: a row is
overwritten in place).
"""

from __future__ import annotations

import psycopg

SCHEMA = """
CREATE TABLE tasks (id integer PRIMARY KEY, state text NOT NULL, priority integer NOT NULL,
                    agent text, token bigint);
CREATE INDEX tasks_pending ON tasks (priority DESC, id) WHERE state = 'pending';
CREATE SEQUENCE tokens;
"""


def create(conninfo: str, tasks: int) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(SCHEMA)
        with conn.cursor().copy("COPY tasks (id, state, priority) FROM STDIN") as copy:
            for i in range(1, tasks + 1):
                copy.write_row((i, "pending", i % 4))


class SqlClaimer:
    """One agent's connection; :meth:`cycle` runs the three transactions."""

    def __init__(self, conninfo: str, agent: str):
        self.agent = agent
        self.conn = psycopg.connect(conninfo, autocommit=True)

    def cycle(self) -> bool:
        conn = self.conn
        with conn.transaction():
            row = conn.execute("SELECT id FROM tasks WHERE state = 'pending' ORDER BY priority DESC, id "
                               "LIMIT 1 FOR UPDATE SKIP LOCKED").fetchone()
            if row is None:
                return False
            (token,) = conn.execute("UPDATE tasks SET state = 'assigned', agent = %s, token = nextval('tokens') "
                                    "WHERE id = %s RETURNING token", (self.agent, row[0])).fetchone()
        for before, after in (("assigned", "in_progress"), ("in_progress", "completed")):
            done = conn.execute("UPDATE tasks SET state = %s WHERE id = %s AND token = %s AND state = %s",
                                (after, row[0], token, before)).rowcount
            if done != 1:
                raise RuntimeError(f"task {row[0]} was not {before} under token {token}")
        return True

    def close(self) -> None:
        self.conn.close()


def check(conninfo: str, cycles: int) -> list[str]:
    """Every reported cycle completed exactly one task, and no task is half done."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        states = dict(conn.execute("SELECT state, count(*) FROM tasks GROUP BY state").fetchall())
    problems = []
    if states.get("completed", 0) != cycles:
        problems.append(f"{states.get('completed', 0)} tasks completed but the agents reported {cycles} cycles")
    if states.get("assigned") or states.get("in_progress"):
        problems.append(f"tasks left half done: {states}")
    return problems
