"""A client of ``planner serve`` with the methods, results and errors of :class:`~planner.service.service.Service`.

:func:`~planner.service.opening.open_service` returns one when a server
serves the home (unless told not to: ``server=False``, ``--no-server``, or
``PLANNER_NO_SERVER=1``). Commands and the live queries (:data:`~planner.service.wire.SERVED_OPS`)
go to the server, which decides them on its in-memory projection with group commit;
everything else (following the log, time travel, replay, imports, snapshots, the
archive) runs here on an embedded service opened on first use, which is always safe:
the server folds whatever another process appended before it decides.

Every command gets a command id here when it has none, so that a retry after a lost
connection is applied once. A server that dies mid-request: the client reconnects once
to a server that has taken its place, and retries with the same command id; if none is
there, :class:`~planner.service.wire.ServerGone` (one line; nothing acknowledged is lost).

One request at a time per client (a lock): open one client per thread for parallel requests.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from pathlib import Path
from typing import Any

import orjson

from planner.service import wire


class RemoteService:
    """See the module docstring."""

    def __init__(self, home: os.PathLike | str, project: str, sock: socket.socket, embedded: Any,
                 journal: Any = None, local_options: dict[str, Any] | None = None):
        self.home, self.project = Path(home), project
        self._sock = sock
        self._file = sock.makefile("rb")
        self._next_id = 0
        self._mutex = threading.Lock()
        self._local: Any = None  # an embedded Service for what the server does not serve
        self._local_options = local_options or {}
        self._embedded = embedded  # () -> the Service class: its methods are this client's, its open() the fallback
        self.journal = journal  # planner.engine.journal.Journal, when asked for
        self.served = True
        self._store = wire.store_key(self._local_options.get("store"))  # (a new server must serve it too)

    @classmethod
    def connect(cls, home: os.PathLike | str, project: str, embedded: Any, journal: os.PathLike | str | None = None,
                **local_options: Any) -> RemoteService | None:
        """A client of the server of ``home`` on ``project``, or None when no server runs there
        (no ``server.json``, or nobody listening: a file left by a killed server), or when that
        server serves another store than ``local_options``' ``store`` (None: the home's files)."""
        sock = _dial(home, wire.store_key(local_options.get("store")))
        if sock is None:
            return None
        opened = None
        if journal is not None:
            from planner.engine.journal import Journal

            opened = Journal(journal)
        client = cls(home, project, sock, embedded, opened, local_options)
        try:
            client._call("status")  # the project exists (ProjectNotFound as embedded, if not)
        except BaseException:
            client.close()
            raise
        return client

    # -- the wire ---------------------------------------------------------------
    def _call(self, op: str, *pos: Any, **args: Any) -> Any:
        result, _ = self._request(op, pos, args)
        return result

    def _request(self, op: str, pos: tuple, args: dict[str, Any]) -> tuple[Any, list[Any]]:
        with self._mutex:
            for attempt in (1, 2):
                self._next_id += 1
                request = {"id": self._next_id, "project": self.project, "op": op, "args": args}
                if pos:
                    request["pos"] = pos
                if self.journal is not None:
                    request["journal"] = True  # (the events each command wrote come back with it)
                line = orjson.dumps(request)
                try:
                    self._sock.sendall(line + b"\n")
                    reply = self._file.readline()
                except OSError:
                    reply = b""
                if reply:
                    break
                if attempt == 2 or not self._reconnect():
                    raise wire.ServerGone(
                        f"the planner server of {self.home} stopped during {op}: start it again (`planner serve`) "
                        "or use --no-server; a command retried with the same id is applied once")
            message = orjson.loads(reply)
        if "error" in message:
            raise wire.decode_error(message["error"])
        return message.get("ok"), message.get("events") or []

    def _reconnect(self) -> bool:
        sock = _dial(self.home, self._store)
        if sock is None:
            return False
        self._close_socket()
        self._sock, self._file = sock, sock.makefile("rb")
        return True

    def _command(self, op: str, pos: tuple, args: dict[str, Any]) -> Any:
        if args.get("command_id") is None:
            args["command_id"] = uuid.uuid4().hex
        result, events = self._request(op, pos, args)
        if self.journal is not None and events:
            from types import SimpleNamespace

            self.journal.ack_events(args["command_id"], events[0].get("command", op),
                                    [SimpleNamespace(type=e["type"], **e["data"]) for e in events])
        return result

    def __getattr__(self, name: str) -> Any:
        if name in wire.COMMAND_OPS:
            return lambda *args, **kwargs: self._command(name, args, kwargs)
        if name in wire.QUERY_OPS:
            return lambda *args, **kwargs: self._call(name, *args, **kwargs)
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.local(), name)  # not served: run here, embedded

    def local(self) -> Any:
        """The embedded service for what the server does not serve (opened on first use)."""
        if self._local is None:
            self._local = self._embedded().open(self.home, self.project, **self._local_options)
        return self._local

    @property
    def seq(self) -> int:
        return self._call("status")["seq"]

    # -- lifetime --------------------------------------------------------------------
    def close(self, archive: bool = False) -> None:
        self._close_socket()
        if self._local is not None:
            self._local.close()
            self._local = None
        if self.journal is not None:
            self.journal.close()
            self.journal = None

    def _close_socket(self) -> None:
        try:
            self._file.close()
            self._sock.close()
        except OSError:
            pass

    def __enter__(self) -> RemoteService:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


#: :func:`_dial`'s default: whichever store the server serves (``planner server status`` and ``stop``)
ANY_STORE: Any = object()


def _dial(home: os.PathLike | str, store: str | None = ANY_STORE) -> socket.socket | None:
    """A connection to the server of ``home``, or None when nothing listens there, or when it
    serves another store than ``store`` (a :func:`wire.store_key`)."""
    info = wire.read_info(home)
    if info is None or (store is not ANY_STORE and info.get("store") != store):
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(info["socket"])
    except (OSError, KeyError, TypeError):
        sock.close()
        return None
    return sock
