"""``python -m stress.bench postgres``: the PostgreSQL store beside PostgreSQL peers on the same server.

Two workloads, each from :data:`PROCS` worker processes released together, each worker
timing every step and stamping its completion; a window's rate counts the steps done in
[first start, first start + duration]. Per repetition the scenarios alternate which runs
first; the figures are medians over the repetitions, with ``ratio_<peer>`` (ours / the
peer's, per repetition, then the median).

* **append step** (ours: ``PostgresStore.transaction()``: fold what the others appended
  into a counter, append ``n + 1`` at ``expected_seq = tx.last_seq``, commit) against the
  ``eventsourcing`` library's PostgreSQL recorder (a counter aggregate saved at its
  expected version, retried on a conflict: :mod:`stress.peers.eventsourcing_pg_step`).
  Both durable on return (``synchronous_commit=on``). Skipped, with a note, without the
  library (``pip install -e '.[bench]'``).
* **claim cycle** (ours: ``Planner.claim``, ``transition in_progress``,
  ``transition completed`` on a project in a PostgreSQL store, three commands) against a
  plain-SQL peer, one row per task, ``SELECT ... FOR UPDATE SKIP LOCKED``
  (:mod:`stress.peers.pg_claims`): three transactions, and much less work per step (no
  log, no dependencies, no leases). Ours three ways: every worker embedded (each command a
  PostgreSQL transaction of its own); through ``planner --store URL serve`` (the workers are
  its clients, :class:`stress.bench.agents_bench.ServedClaimer`; it decides in memory and
  writes each group of commands in one transaction); and, for comparison, through
  ``planner serve`` on a file home. The served windows are checked by
  :func:`stress.bench.agents_bench.check_claims` (every lease once, tokens, the log).

The server is ``$PLANNER_POSTGRES`` or a throwaway one (:mod:`stress.pgserver`). After each
window the store is checked independently of the workers (the counter's records contiguous
with ``n`` one more each time, as many as the steps reported; every reported cycle one
completed task), and a failure makes the command exit non-zero.
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from stress.bench import BenchResult, RunOptions
from stress.bench.figures import spread
from stress.bench.log_bench import work_window  # (the same window loop and report)
from stress.bench.stats import LatencySummary, fmt, format_table
from stress.bench.windows import run_workers

PROCS = 20
STARTUP_TIMEOUT_S = 120.0
#: tasks per second of a claim-cycle window: more than 20 workers can finish in any window measured here
TASKS_PER_SECOND = {"ours-cycle": 600, "sql-cycle": 6000, "served-cycle": 5000, "served-files-cycle": 5000}
SERVED_KINDS = ("served-cycle", "served-files-cycle")


# -- the steppers (built in the child) -------------------------------------------------------
class OurAppend:
    def __init__(self, url: str, worker_id: int):
        from eventstore import open_store

        self.store = open_store(url, "bench")
        self.worker_id, self.n = worker_id, 0

    def warm_up(self) -> None:
        with self.store.transaction() as tx:
            self._fold(tx.records)

    def _fold(self, records: list) -> None:
        if records:
            self.n = records[-1].data["n"]

    def step(self) -> float:
        start = time.perf_counter()
        with self.store.transaction() as tx:
            self._fold(tx.records)
            self.n += 1
            tx.append([{"type": "counter.incremented", "data": {"n": self.n, "by": self.worker_id, "pad": "x" * 100}}],
                      expected_seq=tx.last_seq)
        return time.perf_counter() - start

    def close(self) -> None:
        self.store.close()


class EsAppend:
    def __init__(self, url: str, worker_id: int):
        from stress.peers.eventsourcing_pg_step import EventsourcingPgStep

        self.peer = EventsourcingPgStep(url, worker_id)
        self.warm_up, self.step, self.close = self.peer.warm_up, self.peer.step, self.peer.close


class OurCycle:
    def __init__(self, url: str, worker_id: int):
        from planner import Planner

        self.agent = f"w{worker_id}"
        self.planner = Planner.open(None, "bench", store=url)

    def warm_up(self) -> None:
        self.planner.register_agent(self.agent, capacity=1)

    def step(self) -> float:
        start = time.perf_counter()
        lease = self.planner.claim(self.agent)
        if lease is None:
            raise RuntimeError("ran out of tasks: raise TASKS_PER_SECOND")
        self.planner.transition(lease.id, "in_progress", token=lease.token)
        self.planner.transition(lease.id, "completed", token=lease.token)
        return time.perf_counter() - start

    def close(self) -> None:
        self.planner.close()


class SqlCycle:
    def __init__(self, url: str, worker_id: int):
        from eventstore.postgres.names import parse
        from stress.peers.pg_claims import SqlClaimer

        self.claimer = SqlClaimer(_in_schema(parse(url)), f"w{worker_id}")

    def warm_up(self) -> None:
        pass

    def step(self) -> float:
        start = time.perf_counter()
        if not self.claimer.cycle():
            raise RuntimeError("ran out of tasks: raise TASKS_PER_SECOND")
        return time.perf_counter() - start

    def close(self) -> None:
        self.claimer.close()


STEPPERS = {"ours-append": OurAppend, "eventsourcing-append": EsAppend, "ours-cycle": OurCycle, "sql-cycle": SqlCycle}


def _in_schema(parsed: Any) -> str:
    """A libpq conninfo whose search_path is the store's schema (for the plain-SQL peer)."""
    from psycopg import conninfo

    return conninfo.make_conninfo(parsed.conninfo, options=f"-c search_path={parsed.schema}")


