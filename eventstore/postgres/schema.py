"""The tables, the schema version, and the migrations a store runs when it is opened.

Version 1 (one schema holds every project of a store)::

    schema_version   (version PK, applied_at)            one row per migration applied
    projects         (name PK, last_seq, last_ts, created_at)
                     the end of each project's log; its row lock serialises appends
    events           (project, seq) PK, id, type, ts, cmd, batch_end, data json
    commands         (project, cmd) PK, first_seq, last_seq   idempotency keys: unique per project
    snapshots        (project, seq) PK, data bytea, crc, created_at
    snapshot_claims  (project, after) PK, claimed_at           who writes the next snapshot

``data`` is ``json``, not ``jsonb``: ``json`` keeps the exact text the file store writes
(key order, number spelling, ``\\u0000``), so a record reads back as the same Python
value and a migrated log is byte-for-byte the same; ``jsonb`` would reorder keys, turn
``1e308`` into a 309-digit integer, and refuse ``\\u0000``. Queries can still cast it
(``data::jsonb ->> 'id'``), and an expression index can be added where one is needed.

``ts`` is text in the file store's fixed-width form (``2026-11-28T15:56:58.123456Z``),
so string order is time order and it round-trips exactly.

:func:`migrate` brings a schema to :data:`VERSION` under a transaction-scoped advisory
lock, so that concurrent openers run each migration once. A schema newer than this code
is refused (upgrade the code). Cost on open: one query when the schema is current.
"""

from __future__ import annotations

import zlib

import psycopg
from psycopg import sql

from ..errors import NotALogError

#: the version this code writes and reads
VERSION = 1

_V1 = """
CREATE TABLE IF NOT EXISTS {s}.projects (
    name       text PRIMARY KEY,
    last_seq   bigint NOT NULL DEFAULT 0,
    last_ts    text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS {s}.events (
    project    text NOT NULL REFERENCES {s}.projects (name) ON DELETE CASCADE,
    seq        bigint NOT NULL CHECK (seq >= 1),
    id         text NOT NULL,
    type       text NOT NULL,
    ts         text NOT NULL,
    cmd        text,
    batch_end  bigint NOT NULL CHECK (batch_end >= seq),
    data       json NOT NULL,
    PRIMARY KEY (project, seq)
);
CREATE TABLE IF NOT EXISTS {s}.commands (
    project    text NOT NULL REFERENCES {s}.projects (name) ON DELETE CASCADE,
    cmd        text NOT NULL,
    first_seq  bigint NOT NULL,
    last_seq   bigint NOT NULL,
    PRIMARY KEY (project, cmd)
);
CREATE TABLE IF NOT EXISTS {s}.snapshots (
    project    text NOT NULL REFERENCES {s}.projects (name) ON DELETE CASCADE,
    seq        bigint NOT NULL CHECK (seq >= 0),
    data       bytea NOT NULL,
    crc        bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project, seq)
);
CREATE TABLE IF NOT EXISTS {s}.snapshot_claims (
    project    text NOT NULL,
    after      bigint NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (project, after)
);
"""

#: migration n takes a schema from version n - 1 to n; append, never edit
MIGRATIONS: dict[int, str] = {1: _V1}


def schema_version(conn: psycopg.Connection, schema: str) -> int | None:
    """The schema's version, or None when it has none (not created yet). One query."""
    row = conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL", (f"{schema}.schema_version",)).fetchone()
    if not row[0]:
        return None
    return conn.execute(sql.SQL("SELECT max(version) FROM {}.schema_version").format(
        sql.Identifier(schema))).fetchone()[0] or 0


def migrate(conn: psycopg.Connection, schema: str, where: str) -> int:
    """Bring ``schema`` to :data:`VERSION` (creating it when missing); return the version it
    had (0: new). Raises NotALogError when the schema is newer than this code."""
    current = schema_version(conn, schema)
    if current == VERSION:
        return current
    if current is not None and current > VERSION:
        raise NotALogError(where, f"its schema version {current} is newer than this code ({VERSION}): upgrade")
    ident = sql.Identifier(schema)
    with conn.transaction():
        # one migrator per schema at a time; the lock ends with the transaction
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(schema),))
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(ident))
        conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {}.schema_version ("
                             "version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())").format(ident))
        found = conn.execute(sql.SQL("SELECT coalesce(max(version), 0) FROM {}.schema_version").format(
            ident)).fetchone()[0]
        if found > VERSION:
            raise NotALogError(where, f"its schema version {found} is newer than this code ({VERSION}): upgrade")
        for step in range(found + 1, VERSION + 1):
            conn.execute(sql.SQL(MIGRATIONS[step]).format(s=ident))
            conn.execute(sql.SQL("INSERT INTO {}.schema_version (version) VALUES (%s)").format(ident), (step,))
    return found


def _lock_key(schema: str) -> int:
    """A stable 63-bit advisory lock key for migrating ``schema`` (crc32 of a tagged name)."""
    return zlib.crc32(f"superplanner.migrate:{schema}".encode())
