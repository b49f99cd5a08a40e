"""A real ``planner serve`` for tests: started as a process, ready when it says so, stopped at the end.

Readiness is the server's own first line on stderr ("serving HOME on SOCKET"), read from
the pipe: no sleep, no polling.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path


def start_server(home: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """``python -m planner --home HOME serve``, returned once it listens."""
    home.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "planner", "--home", str(home), "serve"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    lines = []
    for line in proc.stderr:  # blocks until the server writes, or exits
        lines.append(line)
        if line.startswith("planner serve: serving"):
            proc.startup = lines  # type: ignore[attr-defined] - what it said before it listened
            return proc
    proc.wait()
    raise AssertionError(f"planner serve exited with {proc.returncode}: {''.join(lines)}")


def stop_server(proc: subprocess.Popen, timeout: float = 60) -> str:
    """SIGTERM, then wait for a clean exit (0); the rest of its stderr."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    rest = proc.stderr.read() if proc.stderr else ""
    assert proc.wait(timeout) == 0, f"planner serve exited with {proc.returncode}: {rest}"
    return rest


@contextlib.contextmanager
def served(home: Path) -> Iterator[subprocess.Popen]:
    proc = start_server(home)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            stop_server(proc)