def _worker(kind: str, url: str, worker_id: int, duration: float, barrier, results) -> None:
    work_window(STEPPERS[kind], url, worker_id, duration, barrier, results, STARTUP_TIMEOUT_S)


# -- preparing and checking each store -------------------------------------------------------
def _prepare(kind: str, url: str, duration: float) -> None:
    if kind == "ours-append":
        from eventstore import open_store

        open_store(url, "bench", create=True).close()
    elif kind == "eventsourcing-append":
        from stress.peers.eventsourcing_pg_step import create

        create(url)
    elif kind == "ours-cycle":
        from planner import Planner

        with Planner.open(None, "bench", store=url, create=True, durability="none") as p:
            p.set_mode("working")
            for i in range(int(TASKS_PER_SECOND[kind] * (duration + 2))):
                p.add_task(f"task {i}", priority=("low", "medium", "high", "critical")[i % 4])
    else:
        import psycopg

        from eventstore.postgres.names import parse
        from stress.peers.pg_claims import create

        parsed = parse(url)
        with psycopg.connect(parsed.conninfo, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{parsed.schema}"')
        create(_in_schema(parsed), int(TASKS_PER_SECOND[kind] * (duration + 2)))


def _check(kind: str, url: str, steps: int) -> list[str]:
    if kind == "ours-append":
        from eventstore import open_store

        store = open_store(url, "bench")
        try:
            records = list(store.read())
            ok = store.verify().ok
        finally:
            store.close()
        problems = [] if ok else ["verify() found problems"]
        if len(records) != steps or [r.data["n"] for r in records] != list(range(1, steps + 1)):
            problems.append(f"{len(records)} records, {steps} steps reported, or an n out of order (lost update)")
        return problems
    if kind == "eventsourcing-append":
        from stress.peers.eventsourcing_pg_step import check

        return check(url, steps)
    if kind == "ours-cycle":
        from planner import Planner

        with Planner.open(None, "bench", store=url) as p:
            done = p.stats()["leaves_by_state"].get("completed", 0)
        return [] if done == steps else [f"{done} tasks completed but the agents reported {steps} cycles"]
    from eventstore.postgres.names import parse
    from stress.peers.pg_claims import check

    return check(_in_schema(parse(url)), steps)


# -- measuring -----------------------------------------------------------------------------------
@dataclass
class Series:
    label: str
    rates: list[float] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)


