"""``python -m stress.bench agents`` (BENCH-002): coordinating many agents.

Three parts, each repeated ``--repeat`` times (fresh temp dirs under the
default temp dir, removed after); figures are medians over the repetitions
(min..max shown beside them). A default run takes well under a minute on
two cores (the claim windows mostly end when the project is drained),
``--quick`` (one repetition, 1 s windows) about 15 s.

1. BENCH-002, the spec's snippet
--------------------------------
For 2, 5, 10, 15 and 20 agents: ``generate_multi_agent_project(n, 10)``
(seed 0, ten leaves per agent, chained features, cross-feature dependencies,
four capabilities: see :mod:`fixtures.agents`) and ``create_test_agents(n)``
(capacity 1), then, timed inside one running event loop::

    coordinator = AgentCoordinator()                 # a temporary home, durability "always"
    await coordinator.register_agents(agents)
    assignments = await coordinator.assign_all_tasks(project.tasks)

Figures per agent count:

* **spec coordination** (s): the three lines together, the spec's
  ``agent_coordination`` timer (its limit: 30 s);
* **register agents** (ms): ``register_agents`` alone (the first call opens
  and creates the project, so the benchmark opens it first, untimed);
* **first assignment** (ms): from calling ``assign_all_tasks`` until its first
  batch was acknowledged (the import of the tasks, the switch to working mode,
  one batch): the spec's "time to first assignment";
* **assign batch, all agents** (ms): that first batch alone, one
  ``Planner.assign`` to every agent at once (the spec's "task assignment
  latency"; target < 2 s regardless of the agent count);
* **assign batch, median** (ms): the median batch of the run (later batches
  go to the agents furthest behind, often one);
* **assign_all_tasks** (ms): the whole hand-out: import, every batch, and the
  simulated agents' two transitions per task (see :mod:`planner.spec.coordination`);
* **balance** (%): the largest ``|effort - mean| / mean`` over the agents
  (target <= 15%, the spec's ``assert_load_balanced(tolerance=0.15)``;
  deterministic, the same in every repetition);
* **batches**: how many ``assign`` batches granted something.

The summary adds "no degradation under load": batch latency and
assign_all_tasks per task at 20 agents over 2 agents.

2. Claims per second, 20 agent processes: embedded, served, SQLite
-------------------------------------------------------------------
A project of :data:`CLAIM_TASKS` (2,000) independent tasks (varied
priorities, no dependencies or capabilities), imported afresh for every
window into a planner home (then snapshotted) and into the SQLite peer
(:mod:`stress.peers.sqlite_claims`; both WAL + ``synchronous=FULL`` /
``durability="always"``). 20 worker processes (and, for
the scaling line, 1) from a ``forkserver`` context each open their own handle,
**register** as ``agent-NN`` (before the window), wait on a barrier, then loop
for ``--duration`` seconds: **claim** the best ready task, **transition** it to
``in_progress`` and to ``completed`` with the lease's token; each of the three
acknowledged durably. The peer does the same three steps as three SQLite
transactions (with simplified semantics, see its docstring). A claim is one
whole cycle: claims/s counts the cycles completed in the common window
[first worker's start, + duration] (as :mod:`stress.bench.log_bench` does);
when a worker finds nothing left to claim before the window ends (the project
is drained: a fast system does that well within the default 5 s), it is
every cycle over the drain, first start to last completion. Latency is a
cycle's.

Three systems run the same workers, on a fresh store each, in an order that
is reversed every other repetition:

* ``superplanner`` (:class:`PlannerClaimer`), **embedded**: every worker
  process opens its own ``Planner`` (its own engine and projections) and the
  processes coordinate through the store's append lock, each folding what
  the others appended before it decides. Target: >= 0.5x SQLite at 20
  processes.
* ``superplanner served`` (:class:`ServedClaimer`): the benchmark starts
  ``python -m planner --home H serve`` on the window's home
  (:mod:`stress.serving`: ready when it prints its "serving" line, not
  timed), and every worker opens a client of that server (the planner's
  opening with ``server=True``, which refuses to fall back to an embedded
  engine). The server decides every command on its in-memory projection and
  group-commits; the workers' three commands are the same, each acknowledged
  once durable. The server imports from a private bytecode cache
  (:func:`stress.serving.bytecode_cache`), as an installed planner does, so
  that a module it imports on first use mid-window is not compiled from
  source there (where ``PYTHONDONTWRITEBYTECODE`` is set). After the
  window the server is stopped (SIGTERM, exit 0), then the log is checked
  like the embedded one. Also reported: the
  server's CPU use over the window (user + system, % of one core), which
  tells whether it, rather than the disk or the clients, is the bottleneck.
  Targets: >= 1.5x SQLite at 20 processes with a cycle's p99 < 10 ms,
  >= 1x SQLite from 1 process.
* ``SQLite``, the peer.

The summary prints the ratios served / SQLite, embedded / SQLite (median of
the per-repetition ratios, each against its target) and served / embedded
(information), at each process count. In ``--json``, ``claims/s SYSTEM
@N`` (with ``ratio_sqlite`` for both planners: what the regression check
compares), ``ratio A/B claims/s @N`` (unit ``x``, with the target where
there is one).

Correctness, checked after every window, independently of the workers: the
planner's log is re-read (:func:`check_claim_log`): no ``task.assigned`` for a
task with a live lease, fencing tokens strictly increasing, every release
matching the live token, nothing left leased, every acknowledged claim in
the log as a grant to its agent under its token, every grant acknowledged,
every acknowledged completion in the log once (and nothing else completed);
the same for SQLite (:func:`stress.peers.sqlite_claims.check`).

Where a claim's time goes: :func:`profile_claims` runs one window with worker
0 under cProfile (wall-clock or CPU time) and prints its top functions.

3. The supervisor
-----------------
* **spawn 20 agents** (s, target < 2 s): from starting ``python -m planner
  --home H --project P work --agents 20 --simulate`` until 20
  ``agent.registered`` records are in the project's log (followed with
  ``EventLog.follow``);
* **supervisor RSS with 20 agents** (MB, target < 100 MB): the supervisor
  process's resident set (``psutil``) at that moment.

RSS is the largest of a few samples over :data:`RSS_SETTLE_S` after the
20th registration. Measured once per repetition (medians), only if
``python -m planner work --help`` succeeds; otherwise both are reported as
"not available" (not a failure). A supervisor that does not register its
agents within :data:`SPAWN_TIMEOUT_S` is a failure.

Also checked for part 1 (any failure makes the command exit non-zero): every
leaf assigned exactly once and completed, none left unassigned, every grant to
an agent with the capabilities, and the coordinator's log re-read with
:func:`check_claim_log` plus the dependency rule (a task is granted only
after every task it waits on was completed). Missed targets are reported,
not failures.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from fixtures.agents import create_test_agents, generate_multi_agent_project
from fixtures.generators import TestProject
from planner import Planner
from planner.plans.importing import import_plan, read_fixture
from planner.spec.coordination import AgentCoordinator
from stress.bench import BenchResult, RunOptions
from stress.bench.figures import LOWER
from stress.bench.stats import Figure, LatencySummary, cell, fmt, format_table, median
from stress.bench.windows import WindowFailed, run_workers
from stress.peers import sqlite_claims
from stress.serving import ServerFailed, ServerProcess, bytecode_cache, open_client, start_server

AGENT_COUNTS = [2, 5, 10, 15, 20]
TASKS_PER_AGENT = 10
SEED = 0
MANY = 20  # the contended process count
CLAIM_PROCS = [1, MANY]
CLAIM_TASKS = 2_000  # per window; a fast system drains it before the window ends (see window_rate)
PROJECT = "bench"
SP, SERVED, SQLITE = "superplanner", "superplanner served", "SQLite"  # SP: embedded (each worker its own engine)
SYSTEMS = (SP, SERVED, SQLITE)
TARGET_RATIO = 0.5  # embedded superplanner / SQLite claims/s at MANY processes
TARGET_SERVED_RATIO = {MANY: 1.5, 1: 1.0}  # served superplanner / SQLite claims/s, by process count
TARGET_SERVED_P99_MS = 10.0  # a served cycle's p99 at MANY processes
TARGET_BATCH_MS = 2000.0  # spec: agent assignment time < 2 s regardless of agent count
TARGET_SPEC_S = 30.0  # spec: performance_tracker.assert_performance("agent_coordination", 30.0)
TARGET_BALANCE_PCT = 15.0
TARGET_SPAWN_S = 2.0
TARGET_RSS_MB = 100.0
STARTUP_TIMEOUT_S = 120.0
SPAWN_TIMEOUT_S = 30.0
RSS_SETTLE_S = 0.5
REPO = Path(__file__).resolve().parents[2]  # child processes run here, so that they import this checkout


# -- rows ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """A performance target: ``median op value`` ("<", "<=" or ">=")."""

    op: str
    value: float

    def met(self, measured: float) -> bool:
        if self.op == "<":
            return measured < self.value
        return measured <= self.value if self.op == "<=" else measured >= self.value

    def __str__(self) -> str:
        return f"{self.op} {self.value:g}"


@dataclass
class Row:
    """One figure at one agent count: a value per repetition."""

    agents: int
    figure: str
    unit: str
    target: Target | None = None
    values: list[float] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.figure} @{self.agents} agents"

    @property
    def med(self) -> float:
        return median(self.values) if self.values else math.nan

    @property
    def met(self) -> bool | None:
        return None if self.target is None or not self.values else self.target.met(self.med)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"median": _round(self.med), "min": _round(min(self.values, default=math.nan)),
                               "max": _round(max(self.values, default=math.nan)), "repetitions": len(self.values),
                               "unit": self.unit, "agents": self.agents}
        if self.unit:  # times and the balance: lower is better; a count ("batches") is information
            out["better"] = LOWER
        if self.target is not None:
            out["target"], out["met"] = str(self.target), self.met
        return out


@dataclass
class Results:
    """Everything a run found: BENCH-002 rows, claim figures (and per-worker counts), the
    supervisor figures, the correctness failures."""

    rows: dict[str, Row] = field(default_factory=dict)
    claims: dict[str, Figure] = field(default_factory=dict)
    spread: dict[str, list[int]] = field(default_factory=dict)
    supervisor: dict[str, list[float]] = field(default_factory=dict)  # spawn_s / rss_mb per repetition
    supervisor_available: bool | None = None  # None: not measured
    server_cpu: dict[int, list[float]] = field(default_factory=dict)  # procs -> the server's CPU % per window
    failures: list[str] = field(default_factory=list)

    def row(self, agents: int, figure: str, unit: str, target: Target | None = None) -> Row:
        key = f"{figure} @{agents} agents"
        if key not in self.rows:
            self.rows[key] = Row(agents, figure, unit, target)
        return self.rows[key]

    def claim_figure(self, system: str, procs: int) -> Figure:
        key = f"claims/s {system} @{procs}"
        if key not in self.claims:
            self.claims[key] = Figure(f"claims/s {system}", procs, "claims/s")
        return self.claims[key]

    def fail(self, where: str, problems: list[str]) -> None:
        for problem in problems:
            self.failures.append(f"{where}: {problem}")
            _progress(f"{where}: CHECK FAILED: {problem}")


def _round(value: float) -> float | None:
    return None if value is None or math.isnan(value) else round(value, 6)


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- checking a planner log -----------------------------------------------------------------
def check_claim_log(planner: Planner, claimed: list[tuple[str, int, str]] | None = None,
                    done: list[tuple[str, int]] | None = None,
                    waits_on: dict[str, list[str]] | None = None) -> list[str]:
    """Re-read the whole log of ``planner``'s project; return the problems found.

    Always: no ``task.assigned`` for a task with a live lease (I3), fencing tokens
    strictly increasing, every ``lease.released``/``lease.expired`` carrying the live
    token, no lease left at the end. With ``claimed`` (acknowledged ``(task, token,
    agent)``): each is a grant in the log, and every grant was acknowledged. With
    ``done`` (acknowledged ``(task, token)``): each task was completed once in the
    log, while leased under that token, and nothing else was completed. With
    ``waits_on`` (task -> the leaves it waits on): a task is granted only after
    all of them were completed. O(records).
    """
    problems: list[str] = []
    live: dict[str, int] = {}
    last_token = 0
    grants: set[tuple[str, int, str]] = set()
    completed: dict[str, int] = {}
    completed_at_token: list[tuple[str, int]] = []
    for record in planner.log.read():
        data = record.data
        kind = record.type
        if kind == "task.assigned":
            task, token = data["id"], data["token"]
            if task in live:
                problems.append(f"seq {record.seq}: {task} assigned while leased under token {live[task]}")
            if token <= last_token:
                problems.append(f"seq {record.seq}: token {token} after token {last_token} (not increasing)")
            if waits_on is not None:
                early = [d for d in waits_on.get(task, ()) if d not in completed]
                if early:
                    problems.append(f"seq {record.seq}: {task} granted before {early[:3]} completed")
            live[task] = token
            last_token = max(last_token, token)
            grants.add((task, token, data["agent"]))
        elif kind in ("lease.released", "lease.expired"):
            task = data["id"]
            if live.get(task) != data["token"]:
                problems.append(f"seq {record.seq}: {kind} of {task} with token {data['token']}, "
                                f"live token {live.get(task)}")
            live.pop(task, None)
        elif kind == "task.state_changed" and data.get("to_state") == "completed":
            task = data["id"]
            if task in completed:
                problems.append(f"seq {record.seq}: {task} completed a second time")
            completed[task] = record.seq
            if task in live:
                completed_at_token.append((task, live[task]))
        if len(problems) > 20:
            problems.append("... (stopped reading after 20 problems)")
            return problems
    if live:
        problems.append(f"{len(live)} lease(s) left at the end, e.g. {sorted(live.items())[:3]}")
    if claimed is not None:
        acked = set(claimed)
        if acked - grants:
            problems.append(f"{len(acked - grants)} acknowledged claim(s) not granted in the log, e.g. "
                            f"{sorted(acked - grants)[:3]}")
        if grants - acked:
            problems.append(f"{len(grants - acked)} grant(s) in the log nobody acknowledged, e.g. "
                            f"{sorted(grants - acked)[:3]}")
    if done is not None:
        missing = set(done) - set(completed_at_token)
        if missing:
            problems.append(f"{len(missing)} acknowledged completion(s) not in the log under their token, e.g. "
                            f"{sorted(missing)[:3]}")
        if len(completed) != len(done):
            problems.append(f"the log completes {len(completed)} task(s), {len(done)} completion(s) acknowledged")
    return problems


# -- part 1: BENCH-002 ------------------------------------------------------------------------
def waits_on_leaves(project: TestProject) -> dict[str, list[str]]:
    """Task -> the leaves it must wait for: those its line (itself and its containers)
    depends on, a container dependency meaning all the leaves under it."""
    by_id = {t["id"]: t for t in project.tasks}
    children: dict[str, list[str]] = {tid: [] for tid in by_id}
    for t in project.tasks:
        if t.get("parent_id") is not None:
            children[t["parent_id"]].append(t["id"])

    def leaves_under(tid: str) -> list[str]:
        kids = children[tid]
        return [leaf for k in kids for leaf in leaves_under(k)] if kids else [tid]

    out: dict[str, list[str]] = {}
    for tid in by_id:
        if children[tid]:
            continue
        needed: list[str] = []
        node: str | None = tid
        while node is not None:
            for dep in by_id[node].get("dependencies", ()):
                needed += leaves_under(dep)
            node = by_id[node].get("parent_id")
        out[tid] = needed
    return out


async def _spec_snippet(project: TestProject, agents: list[Any]) -> tuple[float, AgentCoordinator, Any]:
    """The spec's timed block, verbatim but for keeping the coordinator open for the checks."""
    started = time.perf_counter()
    coordinator = AgentCoordinator()
    await coordinator.register_agents(agents)
    assignments = await coordinator.assign_all_tasks(project.tasks)
    return time.perf_counter() - started, coordinator, assignments


