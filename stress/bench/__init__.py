"""Benchmarks, run as ``python -m stress.bench NAME|all [--quick] [--json FILE] [--baseline FILE]``.

Each benchmark is a module registered in :data:`BENCHMARKS` by name. The
module is imported only when its benchmark runs, and exposes::

    def run(options: RunOptions, out: TextIO) -> BenchResult

``run`` prints its own tables to ``out`` (progress goes to stderr) and returns
the figures for ``--json`` plus the correctness failures it found; any failure
makes the command exit non-zero. A figure the regression check can compare
carries median, min, max, unit and direction (:func:`stress.bench.figures.spread`
builds one; :mod:`stress.bench.regress` compares). A benchmark is added by
appending a :class:`Benchmark` entry; ``all`` runs them in this order.

Around them: :mod:`~stress.bench.monitor` (``ResourceMonitor``: RSS and CPU
sampled in the background), :mod:`~stress.bench.tracker`
(``PerformanceBenchmark``, the ``performance_tracker`` of the tests marked
``performance``), :mod:`~stress.bench.scaling` (fitted growth with size).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any


@dataclass(frozen=True)
class Benchmark:
    """A named benchmark: the module that implements ``run`` and a one-line summary."""

    name: str
    module: str
    summary: str

    def load(self) -> ModuleType:
        """Import the implementing module (deferred so unrelated benchmarks cost nothing)."""
        return importlib.import_module(self.module)


@dataclass(frozen=True)
class RunOptions:
    """What the command line asked for; every benchmark interprets the same knobs.

    ``repeat`` is how many times each measured window is repeated (figures are
    medians over them) and ``duration`` the length of one window in seconds.
    """

    quick: bool
    repeat: int
    duration: float


@dataclass
class BenchResult:
    """A benchmark's output: ``figures`` (name -> JSON-ready dict) and ``failures``."""

    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in [
        Benchmark(
            "log",
            "stress.bench.log_bench",
            "EventLog durable read-decide-append steps vs raw fdatasync, SQLite and eventsourcing peers; lock hand-over",
        ),
        Benchmark(
            "load",
            "stress.bench.load_bench",
            "BENCH-001: load 10..100k-task projects (spec load, snapshot, replay, memory), ready, cycle check, "
            "analysis, the CLI (embedded and through `planner serve`), the server's start and RSS, fitted scaling; "
            "vs SQLite, whole-file JSON and eventsourcing peers",
        ),
        Benchmark("agents", "stress.bench.agents_bench", "BENCH-002: AgentCoordinator at 2..20 agents (registration, first assignment, batch latency, balance); claims/s from 1 and 20 agent processes, embedded and through `planner serve`, vs SQLite"),
        Benchmark("transitions", "stress.bench.transitions_bench",
                  "BENCH-003: transitions at 10..500/s and an overload from 8 agent processes (open loop: latency "
                  "from the due time, achieved rate, errors), vs SQLite and whole-file JSON peers; verified"),
        Benchmark("git", "stress.bench.git_bench", "BENCH-004: git archive commit latency (100/1,000-event batches, 100..1,000 tasks), 1st vs 1,000th commit, repository bytes/event, appenders with vs without a committer"),
        Benchmark("soak", "stress.bench.soak_bench",
                  "BENCH-005: 10 agent processes at 50 ops/s on a 1,000-task project for 3 minutes: RSS slope "
                  "(leak check), GC pauses, latency drift; verified"),
        Benchmark("mcp", "stress.bench.mcp_bench",
                  "planner mcp: the ready and claim_task tools through stdio (the official MCP client) on a "
                  "10,000-task project, embedded and through `planner serve`, vs the CLI doing the same as a process"),
        Benchmark("dashboard", "stress.bench.dashboard_bench",
                  "planner serve --http in headless Chromium: first render of a 10,000-task project, append to DOM "
                  "latency, server CPU with 5 dashboards open while 20 agents work vs none"),
        Benchmark("postgres", "stress.bench.postgres_bench",
                  "the PostgreSQL store from 20 processes: durable appends at an expected version vs the "
                  "eventsourcing library's PostgreSQL recorder; claim/in_progress/completed cycles vs plain SQL "
                  "(SKIP LOCKED), on the same server"),
        Benchmark("eventsourcing", "stress.bench.eventsourcing_bench",
                  "our persistence module for the eventsourcing library in the library's own performance and "
                  "concurrent-throughput scenarios, vs its SQLite module (files) and its PostgreSQL module (same server)"),
        Benchmark("throughput", "stress.bench.throughput_bench",
                  "the spec's throughput requirements end to end through the public commands, verified: planner plan "
                  "on a 500-task outline (and MCP add_task); 1,000 state changes (CLI processes, one process, served) "
                  "vs SQLite processes; planner work --agents 10 --exec on 200 tasks vs make -j10; 1,000 file "
                  "operations from 1 and 10 processes"),
    ]
}
