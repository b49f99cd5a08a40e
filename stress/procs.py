"""Agent processes for the stress runners: started, talked to, and never left behind.

Each child runs ``python -m <module> ...`` in its own session (so a Ctrl-C in
the terminal reaches only the runner, which then stops them in order) and
talks one JSON object per line: the runner writes commands on its stdin, the
child answers on its stdout; its stderr goes to a file, quoted when it fails.
A child that reads EOF on stdin (the runner is gone) exits.

:class:`Children` kills every child's process group when the ``with`` block
ends, however it ends; :func:`terminate_on_sigterm` turns SIGTERM into an
exception so that this happens on a polite kill too. :func:`reap_committers`
waits for the git archive's background committers (``python -m
planner.engine.committer``, detached on purpose by the agents' planner handles) that work
on a given home, so that the runner can remove the home afterwards.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent  # children run here, so that they import this checkout


class ChildFailed(Exception):
    """A child exited, answered with an error, or did not answer in time."""


class Child:
    """One agent process; :meth:`send` a command, :meth:`receive` its answer."""

    def __init__(self, name: str, argv: list[str], stderr_path: Path):
        self.name = name
        self.stderr_path = stderr_path
        with open(stderr_path, "wb") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", *argv], cwd=ROOT, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=err, text=True, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, message: dict[str, Any]) -> None:
        try:
            self.proc.stdin.write(json.dumps(message) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise ChildFailed(self._why("exited before it could be told what to do"))

    def receive(self, timeout: float) -> dict[str, Any]:
        """The child's next line, parsed; :class:`ChildFailed` on EOF, on ``{"error": ...}`` or after
        ``timeout`` seconds (a select on the pipe: the child answers whole lines)."""
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise ChildFailed(self._why(f"did not answer within {timeout:.0f} s"))
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            raise ChildFailed(self._why(f"exited with status {self.proc.returncode}"))
        message = json.loads(line)
        if "error" in message:
            raise ChildFailed(f"{self.name}: {message['error']}")
        return message

    def _why(self, what: str) -> str:
        try:
            tail = self.stderr_path.read_text(errors="replace").strip()[-1500:]
        except OSError:
            tail = ""
        return f"{self.name} {what}" + (f":\n{tail}" if tail else "")

    def kill(self) -> None:
        """SIGKILL the child's process group (its own session), then reap it."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


class Children:
    """The agent processes of one run; all killed (process groups) when the ``with`` block ends."""

    def __init__(self, logs: Path):
        self.logs = logs
        self.all: list[Child] = []

    def start(self, name: str, argv: list[str]) -> Child:
        self.logs.mkdir(parents=True, exist_ok=True)
        child = Child(name, argv, self.logs / f"{name}.stderr")
        self.all.append(child)
        return child

    def ask_all(self, message: dict[str, Any] | None, timeout: float, children: list[Child] | None = None
                ) -> list[dict[str, Any]]:
        """Send ``message`` (if any) to each child, then collect one answer from each, in order."""
        children = self.all if children is None else children
        if message is not None:
            for child in children:
                child.send(message)
        deadline = time.monotonic() + timeout
        return [child.receive(max(deadline - time.monotonic(), 0.0)) for child in children]

    def stop(self) -> None:
        """Close every child's stdin (its signal to exit), wait a moment, then kill what is left."""
        for child in self.all:
            try:
                child.proc.stdin.close()
            except OSError:
                pass
        deadline = time.monotonic() + 5.0
        for child in self.all:
            try:
                child.proc.wait(timeout=max(deadline - time.monotonic(), 0.0))
            except subprocess.TimeoutExpired:
                pass
            child.kill()

    def __enter__(self) -> Children:
        return self

    def __exit__(self, *exc: Any) -> None:
        for child in self.all:
            child.kill()


def terminate_on_sigterm() -> None:
    """Make SIGTERM raise ``KeyboardInterrupt`` in the main thread, as Ctrl-C does, so that
    ``with Children(...)`` and ``finally`` blocks clean up on a polite kill too."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


def committers(home: Path) -> list[psutil.Process]:
    """The ``python -m planner.engine.committer`` processes working on ``home`` (the planner starts
    them detached, in their own sessions, so they are not our descendants)."""
    from planner.engine.engine import home_store

    marker = home_store(home)
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if "planner.engine.committer" in cmdline and (marker in cmdline or f"file:{marker}" in cmdline):
            found.append(proc)
    return found


def reap_committers(home: Path, timeout: float = 120.0) -> int:
    """Wait for the committers on ``home`` to finish (at most ``timeout`` s, then kill them);
    how many there were. Call it once no agent can start another."""
    procs = committers(home)
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            pass
    return len(procs)


def run_runner(home: Path | None, prefix: str, go: Callable[[Path], Any], lines: Callable[[Any], list[str]],
               json_path: Path | None) -> int:
    """A runner's ``main`` after its arguments: ``go(work)`` in ``home`` (or a temporary
    directory, removed after, once the background archive committers are done), then the
    report's ``lines`` and the JSON file. Exit status: 0 when the report is ok, 1 when not
    or when an agent process failed, 130 when interrupted."""
    terminate_on_sigterm()
    work = (home or Path(tempfile.mkdtemp(prefix=prefix))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        report = go(work)
    except ChildFailed as exc:
        print(f"an agent process failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: every agent process stopped", file=sys.stderr)
        return 130
    finally:
        if home is None:
            reap_committers(work / "home", timeout=30)
            shutil.rmtree(work, ignore_errors=True)
    print()
    for line in lines(report):
        print(line)
    print(f"done in {time.monotonic() - started:.0f} s")
    if json_path:
        json_path.write_text(report.model_dump_json(indent=2))
    return 0 if report.ok else 1
