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


def stop_server(home: os.PathLike | str, timeout: float = 30.0) -> int | None:
    """Ask the server to stop and wait until its process is gone; its pid, or None if none ran."""
    info = server_status(home)
    if info is None:
        return None
    _ask(home, "stop")
    import psutil

    try:
        psutil.Process(info["pid"]).wait(timeout)
    except psutil.NoSuchProcess:
        pass
    except psutil.TimeoutExpired:
        raise wire.ServerGone(f"the server (pid {info['pid']}) did not stop within {timeout:.0f} s") from None
    return info["pid"]
