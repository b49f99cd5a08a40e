"""The dashboard inside ``planner serve --http``: uvicorn in a thread beside the socket server.

:func:`start_dashboard` binds the address at once (a taken port is a clear error before the
server says it is ready), reads or creates the token, builds the app and starts uvicorn on
its own thread and event loop (it installs no signal handlers there: the server's main thread
keeps SIGTERM and Ctrl-C). :meth:`Dashboard.stop` ends every live stream (pages reconnect to
the next server by themselves), then uvicorn, within a few seconds.

The ``/mcp`` hook: when :mod:`planner.mcp` provides ``asgi_app(services)`` (an ASGI app for
MCP over HTTP, given the same :class:`planner.web.services.Services`), it is mounted at
``/mcp`` behind the same guard (writes need the token); otherwise nothing is mounted. Its
``close()``, when it has one, is called when the dashboard stops, before uvicorn.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from planner.domain.errors import DomainError
from planner.web.address import WILDCARDS, Bound, parse_address
from planner.web.security import load_token, token_path
from planner.web.services import Services

STOP_TIMEOUT_S = 10.0


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (0: any free port). Raises DomainError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=128,
                                    dualstack_ipv6=host == "::" and socket.has_dualstack_ipv6())
    except OSError as exc:
        raise DomainError(f"cannot listen on {host}:{port} for the dashboard: {exc.strerror or exc}: "
                          "choose another with --http [HOST:]PORT") from None


def mcp_app(services: Services) -> Any | None:
    """``planner.mcp``'s ASGI app for ``/mcp``, or None when it provides none (see the module docstring)."""
    try:
        import planner.mcp as mcp  # (the same layer as this package: an MCP server beside the dashboard)
    except ImportError:
        return None
    factory = getattr(mcp, "asgi_app", None)
    return None if factory is None else factory(services)


class Dashboard:
    """A running dashboard: :attr:`url`, :meth:`stop`."""

    def __init__(self, home: os.PathLike | str, address: str, open_project: Callable[[str], Any] | None = None,
                 log: Callable[[str], None] = print):
        import uvicorn

        from planner.web.app import build_app

        host, port = parse_address(address)
        token = load_token(home)  # (before binding: a bad token file stops the start with nothing open)
        self._socket = bind(host, port)
        self.bound = Bound(host, self._socket.getsockname()[1])
        self.services = Services(home, open_project)
        mounts = {}
        found = self._mcp = mcp_app(self.services)
        if found is not None:
            mounts["/mcp"] = found
        app, self.live = build_app(self.services, token, self.bound, log, mounts)
        config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=False, lifespan="on",
                                http="h11", ws="none", loop="asyncio", timeout_graceful_shutdown=3)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, name="http",
                                        daemon=True)
        self._thread.start()
        shown = "" if host not in WILDCARDS else " (on every interface)"
        log(f"dashboard at {self.bound.url}{shown}; writes need the token in {token_path(Path(home).resolve())}")

    @property
    def url(self) -> str:
        return self.bound.url

    def stop(self) -> None:
        """End the streams, then uvicorn (open requests get a few seconds to finish)."""
        self.live.close()
        if hasattr(self._mcp, "close"):  # its sessions end now (an agent's open stream would hold uvicorn's shutdown)
            self._mcp.close()
        self._server.should_exit = True
        self._thread.join(STOP_TIMEOUT_S)
        self._socket.close()
        self.services.close()


def start_dashboard(home: os.PathLike | str, address: str, open_project: Callable[[str], Any] | None = None,
                    log: Callable[[str], None] = print) -> Dashboard:
    """Serve the dashboard of ``home`` on ``address`` (``[HOST:]PORT``) until :meth:`Dashboard.stop`.
    ``open_project(name)`` gives a project's service (the server's hosted ones); default: embedded."""
    return Dashboard(home, address, open_project, log)
