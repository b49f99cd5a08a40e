"""``planner serve``: one long-running process decides for every agent of a home.

Why: embedded, every agent process is its own engine and folds every event that
every other process writes. A server holds each project's projections hot, decides
every command in memory, and group-commits.

One thread serves every connection (a :mod:`selectors` loop over the Unix socket,
mode 0600: its owner only)::

    loop:
        wait until a connection has a request (or the next maintenance tick is due)
        read every complete request line that has arrived, from every connection
        per project, in arrival order, in one group (Planner.group):
            decide each command against the state including the ones before it,
            answer each query from that state
        write the group's events in one write, flush once          (the group commit)
        send every reply                                            (acknowledged = durable)
        every second: the maintenance tick (reap expired leases, snapshot, archive)

The requests that arrive while a group is flushed form the next group. No thread
hands work to another (a thread per connection with a leader/followers group commit
spent a third of the server's time switching threads and waking waiters). Other
threads (the dashboard's) may use a project too: they take its handle's lock and,
outside a group, the engine's own one-command path.

The server decides under the same append lock as embedded writers, and folds what
they appended before it decides, so the CLI with ``--no-server`` (or any process
writing the files) stays safe beside it.

Lifetime: ``<home>/server.lock`` (flock) is held for as long as the server runs: a
second server on the home refuses with a clear message; a ``server.json`` or socket
left by a killed server is detected (the lock is free) and replaced. SIGTERM or
Ctrl-C: stop accepting, answer what was read (its group flushed), close, exit 0.
``kill -9`` loses nothing acknowledged (acknowledged means durable).

Store: the home's files, or the store named by ``planner --store URL serve`` (or
``PLANNER_STORE``); the home then holds only the server's files (lock, ``server.json``,
socket), and ``server.json`` names the store (password masked) so that only clients of
that same store are served (:func:`planner.service.wire.store_key`). On a PostgreSQL
store, several servers, each with its own home (on its own machine), may serve one
project: each decides under the project's row lock after folding what the others
appended, as beside embedded writers (``docs/postgresql.md``, "Several servers on one project").
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import selectors
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from eventstore import EventStoreError
from planner.domain.errors import DomainError
from planner.service import wire
from planner.service.service import Service

#: seconds between two maintenance ticks of a project
TICK_S = 1.0
#: events between the server's snapshots (embedded processes take one every 1,000)
SNAPSHOT_EVERY = 10_000
#: bytes read from a connection at a time
RECV_BYTES = 1 << 16
#: the longest request line accepted (an import goes through the files, not the server)
MAX_REQUEST_BYTES = 64 << 20


class AlreadyServed(DomainError):
    def __init__(self, home: Path, info: dict[str, Any] | None):
        where = f" (pid {info.get('pid')}, socket {info.get('socket')})" if info else ""
        super().__init__(f"a planner server already serves {home}{where}: stop it with "
                         f"`planner server stop --home {home}`, or use that one")


class _Connection:
    """One client's socket, with what it sent that is not a whole line yet and what is not sent yet."""

    __slots__ = ("sock", "inbox", "outbox")

    def __init__(self, sock: socket.socket):
        self.sock, self.inbox, self.outbox = sock, b"", b""


class _Hosted:
    """One project served: its service (engine and hot projections) and its maintenance schedule."""

    def __init__(self, server: Server, project: str):
        self.project = project
        self.service = Service.open(server.home, project, **({"store": server.store} if server.store else {}))
        self.planner = self.service.planner
        # a snapshot of the whole graph stalls the group that takes it (~25 ms at 6k tasks): under
        # load one every 1,000 events took 15% of the server's time; every 10,000 keeps a restart short
        self.planner.maintenance.snapshot_every = SNAPSHOT_EVERY
        self._log = server.log

    def tick(self) -> None:
        """The maintenance tick on the server's clock: reap, snapshot, archive."""
        try:
            self.planner.maintenance.tick(self.planner)
        except (DomainError, EventStoreError, OSError) as exc:
            self._log(f"{self.project}: maintenance failed: {exc}")

    def close(self) -> None:
        self.service.close()