PAIRS = [("append step", "ours-append", "eventsourcing-append", "eventsourcing"),
         ("claim cycle", "ours-cycle", "sql-cycle", "sql"),
         ("served claim cycle", "served-cycle", "sql-cycle", "sql"),
         ("served claim cycle, file store", "served-files-cycle", "sql-cycle", "sql")]
LABELS = {"ours-append": "PostgresStore transaction, expected_seq", "eventsourcing-append": "eventsourcing PG recorder",
          "ours-cycle": "Planner on PostgresStore (3 commands)", "sql-cycle": "plain SQL, SKIP LOCKED (3 txs)",
          "served-cycle": "planner --store PG serve (3 commands)",
          "served-files-cycle": "planner serve on files (3 commands)"}


def measure(ctx: Any, kind: str, url: str, duration: float) -> tuple[float, LatencySummary, int]:
    reports = run_workers(ctx, _worker, lambda i, barrier, results: (kind, url, i, duration, barrier, results),
                          PROCS, duration, STARTUP_TIMEOUT_S)
    start = min(r.start for r in reports)
    in_window = sum(1 for r in reports for t in r.completions if t <= start + duration)
    steps = sum(len(r.latencies) for r in reports)
    return in_window / duration, LatencySummary.of([x for r in reports for x in r.latencies]), steps


def measure_served(ctx: Any, kind: str, url: str, duration: float) -> tuple[float, LatencySummary, int, list[str]]:
    """One window of :data:`PROCS` clients of a ``planner serve`` on the PostgreSQL store ``url``
    (``served-cycle``) or on a file home (``served-files-cycle``), with the claim benchmark's
    workers and checks (:mod:`stress.bench.agents_bench`); the server is stopped cleanly before
    the check. Returns the rate, the latencies, the cycles and the problems found."""
    import os
    import shutil
    import tempfile
    from pathlib import Path

    from stress.bench import agents_bench as ab

    root = Path(tempfile.mkdtemp(prefix="bench-postgres-served-"))
    try:
        store = url if kind == "served-cycle" else None
        data = ab.claim_project(int(TASKS_PER_SECOND[kind] * (duration + 2)))
        target = ab.prepare_claims(root, data, ab.SERVED, store=store)[ab.SERVED]
        env = {**os.environ, **({"PLANNER_STORE": store} if store else {})}
        reports, _cpu = ab.run_served_window(ctx, target, PROCS, duration, env=env)
        problems = ab.check_claims(ab.SERVED, target, reports)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    rate, _drained = ab.window_rate(reports, duration)
    return rate, LatencySummary.of(x for r in reports for x in r.latencies), sum(len(r.done) for r in reports), problems


