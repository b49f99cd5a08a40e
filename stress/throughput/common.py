"""What the throughput scenarios share: the spec's limits, the CLI as a process, the verification.

:class:`Cli` runs ``python -m planner --home HOME --project P ...`` (with ``--no-server``
unless it is meant to reach a running ``planner serve``) in a given environment (a
:func:`stress.serving.bytecode_cache` one, as an installed package would run) and times it
from spawn to exit. :func:`verify` is what every scenario does afterwards:
``planner replay --verify`` (every projection rebuilt from the log equals the live one) and
the export read back, whose tasks the scenario's own check judges.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stress.serving import REPO

#: the spec's four throughput requirements ("Throughput Requirements"): work, limit in seconds
SPEC = {
    "planning": ("break down 500 tasks", 500, 300.0),
    "working": ("process 1,000 state changes", 1000, 120.0),
    "agents": ("coordinate 10 agents on 200 tasks", 200, 1800.0),
    "fileops": ("handle 1,000 file operations", 1000, 60.0),
}
#: "Concurrent Performance": concurrent file operations per second, and the failures allowed
CONCURRENT_OPS_PER_S, MAX_FAILURE_RATE = 100.0, 0.01


def limit_for(scenario: str, size: int) -> float:
    """The spec's limit in seconds scaled to ``size`` units of work (the spec's own size gives
    its figure unchanged; a ``--quick`` run does less work, so the limit shrinks with it)."""
    _, spec_size, seconds = SPEC[scenario]
    return seconds * size / spec_size


class CommandFailed(Exception):
    """A planner command exited non-zero where it should have succeeded."""


@dataclass(frozen=True)
class Cli:
    """The planner's command line on one project, each call a process of its own."""

    env: Mapping[str, str]
    home: Path
    project: str
    served: bool = False  # False: --no-server (the files directly); True: whatever serves the home

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "planner", "--home", str(self.home), "--project", self.project,
                *([] if self.served else ["--no-server"]), *args]

    def timed(self, *args: str, stdin: str | None = None) -> tuple[float, subprocess.CompletedProcess[str]]:
        """Run one command; (seconds from spawn to exit, the finished process)."""
        start = time.perf_counter()
        proc = subprocess.run(self.argv(*args), input=stdin, capture_output=True, text=True, cwd=REPO,
                              env=dict(self.env), timeout=900)
        return time.perf_counter() - start, proc

    def run(self, *args: str, stdin: str | None = None) -> str:
        """Run one command that must succeed; its stdout (:class:`CommandFailed` otherwise)."""
        _, proc = self.timed(*args, stdin=stdin)
        if proc.returncode != 0:
            raise CommandFailed(f"planner {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()[-400:]}")
        return proc.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.run("--json", *args))


def import_fixture(cli: Cli, data: dict[str, Any], path: Path, working: bool) -> None:
    """Write ``data`` (the fixture format) to ``path`` and ``planner import`` it into a new project;
    then ``planner mode working`` when asked."""
    path.write_text(json.dumps(data))
    cli.run("import", str(path), "--create")
    if working:
        cli.run("mode", "working")


def exported_tasks(cli: Cli) -> dict[str, dict[str, Any]]:
    """``planner export --format json``, by task id."""
    return {t["id"]: t for t in cli.json("export", "--format", "json")["tasks"]}


def verify(cli: Cli, check: Callable[[dict[str, dict[str, Any]]], list[str]], where: str) -> list[str]:
    """``planner replay --verify`` and ``check`` on the exported tasks: the problems, each
    prefixed with ``where``."""
    problems: list[str] = []
    try:
        replay = cli.json("replay", "--verify")
        if not replay.get("verified") or replay.get("differences"):
            problems.append(f"replay --verify: {replay.get('differences')}")
        problems += check(exported_tasks(cli))
    except CommandFailed as exc:
        problems.append(str(exc))
    return [f"{where}: {p}" for p in problems]


def states_are(expected: Mapping[str, str]) -> Callable[[dict[str, dict[str, Any]]], list[str]]:
    """A ``check`` for :func:`verify`: every task in ``expected`` is in its state, and no other
    task exists (at most 5 problems listed, then a count)."""
    def check(tasks: dict[str, dict[str, Any]]) -> list[str]:
        wrong = [f"{t} is {tasks[t]['status'] if t in tasks else 'missing'}, expected {state}"
                 for t, state in expected.items() if tasks.get(t, {}).get("status") != state]
        wrong += [f"{t} was not expected" for t in tasks if t not in expected]
        return wrong[:5] + ([f"... {len(wrong) - 5} more"] if len(wrong) > 5 else [])
    return check
