"""``planner serve``: one long-running process decides for every agent of a home.

Why: embedded, every agent process is its own engine and folds every event that
every other process writes. A server holds each project's projections hot, decides
every command in memory, and group-commits: commands that arrive while a flush is
under way are decided one by one, in arrival order, against the state that includes
the ones before them, then written in one write and flushed once
(:meth:`planner.engine.engine.Planner.execute_group`). Each is acknowledged only when
its own bytes are durable; a refused command writes nothing and does not disturb the
others.

Threads::

    main          accepts connections on the Unix socket (mode 0600: its owner only)
    conn-N        one per connection: reads a request line, answers queries itself
                  (under the project's lock); a command joins the project's next group,
                  which the first waiting thread executes for all (leader/followers)
    ticker-P      one per project: every second, the maintenance tick (reaps expired
                  leases, snapshots, archive)

The server decides under the same append lock as embedded writers, and folds what
they appended before it decides, so the CLI with ``--no-server`` (or any process
writing the files) stays safe beside it.

Lifetime: ``<home>/server.lock`` (flock) is held for as long as the server runs: a
second server on the home refuses with a clear message; a ``server.json`` or socket
left by a killed server is detected (the lock is free) and replaced. SIGTERM or
Ctrl-C: stop accepting, finish what is queued (each group flushed), close, exit 0.
``kill -9`` loses nothing acknowledged (acknowledged means durable).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
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


class AlreadyServed(DomainError):
    def __init__(self, home: Path, info: dict[str, Any] | None):
        where = f" (pid {info.get('pid')}, socket {info.get('socket')})" if info else ""
        super().__init__(f"a planner server already serves {home}{where}: stop it with "
                         f"`planner server stop --home {home}`, or use that one")


class _Slot:
    """One command waiting in a group: its result (events) or the exception that refused it, and
    the lock its thread sleeps on (released when the group is done, or to hand it the lead)."""

    __slots__ = ("done", "result", "error", "wake")

    def __init__(self) -> None:
        self.done, self.result, self.error = False, None, None
        self.wake = threading.Lock()
        self.wake.acquire()

    def value(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result


class _Hosted:
    """One project served: its service (engine, projections), its group commit, its ticker.

    Group commit without a writer thread (leader/followers): a connection thread queues its
    command; if no group is being executed, it executes every queued command as one group
    itself; otherwise it sleeps on its own lock. The leader wakes the threads of its group
    once their commands are durable, and hands the lead to the first command queued
    meanwhile (which executes the next group). No hand-off on the way in, one targeted
    wake-up on the way out (a shared condition woke all 20 waiters per group: 20% of a busy
    server's time).
    """

    def __init__(self, server: Server, project: str):
        self.project = project
        self.service = Service.open(server.home, project)
        self.planner = self.service.planner
        # a snapshot of the whole graph stalls the group that takes it (~25 ms at 6k tasks): under
        # load one every 1,000 events took 15% of the server's time; every 10,000 keeps a restart short
        self.planner.maintenance.snapshot_every = SNAPSHOT_EVERY
        self.planner.execute = self.submit  # every command the service makes is group-committed
        self.captured = threading.local()  # the events each connection thread's last command wrote
        self._mutex = threading.Lock()  # guards _queued and _leading
        self._queued: list[tuple[Any, _Slot]] = []
        self._leading = False
        self._idle = threading.Condition(self._mutex)  # notified when no group is under way (stop)
        self._stopping = threading.Event()
        self._log = server.log
        self.ticker = threading.Thread(target=self._tick_loop, name=f"ticker-{project}", daemon=True)
        self.ticker.start()

    def submit(self, command: Any) -> list[Any]:
        """Have ``command`` decided in the next group; return its events once they are durable
        (or raise the DomainError that refused it)."""
        slot = _Slot()
        with self._mutex:
            if self._stopping.is_set() and threading.current_thread() is not self.ticker:
                raise DomainError("the planner server is stopping: retry once it is back (the same command id "
                                  "is applied once)")
            self._queued.append((command, slot))
            lead = not self._leading
            self._leading = True
        if not lead:
            slot.wake.acquire()  # until our group is done, or the lead is handed to us
        if not slot.done:
            self._lead()
        events = slot.value()
        found = getattr(self.captured, "events", None)
        if found is not None:
            found.append((type(command).__name__, events))
        return events

    def _lead(self) -> None:
        """Execute everything queued as one group, wake its threads, hand the lead on."""
        with self._mutex:
            group, self._queued = self._queued, []
        try:
            self._execute(group)
        finally:
            with self._mutex:
                following = self._queued[0][1] if self._queued else None
                if following is None:
                    self._leading = False
                    self._idle.notify_all()
            for _, slot in group:
                slot.wake.release()  # (our own slot's lock is released too: nobody waits on it)
            if following is not None:
                following.wake.release()  # its command was queued meanwhile: it leads the next group

    def _execute(self, group: list[tuple[Any, _Slot]]) -> None:
        try:
            results = self.planner.execute_group([command for command, _ in group])
        except BaseException as exc:  # the store refused the whole group (a full disk, ...): nothing written
            self._log(f"{self.project}: a group of {len(group)} commands failed: {exc}")
            results = [exc] * len(group)
        for (_, slot), result in zip(group, results, strict=True):
            if isinstance(result, BaseException):
                slot.error = result
            else:
                slot.result = result
            slot.done = True

    def _tick_loop(self) -> None:
        """The maintenance tick on the server's clock: reap, snapshot, archive (each a group)."""
        while not self._stopping.wait(TICK_S):
            try:
                self.planner.maintenance.tick(self.planner)
            except (DomainError, EventStoreError, OSError) as exc:
                self._log(f"{self.project}: maintenance failed: {exc}")

    def stop(self) -> None:
        """Let the groups under way finish (flushed), then close the project."""
        self._stopping.set()
        self.ticker.join()
        with self._idle:
            while self._leading:
                self._idle.wait()
            self._leading = True  # no group after this one
        self.service.close()


class Server:
    """The server of one home; :func:`serve` runs it in the foreground."""

    def __init__(self, home: os.PathLike | str, log: Callable[[str], None] | None = None):
        self.home = Path(home).resolve()
        self.stopping = threading.Event()
        self.log = log or (lambda line: print(f"planner serve: {line}", file=sys.stderr, flush=True))
        self.projects: dict[str, _Hosted] = {}
        self._projects_lock = threading.Lock()
        self.started = time.time()
        self._lock_fd: int | None = None
        self._listener: socket.socket | None = None
        self.socket_path = wire.socket_path(self.home)
        self._connections: set[socket.socket] = set()

    # -- start and stop ------------------------------------------------------------
    def start(self) -> None:
        """Take the home's server lock, replace a dead server's files, listen."""
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
        from eventstore.fsutil import atomic_write

        atomic_write(self.home / wire.INFO_NAME, json.dumps(info).encode())
        self.log(f"serving {self.home} on {self.socket_path} (pid {os.getpid()})")

    def serve_forever(self) -> None:
        assert self._listener is not None
        self._listener.settimeout(0.5)  # (to notice a stop between connections)
        n = 0
        while not self.stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self.stopping.is_set():
                    break
                raise
            n += 1
            self._connections.add(conn)
            threading.Thread(target=self._serve_connection, args=(conn,), name=f"conn-{n}", daemon=True).start()

    def shutdown(self) -> None:
        """Stop accepting, finish what is queued (flushed), close every project, remove our files."""
        self.stopping.set()
        if self._listener is not None:
            self._listener.close()
        with self._projects_lock:
            hosted = list(self.projects.values())
        for project in hosted:
            project.stop()
        for conn in list(self._connections):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for path in (self.home / wire.INFO_NAME, self.socket_path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        self.log(f"stopped ({len(hosted)} project{'s' if len(hosted) != 1 else ''} flushed and closed)")

    # -- requests ---------------------------------------------------------------------
    def _hosted(self, project: str) -> _Hosted:
        with self._projects_lock:
            found = self.projects.get(project)
            if found is None:
                if self.stopping.is_set():
                    raise DomainError("the planner server is stopping")
                found = self.projects[project] = _Hosted(self, project)
                self.log(f"opened project {project} at seq {found.planner.graph.seq}")
            return found

    def _serve_connection(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        try:
            for line in reader:
                conn.sendall(self._answer(line))
        except OSError:
            pass
        finally:
            self._connections.discard(conn)
            with contextlib.suppress(OSError):
                reader.close()
                conn.close()

    def _answer(self, line: bytes) -> bytes:
        ident = None
        events: list[Any] = []
        try:
            request = orjson.loads(line)
            ident, op, args = request.get("id"), request.get("op"), request.get("args") or {}
            pos = request.get("pos") or ()
            if op == "ping":
                result: Any = self.status()
            elif op == "stop":
                threading.Thread(target=self._stop_soon, daemon=True).start()
                result = {"stopping": True}
            elif op == "execute":  # a command model, as a Planner client builds it: its events back
                from planner.domain import events as ev

                hosted = self._hosted(request["project"])
                kind = getattr(ev, args.get("command", ""), None)
                if not (isinstance(kind, type) and issubclass(kind, ev._Command)):
                    raise DomainError(f"unknown command {args.get('command')!r}")
                result = [ev.encode_event(e) for e in hosted.planner.execute(kind.model_validate(args["fields"]))]
            elif op in wire.SERVED_OPS:
                hosted = self._hosted(request["project"])
                if op in wire.COMMAND_OPS and request.get("journal"):  # the client journals what it wrote
                    hosted.captured.events = []
                    try:
                        result = getattr(hosted.service, op)(*pos, **args)
                    finally:
                        events = [{"type": e.type, "data": e.model_dump(mode="json", exclude={"type"}),
                                   "command": name} for name, batch in hosted.captured.events for e in batch]
                        hosted.captured.events = None
                else:
                    result = getattr(hosted.service, op)(*pos, **args)
            else:
                raise DomainError(f"unknown request {op!r}")
            reply: dict[str, Any] = {"id": ident, "ok": result}
            if events:
                reply["events"] = events
        except Exception as exc:  # noqa: BLE001 - every error goes back to the client, in one line
            if not isinstance(exc, DomainError | EventStoreError | TypeError | ValueError):
                self.log(f"error answering {line[:200]!r}: {exc!r}")
            reply = {"id": ident, "error": wire.encode_error(exc)}
        return orjson.dumps(reply, default=str) + b"\n"

    def status(self) -> dict[str, Any]:
        with self._projects_lock:
            projects = sorted(self.projects)
        return {"pid": os.getpid(), "socket": os.fspath(self.socket_path), "home": os.fspath(self.home),
                "projects": projects, "uptime": round(time.time() - self.started, 3)}

    def _stop_soon(self) -> None:
        os.kill(os.getpid(), signal.SIGTERM)


def serve(home: os.PathLike | str, ready: Callable[[Server], None] | None = None) -> int:
    """Run the server of ``home`` in the foreground until SIGTERM or Ctrl-C; exit status 0."""
    server = Server(home)
    server.start()

    def stop(signum: int, frame: Any) -> None:
        server.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if ready is not None:
        ready(server)
    try:
        server.serve_forever()
    finally:
        server.shutdown()
    return 0
