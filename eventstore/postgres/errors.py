"""Errors only the PostgreSQL backend raises (the rest are :mod:`eventstore.errors`' classes).

Both derive from :class:`~eventstore.errors.EventStoreError`, so the CLI prints them as one
line, and neither needs psycopg to be importable.
"""

from __future__ import annotations

from ..errors import EventStoreError


class StoreUnavailableError(EventStoreError):
    """The server could not be reached, or refused the connection (nothing was done)."""

    def __init__(self, where: str, detail: str):
        self.where = where
        self.detail = detail
        super().__init__(f"cannot connect to the PostgreSQL store {where}: {detail}; "
                         "check that the server runs and the URL (host, port, database, user)")


class ConnectionLostError(EventStoreError):
    """The connection died during an operation on project ``project``.

    ``committed`` is False when the append certainly wrote nothing (the connection died
    before its writes were sent, or the store looked on a new connection and its records are
    not there), None when the outcome could not be found out (it died during the flush, or
    the dead session still held the project's lock): retry with the same idempotency key,
    which never applies twice. The handle reconnects on its next call.
    """

    def __init__(self, where: str, project: str, action: str, detail: str, committed: bool | None = False):
        self.where = where
        self.project = project
        self.committed = committed
        outcome = ("nothing of it was written" if committed is False else
                   "it may or may not have been committed: retry with the same idempotency key")
        super().__init__(f"the connection to {where} was lost while {action} project {project!r} "
                         f"({detail}): {outcome}")