async def _components(project: TestProject, agents: list[Any]) -> tuple[float, AgentCoordinator, Any]:
    """Registration timed alone (the project opened first, untimed), then assign_all_tasks."""
    coordinator = AgentCoordinator()
    coordinator.planner  # noqa: B018 - open (create) the project outside the timed registration
    started = time.perf_counter()
    await coordinator.register_agents(agents)
    register_s = time.perf_counter() - started
    assignments = await coordinator.assign_all_tasks(project.tasks)
    return register_s, coordinator, assignments


def check_coordination(coordinator: AgentCoordinator, assignments: Any, project: TestProject,
                       agents: list[Any]) -> list[str]:
    """Part 1's checks: every leaf once, completed, capabilities respected, the log's rules."""
    problems: list[str] = []
    leaves = set(waits_on_leaves(project))
    given = [task for share in assignments.values() for task in share.tasks]
    if sorted(given) != sorted(leaves):
        dup = len(given) - len(set(given))
        problems.append(f"{len(set(given))} distinct leaves assigned ({dup} twice) of {len(leaves)}")
    if assignments.unassigned:
        problems.append(f"{len(assignments.unassigned)} leaves left unassigned, e.g. {assignments.unassigned[:3]}")
    caps = {a.id: set(a.capabilities) for a in agents}
    needs = {t["id"]: set(t["capabilities_required"]) for t in project.tasks}
    unfit = [(agent, task) for agent, share in assignments.items() for task in share.tasks
             if not needs[task] <= caps.get(agent, set())]
    if unfit:
        problems.append(f"{len(unfit)} task(s) given to agents without the capabilities, e.g. {unfit[:3]}")
    planner = coordinator.planner
    states = {planner.task(tid)["state"] for tid in leaves}
    if leaves and states != {"completed"}:
        problems.append(f"leaves end in states {sorted(states)}, expected all completed")
    problems += check_claim_log(planner, waits_on=waits_on_leaves(project))
    return problems


