"""The MCP tools over streamable HTTP: ``planner serve --http`` mounts :func:`asgi_app` at ``/mcp``.

::

    POST /mcp/PROJECT?agent=NAME&capabilities=a,b&capacity=N     opens a session (an initialize request)
    POST|GET|DELETE /mcp/PROJECT   with the Mcp-Session-Id header     the session's messages, its stream, its end

One MCP session is one :class:`~planner.mcp.session.AgentSession` on the server's hot
service of ``PROJECT`` (the dashboard's ``services``: no second engine), served by its own
``MCPServer`` from :func:`~planner.mcp.server.build_server`, so the tools, resources, prompt
and instructions are exactly those of ``planner mcp`` on stdio. Guarantees:

* the agent, its capabilities and capacity are read from the query of the request that
  opens the session, and checked before anything starts: an unknown project is a 404, a bad
  name or an unknown parameter a 400, each with the CLI's one line; nothing is written;
  later requests of the session ignore the query (the session is bound). Without ``agent``
  the session is agent ``mcp-<first 8 hex digits of its session id>``: one agent per session;
* a session ends when its client deletes it (the DELETE is answered once the session is
  closed), after :data:`IDLE_TIMEOUT_S` without a request in flight (an open GET stream
  counts: a connected client never idles out), or when the server stops. Then, as at the
  end of stdin for ``planner mcp``, its agent is deregistered if it claimed, so what it still
  holds goes back to pending at once with its checkpoint;
* a session id is only good on the project it was opened on; an unknown or ended one is a 404
  (the client opens a new session, as the protocol says);
* only the handshake protocol versions (2025-11-25 and before, with sessions) are spoken: a
  2026 stateless request is refused with -32022 naming them, which the SDK's clients answer
  by falling back to ``initialize``.

The guard in front (``planner.web``) checks the Host header of every request and requires
the home's token on every POST and DELETE; a GET (the server's stream) needs a session id,
which only a POST with the token obtains.

Cost: an ``MCPServer`` per session, because :func:`~planner.mcp.server.build_server` binds
the tools, the instructions and the prompt to one agent session. Building it is ~60 ms of CPU
on a worker thread when the session opens (pydantic generates the 16 tools' schemas again)
and it holds ~1.3 MB while the session lives, beside a task on the dashboard's event loop.
Hence at most :data:`MAX_SESSIONS` at once (503 beyond: ~130 MB). Tool calls run on worker
threads (the SDK runs synchronous tools there): a slow command never holds up the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl

from starlette.applications import Starlette  # (this module is imported only to be mounted: no cost elsewhere)

from planner.mcp.refusals import refusal
from planner.mcp.session import AgentSession

IDLE_TIMEOUT_S = 30 * 60.0  # (the SDK's default for its own session manager)
MAX_SESSIONS = 100  # (~1.3 MB each: see the module docstring)
CLOSE_WAIT_S = 10.0  # a DELETE waits this long at most for the session's last tool call and deregistration
MAX_BODY_BYTES = 4 * 1024 * 1024
SESSION_HEADER = "mcp-session-id"
VERSION_HEADER = "mcp-protocol-version"
USAGE = "/mcp/PROJECT?agent=NAME&capabilities=a,b&capacity=N"
PARAMETERS = ("agent", "capabilities", "capacity")

logger = logging.getLogger(__name__)


class ProjectServices(Protocol):
    """What this module needs of the dashboard's ``planner.web.services.Services``."""

    def service(self, project: str) -> Any:
        """The project's (hot) service; raises ProjectNotFound or InvalidArgumentError."""


