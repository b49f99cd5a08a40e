"""``python -m stress.bench load`` (BENCH-001): loading a project, and the first queries on it.

Projects: for each size n in 10, 50, 100, 500, 1,000, 2,000, 10,000 and
100,000 tasks (``--quick``: 10, 100, 1,000, 10,000), one project generated
once with ``generate_complex_project(n, max_depth=5, dependency_density=0.3)``
(seed 0). Each size gets a fresh temp dir (under the default temp dir,
removed after) holding the same project three ways: a planner home (imported
with ``import_plan`` as one batch, ``durability="batch"``, then
``Planner.snapshot()``), a copy of its project directory without the
``snapshots/`` directory (for the full replay), and the peers, SQLite
(:mod:`stress.peers.sqlite_plan`), the original super-planner's whole
JSON file (:mod:`stress.peers.json_file_plan`) and, when the optional
``eventsourcing`` library is installed (``pip install -e '.[bench]'``; else
it is skipped, with a note), that library on its SQLite recorder
(:mod:`stress.peers.eventsourcing_plan`, snapshotted). Setting these up is
not timed.

Every figure is measured ``--repeat`` times (at 100,000 tasks at most
three times, so that a full run stays within ten minutes on two cores; by
default it takes about 3 minutes; ``--duration`` is not used). Per
repetition the planner and its peers run back to back, in an order that
alternates between repetitions, so they share the machine's conditions.
The table shows the planner's median with its min..max, each peer's
median, and the ratio planner / peer of the medians (for times, above 1
means the planner is slower). Times are wall-clock (``perf_counter``) with
the files in the OS page cache ("cold" means a new handle on files, not a
cold disk). Before each timed load the benchmark runs ``gc.collect()`` and
``gc.freeze()`` (undone after), so that the garbage collector, which stays
on as it would for a user, does not traverse the benchmark's own objects
(the generated project and its dict), which would add a third to a load at
100,000 tasks.

Figures, per size:

1. **spec load_project**: ``SuperPlanner()`` plus ``await
   load_project(project)`` (the spec's "project_load": a new temporary home,
   validating the ``TestProject``, the import batch appended durably),
   timed inside one running event loop; and the same per task, against the
   spec's floor of 30 ms per task. Peers: creating the SQLite database from
   the fixture dict (one durable transaction), saving the whole JSON file
   (write, fsync, rename), and saving the eventsourcing aggregate built from
   the fixture (one event per task and per edge, one durable transaction).
2. **cold load, snapshot**: ``Planner.open(home, "bench", snapshot_every=0)``
   on the home with its snapshot (loads the newest snapshot, then the tail
   after it, here empty). Targets: < 20 ms at 1,000 tasks, < 1 s at 100,000.
   **cold load, full replay**: the same open on the copy without snapshots,
   folding every event of the log; **replay rate** is the log's events
   divided by that time (target >= 300,000 events/s, judged from 1,000 tasks
   up, where fixed costs no longer dominate). Peers (the same numbers on both
   rows): open the SQLite database and ``SELECT`` every task and edge into
   dicts; ``json.load`` the whole file and index it. The eventsourcing peer
   has a row each: ``repository.get`` from its snapshot, and from every
   event (its replay rate beside ours).
3. **memory**, in KB (1,024 bytes) per task, each in a fresh child process
   per size, store and method (so that sizes do not pollute each other),
   after importing every module the load needs, the load being the cold
   load with snapshot (peers: their load). **RSS growth**: the resident set
   size (``psutil``, after ``gc.collect()``) after the load minus before it;
   what the machine pays, but freed memory that the allocator keeps counts
   too. **RSS peak growth**: the kernel's high-water mark ``VmHWM`` (reset
   to the current RSS just before the load through ``/proc/self/clear_refs``;
   Linux only, else not shown) minus the RSS before. **Python heap
   (tracemalloc)**: the bytes ``tracemalloc`` traces after the load (and a
   ``gc.collect()``), and its peak during the load: what the objects
   themselves hold, without allocator slack. Measured once per size (it
   hardly varies). Below ~1,000 tasks RSS is dominated by the allocator's
   granularity (arenas, pages), so the target, < 2 KB per task of RSS
   growth, is judged from 1,000 tasks up; the spec's floor is 1 MB per task.
4. On the handle of each repetition's "cold load, snapshot":
   **ready top-20, first call** (``Planner.ready(20)`` right after the open)
   and **ready top-20, steady** (the median of up to 200 further calls, at
   most 0.5 s of them, ``--quick`` a quarter of that, with nothing changed
   in between: the steady state of an agent asking again; target < 1 ms). Peers: one SQL query (on a
   connection opened beforehand), and a scan of the JSON peer's dicts; both
   with *simplified* semantics (no container inheritance, no critical-path
   tie-break: see the peers' docstrings).
   **cycle check**: ``graph.index.cycle_for(a, b)`` for an edge a -> b
   between two leaves picked at random (seeded; the same pairs in every
   repetition and for the peers) that is not already an edge; only the check
   is timed, nothing is added. The median over up to 100 pairs (at most 1 s
   of them, ``--quick`` a quarter of that; target < 10 ms), and the p99. Peers: a recursive CTE over ``deps``,
   and a breadth-first search over the JSON peer's dicts (task-to-task edges
   only). **analysis**: ``Planner.analysis()`` (levels, critical path,
   bottlenecks, capabilities, progress); peer: the JSON peer's levels and
   critical path by Kahn's algorithm (simplified, no bottlenecks).
5. At 10,000 tasks: **process: planner ready --json**, the wall time of
   ``subprocess.run([python, "-m", "planner", "--home", H, "--project",
   "bench", "ready", "--json"])`` (the best 20 ready tasks, as the command
   prints by default; target < 120 ms), the same with ``--all`` (every ready
   task), and **process: python -c pass** (interpreter start alone, for reference).
   Each is the median of 5 runs (``--quick``: 3) per repetition. Peers: the
   peer modules' own command lines printing the same rows
   (``python -m stress.peers.sqlite_plan DB ready``, ``... json_file_plan``).
   **Served** (``..., served``): during each repetition a ``planner serve``
   runs on the home (:mod:`stress.serving`: started, and the project opened
   in it by a first client, before the runs; untimed), and the same two
   commands run both through it (``planner ... ready --json``: the CLI's
   opening finds the server) and embedded (``--no-server``: the rows
   above), interleaved with the peers' commands in the same runs; target for
   ``ready --json`` served: < 50 ms. Checked: the server serves the project
   (``planner server status --json``) and the served command prints the same
   rows as the embedded one.

   Every child process of this benchmark (these commands, the servers, the
   memory children) runs with bytecode caching on, in a private temporary
   directory (``PYTHONPYCACHEPREFIX``, filled by ``compileall`` before the
   first size; ``PYTHONDONTWRITEBYTECODE`` removed from their environment):
   as an installed package runs (``pip`` writes the ``.pyc`` files at
   install), without compiling every module from source at each start, and
   without writing into the checkout.

6. **Scaling**, after every size: for the load, ready and analysis figures,
   the log-log slope of the planner's medians against the size, fitted from
   1,000 tasks up (1 = linear, 0 = constant; :mod:`stress.bench.scaling`),
   the slope over every size, and the time per task at 1,000 tasks and at
   the largest size: the README's "linear" and "constant" claims, measured.
   In ``--json`` as ``scaling: FIGURE`` (information, not compared against a
   baseline: a slope near 0 has no meaningful relative change).

7. **The server's start and memory**, at 10,000 and 100,000 tasks (of the
   sizes run: ``--quick`` stops at 10,000, so it measures them at 10,000
   only), on the home with its snapshot, ``runs`` times per repetition like
   figure 5, interleaved: **server start to first ready answer**, from
   spawning ``python -m planner --home H serve`` until a client
   (:func:`stress.serving.open_client`: the planner's opening with
   ``server=True``, its modules imported
   beforehand) has the answer to ``ready(20)``: the server's start, its
   "serving" line, the client's connection, and the first request, which
   opens the project in the server (newest snapshot, then the tail; target
   < 1 s at 100,000 tasks). Beside it, whole processes that answer the same
   question from the files: the planner's ``ready --json --limit 20
   --no-server`` (``embedded``) and the peers' command lines. **server RSS
   after first answer** (``psutil``, MB; target < 250 MB at 100,000 tasks)
   and **server peak RSS (VmHWM)** then (Linux): the server's own, with no
   peer (a command line's peak cannot be told apart from the benchmark's
   pages, with which a forked child starts). Checked: the server's 20 rows are
   the embedded command's.

In the table, the served figures are printed apart, each with the embedded
planner's value beside it (``x embedded``: served / embedded). In
``--json`` a served row carries ``"served": true`` and, beside the peers'
medians and ``ratio_<peer>``, ``embedded`` and ``x_embedded``:
information, not a peer ratio, so the regression check compares the served
figures through their peers only (and the RSS figures, which have none, by
their medians).

In ``--json``, every row carries, per peer measured, its median and
``ratio_<peer>`` (planner / peer, medians), which is what the regression
check compares for that row (see :mod:`stress.bench.regress`), and ``better``
unless the figure is too noisy for a 10% rule (then it is information only,
not compared): below 1,000 tasks, where fixed costs and the allocator's
granularity dominate and each repetition is one call of a millisecond or
less; the first ready call (one call) and a cycle check's p99 (the tail of
at most 100 calls) at any size. ``process: python -c pass`` is marked
``peer`` (it measures the machine).

Correctness checks (any failure makes the command exit non-zero): every
load holds n tasks (and, for the planner, the log's last seq, from the
snapshot or from a replay as asked); the full replay's ready queue equals the
snapshot's; the planner's ready set has exactly the size computed
independently from the fixture (pending leaves none of whose line, the task
and its containers, depends on an unfinished task), and ``ready(20)`` is its
first 20; the two peers return the same ids; an edge the peers say closes a
cycle is one the planner says closes a cycle too (its semantics only add
paths); the child processes and command lines exit 0 and print what they
should. Missed performance targets are shown in the table, not failures.
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TextIO

from stress.bench import BenchResult, RunOptions
from stress.bench.figures import HIGHER, LOWER
from stress.bench.monitor import peak_rss, reset_peak_rss
from stress.bench.scaling import growth
from stress.bench.stats import cell, format_table, median, percentile
from stress.peers import EVENTSOURCING, installed, json_file_plan, skip_note, sqlite_plan
from stress.serving import bytecode_cache, import_client, open_client, start_server

SIZES = [10, 50, 100, 500, 1_000, 2_000, 10_000, 100_000]
QUICK_SIZES = [10, 100, 1_000, 10_000]
CLI_SIZE = 10_000  # the size the command-line figures are measured at
BIG = 100_000  # from this size on, at most BIG_REPEAT repetitions
BIG_REPEAT = 3
MAX_DEPTH, DENSITY, SEED = 5, 0.3, 0
PROJECT = "bench"
READY_LIMIT = 20
READY_CALLS, READY_BUDGET_S = 200, 0.5
CYCLE_PAIRS, CYCLE_BUDGET_S = 100, 1.0
CLI_RUNS, QUICK_CLI_RUNS = 5, 3
REPO = Path(__file__).resolve().parents[2]  # child processes run here, so that they import this checkout

SP, SQLITE, JSONF, ESLIB = "superplanner", "sqlite", "json_file", "eventsourcing"
EMBEDDED = "embedded"  # beside a served figure: the same planner command with --no-server (information)
STORES = (SP, SQLITE, JSONF)  # memory and command-line figures
LOAD_STORES = (SP, SQLITE, JSONF, ESLIB)  # import and load figures (the eventsourcing peer when installed)
PEERS = (SQLITE, JSONF, ESLIB)
SERVER_SIZES = (CLI_SIZE, BIG)  # the sizes the server's start and memory are measured at (when run)
TARGET_SERVED_READY_MS = 50.0  # `planner ready --json` at CLI_SIZE, a server running
TARGET_SERVER_START_MS = {BIG: 1_000.0}  # spawn -> first ready answer through it, with a snapshot
TARGET_SERVER_RSS_MB = {BIG: 250.0}
SCALING = {  # figure -> the growth the README or the spec claims for it
    "spec load_project": "linear",
    "cold load, snapshot": "linear",
    "cold load, full replay": "linear",
    "ready top-20, first call": "constant",
    "ready top-20, steady": "constant",
    "analysis": "n log n (spec)",
}
NOT_COMPARED = ("ready top-20, first call", "cycle check, p99")  # one call; a tail of <= 100 samples
COMPARED_FROM = 1_000  # below, fixed costs and granularity dominate (see the module docstring)


# -- targets and rows ------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """A performance target: ``median op value`` must hold (op "<" or ">=")."""

    op: str
    value: float

    def met(self, measured: float) -> bool:
        return measured < self.value if self.op == "<" else measured >= self.value

    def __str__(self) -> str:
        return f"{self.op} {cell(self.value)}"


@dataclass
class Row:
    """One table row: one figure at one size, the planner's values and each peer's, per repetition."""

    size: int
    figure: str
    unit: str
    target: Target | None = None
    values: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in (*LOAD_STORES, EMBEDDED)})
    served: bool = False  # measured with `planner serve` running (its own table; EMBEDDED beside it)

    def add(self, store: str, value: float) -> None:
        self.values[store].append(value)

    def med(self, store: str) -> float:
        vals = self.values[store]
        return median(vals) if vals else math.nan

    def ratio(self, peer: str) -> float:
        """Planner median / peer median; NaN unless both are positive (small memory deltas can be <= 0)."""
        ours, theirs = self.med(SP), self.med(peer)
        return ours / theirs if ours > 0 and theirs > 0 else math.nan

    @property
    def met(self) -> bool | None:
        ours = self.med(SP)
        return None if self.target is None or math.isnan(ours) else self.target.met(ours)

    @property
    def key(self) -> str:
        return f"{self.figure} @{self.size}"

    @property
    def compared(self) -> bool:
        """Whether the regression check compares this row (see the module docstring)."""
        return self.size >= COMPARED_FROM and self.figure not in NOT_COMPARED

    def to_json(self) -> dict[str, Any]:
        ours = self.values[SP]
        out: dict[str, Any] = {
            "median": _round(self.med(SP)), "min": _round(min(ours, default=math.nan)),
            "max": _round(max(ours, default=math.nan)), "repetitions": len(ours), "unit": self.unit,
            "tasks": self.size,
        }
        if self.compared:
            out["better"] = HIGHER if self.unit.endswith("/s") else LOWER
        if self.figure == "process: python -c pass":
            out["peer"] = True
        for peer in PEERS:
            if self.values[peer]:
                out[peer] = _round(self.med(peer))
                out[f"ratio_{peer}"] = _round(self.ratio(peer))
        if self.values[EMBEDDED]:  # information: the regression check compares only the peers' ratios
            out[EMBEDDED] = _round(self.med(EMBEDDED))
            out["x_embedded"] = _round(self.ratio(EMBEDDED))
        if self.served:
            out["served"] = True
        if self.target is not None:
            out["target"] = str(self.target)
            out["met"] = self.met
        return out


class Results:
    """Rows by key in first-seen order, plus the correctness failures."""

    def __init__(self, load_stores: tuple[str, ...] = LOAD_STORES) -> None:
        self.rows: dict[str, Row] = {}
        self.failures: list[str] = []
        self.load_stores = load_stores  # who the import and load figures measure in this run
        self.notes: list[str] = []  # peers skipped

    def row(self, size: int, figure: str, unit: str, target: Target | None = None, served: bool = False) -> Row:
        key = f"{figure} @{size}"
        if key not in self.rows:
            self.rows[key] = Row(size, figure, unit, target, served=served)
        return self.rows[key]

    def check(self, ok: bool, where: str, problem: str) -> bool:
        if not ok:
            self.failures.append(f"{where}: {problem}")
            _progress(f"{where}: CHECK FAILED: {problem}")
        return ok


def _round(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 6)


# -- the project, its expected answers, its stores -----------------------------------
@dataclass
class Expected:
    """What every load and query must give, computed from the fixture data alone."""

    tasks: int
    edges: int
    events: int  # the log's last seq after the import
    ready: int  # planner semantics
    leaves: list[str]


def expected_of(data: dict[str, Any]) -> Expected:
    """Counts from the fixture: tasks, distinct edges, events of the import, the planner's ready count.

    A leaf is ready when it is pending and no task on its line (itself and
    its containers) depends on a task that is not done; a leaf is done when
    ``completed``, a container when all its children are.
    """
    tasks = data["tasks"]
    by_id = {t["id"]: t for t in tasks}
    children: dict[str, list[str]] = {t["id"]: [] for t in tasks}
    for t in tasks:
        if t.get("parent_id") is not None:
            children[t["parent_id"]].append(t["id"])
    done: dict[str, bool] = {}
    for tid in _deepest_first(by_id):
        kids = children[tid]
        done[tid] = all(done[k] for k in kids) if kids else by_id[tid].get("status") == "completed"
    deps = {t["id"]: set(t.get("dependencies", ())) for t in tasks}
    free: dict[str, bool] = {}  # no task on the line waits on an unfinished one
    for tid in _deepest_first(by_id)[::-1]:  # containers first
        parent = by_id[tid].get("parent_id")
        free[tid] = all(done[d] for d in deps[tid]) and (parent is None or free[parent])
    leaves = [t["id"] for t in tasks if not children[t["id"]]]
    ready = sum(1 for tid in leaves if by_id[tid].get("status", "pending") == "pending" and free[tid])
    edges = sum(len(d) for d in deps.values())
    # project created, one task.added per task, one dependency.added per edge, project.imported
    return Expected(len(tasks), edges, 1 + len(tasks) + edges + 1, ready, leaves)


def _deepest_first(by_id: dict[str, dict[str, Any]]) -> list[str]:
    depth: dict[str, int] = {}
    for tid in by_id:
        line = []
        node: str | None = tid
        while node is not None and node not in depth:
            line.append(node)
            node = by_id[node].get("parent_id")
        base = depth[node] if node is not None else 0
        for k, t in enumerate(reversed(line), 1):
            depth[t] = base + k
    return sorted(by_id, key=depth.__getitem__, reverse=True)


@dataclass
class Stores:
    """One size's project on disk: planner home (+ a copy without snapshots), SQLite db, JSON file."""

    root: Path

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def replay_home(self) -> Path:
        return self.root / "replay-home"

    @property
    def db(self) -> Path:
        return self.root / "plan.db"

    @property
    def json_file(self) -> Path:
        return self.root / "plan.json"

    @property
    def es_db(self) -> Path:
        return self.root / "plan-eventsourcing.db"

    def project_dir(self, home: Path) -> Path:
        return home / "projects" / PROJECT