def run(options: RunOptions, out: TextIO) -> BenchResult:
    from importlib.util import find_spec

    from stress import pgserver

    ctx = multiprocessing.get_context("spawn")
    base = pgserver.server_url()
    with_es = all(find_spec(m) is not None for m in ("eventsourcing", "psycopg_pool"))
    result = BenchResult()
    series = {kind: Series(LABELS[kind]) for _, ours, peer, _ in PAIRS for kind in (ours, peer)}
    notes = [] if with_es else ["eventsourcing peer skipped: pip install -e '.[bench]' (eventsourcing, psycopg-pool)"]
    for rep in range(options.repeat):
        kinds = list(dict.fromkeys(kind for _, ours, peer, _ in PAIRS for kind in (ours, peer)))
        for kind in kinds if rep % 2 == 0 else kinds[::-1]:  # (each peer measured once, beside all of ours)
            if kind == "eventsourcing-append" and not with_es:
                continue
            url = pgserver.with_schema(base)
            where = f"[rep {rep + 1}/{options.repeat}] {LABELS[kind]}, {PROCS} procs"
            try:
                if kind in SERVED_KINDS:
                    rate, latency, steps, problems = measure_served(ctx, kind, url, options.duration)
                else:
                    _prepare(kind, url, options.duration)
                    rate, latency, steps = measure(ctx, kind, url, options.duration)
                    problems = _check(kind, url, steps)
            except Exception as exc:  # noqa: BLE001 - reported, the others still run
                result.failures.append(f"{where}: {exc}")
                print(f"{where}: FAILED: {exc}", file=sys.stderr, flush=True)
                continue
            result.failures += [f"{where}: {p}" for p in problems]
            s = series[kind]
            s.rates.append(rate)
            s.p50.append(latency.p50_ms)
            s.p99.append(latency.p99_ms)
            print(f"{where}: {rate:,.0f}/s, p50 {latency.p50_ms:.2f} ms, p99 {latency.p99_ms:.2f} ms, "
                  f"{steps} steps; {'ok' if not problems else 'CHECK FAILED'}", file=sys.stderr, flush=True)
    rows = []
    for name, ours, peer, peer_name in PAIRS:
        mine, theirs = series[ours], series[peer]
        ratios = [a / b for a, b in zip(mine.rates, theirs.rates, strict=False) if b]
        extra = {f"ratio_{peer_name}": _median(ratios)} if ratios else {}
        if mine.rates:
            result.figures[f"postgres {name} {PROCS} procs"] = spread(mine.rates, "steps/s", "higher", **extra)
        peer_figure = f"postgres claim cycle {PROCS} procs, peer {peer_name}" if peer == "sql-cycle" else \
            f"postgres {name} {PROCS} procs, peer {peer_name}"
        if theirs.rates:
            result.figures[peer_figure] = spread(theirs.rates, "steps/s", "higher", peer=True)
        for s in (mine, theirs):
            if s.rates and s.label not in {row[0] for row in rows}:
                rows.append([s.label, fmt(_median(s.rates), 0), fmt(_median(s.p50), 2), fmt(_median(s.p99), 2),
                             fmt(_median(ratios), 2) + "x" if s is mine and ratios else ""])
    print(f"\nPostgreSQL, {PROCS} processes, {options.duration:g} s windows, {options.repeat} repetition(s), "
          "medians (ratio: ours / the peer's, steps/s):", file=out)
    print(format_table(["", "steps/s", "p50 ms", "p99 ms", "ratio"], rows), file=out)
    for note in notes:
        print(note, file=out)
    _visibility(base, options, result, out)
    return result


def _visibility(base: str, options: RunOptions, result: BenchResult, out: TextIO) -> None:
    """Cross-machine visibility (:mod:`stress.bench.pg_visibility`), once per repetition."""
    from stress import pgserver
    from stress.bench import pg_visibility

    runs = []
    for rep in range(options.repeat):
        try:
            runs.append(pg_visibility.measure(pgserver.with_schema(base)))
        except Exception as exc:  # noqa: BLE001 - reported, like the workloads above
            result.failures.append(f"[rep {rep + 1}/{options.repeat}] visibility: {exc}")
    if not runs:
        return
    rows = []
    for name in runs[0]:
        for pct in ("p50", "p99"):
            values = [getattr(r[name], f"{pct}_ms") for r in runs]
            target = {"target_ms": pg_visibility.TARGET_P99_MS} if (name, pct) == ("call -> seen", "p99") else {}
            result.figures[f"postgres visibility {name} {pct}"] = spread(values, "ms", "lower", **target)
        rows.append([name, fmt(_median([r[name].p50_ms for r in runs]), 2), fmt(_median([r[name].p99_ms for r in runs]), 2)])
    print(f"\nCross-process visibility (append in one process, seen by another's follow(), LISTEN/NOTIFY), "
          f"{pg_visibility.APPENDS} appends, {len(runs)} repetition(s), medians; target p99 call -> seen "
          f"< {pg_visibility.TARGET_P99_MS:g} ms:", file=out)
    print(format_table(["", "p50 ms", "p99 ms"], rows), file=out)
    p99 = _median([r["call -> seen"].p99_ms for r in runs])
    if not p99 < pg_visibility.TARGET_P99_MS:  # (reported, as every missed target; not a failure)
        print(f"visibility target missed: p99 {p99:.1f} ms >= {pg_visibility.TARGET_P99_MS:g} ms", file=out)


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
