"""A ``planner serve`` process for the benchmarks and stress runners: started, ready when it says so, stopped.

``start_server(home)`` spawns ``python -m planner --home HOME serve`` and returns once
the server has written its "planner serve: serving HOME on SOCKET (pid N)" line on
stderr (read from the pipe: no sleep, no polling). After that line a thread keeps
reading the pipe (so that a talkative server never blocks on a full pipe) and keeps
what it says. ``stop()`` sends SIGTERM and waits for a clean exit (the server finishes
what is queued, flushes, closes its projects). :attr:`ServerProcess.spawned` and
:attr:`ServerProcess.listening` are ``perf_counter`` instants, so a caller can time the
start.

Only public entry points: the command line (``python -m planner serve``), nothing of
``planner.server`` is imported.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]  # the server runs here, so that it imports this checkout
READY_PREFIX = "planner serve: serving"
DASHBOARD_PREFIX = "planner serve: dashboard at "
START_TIMEOUT_S = 120.0


class ServerFailed(Exception):
    """The server exited before it listened, did not listen in time, or did not stop cleanly."""


class ServerProcess:
    """A running ``planner serve``: :attr:`pid`, :attr:`lines` (what it said on stderr), :meth:`stop`."""

    def __init__(self, proc: subprocess.Popen, spawned: float, listening: float, lines: list[str]):
        self.proc = proc
        self.spawned = spawned  # perf_counter just before the spawn
        self.listening = listening  # perf_counter when its "serving" line was read
        self.lines = lines
        self._drain = threading.Thread(target=self._read_rest, name=f"server-{proc.pid}-stderr", daemon=True)
        self._drain.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str | None:
        """The dashboard's address (``http://HOST:PORT/``) from its start line, or None without one."""
        for line in self.lines:
            if line.startswith(DASHBOARD_PREFIX):
                return line[len(DASHBOARD_PREFIX):].split()[0].rstrip(";")
        return None

    def _read_rest(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def stop(self, timeout: float = 120.0) -> None:
        """SIGTERM, then wait for its exit; :class:`ServerFailed` unless it exits 0 (SIGKILL after ``timeout``)."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise ServerFailed(f"planner serve (pid {self.pid}) did not stop within {timeout:g} s: "
                               f"{''.join(self.lines)[-1500:]}") from None
        finally:
            self._drain.join(10)
        if code != 0:
            raise ServerFailed(f"planner serve (pid {self.pid}) exited with {code}: {''.join(self.lines)[-1500:]}")

    def wait(self, timeout: float = 120.0) -> int:
        """Wait for a server that was told to stop some other way (``planner server stop``) to
        exit; its exit status, once everything it said has been read."""
        code = self.proc.wait(timeout)
        self._drain.join(10)
        return code

    def kill(self) -> None:
        """SIGKILL (after a failure elsewhere), then reap it."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        self.proc.wait()


def start_server(home: os.PathLike | str, env: Mapping[str, str] | None = None,
                 timeout: float = START_TIMEOUT_S, http: str | None = None) -> ServerProcess:
    """``python -m planner --home HOME serve``, returned once it listens (see the module docstring);
    in the environment ``env`` (default: this process's), without ``PLANNER_NO_SERVER``. With
    ``http`` (``[HOST:]PORT``, port 0 for any free one), the dashboard too: :attr:`ServerProcess.url`."""
    home = Path(home)
    environ = {k: v for k, v in (os.environ if env is None else env).items() if k != "PLANNER_NO_SERVER"}
    spawned = time.perf_counter()
    dashboard = ["--http", http] if http is not None else []
    proc = subprocess.Popen([sys.executable, "-m", "planner", "--home", str(home), "serve", *dashboard], cwd=REPO,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=environ)
    lines: list[str] = []
    timer = threading.Timer(timeout, proc.kill)  # a server that never says it listens is killed, not waited on
    timer.start()
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # blocks until the server writes, or exits
            lines.append(line)
            if line.startswith(READY_PREFIX):
                return ServerProcess(proc, spawned, time.perf_counter(), lines)
    finally:
        timer.cancel()
    proc.wait()
    raise ServerFailed(f"planner serve exited with {proc.returncode} before it listened: {''.join(lines)[-1500:]}")


CACHED_PACKAGES = ("planner", "eventstore", "projections", "stress", "fixtures")
#: imported once in the cache's environment, so that the libraries they bring in (pydantic, the
#: standard library's modules) are cached too; the planner imports some only on first use
WARM_MODULES = ("planner.cli.cli", "planner.server.server", "planner.service.service", "planner.service.remote",
                "planner.engine.engine", "planner.engine.maintenance", "planner.engine.committer",
                "planner.domain.events", "planner.domain.decide", "planner.domain.leasing", "projections.views",
                "projections.analysis", "eventstore", "stress.peers.sqlite_plan", "stress.peers.json_file_plan",
                "psutil", "sqlite3", "subprocess", "uuid")


@contextlib.contextmanager
def bytecode_cache() -> Iterator[dict[str, str]]:
    """An environment for child processes in which Python caches bytecode in a private temporary
    directory (``PYTHONPYCACHEPREFIX``; ``PYTHONDONTWRITEBYTECODE`` removed), filled beforehand
    with ``compileall`` of this checkout's packages and by importing :data:`WARM_MODULES` (the
    libraries they use; anything else is cached on its first import).
    The children then import as an installed package does (``pip`` writes the ``.pyc`` files at
    install), rather than compiling every module from source at each start, as they would where
    ``PYTHONDONTWRITEBYTECODE`` is set, and nothing is written into the checkout. Removed after."""
    prefix = Path(tempfile.mkdtemp(prefix="stress-pycache-"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(prefix)
    try:
        subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", *CACHED_PACKAGES], cwd=REPO, env=env,
                       stdout=subprocess.DEVNULL, timeout=600, check=False)
        subprocess.run([sys.executable, "-c", "import " + ", ".join(WARM_MODULES)], cwd=REPO, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600, check=False)
        yield env
    finally:
        shutil.rmtree(prefix, ignore_errors=True)


def import_client() -> None:
    """Import the modules :func:`open_client` uses, so that a timed first call does not pay for them."""
    import planner.service.opening  # noqa: F401
    import planner.service.remote  # noqa: F401


def open_project(home: os.PathLike | str, project: str, server: bool | None = None, store: str | None = None) -> Any:
    """The planner's service of ``project``, opened as its adapters open it: a client of the
    server that serves ``home`` when one does (``server=True``: one must, never an embedded
    engine), else embedded (``server=False``: always embedded). ``store``: the project is in
    that store (a server of ``home`` serves it only if it serves that store, as with ``--store``)."""
    from planner.service.opening import open_service

    return open_service(home, project, server=server, **({"store": store} if store else {}))


def open_client(home: os.PathLike | str, project: str, store: str | None = None) -> Any:
    """A client of the server that serves ``home`` (:func:`open_project` with ``server=True``)."""
    return open_project(home, project, server=True, store=store)


@contextlib.contextmanager
def served(home: os.PathLike | str) -> Iterator[ServerProcess]:
    """A server on ``home`` for the block; stopped cleanly after it (killed if the block raised)."""
    server = start_server(home)
    try:
        yield server
    except BaseException:
        server.kill()
        raise
    server.stop()