def measure_coordination(counts: list[int], rep: int, loop: asyncio.AbstractEventLoop, res: Results) -> None:
    """Part 1, one repetition: every agent count, the spec block then the components."""
    for n in counts:
        where = f"[rep {rep + 1}] BENCH-002 @{n} agents"
        project = generate_multi_agent_project(agent_count=n, tasks_per_agent=TASKS_PER_AGENT, seed=SEED)
        agents = create_test_agents(n)
        spec_s, coordinator, assignments = loop.run_until_complete(_spec_snippet(project, agents))
        try:
            res.fail(where + " (spec block)", check_coordination(coordinator, assignments, project, agents))
        finally:
            coordinator.close()
        register_s, coordinator, assignments = loop.run_until_complete(_components(project, agents))
        try:
            res.fail(where, check_coordination(coordinator, assignments, project, agents))
        finally:
            coordinator.close()
        res.row(n, "spec coordination", "s", Target("<", TARGET_SPEC_S)).values.append(spec_s)
        res.row(n, "register agents", "ms").values.append(register_s * 1e3)
        first = assignments.first_assignment_s
        res.row(n, "first assignment", "ms").values.append(math.nan if first is None else first * 1e3)
        batches = assignments.batch_seconds
        res.row(n, "assign batch, all agents", "ms", Target("<", TARGET_BATCH_MS)).values.append(
            batches[0] * 1e3 if batches else math.nan)
        res.row(n, "assign batch, median", "ms").values.append(median(batches) * 1e3 if batches else math.nan)
        res.row(n, "assign_all_tasks", "ms").values.append(assignments.elapsed_s * 1e3)
        res.row(n, "assign_all_tasks per task", "ms").values.append(
            assignments.elapsed_s * 1e3 / max(1, assignments.tasks))
        res.row(n, "balance: max deviation", "%", Target("<=", TARGET_BALANCE_PCT)).values.append(
            assignments.max_deviation() * 100)
        res.row(n, "batches", "").values.append(float(assignments.batches))
        _progress(f"{where}: spec block {spec_s * 1e3:.0f} ms, first batch "
                  f"{(batches[0] * 1e3 if batches else math.nan):.2f} ms, balance "
                  f"{assignments.max_deviation():.1%}, {assignments.batches} batches")