def build_stores(root: Path, data: dict[str, Any], eventsourcing: bool = False) -> tuple[Stores, int]:
    """Import the project into a planner home and snapshot it; make the replay copy and the peers
    (the eventsourcing one, snapshotted, if asked). Returns the stores and the seq the snapshot describes."""
    from planner import Planner
    from planner.plans.importing import import_plan, read_fixture

    stores = Stores(root)
    p = Planner.open(stores.home, PROJECT, create=True, durability="batch")
    try:
        import_plan(p, read_fixture(data, "generated.json"))
        seq = p.snapshot()
    finally:
        p.close()
    shutil.copytree(stores.project_dir(stores.home), stores.project_dir(stores.replay_home),
                    ignore=shutil.ignore_patterns("snapshots"))
    sqlite_plan.create(stores.db, data)
    json_file_plan.save(stores.json_file, data)
    if eventsourcing:
        from stress.peers import eventsourcing_plan

        eventsourcing_plan.create(stores.es_db, data)
        eventsourcing_plan.snapshot(stores.es_db)
    return stores, seq


# -- timing helpers -------------------------------------------------------------------
def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def _own_objects_frozen() -> Iterator[None]:
    """``gc.collect()``, then ``gc.freeze()`` for the block: the collector stays on, but no longer
    traverses the objects that exist already (the benchmark's own: the generated project, its dict,
    the expected answers), which a user's process would not hold. At 100,000 tasks they would
    otherwise add a third to a load's time."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds taken by ``fn()`` (see :func:`_own_objects_frozen`), and its result."""
    with _own_objects_frozen():
        start = time.perf_counter()
        result = fn()
        return time.perf_counter() - start, result


