"""Multi-agent: ``planner work --agents 10 --exec 'sleep {effort}'`` on a generated project, beside ``make -j10``.

The project: ``generate_complex_project(size, 4, 0.6, seed)`` (a tree 4 deep, about 60% of
the leaves with 1-3 dependencies, capabilities from a pool of ten), each leaf's effort set to
a duration of ``lo..hi`` seconds (uniform, seeded): the command ``sleep {effort}`` (a real
program, no shell) then takes that long. It is imported with ``planner import`` and switched
to working mode; ``planner export`` gives the graph the peer runs:

* **make** (the peer): a Makefile written from the export, one phony target per task; a leaf
  runs ``sleep EFFORT`` after its own dependencies and its containers' (a container's
  dependencies hold everything under it), a container is done when its children are; run by
  ``make -s -j10``. No leases, no log, no crash handling: the lower bound on the time.
* **planner**: ``planner work --agents 10 --exec 'sleep {effort}' --until-idle`` (every agent
  with every capability the tasks need: the default), timed from spawn to exit.

Afterwards: ``planner replay --verify``, and every leaf completed. From the log (each event's
timestamp): when the agents registered, when each task was claimed, started and completed;
from the graph, when each task became ready (its prerequisites done). Over the run, with
``idle(t)`` the agents registered and holding nothing and ``waiting(t)`` the ready tasks not
claimed yet:

* **idle while work was ready** = the integral of ``min(idle, waiting)``: agents that could
  have worked and did not (a slow wake-up, a claim's cost);
* **idle from dependencies** = the integral of ``idle`` while ``waiting`` is 0 (nothing any
  agent could do; the graph's doing, not the planner's);
* **utilisation** = the commands' seconds over ``agents x total``;
* **held overhead** = per task, the time held minus the command's duration (claim, start,
  the command's process, the completion).

The **critical path** is the longest chain of efforts through the same graph: no number of
agents could finish sooner. ``max(critical path, work / agents)`` is the bound for 10.
"""

from __future__ import annotations

import datetime
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stress.serving import REPO, open_project

from .common import Cli, exported_tasks, import_fixture, verify

AGENTS = 10
COMMAND = "sleep {effort}"


@dataclass
class AgentsRun:
    """One repetition: the two times, the graph's bounds, the log's accounting."""

    tasks: int
    leaves: int
    planner_s: float
    make_s: float
    critical_path_s: float
    work_s: float
    start_s: float = float("nan")  # spawn to the last agent registered
    tail_s: float = float("nan")  # the last completion to the exit (noticing idle, stopping the agents)
    idle_ready_s: float = float("nan")  # agent-seconds idle while a ready task waited
    idle_deps_s: float = float("nan")  # agent-seconds idle with nothing ready
    held_overhead_ms: float = float("nan")  # median per task: held minus the command's duration
    attempts: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def bound_s(self) -> float:
        return max(self.critical_path_s, self.work_s / AGENTS)

    @property
    def utilisation(self) -> float:
        return self.work_s / (AGENTS * self.planner_s)


def project(size: int, lo: float, hi: float, seed: int) -> dict[str, Any]:
    """The generated project (fixture format) with leaf efforts of ``lo..hi`` seconds."""
    from fixtures.generators import generate_complex_project

    data = generate_complex_project(size, 4, 0.6, seed).to_dict()
    rng = random.Random(seed)
    for task in data["tasks"]:
        if task["estimated_effort"]:
            task["estimated_effort"] = round(rng.uniform(lo, hi), 2)
    return data


class Graph:
    """The export's graph as the ready rule reads it: a leaf waits on its dependencies and on
    its containers' dependencies; a container is done when every child is."""

    def __init__(self, tasks: Mapping[str, Mapping[str, Any]]):
        self.tasks = tasks
        self.children: dict[str, list[str]] = {t: [] for t in tasks}
        for t, task in tasks.items():
            if task["parent_id"]:
                self.children[task["parent_id"]].append(t)
        self.leaves = [t for t in tasks if not self.children[t]]

    def prerequisites(self, leaf: str) -> list[str]:
        deps = list(self.tasks[leaf]["dependencies"])
        parent = self.tasks[leaf]["parent_id"]
        while parent:
            deps += self.tasks[parent]["dependencies"]
            parent = self.tasks[parent]["parent_id"]
        return list(dict.fromkeys(deps))

    def done_times(self, leaf_done: Mapping[str, float]) -> dict[str, float]:
        """When every task was done, given when each leaf was."""
        done: dict[str, float] = {}

        def of(t: str) -> float:
            if t not in done:
                done[t] = max((of(c) for c in self.children[t]), default=0.0) if self.children[t] \
                    else leaf_done[t]
            return done[t]

        for t in self.tasks:
            of(t)
        return done

    def critical_path(self) -> float:
        """The earliest finish with unlimited agents and free scheduling: the longest chain. O(n + e)."""
        finish: dict[str, float] = {}
        done: dict[str, float] = {}

        def leaf_finish(t: str) -> float:
            if t not in finish:
                finish[t] = max((done_of(d) for d in self.prerequisites(t)), default=0.0) + \
                    float(self.tasks[t]["estimated_effort"])
            return finish[t]

        def done_of(t: str) -> float:
            if t not in done:
                done[t] = max((done_of(c) for c in self.children[t]), default=0.0) if self.children[t] \
                    else leaf_finish(t)
            return done[t]

        return max((done_of(t) for t in self.tasks), default=0.0)

    def makefile(self) -> str:
        """The same graph for ``make -jN``: one phony target per task."""
        lines = [".PHONY: all " + " ".join(self.tasks), "all: " + " ".join(self.tasks)]
        for t in self.tasks:
            if self.children[t]:
                lines.append(f"{t}: " + " ".join(self.children[t]))
            else:
                lines.append(f"{t}: " + " ".join(self.prerequisites(t)))
                lines.append(f"\t@sleep {float(self.tasks[t]['estimated_effort']):g}")
        return "\n".join(lines) + "\n"


