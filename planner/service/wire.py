"""How a client and ``planner serve`` talk: newline-delimited JSON over a Unix socket.

::

    request   {"id": 7, "project": "shop", "op": "claim", "args": {"agent": "a1", "command_id": "..."}}
              (and "pos": [...] for positional arguments; "journal": true for the events written)
    response  {"id": 7, "ok": RESULT, "events": [{"type", "data"}, ...]}     (events: what a command wrote)
              {"id": 7, "error": {"type": "StaleLease", "message": "...", "attrs": {...}}}

One request at a time per connection (a client that wants more opens more
connections); ``op`` is a method of :class:`planner.service.service.Service`
(:data:`SERVED_OPS`), ``execute`` (``{"command": "Claim", "fields": {...}}``: a command
model as a :class:`~planner.service.remote_planner.RemotePlanner` builds it; the events it
wrote come back, as the log stores them), or a server op (``ping``, ``stop``). Why not HTTP: a request
through an HTTP framework costs 0.2-0.4 ms on these machines, a line of JSON
(orjson) a few microseconds.

Finding the server: ``<home>/server.json`` says its pid and socket; the socket
lives in the home when the path fits a Unix socket's 107 bytes, otherwise in a
private directory under ``/tmp``. Both are created by the server, which holds
``<home>/server.lock`` (flock) for as long as it runs, so a second server on the
same home, or a stale file left by a killed one, is told apart from a live one.
It also says which store the server serves (``"store"``, :func:`store_key`: absent for the
home's own files): a client is served only when it names the same store, so several
servers, each on its own home (machine), can serve one PostgreSQL project.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import orjson

#: the Service methods a server answers: every command, and the queries of the live project
COMMAND_OPS = frozenset({
    "add_task", "edit_task", "add_dependency", "remove_dependency", "move_task", "set_state", "set_mode",
    "checkpoint", "register_agent", "deregister_agent", "heartbeat", "claim", "renew", "release", "assign", "reap",
})
QUERY_OPS = frozenset({
    "status", "ready", "show", "tree", "agents", "agent", "analyze", "capabilities", "next_expiry", "history",
    "export", "outlook",
})
SERVED_OPS = COMMAND_OPS | QUERY_OPS

INFO_NAME = "server.json"
LOCK_NAME = "server.lock"
SOCKET_NAME = "planner.sock"
#: longest path a Unix socket address holds on Linux (108 bytes with the terminating NUL)
MAX_SOCKET_PATH = 107
#: the environment variable that keeps a process off the server (the CLI's --no-server)
NO_SERVER_ENV = "PLANNER_NO_SERVER"


def socket_path(home: os.PathLike | str) -> Path:
    """Where the server of ``home`` listens: in the home when the path fits, else under /tmp."""
    import hashlib
    import tempfile

    home = Path(home).resolve()
    inside = home / SOCKET_NAME
    if len(os.fsencode(inside)) <= MAX_SOCKET_PATH:
        return inside
    digest = hashlib.sha256(os.fsencode(home)).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"planner-{os.getuid()}-{digest}" / SOCKET_NAME


def read_info(home: os.PathLike | str) -> dict[str, Any] | None:
    """The running server's ``server.json`` (pid, socket, started), or None when there is none."""
    try:
        return orjson.loads((Path(home) / INFO_NAME).read_bytes())
    except (FileNotFoundError, NotADirectoryError, ValueError):  # (orjson.JSONDecodeError is a ValueError)
        return None


def store_key(store: os.PathLike | str | None) -> str | None:
    """How ``server.json`` names the store a server serves (``"store"``), and what a client's own
    store is compared with: None for the home's file store (no ``--store``); a PostgreSQL URL
    with its password masked (the password does not change which store it is, and the file
    must not hold it); a file store as its absolute path. Only equal keys go to the server:
    a client of a different store stays embedded, which is always safe."""
    if store is None:
        return None
    text = os.fspath(store)
    if "://" in text:
        from eventstore.postgres.names import is_postgres, mask

        if is_postgres(text):
            return mask(text)
    return "file:" + os.fspath(Path(text[len("file:"):] if text.startswith("file:") else text).resolve())


def server_disabled() -> bool:
    return os.environ.get(NO_SERVER_ENV, "") not in ("", "0")


def encode_error(exc: BaseException) -> dict[str, Any]:
    """An exception as JSON: its class name, its one-line message, and its plain attributes."""
    attrs = {k: v for k, v in vars(exc).items() if isinstance(v, str | int | float | bool | type(None))}
    message = str(exc)
    pydantic = sys.modules.get("pydantic")  # (a ValidationError without importing pydantic)
    if pydantic is not None and isinstance(exc, pydantic.ValidationError):
        first = exc.errors()[0]
        message = f"invalid {'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
        attrs = {"loc": ".".join(str(p) for p in first["loc"]), "msg": first["msg"], "kind": first["type"]}
        if isinstance(first.get("input"), str | int | float):  # (what the client may quote back)
            attrs["input"] = first["input"]
    return {"type": type(exc).__name__, "message": message, "attrs": attrs}


def decode_error(error: dict[str, Any]) -> BaseException:
    """The exception a client raises for an error the server sent: the same class (a
    DomainError subclass, an EventStoreError subclass), the same message and attributes.
    An error of a class the client does not know becomes a DomainError subclass of that name,
    so that ``type(exc).__name__`` and the message are still the server's."""
    import eventstore.errors as store_errors
    import eventstore.postgres.errors as pg_errors  # (no psycopg import: the classes only)
    from planner.domain import errors as domain_errors
    from planner.domain import transitions

    name, message = error.get("type", "Error"), error.get("message", "")
    cls = next((getattr(m, name) for m in (domain_errors, transitions, store_errors, pg_errors)
                if isinstance(getattr(m, name, None), type) and issubclass(getattr(m, name), Exception)), None)
    if cls is None:
        cls = type(name, (domain_errors.DomainError,), {})
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    for key, value in (error.get("attrs") or {}).items():
        try:
            setattr(exc, key, value)
        except AttributeError:
            pass
    return exc


from planner.domain.errors import DomainError  # noqa: E402 - (the rest of the module needs none of it)


class ServerGone(DomainError):
    """The server stopped answering mid-request (killed or stopped): the command may or may not
    have been applied; a retry with the same command id is safe."""
