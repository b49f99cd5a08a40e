"""Working mode: N state changes (the spec: 1,000 in < 2 minutes), each way a user makes them.

A flat project of N/2 tasks (``Change 1`` ..), imported and switched to working mode; every
task goes ``pending -> in_progress -> completed``, one task after the other: N durable,
checked changes. The same work, each on a project of its own, through:

* ``cli``: ``planner --no-server set T in_progress`` as a process per change (a shell
  script, or an agent shelling out, with no server);
* ``cli, served``: the same processes with ``planner serve`` running on the home;
* ``python``: one Python process (``Service.set_state`` on the files, opened once);
* ``python, served``: one Python process, a client of ``planner serve``;
* ``sqlite`` (the peer): ``python -m stress.peers.sqlite_change DB T STATE`` as a process per
  change (WAL, ``synchronous=FULL``, the legal transitions checked: the same promise).

Each is timed from its first change to its last (the processes' starts included, the
import and the server's start not). Afterwards: ``planner replay --verify`` and every task
completed (the peer: every row completed, N events).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from stress.peers import sqlite_change
from stress.serving import REPO, open_project, served

from .common import Cli, import_fixture, states_are, verify

CLI, CLI_SERVED, PYTHON, PYTHON_SERVED, SQLITE = "cli", "cli, served", "python", "python, served", "sqlite"
WAYS = (CLI, CLI_SERVED, PYTHON, PYTHON_SERVED, SQLITE)
STATES = ("in_progress", "completed")


@dataclass
class WorkingRun:
    """One repetition: seconds per way, and what the checks found."""

    changes: int
    seconds: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _tasks(changes: int) -> list[str]:
    return [f"W{i + 1:04d}" for i in range(changes // len(STATES))]


def _fixture(tasks: list[str]) -> dict:
    return {"project": {"name": "working"}, "tasks": [
        {"id": t, "name": f"Change {i + 1}", "estimated_effort": 1.0} for i, t in enumerate(tasks)]}


def _steps(tasks: list[str]) -> list[tuple[str, str]]:
    return [(t, s) for t in tasks for s in STATES]


def _by_cli(cli: Cli, tasks: list[str], problems: list[str]) -> float:
    start = time.perf_counter()
    for task, state in _steps(tasks):
        _, proc = cli.timed("set", task, state)
        if proc.returncode:
            problems.append(f"planner set {task} {state} exited {proc.returncode}: {proc.stderr.strip()[-200:]}")
    return time.perf_counter() - start


def _by_python(home: Path, project: str, tasks: list[str], served: bool) -> float:
    start = time.perf_counter()
    service = open_project(home, project, server=served)
    try:
        for task, state in _steps(tasks):
            service.set_state(task, state, by="throughput")
    finally:
        service.close()
    return time.perf_counter() - start


def _by_sqlite(env: Mapping[str, str], db: Path, tasks: list[str], problems: list[str]) -> float:
    start = time.perf_counter()
    for task, state in _steps(tasks):
        proc = subprocess.run([sys.executable, "-m", "stress.peers.sqlite_change", str(db), task, state],
                              capture_output=True, text=True, cwd=REPO, env=dict(env), timeout=600)
        if proc.returncode:
            problems.append(f"sqlite_change {task} {state} exited {proc.returncode}: {proc.stderr.strip()[-200:]}")
    return time.perf_counter() - start


def run_working(work: Path, env: Mapping[str, str], changes: int, rotate: int) -> WorkingRun:
    """One repetition in ``work``: every way, in an order rotated by ``rotate`` (the served ways last)."""
    run = WorkingRun(changes)
    tasks = _tasks(changes)
    home = work / "home"
    clis = {way: Cli(env, home, "working-" + way.replace(", ", "-"), served=way.endswith("served"))
            for way in WAYS if way != SQLITE}
    for cli in clis.values():
        import_fixture(Cli(env, home, cli.project), _fixture(tasks), work / f"{cli.project}.json", working=True)
    db = work / "peer.sqlite"
    sqlite_change.create(db, tasks)
    order = list(WAYS[rotate % len(WAYS):] + WAYS[:rotate % len(WAYS)])

    def measure(way: str) -> None:
        problems: list[str] = []
        if way in (CLI, CLI_SERVED):
            run.seconds[way] = _by_cli(clis[way], tasks, problems)
        elif way in (PYTHON, PYTHON_SERVED):
            run.seconds[way] = _by_python(home, clis[way].project, tasks, served=way == PYTHON_SERVED)
        else:
            run.seconds[way] = _by_sqlite(env, db, tasks, problems)
        run.problems += [f"working ({way}): {p}" for p in problems[:5]]

    for way in order:
        if not way.endswith("served"):
            measure(way)
    with served(home):  # one server for both served ways, started after the others (not timed)
        for way in order:
            if way.endswith("served"):
                measure(way)
    expected = dict.fromkeys(tasks, "completed")
    for way, cli in clis.items():
        run.problems += verify(Cli(env, home, cli.project), states_are(expected), f"working ({way})")
    got = sqlite_change.states(db)
    if got.pop("#events") != str(changes) or got != expected:
        run.problems.append(f"working (sqlite): the peer's database does not hold {changes} changes, all completed")
    return run
