"""``planner server status`` and ``planner server stop``: ask the home's server over its socket."""

from __future__ import annotations

import os
from typing import Any

import orjson

from planner.service import wire


def _ask(home: os.PathLike | str, op: str) -> dict[str, Any] | None:
    from planner.service.remote import _dial

    sock = _dial(home)
    if sock is None:
        return None
    with sock, sock.makefile("rb") as reader:
        sock.sendall(orjson.dumps({"id": 1, "op": op}) + b"\n")
        line = reader.readline()
    return orjson.loads(line).get("ok") if line else None


def server_status(home: os.PathLike | str) -> dict[str, Any] | None:
    """The server's pid, socket, home, open projects and uptime; None when no server serves ``home``."""
    return _ask(home, "ping")


def stop_server(home: os.PathLike | str) -> int | None:
    """Ask the server to stop and wait until it has (its projects flushed and closed, the home's
    server lock free): its pid, or None if no server serves ``home``. Waits on the socket's end
    and on the lock (the kernel wakes us), never by polling."""
    import fcntl

    from planner.service.remote import _dial

    sock = _dial(home)
    if sock is None:
        return None
    with sock, sock.makefile("rb") as reader:
        sock.sendall(orjson.dumps({"id": 1, "op": "ping"}) + b"\n" + orjson.dumps({"id": 2, "op": "stop"}) + b"\n")
        info = orjson.loads(reader.readline()).get("ok") or {}
        reader.readline()  # {"stopping": true}
        reader.read()  # until the server closes the connection: its projects are flushed and closed
    fd = os.open(os.path.join(home, wire.LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # free once the server process has let go of it (or died)
    finally:
        os.close(fd)
    return info.get("pid")