def _calls(fn: Callable[[], Any], max_calls: int, budget_s: float) -> list[float]:
    """Time ``fn()`` call by call: up to ``max_calls`` calls, stopping once ``budget_s`` is spent (>= 3 calls)."""
    times: list[float] = []
    clock = time.perf_counter
    deadline = clock() + budget_s
    while len(times) < max_calls:
        start = clock()
        fn()
        end = clock()
        times.append(end - start)
        if end > deadline and len(times) >= 3:
            break
    return times


def _order(rep: int, stores: tuple[str, ...] = STORES) -> tuple[str, ...]:
    """Who goes first in repetition ``rep``: the planner, then the peers; reversed every other one."""
    return stores if rep % 2 == 0 else stores[::-1]


@contextmanager
def _closing_all() -> Iterator[list[Callable[[], Any]]]:
    closers: list[Callable[[], Any]] = []
    try:
        yield closers
    finally:
        for close in reversed(closers):
            close()


# -- figure 1: the spec's load_project ----------------------------------------------------
def _spec_load(project: Any, loop: asyncio.AbstractEventLoop) -> tuple[float, Any]:
    """``SuperPlanner()`` + ``await load_project(project)``, timed inside the running loop."""
    from planner import SuperPlanner

    async def load() -> tuple[float, Any]:
        start = time.perf_counter()
        sp = SuperPlanner()
        report = await sp.load_project(project)
        return time.perf_counter() - start, (sp, report)

    with _own_objects_frozen():
        return loop.run_until_complete(load())