# -- part 2: claims from many processes ---------------------------------------------------------
def claim_project(tasks: int, seed: int = SEED) -> dict[str, Any]:
    """``tasks`` independent leaves with varied priorities (seeded), fixture format."""
    rng = random.Random(f"agents-bench-claims:{seed}")
    width = len(str(tasks))
    priorities = ("low", "medium", "medium", "high", "critical")
    return {"project": {"id": "claims", "name": f"{tasks} independent tasks"},
            "tasks": [{"id": f"c{i:0{width}d}", "name": f"Task {i}", "priority": rng.choice(priorities),
                       "estimated_effort": float(1 + int(rng.random() * 5))} for i in range(tasks)]}


class PlannerClaimer:
    """An agent on the planner: its own ``Planner`` handle (durability "always")."""

    def __init__(self, target: tuple[str, str], agent: str):
        home, project = target
        self.agent = agent
        self.planner = Planner.open(home, project, durability="always")

    def register(self) -> None:
        self.planner.register_agent(self.agent)

    def claim(self) -> tuple[str, int] | None:
        lease = self.planner.claim(self.agent)
        return None if lease is None else (lease.id, lease.token)

    def start(self, task: str, token: int) -> None:
        self.planner.transition(task, "in_progress", token=token)

    def complete(self, task: str, token: int) -> None:
        self.planner.transition(task, "completed", token=token)

    def close(self) -> None:
        self.planner.close()


class ServedClaimer:
    """An agent through ``planner serve``: a client from the planner's opening with ``server=True``
    (:func:`stress.serving.open_client`: a ``RemoteService``, never an embedded engine),
    the same three commands as :class:`PlannerClaimer`, each acknowledged once the server has
    flushed the group it went in (the server's log: durability "always")."""

    def __init__(self, target: tuple[str, ...], agent: str):
        home, project, *store = target  # (a third item: the server's store, e.g. PostgreSQL)
        self.agent = agent
        self.service = open_client(home, project, *store)

    def register(self) -> None:
        self.service.register_agent(self.agent)

    def claim(self) -> tuple[str, int] | None:
        lease = self.service.claim(self.agent)
        return None if lease is None else (lease["task"], lease["token"])

    def start(self, task: str, token: int) -> None:
        self.service.set_state(task, "in_progress", token=token)

    def complete(self, task: str, token: int) -> None:
        self.service.set_state(task, "completed", token=token)

    def close(self) -> None:
        self.service.close()


CLAIMERS: dict[str, Callable[[Any, str], Any]] = {SP: PlannerClaimer, SERVED: ServedClaimer,
                                                  SQLITE: sqlite_claims.SqliteClaimer}


@dataclass
class ClaimReport:
    """A worker's window: each cycle's latency (s) and completion (monotonic s), what it claimed and finished."""

    worker_id: int
    agent: str
    latencies: list[float] = field(default_factory=list)
    completions: list[float] = field(default_factory=list)
    claimed: list[tuple[str, int]] = field(default_factory=list)
    done: list[tuple[str, int]] = field(default_factory=list)
    start: float = 0.0
    ran_out: float | None = None  # when a claim found nothing (monotonic s)
    error: str | None = None
    profile: str | None = None  # cProfile's top functions, when asked for (worker 0 only)