class Refused(Exception):
    """A request answered with an HTTP error and a one-line message, without reaching a session."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def agent_options(query: bytes) -> tuple[str | None, tuple[str, ...], int]:
    """(agent, capabilities, capacity) from a query string; :class:`Refused` (400) for an unknown
    parameter, a repeated ``agent`` or ``capacity``, or a capacity that is not a number.
    ``capabilities`` may be repeated and comma-separated (``a,b`` or ``capabilities=a&capabilities=b``)."""
    given: dict[str, list[str]] = {}
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        given.setdefault(name, []).append(value)
    unknown = sorted(set(given) - set(PARAMETERS))
    if unknown:
        raise Refused(400, f"unknown parameter {', '.join(unknown)}: the MCP endpoint is {USAGE}")
    for single in ("agent", "capacity"):
        if len(given.get(single, ())) > 1:
            raise Refused(400, f"{single} given {len(given[single])} times: give it once")
    capabilities = tuple(c.strip() for value in given.get("capabilities", ()) for c in value.split(",") if c.strip())
    capacity = given.get("capacity", ["1"])[0]
    try:
        count = int(capacity)
    except ValueError:
        raise Refused(400, f"invalid capacity {capacity!r}: a whole number of tasks, e.g. capacity=2") from None
    return (given.get("agent") or [None])[0] or None, capabilities, count


@dataclass
class _Live:
    """One open MCP session: its id, project, agent session, server and transport."""

    id: str
    project: str
    session: AgentSession
    server: Any  # MCPServer
    transport: Any  # StreamableHTTPServerTransport
    closed: Any  # an anyio.Event, set once the agent session is closed


class Sessions:
    """The open MCP sessions of one server; :meth:`run` is their lifetime (the app's lifespan).

    Touched from the event loop only (no lock needed); blocking work (opening a project, building
    a server, closing a session) goes to worker threads."""

    def __init__(self, services: ProjectServices, idle_timeout: float | None = IDLE_TIMEOUT_S,
                 max_sessions: int = MAX_SESSIONS):
        self.services = services
        self.idle_timeout = idle_timeout
        self.max_sessions = max_sessions
        self._live: dict[str, _Live] = {}
        self._tasks: Any = None  # the task group of run(), while it runs
        self._loop: Any = None  # its event loop (close() comes from another thread)
        self._closing = False

    def __len__(self) -> int:
        return len(self._live)

    @contextlib.asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        """While inside, sessions may open; on the way out every session is ended and closed."""
        import anyio

        async with anyio.create_task_group() as tasks:
            self._tasks, self._loop = tasks, asyncio.get_running_loop()
            try:
                yield
            finally:
                self._tasks = self._loop = None
                tasks.cancel_scope.cancel()  # each session's task closes its session, shielded

    def close(self, timeout: float = CLOSE_WAIT_S) -> None:
        """From another thread, before the HTTP server stops: end every session now and wait (at most
        ``timeout``) until each is closed; refuse new ones. (An open GET stream would otherwise
        hold the HTTP server's graceful shutdown until it gives up and cancels it.)"""
        self._closing = True
        loop = self._loop
        if loop is None:
            return
        done = asyncio.run_coroutine_threadsafe(self._end_all(), loop)
        try:
            done.result(timeout)
        except Exception:  # (timed out, or the loop stopped first: the lifespan's exit closes what is left)
            done.cancel()

    async def _end_all(self) -> None:
        live = list(self._live.values())
        for one in live:
            if not one.transport.is_terminated:
                await one.transport.terminate()  # (its message loop ends; its task closes the agent session)
        for one in live:
            await one.closed.wait()

    def find(self, session_id: str, project: str) -> _Live | None:
        found = self._live.get(session_id)
        return found if found is not None and found.project == project else None

    async def open(self, project: str, query: bytes, scope: Any, receive: Any, send: Any) -> None:
        """Open a session on ``project`` for the request (an initialize) and answer it; a request
        the session refuses (not an initialize, a bad body) ends it again at once."""
        import anyio
        from mcp.server.streamable_http import StreamableHTTPServerTransport

        from planner.domain.errors import ProjectNotFound
        from planner.domain.events import RegisterAgent
        from planner.mcp.server import build_server

        if self._tasks is None or self._closing:
            raise Refused(503, "the MCP endpoint is not running (the server is starting or stopping)")
        session_id = uuid.uuid4().hex
        agent, capabilities, capacity = agent_options(query)
        agent = agent or f"mcp-{session_id[:8]}"
        try:
            RegisterAgent(agent=agent, capabilities=capabilities, capacity=capacity)  # checked now, registered on first claim
            service = await anyio.to_thread.run_sync(self.services.service, project)
        except Exception as exc:
            message = refusal(exc)
            if message is None:
                raise
            raise Refused(404 if isinstance(exc, ProjectNotFound) else 400, message) from None
        session = AgentSession(service, agent, capabilities, capacity)  # (the server's service: never closed here)
        server = await anyio.to_thread.run_sync(build_server, session)
        # (checked again after the awaits, with none between the checks and the insert)
        if self._tasks is None or self._closing:
            raise Refused(503, "the MCP endpoint is not running (the server is starting or stopping)")
        if len(self._live) >= self.max_sessions:
            raise Refused(503, f"{len(self._live)} MCP sessions are open already: end one first")
        transport = StreamableHTTPServerTransport(session_id, idle_timeout=self.idle_timeout)
        live = self._live[session_id] = _Live(session_id, project, session, server, transport, anyio.Event())
        established = False
        try:
            await self._tasks.start(self._serve, live)
            status = await _answered(transport.handle_request, scope, receive, send)
            established = status is not None and status < 400
        finally:
            if not established:  # nothing was set up for the client: end the session (its task closes it)
                with anyio.CancelScope(shield=True):
                    await transport.terminate()

    async def _serve(self, live: _Live, *, task_status: Any) -> None:
        """The session's task: the SDK's message loop over its transport until the client deletes the
        session, it idles out or the server stops; then the agent session is closed (deregistering
        the agent if it claimed), shielded from cancellation."""
        import anyio
        from mcp.server.runner import serve_loop

        lowlevel = live.server._lowlevel_server  # (MCPServer's protocol server: what the SDK's own manager runs)
        try:
            async with lowlevel.lifespan(lowlevel) as state, live.transport.connect() as (read, write):
                task_status.started()
                with live.transport.idle_scope or anyio.CancelScope():  # cancelled by the transport when idle
                    await serve_loop(lowlevel, read, write, lifespan_state=state, session_id=live.id)
        except Exception:
            logger.exception("MCP session %s (%s on %s) failed", live.id, live.session.agent, live.project)
        finally:
            self._live.pop(live.id, None)  # (first, before any await: its id answers 404 from now on)
            with anyio.CancelScope(shield=True):
                if not live.transport.is_terminated:
                    await live.transport.terminate()
                try:
                    await anyio.to_thread.run_sync(live.session.close)
                except Exception:
                    logger.exception("closing MCP session %s (%s on %s) failed", live.id, live.session.agent,
                                     live.project)
            live.closed.set()


class Endpoint:
    """The ASGI app of ``/mcp/{project}``: routes each request to its session, or opens one."""

    def __init__(self, sessions: Sessions):
        self.sessions = sessions

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        project = scope["path_params"]["project"]
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        method = scope["method"]
        try:
            await self._route(project, method, headers, scope, receive, send)
        except Refused as refused:
            await error_response(refused.status, str(refused))(scope, receive, send)

    async def _route(self, project: str, method: str, headers: dict[str, str], scope: Any, receive: Any,
                     send: Any) -> None:
        from mcp_types import UNSUPPORTED_PROTOCOL_VERSION
        from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

        version = headers.get(VERSION_HEADER)
        if version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS:  # (2026: stateless, no session)
            data = {"supported": list(HANDSHAKE_PROTOCOL_VERSIONS), "requested": version}
            await error_response(400, f"protocol version {version} is not served here: this server keeps one "
                                 "agent session per MCP session (initialize with one of the supported versions)",
                                 code=UNSUPPORTED_PROTOCOL_VERSION, data=data)(scope, receive, send)
            return
        session_id = headers.get(SESSION_HEADER)
        if session_id is None:
            if method != "POST":
                raise Refused(400, f"no Mcp-Session-Id header: open a session first with an initialize POST to {USAGE}")
            await self.sessions.open(project, scope.get("query_string", b""), scope, receive, send)
            return
        live = self.sessions.find(session_id, project)
        if live is None:
            raise Refused(404, "Session not found (it ended, or is another project's): initialize a new one")
        if method != "DELETE":
            await live.transport.handle_request(scope, receive, send)
            return
        # the client ends the session: answer once its agent is deregistered, so that whoever the client
        # tells next sees the tasks it held back in pending
        held: list[dict[str, Any]] = []

        async def hold(message: dict[str, Any]) -> None:
            held.append(message)

        await live.transport.handle_request(scope, receive, hold)
        if live.transport.is_terminated:
            import anyio

            with anyio.move_on_after(CLOSE_WAIT_S):
                await live.closed.wait()
        for message in held:
            await send(message)


def error_response(status: int, message: str, code: int | None = None, data: Any = None) -> Any:
    """A JSON-RPC error without a request id (what MCP clients read), with an HTTP status."""
    from mcp_types import INVALID_REQUEST
    from starlette.responses import Response

    error: dict[str, Any] = {"code": INVALID_REQUEST if code is None else code, "message": message}
    if data is not None:
        error["data"] = data
    body = json.dumps({"jsonrpc": "2.0", "id": None, "error": error})
    return Response(body, status_code=status, media_type="application/json")


async def _answered(app: Callable[..., Awaitable[None]], scope: Any, receive: Any, send: Any) -> int | None:
    """Run ``app`` for one request; the HTTP status it answered with (None if it sent no response)."""
    status: int | None = None

    async def watch(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        await send(message)

    await app(scope, receive, watch)
    return status


class McpApp(Starlette):
    """The mounted app: a Starlette app (its lifespan runs the sessions) that the server can
    :meth:`close` before it stops."""

    def __init__(self, sessions: Sessions, **kwargs: Any):
        super().__init__(**kwargs)
        self.sessions = sessions

    def close(self) -> None:
        """End every MCP session (agents deregistered), from the thread that stops the server."""
        self.sessions.close()


def asgi_app(services: ProjectServices, idle_timeout: float | None = IDLE_TIMEOUT_S,
             max_sessions: int = MAX_SESSIONS) -> Any:
    """The Starlette app to mount at ``/mcp`` (see the module docstring). Its lifespan is the
    sessions' lifetime: the mounting server must run it (``planner.web.app`` does)."""
    from mcp.server.transport_security import RequestBodyLimitMiddleware
    from starlette.routing import Route

    sessions = Sessions(services, idle_timeout, max_sessions)

    async def usage(request: Any) -> Any:
        return error_response(404, f"name the project: the MCP endpoint is {USAGE}")

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with sessions.run():
            yield

    endpoint = RequestBodyLimitMiddleware(Endpoint(sessions), MAX_BODY_BYTES)
    return McpApp(sessions, routes=[Route("/", usage, methods=["GET", "POST", "DELETE"]), Route("/{project}", endpoint)],
                  lifespan=lifespan)