def measure_spec_load(project: Any, data: dict[str, Any], exp: Expected, root: Path, rep: int,
                      loop: asyncio.AbstractEventLoop, res: Results) -> None:
    n = exp.tasks
    total = res.row(n, "spec load_project", "ms")
    per_task = res.row(n, "spec load_project per task", "ms/task", Target("<", 30.0))
    where = f"[{n} tasks, rep {rep + 1}] spec load"
    for store in _order(rep, res.load_stores):
        if store == SP:
            seconds, (sp, report) = _spec_load(project, loop)
            try:
                loaded = len(sp.planner.graph.tasks)
                res.check(loaded == n and report["imported"] == n and not report["dropped"], where,
                          f"loaded {loaded} tasks, imported {report['imported']}, dropped {report['dropped'][:3]}")
            finally:
                sp.close()
        elif store in (SQLITE, ESLIB):
            db = root / f"import-{rep}-{store}.db"
            if store == SQLITE:
                seconds, count = _timed(lambda db=db: sqlite_plan.create(db, data))
                res.check(count == n, where, f"SQLite peer inserted {count} tasks")
            else:
                from stress.peers import eventsourcing_plan

                seconds, count = _timed(lambda db=db: eventsourcing_plan.create(db, data))
                res.check(count == exp.events - 1, where,
                          f"eventsourcing peer saved {count} events, expected {exp.events - 1}")
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
        else:
            path = root / f"import-{rep}.json"
            seconds, count = _timed(lambda path=path: json_file_plan.save(path, data))
            path.unlink()
        total.add(store, seconds * 1e3)
        per_task.add(store, seconds * 1e3 / n)


# -- figures 2 and 4: cold loads, then queries on the loaded handle ------------------------------
def _open(home: Path) -> Any:
    from planner import Planner

    return Planner.open(home, PROJECT, snapshot_every=0)


def measure_loads_and_queries(stores: Stores, exp: Expected, seq: int, rep: int, pairs: list[tuple[str, str]],
                              peers: PeerFacts, quick: bool, res: Results) -> None:
    """One repetition of figures 2 and 4: each store loaded cold, then queried on what the load built."""
    n = exp.tasks
    snap = res.row(n, "cold load, snapshot", "ms", _snapshot_target(n))
    replay = res.row(n, "cold load, full replay", "ms")
    rate = res.row(n, "replay rate", "events/s", Target(">=", 300_000) if n >= 1_000 else None)
    where = f"[{n} tasks, rep {rep + 1}]"
    for store in _order(rep, res.load_stores):
        if store == SP:
            shutil.rmtree(stores.project_dir(stores.replay_home) / "snapshots", ignore_errors=True)
            seconds, q = _timed(lambda: _open(stores.replay_home))
            try:
                ok = res.check(q.loaded_from_snapshot == 0 and len(q.graph.tasks) == n and q.graph.seq == seq,
                               f"{where} full replay", f"from snapshot {q.loaded_from_snapshot}, "
                               f"{len(q.graph.tasks)} tasks, seq {q.graph.seq} (expected 0, {n}, {seq})")
                replay_ready = q.ready() if ok and rep == 0 else None
            finally:
                q.close()
            replay.add(SP, seconds * 1e3)
            rate.add(SP, seq / seconds)
            seconds, p = _timed(lambda: _open(stores.home))
            snap.add(SP, seconds * 1e3)
            try:
                res.check(p.loaded_from_snapshot == seq and len(p.graph.tasks) == n and p.graph.seq == seq,
                          f"{where} cold load", f"from snapshot {p.loaded_from_snapshot}, {len(p.graph.tasks)} "
                          f"tasks, seq {p.graph.seq} (expected {seq}, {n}, {seq})")
                _planner_queries(p, exp, rep, pairs, peers, quick, res, where)
                if replay_ready is not None:
                    res.check(replay_ready == p.ready(), f"{where} full replay",
                              "its ready queue differs from the one loaded from the snapshot")
            finally:
                p.close()
        elif store == SQLITE:
            seconds, view = _timed(lambda: sqlite_plan.load(stores.db))
            _check_view(view.tasks, view.depends_on, exp, res, f"{where} SQLite load")
            for row in (snap, replay):
                row.add(SQLITE, seconds * 1e3)
            del view
            with _closing_all() as closers:
                conn = sqlite_plan.connect(stores.db)
                closers.append(conn.close)
                _sqlite_queries(conn, exp, pairs, quick, res)
        elif store == JSONF:
            seconds, view = _timed(lambda: json_file_plan.load(stores.json_file))
            _check_view(view.tasks, view.depends_on, exp, res, f"{where} JSON load")
            for row in (snap, replay):
                row.add(JSONF, seconds * 1e3)
            _json_queries(view, exp, pairs, quick, res)
        else:
            _eventsourcing_loads(stores, exp, snap, replay, rate, res, where)


def _eventsourcing_loads(stores: Stores, exp: Expected, snap: Row, replay: Row, rate: Row, res: Results,
                         where: str) -> None:
    """The eventsourcing peer: ``repository.get`` from every event, then from the snapshot."""
    from stress.peers import eventsourcing_plan

    events = exp.events - 1  # the planner's log also holds project.imported
    for from_snapshot, row in ((False, replay), (True, snap)):
        seconds, plan = _timed(lambda s=from_snapshot: eventsourcing_plan.load(stores.es_db, snapshot=s))
        _check_view(plan.tasks, plan.depends_on, exp, res, f"{where} eventsourcing load")
        res.check(plan.version == events, f"{where} eventsourcing load",
                  f"the plan is at version {plan.version}, expected {events}")
        row.add(ESLIB, seconds * 1e3)
        if not from_snapshot:
            rate.add(ESLIB, events / seconds)


def _snapshot_target(n: int) -> Target | None:
    return {1_000: Target("<", 20.0), 100_000: Target("<", 1_000.0)}.get(n)


def _check_view(tasks: dict, depends_on: dict, exp: Expected, res: Results, where: str) -> None:
    edges = sum(len(d) for d in depends_on.values())
    res.check(len(tasks) == exp.tasks and edges == exp.edges, where,
              f"{len(tasks)} tasks and {edges} edges (expected {exp.tasks} and {exp.edges})")


def _query_rows(res: Results, n: int) -> dict[str, Row]:
    return {
        "first": res.row(n, "ready top-20, first call", "ms"),
        "steady": res.row(n, "ready top-20, steady", "ms", Target("<", 1.0)),
        "cycle": res.row(n, "cycle check, median", "ms", Target("<", 10.0)),
        "cycle99": res.row(n, "cycle check, p99", "ms"),
        "analysis": res.row(n, "analysis", "ms"),
    }


def _record_queries(rows: dict[str, Row], store: str, first: float, steady: list[float],
                    cycles: list[float], analysis: float | None) -> None:
    rows["first"].add(store, first * 1e3)
    rows["steady"].add(store, median(steady) * 1e3)
    if cycles:
        rows["cycle"].add(store, median(cycles) * 1e3)
        rows["cycle99"].add(store, percentile(sorted(cycles), 99) * 1e3)
    if analysis is not None:
        rows["analysis"].add(store, analysis * 1e3)


