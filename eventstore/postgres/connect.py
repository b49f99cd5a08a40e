"""Connecting to the server, with errors that fit on one line.

Every connection is in autocommit mode: a read is one statement, and a write is an
explicit ``BEGIN ... COMMIT`` (:meth:`psycopg.Connection.transaction`), so no
connection ever sits idle in a transaction holding locks.
"""

from __future__ import annotations

import logging

import psycopg
from psycopg import conninfo as pg_conninfo

from ..errors import InvalidArgumentError
from .errors import StoreUnavailableError
from .names import StoreName

# psycopg logs the errors it ignores while one propagates (a pipeline ended by a lost connection)
# as multi-line warnings, which Python prints to stderr when nothing is configured: the one-line
# error we raise says it already. (A program that configures logging still gets them.)
logging.getLogger("psycopg").addHandler(logging.NullHandler())

#: seconds to wait for the server before giving up (libpq's connect_timeout, unless the URL sets one)
CONNECT_TIMEOUT_S = 10


def connect(store: StoreName, durability: str = "always") -> psycopg.Connection:
    """A new autocommit connection to ``store``'s server. ``durability`` ``always``: a commit
    returns once it is flushed to the server's WAL (``synchronous_commit=on``, the server's
    default); ``batch`` or ``none``: the commit returns before (survives a crash of the
    client, not of the server: the last ~``wal_writer_delay`` of commits may be lost).

    Raises InvalidArgumentError for a URL libpq refuses, StoreUnavailableError when the
    server cannot be reached or refuses the connection."""
    try:
        params = pg_conninfo.conninfo_to_dict(store.conninfo)
    except psycopg.ProgrammingError as exc:
        raise InvalidArgumentError(f"bad PostgreSQL store URL {store.shown!r}: {first_line(exc)}") from None
    params.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
    params.setdefault("application_name", "superplanner")
    try:
        conn = psycopg.connect(autocommit=True, **params)
    except psycopg.OperationalError as exc:
        raise StoreUnavailableError(store.shown, first_line(exc)) from None
    if durability != "always":
        conn.execute("SET synchronous_commit = off")
    return conn


def first_line(exc: BaseException) -> str:
    """The first non-empty line of a driver error (libpq's messages run over several)."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip().rstrip(".")
    return type(exc).__name__
