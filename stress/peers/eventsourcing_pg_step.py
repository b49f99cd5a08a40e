"""The eventsourcing library's peer of a durable append at an expected version, on its
PostgreSQL recorder (``pip install -e '.[bench]'``: eventsourcing, psycopg, psycopg-pool).

The same ``Counter`` aggregate and step as :mod:`stress.peers.eventsourcing_step` (get the
counter, increment it, save at the expected version; on an ``IntegrityError`` another
process saved that version first: get and decide again), with
``PERSISTENCE_MODULE=eventsourcing.postgres`` on the server the PostgreSQL store uses,
in a schema of its own. A commit is durable on return (``synchronous_commit=on``).
"""

from __future__ import annotations

import psycopg
from psycopg import conninfo as pg_conninfo

from eventstore.postgres.names import parse
from stress.peers.eventsourcing_step import COUNTER_ID, Counter, CounterApp, EventsourcingCounterStep


def env_for(store_url: str) -> dict[str, str]:
    """The application's settings for the PostgreSQL recorder, from a store URL (``schema=`` kept)."""
    parsed = parse(store_url)
    params = pg_conninfo.conninfo_to_dict(parsed.conninfo)
    return {"PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_DBNAME": str(params.get("dbname", "postgres")),
            "POSTGRES_HOST": str(params.get("host", "localhost")), "POSTGRES_PORT": str(params.get("port", "5432")),
            "POSTGRES_USER": str(params.get("user", "postgres")), "POSTGRES_PASSWORD": str(params.get("password", "")),
            "POSTGRES_SCHEMA": parsed.schema, "POSTGRES_POOL_SIZE": "1", "POSTGRES_MAX_OVERFLOW": "0",
            "POSTGRES_LOCK_TIMEOUT": "60", "AGGREGATE_CACHE_MAXSIZE": "1", "AGGREGATE_CACHE_FASTFORWARD": "y",
            "IS_SNAPSHOTTING_ENABLED": "n", "CREATE_TABLE": "n"}  # (created once, by create())


def create(store_url: str) -> None:
    """The schema, the recorder's table, and the counter at version 1."""
    parsed = parse(store_url)
    with psycopg.connect(parsed.conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{parsed.schema}"')
    app = CounterApp(env={**env_for(store_url), "CREATE_TABLE": "y"})
    try:
        app.save(Counter())
    finally:
        app.close()


class EventsourcingPgStep(EventsourcingCounterStep):
    """:class:`~stress.peers.eventsourcing_step.EventsourcingCounterStep` (the same read, decide,
    save-at-the-expected-version step) on the library's PostgreSQL recorder."""

    def __init__(self, store_url: str, worker_id: int):
        super().__init__(store_url, worker_id, env=env_for(store_url))


def check(store_url: str, steps: int) -> list[str]:
    app = CounterApp(env=env_for(store_url))
    try:
        events = list(app.events.get(COUNTER_ID))[1:]
    finally:
        app.close()
    if len(events) != steps:
        return [f"{len(events)} increments stored but workers reported {steps} steps"]
    bad = next((i for i, e in enumerate(events, 1) if e.originator_version != i + 1 or e.n != i), None)
    return [] if bad is None else [f"increment #{bad} is not version {bad + 1} with n={bad} (lost or repeated update)"]