def _planner_queries(p: Any, exp: Expected, rep: int, pairs: list[tuple[str, str]], peers: PeerFacts,
                     quick: bool, res: Results, where: str) -> None:
    rows = _query_rows(res, exp.tasks)
    start = time.perf_counter()
    top = p.ready(READY_LIMIT)
    first = time.perf_counter() - start
    steady = _calls(lambda: p.ready(READY_LIMIT), READY_CALLS, READY_BUDGET_S / (4 if quick else 1))
    if rep == 0:
        everything = p.ready()
        res.check(len(everything) == exp.ready and top == everything[:READY_LIMIT], f"{where} ready",
                  f"{len(everything)} ready (expected {exp.ready}); top {len(top)} "
                  f"{'is' if top == everything[:READY_LIMIT] else 'is not'} the head of the full list")
    cycle_for = p.graph.index.cycle_for
    cycles = _calls_each(lambda pair: cycle_for(*pair), pairs, CYCLE_BUDGET_S / (4 if quick else 1))
    if rep == 0:
        missed = [pair for pair in sorted(peers.cycles) if cycle_for(*pair) is None]
        res.check(not missed, f"{where} cycle check",
                  f"the planner accepts edges that close a task-to-task cycle: {missed[:3]}")
    seconds, report = _timed(p.analysis)
    res.check(report.get("tasks") == exp.tasks, f"{where} analysis",
              f"reports {report.get('tasks')} tasks (expected {exp.tasks})")
    _record_queries(rows, SP, first, steady, cycles, seconds)


def _peer_queries(peer: str, ready: Any, closes_cycle: Any, analyze: Any, exp: Expected,
                  pairs: list[tuple[str, str]], quick: bool, res: Results) -> None:
    """The same query figures as the planner's, for one peer (``analyze`` may be None)."""
    rows = _query_rows(res, exp.tasks)
    start = time.perf_counter()
    ready(READY_LIMIT)
    first = time.perf_counter() - start
    steady = _calls(lambda: ready(READY_LIMIT), READY_CALLS, READY_BUDGET_S / (4 if quick else 1))
    cycles = _calls_each(lambda pair: closes_cycle(*pair), pairs, CYCLE_BUDGET_S / (4 if quick else 1))
    seconds = _timed(analyze)[0] if analyze is not None else None
    _record_queries(rows, peer, first, steady, cycles, seconds)


def _sqlite_queries(conn: Any, exp: Expected, pairs: list[tuple[str, str]], quick: bool, res: Results) -> None:
    _peer_queries(SQLITE, partial(sqlite_plan.ready, conn), partial(sqlite_plan.closes_cycle, conn), None,
                  exp, pairs, quick, res)


def _json_queries(view: Any, exp: Expected, pairs: list[tuple[str, str]], quick: bool, res: Results) -> None:
    _peer_queries(JSONF, partial(json_file_plan.ready, view), partial(json_file_plan.closes_cycle, view),
                  partial(json_file_plan.analyze, view), exp, pairs, quick, res)


def _calls_each(fn: Callable[[Any], Any], items: list[Any], budget_s: float) -> list[float]:
    """Time ``fn(item)`` per item, in order, stopping once ``budget_s`` is spent (>= 3 items)."""
    times: list[float] = []
    clock = time.perf_counter
    deadline = clock() + budget_s
    for item in items:
        start = clock()
        fn(item)
        end = clock()
        times.append(end - start)
        if end > deadline and len(times) >= 3:
            break
    return times


@dataclass
class PeerFacts:
    """What the peers answer, once per size (untimed): their full ready count, the pairs closing a cycle."""

    ready: int
    cycles: set[tuple[str, str]]


def check_peers(stores: Stores, exp: Expected, pairs: list[tuple[str, str]], res: Results) -> PeerFacts:
    """Untimed: the two peers give the same answers; returns them for the planner's checks."""
    where = f"[{exp.tasks} tasks] peers"
    view = json_file_plan.load(stores.json_file)
    conn = sqlite_plan.connect(stores.db)
    try:
        everything = json_file_plan.ready(view, exp.tasks)
        a, b = sqlite_plan.ready(conn, READY_LIMIT), json_file_plan.ready(view, READY_LIMIT)
        res.check(a == b == everything[:READY_LIMIT], where,
                  f"the peers' ready lists differ: SQLite {a[:5]}... ({len(a)}), JSON {b[:5]}... ({len(b)})")
        cycles = {pair for pair in pairs if json_file_plan.closes_cycle(view, *pair)}
        res.check(cycles == {pair for pair in pairs if sqlite_plan.closes_cycle(conn, *pair)}, where,
                  "the peers disagree on which new edges close a cycle")
    finally:
        conn.close()
    return PeerFacts(len(everything), cycles)


def cycle_pairs(exp: Expected, data: dict[str, Any], count: int, seed: int = SEED) -> list[tuple[str, str]]:
    """``count`` random (leaf, leaf) pairs, a != b, that are not already an edge (seeded)."""
    rng = random.Random(f"load-bench-cycles:{seed}:{exp.tasks}")
    existing = {(t["id"], d) for t in data["tasks"] for d in t.get("dependencies", ())}
    leaves = exp.leaves
    pairs: list[tuple[str, str]] = []
    if len(leaves) < 2:
        return pairs
    for _ in range(count * 10):
        a, b = rng.choice(leaves), rng.choice(leaves)
        if a != b and (a, b) not in existing and (a, b) not in pairs:
            pairs.append((a, b))
            if len(pairs) == count:
                break
    return pairs


# -- figure 3: memory, in a fresh child process per size and store ----------------------------------
_MEMORY_CHILD = "from stress.bench.load_bench import memory_child; memory_child()"


def memory_child() -> None:
    """Child process body: ``argv = [-c, store, path, mode]``; load ``path`` as ``store``, print JSON
    with the memory before and after the load (after ``gc.collect()``), the peak during it and the
    tasks loaded. ``mode`` "rss": the process's RSS (psutil) and ``VmHWM``; "tracemalloc": the Python
    heap as ``tracemalloc`` traces it (started just before the load, so "before" is 0)."""
    import psutil

    store, path, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    if store == SP:
        import orjson  # noqa: F401 - imported before the baseline: module code is not per-task memory

        import projections.analysis  # noqa: F401
        from planner import Planner

        def load() -> Any:
            return Planner.open(path, PROJECT, snapshot_every=0)
    else:
        peer = sqlite_plan if store == SQLITE else json_file_plan

        def load() -> Any:
            return peer.load(path)

    if mode == "tracemalloc":
        import tracemalloc

        gc.collect()
        tracemalloc.start()
        loaded = load()
        _, peak = tracemalloc.get_traced_memory()
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        before = 0
    else:
        proc = psutil.Process()
        gc.collect()
        before = proc.memory_info().rss
        reset = reset_peak_rss()
        loaded = load()
        peak = peak_rss() if reset else None
        gc.collect()
        after = proc.memory_info().rss
    tasks = len(loaded.graph.tasks) if store == SP else len(loaded.tasks)
    print(json.dumps({"before": before, "after": after, "peak": peak, "tasks": tasks}))


