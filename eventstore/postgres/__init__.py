"""The PostgreSQL backend of the storage protocol (:class:`eventstore.store.Store`).

Named by a URL, ``postgresql://[user[:password]@][host][:port]/database[?schema=NAME&...]``
(``postgres://`` too; every query parameter but ``schema`` goes to libpq). One schema
(default ``superplanner``) holds every project of the store. Opened through
:func:`eventstore.open_store`; psycopg 3 (the ``postgres`` extra) is imported only then,
so the file store never needs it.

Modules, one job each::

    names.py      parse and show a store name (no psycopg)
    errors.py     the backend's own errors (no psycopg)
    connect.py    connect with one-line errors; what a lost connection means
    schema.py     the tables, the schema version, migrations run on open
    store.py      PostgresStore: appends, transactions, reads
    snapshots.py  its snapshots, and the claim on the next one
    reading.py    the tail cursor and follow (LISTEN/NOTIFY)
    verifying.py  verify(): the log's shape, checked
    copying.py    whole batches in and out, every field kept (eventstore.migrate)

See ``docs/postgresql.md`` for the schema, the locking and every error.
"""

from .errors import ConnectionLostError, StoreUnavailableError

__all__ = ["ConnectionLostError", "StoreUnavailableError", "backend", "list_postgres_projects"]


def backend() -> type:
    """:class:`~eventstore.postgres.store.PostgresStore`, importing psycopg now; a one-line
    error saying how to install it when it is missing."""
    try:
        from .store import PostgresStore
    except ImportError as exc:
        from ..errors import EventStoreError

        raise EventStoreError(f"the PostgreSQL store needs psycopg 3 ({exc}): "
                              "pip install 'superplanner[postgres]'") from None
    return PostgresStore


def list_postgres_projects(name: str) -> list[str]:
    """The projects of the PostgreSQL store named ``name``, sorted (none when its schema does
    not exist yet: nothing is created). One query."""
    backend()
    from .store import list_projects

    return list_projects(name)