def claim_loop(claimer: Any, duration: float, report: ClaimReport) -> None:
    """Claim, start and complete tasks until ``duration`` has passed or nothing is left."""
    clock, now = time.perf_counter, time.monotonic
    report.start = now()
    deadline = report.start + duration
    while True:
        began = clock()
        got = claimer.claim()
        if got is None:
            report.ran_out = now()
            return
        report.claimed.append(got)
        task, token = got
        claimer.start(task, token)
        claimer.complete(task, token)
        report.latencies.append(clock() - began)
        report.done.append(got)
        finished = now()
        report.completions.append(finished)
        if finished >= deadline:
            return


def _claim_worker(system: str, target: Any, worker_id: int, duration: float, barrier, results,
                  profile_top: int = 0, profile_cpu: bool = False) -> None:
    """Child process body: open, register, wait for the start, claim for the window (worker 0
    under cProfile when ``profile_top``: its top functions go in the report)."""
    report = ClaimReport(worker_id, f"agent-{worker_id + 1:02d}")
    try:
        claimer = CLAIMERS[system](target, report.agent)
        try:
            claimer.register()
            barrier.wait(STARTUP_TIMEOUT_S)
            if profile_top and worker_id == 0:
                report.profile = _profiled(claim_loop, claimer, duration, report, top=profile_top,
                                           cpu=profile_cpu)
            else:
                claim_loop(claimer, duration, report)
        finally:
            claimer.close()
    except BaseException:
        barrier.abort()  # nobody waits out the startup timeout for a worker that will never come
        report.error = traceback.format_exc()
    results.put(report)


def _profiled(fn: Callable[..., Any], *args: Any, top: int, cpu: bool = False) -> str:
    """Run ``fn(*args)`` under cProfile; the ``top`` functions by cumulative and by own time,
    in wall-clock time (waits included) or, with ``cpu``, in this process's CPU time."""
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile(time.process_time) if cpu else cProfile.Profile()
    profiler.runcall(fn, *args)
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text).strip_dirs()
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return text.getvalue()


def run_claim_window(ctx, system: str, target: Any, procs: int, duration: float,
                     profile_top: int = 0, profile_cpu: bool = False) -> list[ClaimReport]:
    """``procs`` workers of ``system`` on ``target`` (see :func:`prepare_claims`) for ``duration`` s; their reports."""
    reports = run_workers(ctx, _claim_worker, lambda i, barrier, results: (
        system, target, i, duration, barrier, results, profile_top, profile_cpu), procs, duration, STARTUP_TIMEOUT_S)
    return sorted(reports, key=lambda r: r.worker_id)


def window_rate(reports: list[ClaimReport], duration: float) -> tuple[float, bool]:
    """(claims/s, drained): the cycles completed in the common window [first start, + duration]
    per second; if a worker found nothing left to claim within it (the project was drained),
    every cycle over the drain's length, first start to last completion."""
    start = min(r.start for r in reports)
    end = start + duration
    if any(r.ran_out is not None and r.ran_out < end for r in reports):
        last = max((t for r in reports for t in r.completions), default=start)
        return sum(len(r.completions) for r in reports) / max(last - start, 1e-9), True
    return sum(1 for r in reports for t in r.completions if t <= end) / duration, False


def prepare_claims(root: Path, data: dict[str, Any], system: str | None = None,
                   store: str | None = None) -> dict[str, Any]:
    """The project in a planner home (working mode, snapshotted; in ``store`` when given, e.g. a
    PostgreSQL one) and in the SQLite peer (only the one ``system`` needs, when given); what each
    system's workers open: ``(home, project[, store])`` (the same for the embedded and the served
    planner), the database's path."""
    out: dict[str, Any] = {}
    if system in (None, SP, SERVED):
        home = root / "home"
        with Planner.open(home, PROJECT, create=True, store=store) as p:
            import_plan(p, read_fixture(data, "claims.json"))
            p.set_mode("working")
            p.snapshot()
        out[SP] = out[SERVED] = (str(home), PROJECT, *([store] if store else []))
    if system in (None, SQLITE):
        db = root / "claims.db"
        sqlite_claims.create(db, data)
        out[SQLITE] = str(db)
    return out


def check_claims(system: str, target: Any, reports: list[ClaimReport]) -> list[str]:
    """The store re-read after a window (see the module docstring, part 2); for the served
    planner, after its server stopped (everything it acknowledged is in the files)."""
    claimed = [(task, token, r.agent) for r in reports for task, token in r.claimed]
    done = [pair for r in reports for pair in r.done]
    if system == SQLITE:
        return sqlite_claims.check(target, claimed, done)
    home, project, *store = target
    with Planner.open(home, project, store=store[0] if store else None) as p:  # embedded: the store as it is
        problems = check_claim_log(p, claimed, done)
        leaves = p.stats()["leaves_by_state"].get("completed", 0)
        if leaves != len(done):
            problems.append(f"{leaves} tasks completed in the projection, {len(done)} acknowledged")
    return problems


def measure_claims(ctx, procs_list: list[int], tasks: int, duration: float, rep: int, res: Results,
                   server_env: dict[str, str] | None = None) -> None:
    """Part 2, one repetition: a fresh store per system and process count; the order of the
    systems is reversed every other repetition. The servers run in ``server_env`` (default:
    this process's environment)."""
    data = claim_project(tasks)
    systems = list(SYSTEMS) if rep % 2 == 0 else list(SYSTEMS)[::-1]
    for procs in procs_list:
        for system in systems:
            where = f"[rep {rep + 1}] claims {system} @{procs}"
            root = Path(tempfile.mkdtemp(prefix="bench-agents-claims-"))
            server_cpu = math.nan
            try:
                target = prepare_claims(root, data, system)[system]
                try:
                    if system == SERVED:
                        reports, server_cpu = run_served_window(ctx, target, procs, duration, env=server_env)
                    else:
                        reports = run_claim_window(ctx, system, target, procs, duration)
                except (WindowFailed, ServerFailed) as exc:
                    res.fail(where, [str(exc)])
                    continue
                problems = check_claims(system, target, reports)
            finally:
                shutil.rmtree(root, ignore_errors=True)
            res.fail(where, problems)
            rate, drained = window_rate(reports, duration)
            latency = LatencySummary.of(x for r in reports for x in r.latencies)
            res.claim_figure(system, procs).add(rate, latency)
            res.spread.setdefault(f"{system} @{procs}", []).extend(len(r.done) for r in reports)
            note = "; drained the project within the window" if drained else ""
            if system == SERVED:
                res.server_cpu.setdefault(procs, []).append(server_cpu)
                note += f"; server CPU {server_cpu:.0f}% of one core"
            _progress(f"{where}: {rate:,.0f} claims/s, p50 {latency.p50_ms:.2f} ms, p99 {latency.p99_ms:.2f} ms, "
                      f"{sum(len(r.done) for r in reports)} cycles; {'ok' if not problems else 'CHECK FAILED'}{note}")