MEMORY_FIGURES = {  # (mode, retained or peak) -> table row
    ("rss", "retained"): "memory, RSS growth",
    ("rss", "peak"): "memory, RSS peak growth",
    ("tracemalloc", "retained"): "memory, Python heap (tracemalloc)",
    ("tracemalloc", "peak"): "memory, Python heap peak (tracemalloc)",
}


def measure_memory(stores: Stores, exp: Expected, res: Results) -> None:
    """Figure 3: one child per store and mode; KB (1,024 bytes) per task retained and at the peak."""
    n = exp.tasks
    rows = {key: res.row(n, figure, "KB/task", Target("<", 2.0) if key == ("rss", "retained") and n >= 1_000
                         else None) for key, figure in MEMORY_FIGURES.items()}
    paths = {SP: stores.home, SQLITE: stores.db, JSONF: stores.json_file}
    for mode in ("rss", "tracemalloc"):
        for store in STORES:
            where = f"[{n} tasks] memory child ({store}, {mode})"
            proc = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, store, str(paths[store]), mode],
                                  capture_output=True, text=True, cwd=REPO, timeout=600, env=child_env())
            if not res.check(proc.returncode == 0, where, f"exited {proc.returncode}: {proc.stderr.strip()[-500:]}"):
                continue
            got = json.loads(proc.stdout)
            res.check(got["tasks"] == n, where, f"loaded {got['tasks']} tasks, expected {n}")
            rows[(mode, "retained")].add(store, (got["after"] - got["before"]) / 1024 / n)
            if got["peak"] is not None:
                rows[(mode, "peak")].add(store, max(0, got["peak"] - got["before"]) / 1024 / n)


# -- figure 5: whole processes ------------------------------------------------------------------
def _commands(stores: Stores, limit: int | None, served: bool = False) -> dict[str, list[str]]:
    """The command lines; the planner's with ``--no-server`` unless ``served`` (then it goes
    through the server running on the home: the CLI's opening finds it)."""
    extra = [] if limit is None else ["--limit", str(limit)]
    ours = ["--all"] if limit is None else [] if limit == READY_LIMIT else extra  # (READY_LIMIT: its default)
    return {
        SP: [sys.executable, "-m", "planner", "--home", str(stores.home), "--project", PROJECT, "ready", "--json",
             *ours, *([] if served else ["--no-server"])],
        SQLITE: [sys.executable, "-m", "stress.peers.sqlite_plan", str(stores.db), "ready", *extra],
        JSONF: [sys.executable, "-m", "stress.peers.json_file_plan", str(stores.json_file), "ready", *extra],
    }


def _served_project(home: Path, pid: int) -> list[str] | None:
    """Open the project in the server running on ``home`` (a client's first request does), so that
    the timed commands find it hot; the projects that server (pid ``pid``) serves then, from
    ``planner server status --json`` (None if another process, or none, answers)."""
    with open_client(home, PROJECT) as client:
        client.status()
    proc = subprocess.run([sys.executable, "-m", "planner", "--home", str(home), "server", "status", "--json"],
                          capture_output=True, text=True, cwd=REPO, timeout=120, env=child_env())
    try:
        info = json.loads(proc.stdout)
    except ValueError:
        return None
    return info.get("projects") if isinstance(info, dict) and info.get("pid") == pid else None


def measure_processes(stores: Stores, exp: Expected, peers: PeerFacts, rep: int, runs: int, res: Results) -> None:
    """Figure 5, one repetition: each command ``runs`` times, interleaved; the median wall time.

    A ``planner serve`` runs on the home for the whole repetition (started first, untimed, and
    the project opened in it): the planner's commands run both through it (the served rows) and
    with ``--no-server`` (the embedded rows, beside the served ones too), so both meet the same
    machine; the peers' commands are the same for both."""
    n = exp.tasks
    where = f"[{n} tasks, rep {rep + 1}]"
    peer_ready = peers.ready
    variants = [
        (READY_LIMIT, res.row(n, "process: planner ready --json", "ms", Target("<", 120.0)),
         res.row(n, "process: planner ready --json, served", "ms", Target("<", TARGET_SERVED_READY_MS), served=True),
         min(READY_LIMIT, exp.ready), min(READY_LIMIT, peer_ready)),
        (None, res.row(n, "process: planner ready --json --all", "ms"),
         res.row(n, "process: planner ready --json --all, served", "ms", served=True),
         exp.ready, peer_ready),
    ]
    python = res.row(n, "process: python -c pass", "ms")
    samples: dict[tuple[int, str], list[float]] = {}
    server = start_server(stores.home, env=child_env())
    try:
        projects = _served_project(stores.home, server.pid)
        res.check(projects == [PROJECT], f"{where} planner serve", f"serves {projects}, expected [{PROJECT!r}]")
        if rep == 0:  # untimed: every module these commands import is in the bytecode cache from now on
            for limit in (None, READY_LIMIT):
                for served in (False, True):
                    _run_measured(_commands(stores, limit, served)[SP])
        for run_no in range(runs):
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", "pass"], cwd=REPO, env=child_env())
            samples.setdefault((-1, SP), []).append(time.perf_counter() - start)
            res.check(proc.returncode == 0, "python -c pass", f"exited {proc.returncode}")
            for v, (limit, _row, _served_row, want_ours, want_peer) in enumerate(variants):
                commands = _commands(stores, limit)
                commands[EMBEDDED] = commands[SP]
                commands[SP] = _commands(stores, limit, served=True)[SP]
                printed = {}
                for store in _order(rep + run_no, (SP, EMBEDDED, SQLITE, JSONF)):
                    start = time.perf_counter()
                    proc = subprocess.run(commands[store], capture_output=True, text=True, cwd=REPO, timeout=600,
                                          env=child_env())
                    samples.setdefault((v, store), []).append(time.perf_counter() - start)
                    want = want_ours if store in (SP, EMBEDDED) else want_peer
                    label = " ".join(commands[store][1:4]) + (" (served)" if store == SP else "")
                    printed[store] = _check_process(proc, want, res, f"{where} {label}")
                if printed[SP] is not None and printed[EMBEDDED] is not None:
                    res.check(printed[SP] == printed[EMBEDDED], f"{where} planner ready --json (served)",
                              "prints other rows through the server than with --no-server")
    except BaseException:
        server.kill()
        raise
    server.stop()
    python.add(SP, median(samples[(-1, SP)]) * 1e3)
    for v, (_limit, row, served_row, _, _) in enumerate(variants):
        for store in STORES:
            row.add(store, median(samples[(v, EMBEDDED if store == SP else store)]) * 1e3)
        for store in (SP, EMBEDDED, SQLITE, JSONF):
            served_row.add(store, median(samples[(v, store)]) * 1e3)


def _check_process(proc: Any, want: int, res: Results, where: str) -> Any:
    """Check that a command exited 0 and printed a JSON list of ``want`` rows; what it printed (None if not)."""
    stderr = proc.stderr or ""
    if not res.check(proc.returncode == 0, where, f"exited {proc.returncode}: {stderr.strip()[-500:]}"):
        return None
    try:
        rows = json.loads(proc.stdout)
    except ValueError as exc:
        res.check(False, where, f"printed no JSON ({exc}): {proc.stdout[:200]!r}")
        return None
    res.check(isinstance(rows, list) and len(rows) == want, where,
              f"printed {len(rows) if isinstance(rows, list) else type(rows).__name__} rows, expected {want}")
    return rows