class Server:
    """The server of one home; :func:`serve` runs it in the foreground (see the module docstring)."""

    def __init__(self, home: os.PathLike | str, log: Callable[[str], None] | None = None, http: str | None = None,
                 store: str | None = None):
        self.home = Path(home).resolve()
        self.store = store  # the store it serves (a name for open_store), or None: the home's files
        self.http = http  # the dashboard's [HOST:]PORT (planner.web), or None
        self.dashboard: Any = None
        self.stopping = threading.Event()
        self.log = log or (lambda line: print(f"planner serve: {line}", file=sys.stderr, flush=True))
        self.projects: dict[str, _Hosted] = {}
        self._projects_lock = threading.Lock()  # (the dashboard's threads open projects too)
        self.started = time.time()
        self._lock_fd: int | None = None
        self._listener: socket.socket | None = None
        self.socket_path = wire.socket_path(self.home)
        self._connections: dict[socket.socket, _Connection] = {}
        self._selector = selectors.DefaultSelector()
        self._waker, self._wake_fd = socket.socketpair()  # stop_soon() writes a byte: select returns

    # -- start and stop ------------------------------------------------------------
    def start(self) -> None:
        """Take the home's server lock, replace a dead server's files, listen."""
        if self.store is not None:  # (the projects are elsewhere: the home is only the server's files)
            self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not self.home.is_dir():
            raise DomainError(f"{self.home} is not a planner home (no such directory): create a project first "
                              "with `planner init`")
        fd = os.open(self.home / wire.LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyServed(self.home, wire.read_info(self.home)) from None
        self._lock_fd = fd
        stale = wire.read_info(self.home)
        if stale is not None:
            self.log(f"replacing the files of a server that is gone (pid {stale.get('pid')})")
        self.socket_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()  # (we hold the lock: whoever made it is gone)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)  # the socket is born 0600: no moment when others could connect
        try:
            listener.bind(os.fspath(self.socket_path))
        finally:
            os.umask(old_umask)
        listener.listen(128)
        self._listener = listener
        info = {"pid": os.getpid(), "socket": os.fspath(self.socket_path), "started": self.started,
                "home": os.fspath(self.home)}
        if self.store is not None:
            info["store"] = wire.store_key(self.store)
        from eventstore.fsutil import atomic_write

        atomic_write(self.home / wire.INFO_NAME, json.dumps(info).encode())
        if self.http is not None:  # the dashboard: its own thread, on the hosted services (its log line comes first)
            try:
                from planner.web.serving import start_dashboard

                self.dashboard = start_dashboard(self.home, self.http, self.service, self.log)
            except BaseException:
                self.shutdown()
                raise
        on = f" from {wire.store_key(self.store)}" if self.store is not None else ""
        self.log(f"serving {self.home} on {self.socket_path} (pid {os.getpid()}){on}")

    def serve_forever(self) -> None:
        """The loop of the module docstring, until :meth:`stop_soon` (or SIGTERM through :func:`serve`)."""
        assert self._listener is not None
        self._listener.setblocking(False)
        self._selector.register(self._listener, selectors.EVENT_READ, "accept")
        self._waker.setblocking(False)
        self._selector.register(self._waker, selectors.EVENT_READ, "wake")
        next_tick = time.monotonic() + TICK_S
        while not self.stopping.is_set():
            ready = self._selector.select(max(0.0, next_tick - time.monotonic()))
            requests: list[tuple[_Connection, bytes]] = []
            for key, mask in ready:
                if key.data == "accept":
                    self._accept()
                elif key.data == "wake":
                    with contextlib.suppress(BlockingIOError):
                        self._waker.recv(4096)
                else:
                    if mask & selectors.EVENT_WRITE:
                        self._send(key.data)
                    if mask & selectors.EVENT_READ:
                        requests.extend(self._receive(key.data))
            if requests:
                self._answer_all(requests)
            if time.monotonic() >= next_tick:
                for hosted in self._hosted_list():
                    hosted.tick()
                next_tick = time.monotonic() + TICK_S

    def stop_soon(self) -> None:
        """Make :meth:`serve_forever` return after the requests it has read (safe from a signal handler
        or another thread)."""
        self.stopping.set()
        with contextlib.suppress(OSError):
            self._wake_fd.send(b"x")

    def shutdown(self) -> None:
        """Stop accepting, close every project (everything answered was flushed), remove our files."""
        self.stopping.set()
        if self.dashboard is not None:  # (first: its streams read the projects closed below)
            self.dashboard.stop()
        if self._listener is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(self._listener)
            self._listener.close()
        for connection in list(self._connections.values()):
            self._drop(connection)
        hosted = self._hosted_list()
        for project in hosted:
            project.close()
        self._selector.close()
        self._waker.close()
        self._wake_fd.close()
        for path in (self.home / wire.INFO_NAME, self.socket_path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        self.log(f"stopped ({len(hosted)} project{'s' if len(hosted) != 1 else ''} flushed and closed)")

    # -- connections ------------------------------------------------------------------
    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                sock, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # (out of descriptors, ...): the clients see a refused connect
                self.log(f"could not accept a connection: {exc}")
                return
            sock.setblocking(False)
            connection = self._connections[sock] = _Connection(sock)
            self._selector.register(sock, selectors.EVENT_READ, connection)

    def _receive(self, connection: _Connection) -> list[tuple[_Connection, bytes]]:
        """The complete request lines that ``connection`` has sent (in order)."""
        try:
            data = connection.sock.recv(RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return []
        except OSError:
            data = b""
        if not data:  # the client went away
            self._drop(connection)
            return []
        inbox = connection.inbox + data
        if b"\n" not in data:
            if len(inbox) > MAX_REQUEST_BYTES:
                self._reply(connection, _error_reply(None, DomainError(
                    f"a request longer than {MAX_REQUEST_BYTES:,} bytes: refused")))
                self._drop(connection)
                return []
            connection.inbox = inbox
            return []
        *lines, connection.inbox = inbox.split(b"\n")
        return [(connection, line) for line in lines if line.strip()]

    def _reply(self, connection: _Connection, data: bytes) -> None:
        """Send ``data`` now as far as the socket takes it; the rest when it is writable again."""
        if connection.sock.fileno() < 0:
            return
        connection.outbox += data
        self._send(connection)

    def _send(self, connection: _Connection) -> None:
        try:
            sent = connection.sock.send(connection.outbox)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._drop(connection)
            return
        connection.outbox = connection.outbox[sent:]
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if connection.outbox else 0)
        with contextlib.suppress(KeyError, ValueError):
            if self._selector.get_key(connection.sock).events != events:
                self._selector.modify(connection.sock, events, connection)

    def _drop(self, connection: _Connection) -> None:
        self._connections.pop(connection.sock, None)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(connection.sock)
        with contextlib.suppress(OSError):
            connection.sock.close()

    # -- requests ---------------------------------------------------------------------
    def service(self, project: str) -> Service:
        """The hot service of ``project`` (opened on first use), for other threads of this process
        (the dashboard): its queries and commands are safe beside the loop (the handle's lock)."""
        return self._hosted(project).service

    def _hosted(self, project: str) -> _Hosted:
        with self._projects_lock:
            found = self.projects.get(project)
            if found is None:
                if self.stopping.is_set():
                    raise DomainError("the planner server is stopping")
                found = self.projects[project] = _Hosted(self, project)
                self.log(f"opened project {project} at seq {found.planner.graph.seq}")
            return found

    def _hosted_list(self) -> list[_Hosted]:
        with self._projects_lock:
            return list(self.projects.values())

    def _answer_all(self, requests: list[tuple[_Connection, bytes]]) -> None:
        """Answer every request read in one pass of the loop: those of a project in one group
        (in arrival order), replied to once the group is durable; the rest (ping, stop, bad
        lines) at once."""
        by_project: dict[str, list[tuple[_Connection, Any, Any]]] = {}
        for connection, line in requests:
            try:
                request = orjson.loads(line)
                if not isinstance(request, dict):
                    raise ValueError("a request is a JSON object")
            except ValueError as exc:
                self._reply(connection, _error_reply(None, DomainError(f"not a request: {exc}")))
                continue
            op = request.get("op")
            if op in ("ping", "stop"):
                self._reply(connection, _ok_reply(request.get("id"), self.status()))
                if op == "stop":
                    self.stop_soon()
                continue
            project = request.get("project")
            if not isinstance(project, str):
                self._reply(connection, _error_reply(request.get("id"), DomainError(f"{op or 'a request'} needs a project")))
                continue
            by_project.setdefault(project, []).append((connection, request, line))
        for project, batch in by_project.items():
            try:
                hosted = self._hosted(project)
            except Exception as exc:  # noqa: BLE001 - an unknown project, a damaged log: each request says so
                for connection, request, _ in batch:
                    self._reply(connection, _error_reply(request.get("id"), exc))
                continue
            replies: list[bytes] = []
            try:
                with hosted.planner.group() as group:
                    for _, request, line in batch:
                        replies.append(self._answer(hosted, group, request, line))
            except Exception as exc:  # noqa: BLE001 - the group could not be written: nothing acknowledged
                self.log(f"{project}: a group of {len(batch)} requests failed: {exc}")
                replies = [_error_reply(request.get("id"), exc) for _, request, _ in batch]
            for (connection, _, _), reply in zip(batch, replies, strict=True):
                self._reply(connection, reply)

    def _answer(self, hosted: _Hosted, group: Any, request: dict[str, Any], line: bytes) -> bytes:
        """One request of a project, inside its group (its commands decided into it)."""
        ident = request.get("id")
        try:
            op, args, pos = request.get("op"), request.get("args") or {}, request.get("pos") or ()
            if op == "execute":  # a command model, as a Planner client builds it: its events back
                from planner.domain import events as ev

                kind = getattr(ev, args.get("command", ""), None)
                if not (isinstance(kind, type) and issubclass(kind, ev._Command)):
                    raise DomainError(f"unknown command {args.get('command')!r}")
                return _ok_reply(ident, [ev.encode_event(e) for e in group.decide(kind.model_validate(args["fields"]))])
            if op not in wire.SERVED_OPS:
                raise DomainError(f"unknown request {op!r}")
            method = getattr(hosted.service, op)
            if not (op in wire.COMMAND_OPS and request.get("journal")):
                return _ok_reply(ident, method(*pos, **args))
            group.captured = []  # the client journals what its command wrote: send the events back
            try:
                result = method(*pos, **args)
            finally:
                events = [{"type": e.type, "data": e.model_dump(mode="json", exclude={"type"}), "command": name}
                          for name, batch in group.captured for e in batch]
                group.captured = None
            return _ok_reply(ident, result, events)
        except Exception as exc:  # noqa: BLE001 - every error goes back to the client, in one line
            if not isinstance(exc, DomainError | EventStoreError | TypeError | ValueError):
                self.log(f"error answering {line[:200]!r}: {exc!r}")
            return _error_reply(ident, exc)

    def status(self) -> dict[str, Any]:
        with self._projects_lock:
            projects = sorted(self.projects)
        return {"pid": os.getpid(), "socket": os.fspath(self.socket_path), "home": os.fspath(self.home),
                "projects": projects, "uptime": round(time.time() - self.started, 3),
                "store": wire.store_key(self.store)}


def _ok_reply(ident: Any, result: Any, events: list[Any] | None = None) -> bytes:
    reply: dict[str, Any] = {"id": ident, "ok": result}
    if events:
        reply["events"] = events
    return orjson.dumps(reply, default=str) + b"\n"


def _error_reply(ident: Any, exc: BaseException) -> bytes:
    return orjson.dumps({"id": ident, "error": wire.encode_error(exc)}, default=str) + b"\n"


def serve(home: os.PathLike | str, ready: Callable[[Server], None] | None = None, http: str | None = None,
          store: str | None = None) -> int:
    """Run the server of ``home`` in the foreground until SIGTERM or Ctrl-C; exit status 0. With
    ``http`` (``[HOST:]PORT``), the dashboard too (:mod:`planner.web`); with ``store``, its
    projects are that store's, not the home's files."""
    server = Server(home, http=http, store=store)

    def stop(signum: int, frame: Any) -> None:
        server.stop_soon()

    # before start() says "serving": a SIGTERM right after that line is a clean stop, not a kill
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.start()
    if ready is not None:
        ready(server)
    try:
        server.serve_forever()
    finally:
        server.shutdown()
    return 0
