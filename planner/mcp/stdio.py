"""``planner mcp``: the MCP server of one agent session on stdin and stdout.

The session is opened first, so that a missing project or a bad agent name is refused
with the CLI's one line before the protocol starts (and before the SDK's half second of
imports); then the server answers until the client closes stdin, or sends SIGTERM (as
MCP clients do to a server that does not exit), and the session is closed: the agent is
deregistered if it claimed, so what it still holds goes back to pending at once, with its
checkpoint, rather than when its lease expires. stdout carries the protocol only; the
SDK's warnings go to stderr.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterable
from typing import Any

from planner.mcp.session import AgentSession


def serve_stdio(home: os.PathLike | str, project: str, agent: str | None = None, capabilities: Iterable[str] = (),
                capacity: int = 1) -> int:
    """Serve the session's tools on stdio until the client goes; exit status 0."""
    stopped = False
    with AgentSession.open(home, project, agent=agent, capabilities=capabilities, capacity=capacity) as session:
        from planner.mcp.server import build_server

        server = build_server(session)
        previous = signal.signal(signal.SIGTERM, _stop)
        try:
            server.run("stdio")
        except _Stopped:
            stopped = True
        finally:
            signal.signal(signal.SIGTERM, previous)
    if stopped:  # the session is closed; the SDK's thread blocked reading stdin would keep the process alive
        sys.stderr.flush()
        os._exit(0)
    return 0


class _Stopped(BaseException):
    """SIGTERM: leave the event loop, then close the session as at the end of stdin."""


def _stop(signum: int, frame: Any) -> None:
    raise _Stopped