# -- figure 7: the server's start and memory -----------------------------------------------------
def _vm_hwm_mb(pid: int) -> float:
    """The process's peak resident set (``VmHWM`` in ``/proc/PID/status``), MB; NaN where there is none."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return math.nan


def _run_measured(argv: list[str]) -> tuple[float, Any]:
    """Run ``argv`` to its end: wall seconds (spawn to exit) and what it did (``returncode``,
    ``stdout``, ``stderr``)."""
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=600, env=child_env())
    return time.perf_counter() - start, proc


def server_start_once(home: Path) -> tuple[float, float, float, list[dict[str, Any]]]:
    """Start ``planner serve`` on ``home``, ask it for the top-20 ready tasks (a client's first request
    opens the project in the server: its newest snapshot, then the tail), then stop it. Returns the
    seconds from spawning the server to that answer, the server's RSS (psutil) and peak RSS
    (``VmHWM``) right after it, in MB, and the rows it answered."""
    import psutil

    import_client()  # before the clock starts: our own imports are not the server's start
    server = start_server(home, env=child_env())
    try:
        with open_client(home, PROJECT) as client:
            rows = client.ready(READY_LIMIT)
        answered = time.perf_counter()
        rss = psutil.Process(server.pid).memory_info().rss / 2**20
        peak = _vm_hwm_mb(server.pid)
    except BaseException:
        server.kill()
        raise
    server.stop()
    return answered - server.spawned, rss, peak, rows


def measure_server_start(stores: Stores, exp: Expected, peers: PeerFacts, rep: int, runs: int, res: Results) -> None:
    """Figure 7, one repetition (``runs`` times each, interleaved; medians): the server's start to its
    first ``ready`` answer, beside whole processes answering the same question from the files (the
    planner with ``--no-server``, the peers' command lines, ``--limit 20``); the server's RSS and
    peak RSS (``VmHWM``) right after that answer (no peer: a command line's own peak is not
    measurable apart from the benchmark's, whose pages a forked child starts with)."""
    n = exp.tasks
    where = f"[{n} tasks, rep {rep + 1}] server start"
    start_row = res.row(n, "server start to first ready answer", "ms",
                        _target("<", TARGET_SERVER_START_MS.get(n)), served=True)
    rss_row = res.row(n, "server RSS after first answer", "MB", _target("<", TARGET_SERVER_RSS_MB.get(n)),
                      served=True)
    peak_row = res.row(n, "server peak RSS (VmHWM) after first answer", "MB", served=True)
    commands = _commands(stores, READY_LIMIT)
    commands[EMBEDDED] = commands.pop(SP)
    want = {EMBEDDED: min(READY_LIMIT, exp.ready), SQLITE: min(READY_LIMIT, peers.ready),
            JSONF: min(READY_LIMIT, peers.ready)}
    times: dict[str, list[float]] = {}
    rss: list[float] = []
    peaks: list[float] = []
    if rep == 0:  # untimed: the server's modules in the bytecode cache (see measure_processes)
        server_start_once(stores.home)
    for run_no in range(runs):
        answers: dict[str, Any] = {}
        for store in _order(rep + run_no, (SP, EMBEDDED, SQLITE, JSONF)):
            if store == SP:
                seconds, resident, peak, rows = server_start_once(stores.home)
                rss.append(resident)
                peaks.append(peak)
                res.check(len(rows) == want[EMBEDDED], where,
                          f"the server answered {len(rows)} ready tasks, expected {want[EMBEDDED]}")
                answers[SP] = rows
            else:
                seconds, proc = _run_measured(commands[store])
                answers[store] = _check_process(proc, want[store], res, f"{where}: {' '.join(commands[store][1:4])}")
            times.setdefault(store, []).append(seconds)
        if answers.get(EMBEDDED) is not None:
            res.check([r.get("id") for r in answers[SP]] == [r.get("id") for r in answers[EMBEDDED]], where,
                      "the server's first ready answer differs from `planner ready --no-server`'s")
    for store, seconds in times.items():
        start_row.add(store, median(seconds) * 1e3)
    rss_row.add(SP, median(rss))
    if not any(math.isnan(p) for p in peaks):
        peak_row.add(SP, median(peaks))


def _target(op: str, value: float | None) -> Target | None:
    return None if value is None else Target(op, value)


# -- the child processes' environment: bytecode caches, as an installed package has them ----------
_child_env: dict[str, str] | None = None  # set by measure() for its run


def child_env() -> dict[str, str] | None:
    """The environment of the benchmark's child processes (None: this process's own)."""
    return _child_env


@contextmanager
def _children_in(env: dict[str, str]) -> Iterator[None]:
    """:func:`child_env` is ``env`` for the block."""
    global _child_env
    _child_env = env
    try:
        yield
    finally:
        _child_env = None




# -- the run ----------------------------------------------------------------------------------
def run(options: RunOptions, out: TextIO) -> BenchResult:
    """Every size of :data:`SIZES` (``--quick``: :data:`QUICK_SIZES`); print the table to ``out``."""
    sizes = QUICK_SIZES if options.quick else SIZES
    return measure(sizes, options.repeat, out, quick=options.quick, cli_size=CLI_SIZE)


def measure(sizes: list[int], repeat: int, out: TextIO, quick: bool = False, cli_size: int | None = CLI_SIZE,
            cli_runs: int | None = None, memory: bool = True, eventsourcing: bool | None = None,
            server_sizes: tuple[int, ...] = SERVER_SIZES) -> BenchResult:
    """Measure every figure at each of ``sizes``, ``repeat`` times (at most :data:`BIG_REPEAT`
    from :data:`BIG` tasks on); the command-line figures at ``cli_size`` only (None: never), each
    command run ``cli_runs`` times per repetition (default :data:`CLI_RUNS`, quick :data:`QUICK_CLI_RUNS`);
    the server's start and memory at the sizes of ``server_sizes`` that are measured, as many times;
    the memory figures unless ``memory`` is False; the eventsourcing peer if ``eventsourcing``
    (default: if the library is installed). ``quick`` also shortens the query loops."""
    if cli_runs is None:
        cli_runs = QUICK_CLI_RUNS if quick else CLI_RUNS
    from fixtures.generators import generate_complex_project

    if eventsourcing is None:
        eventsourcing = installed(EVENTSOURCING)
    res = Results(LOAD_STORES if eventsourcing else tuple(s for s in LOAD_STORES if s != ESLIB))
    if not eventsourcing:
        res.notes.append(skip_note(ESLIB, EVENTSOURCING))
        _progress(res.notes[-1])
    started = time.monotonic()
    loop = asyncio.new_event_loop()
    with bytecode_cache() as env, _children_in(env):
        try:
            for n in sizes:
                reps = repeat if n < BIG else min(repeat, BIG_REPEAT)
                size_started = time.monotonic()
                project = generate_complex_project(n, MAX_DEPTH, DENSITY, SEED)
                data = project.to_dict()
                exp = expected_of(data)
                pairs = cycle_pairs(exp, data, CYCLE_PAIRS)
                root = Path(tempfile.mkdtemp(prefix=f"bench-load-{n}-"))
                try:
                    stores, seq = build_stores(root, data, eventsourcing)
                    res.check(seq == exp.events, f"[{n} tasks] import",
                              f"the log ends at seq {seq}, expected {exp.events} events")
                    _progress(f"[{n} tasks] {exp.edges} edges, {exp.events} events, {exp.ready} ready; "
                              f"set up in {time.monotonic() - size_started:.1f} s; {reps} repetition(s)")
                    peers = check_peers(stores, exp, pairs, res)
                    for rep in range(reps):
                        measure_spec_load(project, data, exp, root, rep, loop, res)
                        measure_loads_and_queries(stores, exp, seq, rep, pairs, peers, quick, res)
                        if n == cli_size:
                            measure_processes(stores, exp, peers, rep, cli_runs, res)
                        if n in server_sizes:
                            measure_server_start(stores, exp, peers, rep, cli_runs, res)
                    if memory:
                        measure_memory(stores, exp, res)
                finally:
                    shutil.rmtree(root, ignore_errors=True)
                _progress(_size_summary(res, n) + f"  ({time.monotonic() - size_started:.1f} s)")
        finally:
            loop.close()
    _progress(f"done in {time.monotonic() - started:.0f} s")
    print_report(res, sizes, repeat, out)
    figures = {row.key: row.to_json() for row in res.rows.values()}
    return BenchResult(figures | scaling_json(res), res.failures)


# -- figure 6: scaling ------------------------------------------------------------------------------
def scaling_of(res: Results) -> dict[str, Any]:
    """Figure -> its :class:`~stress.bench.scaling.Growth` over the sizes measured (planner medians)."""
    out = {}
    for figure in SCALING:
        by_size = {row.size: row.med(SP) for row in res.rows.values() if row.figure == figure}
        fitted = growth(by_size)
        if fitted is not None:
            out[figure] = fitted
    return out


def scaling_json(res: Results) -> dict[str, dict[str, Any]]:
    """``scaling: FIGURE`` entries: information (no ``better``), see the module docstring."""
    return {f"scaling: {figure}": {
        "slope": _round(g.slope), "slope_all_sizes": _round(g.slope_all), "fitted_from": g.small,
        "claim": SCALING[figure], "shape": g.shape, "unit": "log-log slope",
        f"ms_per_task @{g.small}": _round(g.per_item_small), f"ms_per_task @{g.large}": _round(g.per_item_large),
        "per_task_growth": _round(g.per_item_growth)} for figure, g in scaling_of(res).items()}


def _size_summary(res: Results, n: int) -> str:
    parts = []
    for figure in ("spec load_project", "cold load, snapshot", "cold load, full replay", "ready top-20, steady"):
        row = res.rows.get(f"{figure} @{n}")
        if row is not None:
            parts.append(f"{figure} {cell(row.med(SP))} {row.unit}")
    return f"[{n} tasks] " + "; ".join(parts)


# -- the report ---------------------------------------------------------------------------------
def print_report(res: Results, sizes: list[int], repeat: int, out: TextIO) -> None:
    print(
        f"\nstress.bench load (BENCH-001): generate_complex_project(n, {MAX_DEPTH}, {DENSITY}), sizes "
        f"{', '.join(f'{s:,}' for s in sizes)}; {repeat} repetition(s) (at most {BIG_REPEAT} from {BIG:,} tasks), "
        f"{os.cpu_count()} CPUs, temp dir {tempfile.gettempdir()}\n"
        "superplanner = median (min..max) over repetitions; peers = medians; x = superplanner / peer "
        "(for times, above 1 = slower); memory measured once per size in a child process; child processes "
        f"import from a private bytecode cache (PYTHONPYCACHEPREFIX; this process has "
        f"PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', 'unset')})",
        file=out,
    )
    headers = ["tasks", "figure", "unit", "superplanner", "min..max", "SQLite", "x SQLite", "JSON file", "x JSON",
               "eventsourcing", "x ES", "target", "met?"]
    rows = []
    for row in sorted((r for r in res.rows.values() if not r.served), key=lambda r: r.size):  # stable order
        ours = row.values[SP]
        spread = f"{cell(min(ours))}..{cell(max(ours))}" if len(ours) > 1 else ""
        met = row.met
        rows.append([
            f"{row.size:,}", row.figure, row.unit, cell(row.med(SP)), spread,
            cell(row.med(SQLITE)), _ratio_cell(row.ratio(SQLITE)), cell(row.med(JSONF)),
            _ratio_cell(row.ratio(JSONF)), cell(row.med(ESLIB)), _ratio_cell(row.ratio(ESLIB)),
            str(row.target) if row.target else "",
            "" if met is None else ("met" if met else "MISSED"),
        ])
    print(format_table(headers, rows), file=out)
    for note in res.notes:
        print(note, file=out)
    print_served(res, out)
    print_scaling(res, out)
    if res.failures:
        print(f"\nCORRECTNESS FAILURES ({len(res.failures)}):", file=out)
        for failure in res.failures:
            print(f"  {failure}", file=out)


def print_served(res: Results, out: TextIO) -> None:
    """The figures measured with `planner serve` running, each beside the same planner command with
    ``--no-server`` (embedded) and the peers' command lines, from the same repetitions."""
    served = sorted((r for r in res.rows.values() if r.served), key=lambda r: r.size)
    if not served:
        return
    print("\nserved: `planner serve` running on the home (started by the benchmark, untimed unless the figure is "
          "its start); embedded = the same planner command with --no-server; x = served / the other (medians); "
          "peers: their command lines answering the same query", file=out)
    headers = ["tasks", "figure", "unit", "served", "min..max", "embedded", "x embedded", "SQLite", "x SQLite",
               "JSON file", "x JSON", "target", "met?"]
    rows = []
    for row in served:
        ours = row.values[SP]
        spread = f"{cell(min(ours))}..{cell(max(ours))}" if len(ours) > 1 else ""
        met = row.met
        rows.append([f"{row.size:,}", row.figure, row.unit, cell(row.med(SP)), spread,
                     cell(row.med(EMBEDDED)), _ratio_cell(row.ratio(EMBEDDED)), cell(row.med(SQLITE)),
                     _ratio_cell(row.ratio(SQLITE)), cell(row.med(JSONF)), _ratio_cell(row.ratio(JSONF)),
                     str(row.target) if row.target else "", "" if met is None else ("met" if met else "MISSED")])
    print(format_table(headers, rows), file=out)


def print_scaling(res: Results, out: TextIO) -> None:
    fitted = scaling_of(res)
    if not fitted:
        return
    print("\nscaling (planner medians): slope = least-squares d log(time) / d log(tasks), fitted from the first "
          "size below on (1 = linear, 0 = constant); per task = time / tasks", file=out)
    headers = ["figure", "claim", "slope", "shape", "slope, all sizes", "from", "to", "ms/task @from",
               "ms/task @to", "per-task growth"]
    rows = [[figure, SCALING[figure], f"{g.slope:.2f}", g.shape, f"{g.slope_all:.2f}", f"{g.small:,}",
             f"{g.large:,}", cell(g.per_item_small), cell(g.per_item_large), f"{g.per_item_growth:.2f}x"]
            for figure, g in fitted.items()]
    print(format_table(headers, rows), file=out)


def _ratio_cell(value: float) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:.2f}x" if value >= 0.1 else f"{value:.2g}x"