def run_served_window(ctx, target: tuple[str, str], procs: int, duration: float,
                      profile_top: int = 0, profile_cpu: bool = False, server: ServerProcess | None = None,
                      env: dict[str, str] | None = None) -> tuple[list[ClaimReport], float]:
    """One window of :data:`SERVED` workers: a ``planner serve`` started on the home of ``target``
    in the environment ``env`` (unless ``server`` is one already running there), the workers'
    window through it, the server stopped cleanly (everything acknowledged flushed;
    :class:`ServerFailed` otherwise; a ``server`` passed in is left running). Returns the
    reports and the server's CPU use over the window, in % of one core (its user + system time from
    just before the workers start to just after they report, over the window's length: first
    start to last completion)."""
    import psutil

    own = server is None
    if server is None:
        server = start_server(target[0], env=env)
    try:
        proc = psutil.Process(server.pid)
        before = proc.cpu_times()
        reports = run_claim_window(ctx, SERVED, target, procs, duration, profile_top, profile_cpu)
        after = proc.cpu_times()
    except BaseException:
        if own:
            server.kill()
        raise
    if own:
        server.stop()
    start = min(r.start for r in reports)
    end = max((t for r in reports for t in r.completions), default=start)
    used = (after.user - before.user) + (after.system - before.system)
    return reports, 100.0 * used / max(end - start, 1e-9)


def _mp_context():
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])  # children fork with the planner and sqlite3 imported
    return ctx


def profile_claims(system: str = SP, procs: int = MANY, duration: float = 5.0, tasks: int = CLAIM_TASKS,
                   top: int = 10, cpu: bool = False, out: TextIO | None = None) -> str:
    """One part-2 window with worker 0 under cProfile; print (to ``out``, default stdout) and
    return its top ``top`` functions, by wall-clock time (waits for locks included) or, with
    ``cpu``, by CPU time. For finding where a claim's time goes::

        python -c "from stress.bench.agents_bench import profile_claims; profile_claims()"
    """
    root = Path(tempfile.mkdtemp(prefix="bench-agents-profile-"))
    try:
        target = prepare_claims(root, claim_project(tasks), system)[system]
        if system == SERVED:
            reports, _ = run_served_window(_mp_context(), target, procs, duration, profile_top=top, profile_cpu=cpu)
        else:
            reports = run_claim_window(_mp_context(), system, target, procs, duration, profile_top=top,
                                       profile_cpu=cpu)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    rate, _ = window_rate(reports, duration)
    text = (f"{system} @{procs} procs: {rate:,.0f} claims/s; worker 0 did {len(reports[0].done)} cycles "
            f"({'CPU' if cpu else 'wall-clock'} time)\n"
            + (reports[0].profile or ""))
    print(text, file=out or sys.stdout)
    return text


# -- part 3: the supervisor ---------------------------------------------------------------------
def planner_work_available() -> bool:
    """Whether this checkout has ``planner work`` (its ``--help`` exits 0)."""
    probe = subprocess.run([sys.executable, "-m", "planner", "work", "--help"], capture_output=True, cwd=REPO,
                           timeout=60)
    return probe.returncode == 0


def measure_supervisor(root: Path, agents: int = MANY) -> dict[str, Any]:
    """Start ``planner work --agents N --simulate`` on a project of independent tasks,
    follow the log until N ``agent.registered`` records arrived: the seconds that took, and
    the supervisor's RSS (MB) then. Stops the supervisor (its process group) after.
    Returns ``{"available": False}`` when ``planner work`` does not exist."""
    import psutil

    from eventstore import EventLog

    if not planner_work_available():
        return {"available": False}
    home = root / "supervisor"
    with Planner.open(home, PROJECT, create=True) as p:
        import_plan(p, read_fixture(claim_project(10 * agents), "supervisor.json"))
        p.set_mode("working")
        first_seq = p.log.last_seq + 1
    command = [sys.executable, "-m", "planner", "--home", str(home), "--project", PROJECT, "work",
               "--agents", str(agents), "--simulate"]
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    registered: set[str] = set()
    try:
        with EventLog.open(home / "projects" / PROJECT) as log:
            for record in log.follow(first_seq, timeout=SPAWN_TIMEOUT_S):
                if record.type == "agent.registered":
                    registered.add(record.data["agent"])
                    if len(registered) >= agents:
                        break
        spawn_s = time.perf_counter() - started
        rss = 0
        settle = time.monotonic() + RSS_SETTLE_S
        while proc.poll() is None:
            try:
                rss = max(rss, psutil.Process(proc.pid).memory_info().rss)
            except psutil.NoSuchProcess:
                break
            if time.monotonic() >= settle:
                break
            time.sleep(0.05)
        rss_mb = rss / 2**20 if rss else math.nan
    finally:
        _stop_group(proc)
    if len(registered) < agents:
        return {"available": True, "error": f"only {len(registered)} of {agents} agents registered within "
                                            f"{SPAWN_TIMEOUT_S:g} s of the last record (exit {proc.returncode})"}
    return {"available": True, "spawn_s": spawn_s, "rss_mb": rss_mb}