def _ts(event: Mapping[str, Any]) -> float:
    return datetime.datetime.fromisoformat(event["ts"].replace("Z", "+00:00")).timestamp()


def account(run: AgentsRun, graph: Graph, events: list[dict[str, Any]], spawned: float) -> None:
    """Fill ``run``'s accounting from the log's events (see the module docstring)."""
    registered: list[float] = []
    claimed: dict[str, float] = {}
    completed: dict[str, float] = {}
    for e in events:
        data = e["data"]
        if e["type"] == "agent.registered":
            registered.append(_ts(e))
        elif e["type"] == "task.assigned":
            claimed[data["id"]] = _ts(e)  # the last attempt's claim
            run.attempts += 1
        elif e["type"] == "task.state_changed" and data["to_state"] == "completed":
            completed[data["id"]] = _ts(e)
    if not registered or set(completed) != set(graph.leaves) or set(claimed) != set(graph.leaves):
        run.problems.append("the log does not show every leaf claimed and completed")
        return
    run.start_s = max(registered) - spawned
    run.tail_s = spawned + run.planner_s - max(completed.values())
    done = graph.done_times(completed)
    begin, end = min(registered), max(completed.values())
    ready = {t: max([begin, *(done[d] for d in graph.prerequisites(t))]) for t in graph.leaves}
    # piecewise constant: +1/-1 steps of registered agents, held tasks and waiting tasks
    steps: list[tuple[float, int, int, int]] = [(t, 1, 0, 0) for t in registered]
    for t in graph.leaves:
        steps += [(claimed[t], 0, 1, -1), (completed[t], 0, -1, 0), (ready[t], 0, 0, 1)]
    steps.sort()
    agents = held = waiting = 0
    last = begin
    idle_ready = idle_deps = 0.0
    for when, d_agents, d_held, d_waiting in steps:
        when = min(max(when, begin), end)
        span = when - last
        idle = max(agents - held, 0)
        idle_ready += span * min(idle, max(waiting, 0))
        idle_deps += span * idle if waiting <= 0 else 0.0
        last = when
        agents, held, waiting = agents + d_agents, held + d_held, waiting + d_waiting
    run.idle_ready_s, run.idle_deps_s = idle_ready, idle_deps
    overheads = sorted((completed[t] - claimed[t] - float(graph.tasks[t]["estimated_effort"])) * 1e3
                       for t in graph.leaves)
    run.held_overhead_ms = overheads[len(overheads) // 2]


def run_agents(work: Path, env: Mapping[str, str], size: int, lo: float, hi: float, seed: int,
               make_first: bool) -> AgentsRun:
    """One repetition in ``work`` (see the module docstring); ``make_first`` alternates the order."""
    cli = Cli(env, work / "home", "agents")
    import_fixture(cli, project(size, lo, hi, seed), work / "project.json", working=True)
    graph = Graph(exported_tasks(cli))
    makefile = work / "Makefile"
    makefile.write_text(graph.makefile())
    critical = graph.critical_path()
    work_s = sum(float(graph.tasks[t]["estimated_effort"]) for t in graph.leaves)
    problems: list[str] = []

    def make() -> float:
        start = time.perf_counter()
        proc = subprocess.run(["make", "-s", f"-j{AGENTS}", "-f", str(makefile), "all"], capture_output=True,
                              text=True, cwd=work, timeout=3600)
        elapsed = time.perf_counter() - start
        if proc.returncode:
            problems.append(f"make -j{AGENTS} exited {proc.returncode}: {proc.stderr[-300:]}")
        return elapsed

    def planner() -> tuple[float, float]:
        spawned = time.time()
        start = time.perf_counter()
        proc = subprocess.run(cli.argv("work", "--agents", str(AGENTS), "--exec", COMMAND, "--until-idle", "--lines"),
                              capture_output=True, text=True, cwd=REPO, env=dict(env), timeout=3600)
        elapsed = time.perf_counter() - start
        if proc.returncode:
            problems.append(f"planner work exited {proc.returncode}: {(proc.stderr or proc.stdout)[-300:]}")
        return elapsed, spawned

    if make_first:
        make_s = make()
        planner_s, spawned = planner()
    else:
        planner_s, spawned = planner()
        make_s = make()
    run = AgentsRun(len(graph.tasks), len(graph.leaves), planner_s, make_s, critical, work_s, problems=problems)
    run.problems += verify(cli, lambda tasks: [f"{t} is {tasks[t]['status']}, expected completed"
                                               for t in graph.leaves if tasks[t]["status"] != "completed"][:5],
                           "multi-agent")
    service = open_project(cli.home, cli.project, server=False)
    try:
        account(run, graph, service.events(), spawned)
    finally:
        service.close()
    if run.attempts != run.leaves:
        run.problems.append(f"multi-agent: {run.attempts} attempts for {run.leaves} tasks (a command failed?)")
    return run


if __name__ == "__main__":  # a quick look: python -m stress.throughput.agents [SIZE]
    import os
    import tempfile

    where = Path(tempfile.mkdtemp(prefix="throughput-agents-"))
    r = run_agents(where, os.environ, int(sys.argv[1]) if len(sys.argv) > 1 else 200, 0.2, 1.0, 0, False)
    print(r, f"bound {r.bound_s:.2f} s, utilisation {r.utilisation:.2f}")
    shutil.rmtree(where, ignore_errors=True)