def _supervisor_once(rep: int, res: Results) -> None:
    where = f"[rep {rep + 1}] supervisor"
    root = Path(tempfile.mkdtemp(prefix="bench-agents-supervisor-"))
    try:
        got = measure_supervisor(root)
    except Exception as exc:  # noqa: BLE001 - a crash of the measurement is a failure to report
        res.fail(where, [f"{type(exc).__name__}: {exc}"])
        return
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if got.get("error"):
        res.fail(where, [got["error"]])
        return
    for key in ("spawn_s", "rss_mb"):
        res.supervisor.setdefault(key, []).append(got[key])
    _progress(f"{where}: 20 agents registered in {got['spawn_s']:.2f} s, supervisor RSS {got['rss_mb']:.1f} MB")


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the supervisor's process group (it was started in its own session), then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue
    if proc.stderr is not None:
        proc.stderr.close()


# -- the run ----------------------------------------------------------------------------------
def run(options: RunOptions, out: TextIO) -> BenchResult:
    """Every part, ``options.repeat`` times; print the tables to ``out``."""
    return measure(AGENT_COUNTS, options.repeat, options.duration, out)


def measure(counts: list[int], repeat: int, duration: float, out: TextIO, claim_procs: list[int] | None = None,
            claim_tasks: int = CLAIM_TASKS, supervisor: bool = True) -> BenchResult:
    """Part 1 at each of ``counts`` agents, part 2 with each of ``claim_procs`` processes
    (default :data:`CLAIM_PROCS`; ``[]``: skipped) on ``claim_tasks`` tasks for windows of
    ``duration`` s, ``repeat`` times; part 3 once if ``supervisor``."""
    claim_procs = CLAIM_PROCS if claim_procs is None else claim_procs
    res = Results()
    started = time.monotonic()
    ctx = _mp_context() if claim_procs else None
    if supervisor:
        res.supervisor_available = planner_work_available()
    loop = asyncio.new_event_loop()
    with contextlib.ExitStack() as stack:
        server_env = stack.enter_context(bytecode_cache()) if claim_procs else None
        stack.callback(loop.close)
        for rep in range(repeat):
            measure_coordination(counts, rep, loop, res)
            if claim_procs:
                measure_claims(ctx, claim_procs, claim_tasks, duration, rep, res, server_env)
            if res.supervisor_available:
                _supervisor_once(rep, res)
    _progress(f"done in {time.monotonic() - started:.0f} s")
    print_report(res, counts, repeat, duration, claim_tasks, out)
    return BenchResult(figures_json(res), res.failures)


# -- the report -----------------------------------------------------------------------------------
def _ratio(res: Results, procs: int, ours: str = SP, theirs: str = SQLITE) -> tuple[float, float, float] | None:
    """``ours`` / ``theirs`` claims/s at ``procs``: median, min, max of the per-repetition ratios."""
    a, b = res.claims.get(f"claims/s {ours} @{procs}"), res.claims.get(f"claims/s {theirs} @{procs}")
    if a is None or b is None:
        return None
    pairs = [x / y for x, y in zip(a.rates, b.rates, strict=False) if y > 0]
    return (median(pairs), min(pairs), max(pairs)) if pairs else None


def _ratio_target(ours: str, theirs: str, procs: int) -> float | None:
    """The issue's target for a ratio, if it has one: embedded / SQLite at :data:`MANY`
    processes, served / SQLite at 1 and at :data:`MANY`."""
    if theirs != SQLITE:
        return None
    if ours == SP:
        return TARGET_RATIO if procs == MANY else None
    return TARGET_SERVED_RATIO.get(procs)


#: the ratios reported, (ours, theirs): the peer ratios first, then served over embedded (information)
RATIOS = ((SERVED, SQLITE), (SP, SQLITE), (SERVED, SP))


def _degradation(res: Results, figure: str) -> float:
    """``figure`` at the most agents over the fewest (medians)."""
    rows = sorted((r for r in res.rows.values() if r.figure == figure and r.values), key=lambda r: r.agents)
    if len(rows) < 2 or not rows[0].med > 0:
        return math.nan
    return rows[-1].med / rows[0].med


SUPERVISOR_FIGURES = (("spawn 20 agents", "s", "spawn_s", Target("<", TARGET_SPAWN_S)),
                      ("supervisor RSS with 20 agents", "MB", "rss_mb", Target("<", TARGET_RSS_MB)))


def figures_json(res: Results) -> dict[str, dict[str, Any]]:
    """Every figure's JSON; the planner's claims/s carries ``ratio_sqlite`` (the median of the
    per-repetition ratios, also shown as its own ``ratio ...`` entry), which the regression check
    compares (see :mod:`stress.bench.regress`)."""
    out = {row.key: row.to_json() for row in res.rows.values()}
    for figure in res.claims.values():
        cycles = res.spread.get(f"{figure.label.removeprefix('claims/s ')} @{figure.procs}", [])
        out[figure.key] = figure.to_json() | {"cycles_per_proc_min": min(cycles, default=None),
                                              "cycles_per_proc_max": max(cycles, default=None)}
        if figure.label == f"claims/s {SQLITE}":
            out[figure.key]["peer"] = True
    for figure in res.claims.values():
        if figure.label == f"claims/s {SERVED}":
            cpu = [v for v in res.server_cpu.get(figure.procs, []) if not math.isnan(v)]
            out[figure.key]["server_cpu_pct"] = round(median(cpu), 1) if cpu else None
            if figure.procs == MANY:
                out[figure.key] |= {"p99_target": f"< {TARGET_SERVED_P99_MS:g} ms",
                                    "p99_met": figure.p99_ms < TARGET_SERVED_P99_MS}
    for procs in sorted({f.procs for f in res.claims.values()}):
        for ours, theirs in RATIOS:
            r = _ratio(res, procs, ours, theirs)
            if r is None:
                continue
            if theirs == SQLITE:  # a peer's ratio: what the regression check compares for this figure
                out[f"claims/s {ours} @{procs}"]["ratio_sqlite"] = round(r[0], 4)
            target = _ratio_target(ours, theirs, procs)
            out[f"ratio {ours}/{theirs} claims/s @{procs}"] = {
                "median": round(r[0], 4), "min": round(r[1], 4), "max": round(r[2], 4), "unit": "x",
                **({"target": f">= {target:g}", "met": r[0] >= target} if target is not None else {})}
    if res.supervisor_available is not None:
        for label, unit, key, target in SUPERVISOR_FIGURES:
            values = [v for v in res.supervisor.get(key, []) if not math.isnan(v)]
            value = median(values) if values else None
            entry: dict[str, Any] = {"median": _round(value) if value is not None else None,
                                     "min": _round(min(values)) if values else None,
                                     "max": _round(max(values)) if values else None, "repetitions": len(values),
                                     "unit": unit, "better": LOWER, "target": str(target),
                                     "available": res.supervisor_available}
            if value is not None:
                entry["met"] = target.met(value)
            out[label] = entry
    return out


def print_report(res: Results, counts: list[int], repeat: int, duration: float, claim_tasks: int,
                 out: TextIO) -> None:
    print(f"\nstress.bench agents (BENCH-002): {repeat} repetition(s), {os.cpu_count()} CPUs, "
          f"temp dir {tempfile.gettempdir()}\n"
          f"part 1: generate_multi_agent_project(n, {TASKS_PER_AGENT}) + create_test_agents(n), AgentCoordinator, "
          "durability \"always\"; median (min..max) over repetitions", file=out)
    headers = ["agents", "figure", "unit", "median", "min..max", "target", "met?"]
    rows = []
    for row in sorted(res.rows.values(), key=lambda r: r.agents):
        spread = f"{cell(min(row.values))}..{cell(max(row.values))}" if len(row.values) > 1 else ""
        met = row.met
        rows.append([str(row.agents), row.figure, row.unit, cell(row.med), spread, str(row.target or ""),
                     "" if met is None else ("met" if met else "MISSED")])
    if rows:
        print(format_table(headers, rows), file=out)
        batch, per_task = _degradation(res, "assign batch, all agents"), _degradation(res, "assign_all_tasks per task")
        print(f"no degradation under load: at {max(counts)} agents / at {min(counts)}: batch (all agents) "
              f"{cell(batch)}x, assign_all_tasks per task {cell(per_task)}x", file=out)
    if res.claims:
        print(f"\npart 2: claim -> in_progress -> completed cycles from N processes on {claim_tasks:,}-task projects, "
              f"{duration:g} s windows (or the drain); claims/s = median (min, max) over repetitions; "
              "latency = one cycle; cycles/proc = fewest..most one worker did\n"
              f"{SP} = embedded (each process its own engine, coordinating through the store's lock); "
              f"{SERVED} = the same workers through `planner serve` (started by the benchmark on the home, "
              "group commit)", file=out)
        headers = ["system", "procs", "claims/s", "min", "max", "p50 ms", "p99 ms", "max ms", "cycles/proc"]
        rows = []
        for f in sorted(res.claims.values(), key=lambda f: (f.procs, f.label)):
            spread = res.spread.get(f"{f.label.removeprefix('claims/s ')} @{f.procs}", [])
            rows.append([f.label, str(f.procs), fmt(f.rate, 0), fmt(min(f.rates), 0), fmt(max(f.rates), 0),
                         fmt(f.p50_ms, 2), fmt(f.p99_ms, 2), fmt(f.max_ms, 1),
                         f"{min(spread):,}..{max(spread):,}" if spread else "-"])
        print(format_table(headers, rows), file=out)
        for procs in sorted({f.procs for f in res.claims.values()}, reverse=True):
            for ours, theirs in RATIOS:
                r = _ratio(res, procs, ours, theirs)
                if r is None:
                    continue
                target = _ratio_target(ours, theirs, procs)
                verdict = f"  (target >= {target:g}x: {'met' if r[0] >= target else 'MISSED'})" \
                    if target is not None else ""
                print(f"ratio {ours}/{theirs} claims/s @{procs} procs: {r[0]:.2f}x (reps {r[1]:.2f}..{r[2]:.2f}x)"
                      f"{verdict}", file=out)
            served = res.claims.get(f"claims/s {SERVED} @{procs}")
            if served is not None and served.measured:
                cpu = [v for v in res.server_cpu.get(procs, []) if not math.isnan(v)]
                p99 = f"{SERVED} p99 cycle @{procs} procs: {served.p99_ms:.2f} ms"
                if procs == MANY:
                    p99 += f" (target < {TARGET_SERVED_P99_MS:g} ms: " \
                           f"{'met' if served.p99_ms < TARGET_SERVED_P99_MS else 'MISSED'})"
                print(p99 + (f"; server CPU {median(cpu):.0f}% of one core (median over windows)" if cpu else ""),
                      file=out)
    if res.supervisor_available is not None:
        print("\npart 3: the supervisor, `planner --home H --project P work --agents 20 --simulate`", file=out)
        for label, unit, key, target in SUPERVISOR_FIGURES:
            values = [v for v in res.supervisor.get(key, []) if not math.isnan(v)]
            if not res.supervisor_available:
                shown = "not available (`planner work --help` fails: not landed yet)"
            elif not values:
                shown = "not measured (see the failures)"
            else:
                value = median(values)
                spread = f" ({cell(min(values))}..{cell(max(values))})" if len(values) > 1 else ""
                shown = f"{cell(value)} {unit}{spread}  (target {target}: {'met' if target.met(value) else 'MISSED'})"
            print(f"{label}: {shown}", file=out)
    if res.failures:
        print(f"\nCORRECTNESS FAILURES ({len(res.failures)}):", file=out)
        for failure in res.failures:
            print(f"  {failure}", file=out)
