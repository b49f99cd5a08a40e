"""``python -m stress.bench log``: what a durable read-decide-append step costs.

Figures, all from one run on this machine, each repeated ``--repeat`` times
(fresh temp dir per repetition, under the default temp dir, removed after):

* **raw disk**: one process, ``os.write`` of one 200-byte line then
  ``os.fdatasync``, on an ``O_APPEND`` file in the same directory as the logs.
  The ceiling for one process that must be durable before it acknowledges.
* **EventLog durable step** (1 and 20 processes, ``durability="always"``):
  one ``with log.transaction() as tx:`` that folds ``tx.records`` (what the
  others appended since this worker's previous step) into a counter and
  appends ``n = counter + 1``. Latency is from entering ``transaction()``
  until the ``with`` statement returns, i.e. the record is durable.
* **SQLite WAL FULL step** (1 and 20 processes): the same step on SQLite,
  see :mod:`stress.peers.sqlite_step`.
* **eventsourcing SQLite step** (1 and 20 processes): the same step with the
  ``eventsourcing`` library (a counter aggregate, saved at its expected
  version, retried on a conflict), see :mod:`stress.peers.eventsourcing_step`.
  An optional peer (``pip install -e '.[bench]'``): skipped, with a note,
  when the library is not installed.
* **lock hand-over** (20 processes): acquire, hold ~0.1 ms (busy), release,
  repeat; ``eventstore.locking.AppendLock`` (blocking flock) against
  ``filelock.FileLock`` (non-blocking flock + sleep ``poll_interval``).
  Latency here is the wait for the lock. A second pair sleeps 0.2 ms after
  each release, as an EventLog writer does while it fdatasyncs, so that
  every acquisition is a hand-over rather than the releaser re-taking it.

How a window is measured: workers are real processes from a ``forkserver``
context; each opens its own handle in the child, warms it up (one step that
writes nothing), then waits on a barrier shared with the parent. Released
together, each runs steps back to back for the window's duration, timing
every step with ``perf_counter`` and stamping its completion with
``monotonic`` (system-wide on Linux), and sends both through a queue.
Throughput is the steps completed in the common window [first worker's
start, first start + duration], divided by the duration; steps still in
flight at its end count towards latency and the correctness check, not the
rate (otherwise one worker starved in SQLite's busy handler would stretch
the window long after the others stopped, and deflate the rate). Per repetition the
scenarios run interleaved (EventLog and SQLite alternate which goes first),
so they share the machine's conditions (with the eventsourcing peer, the three
rotate). In ``--json``, each EventLog step figure carries ``ratio_sqlite`` and
``ratio_eventsourcing`` (the median of the per-repetition ratios, EventLog /
peer), and each AppendLock figure ``ratio_filelock``.

After every step window the store is checked independently of the workers:
the EventLog is read back with ``EventLog.read()`` (seq contiguous from 1,
each ``n`` one more than the previous, count equal to the steps reported)
and verified; the SQLite counter and events are checked the same way; the
raw file's size must match. Any failure makes the command exit non-zero.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Protocol, TextIO

from filelock import FileLock

from eventstore import EventLog
from eventstore.locking import AppendLock
from stress.bench import BenchResult, RunOptions
from stress.bench.stats import Figure, LatencySummary, fmt, format_table, median
from stress.bench.windows import run_workers
from stress.peers import EVENTSOURCING, installed, skip_note, sqlite_step

MANY = 20  # the contended process count
LINE_BYTES = 200  # raw-disk record size, about an EventLog counter record
HOLD_S = 0.0001  # lock micro-benchmark: busy work while holding the lock
PAUSE_S = 0.0002  # ... and, in its second variant, a sleep after releasing it
STARTUP_TIMEOUT_S = 120.0
TARGET_RATIO = 1.5  # EventLog / SQLite steps/s at MANY processes
TARGET_P99_MS = 15.0  # EventLog p99 step latency at MANY processes
EVENT_TYPE = "counter.incremented"
_PAD = "x" * 100


# -- what one worker process does ------------------------------------------------
class Stepper(Protocol):
    """A worker's handle on the system under test; built inside the child process."""

    def warm_up(self) -> None: ...

    def step(self) -> float:
        """Do one unit of work; return the latency the benchmark reports for it, in seconds."""
        ...

    def close(self) -> None: ...


class RawDiskStep:
    """``os.write`` of one 200-byte line + ``os.fdatasync``: the durable-append floor."""

    def __init__(self, path: str, worker_id: int):
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.line = (f'{{"by":{worker_id},"pad":"'.encode().ljust(LINE_BYTES - 3, b"x")) + b'"}\n'

    def warm_up(self) -> None:
        pass

    def step(self) -> float:
        start = time.perf_counter()
        os.write(self.fd, self.line)
        os.fdatasync(self.fd)
        return time.perf_counter() - start

    def close(self) -> None:
        os.close(self.fd)


class EventLogStep:
    """The counter workload on an EventLog: read the others' records, append ``n + 1``, durably."""

    def __init__(self, path: str, worker_id: int):
        self.worker_id = worker_id
        self.counter = 0  # data["n"] of the newest record this worker knows
        self.log = EventLog.open(path, durability="always")

    def _absorb(self, records: list) -> None:
        if records:
            self.counter = records[-1].data["n"]

    def warm_up(self) -> None:
        """A transaction that appends nothing: opens the lock and segment, reads the log so far."""
        with self.log.transaction() as tx:
            self._absorb(tx.records)

    def step(self) -> float:
        start = time.perf_counter()
        with self.log.transaction() as tx:
            self._absorb(tx.records)
            n = self.counter + 1
            tx.append([{"type": EVENT_TYPE, "data": {"n": n, "by": self.worker_id, "pad": _PAD}}])
        self.counter = n  # own appends are not echoed back in tx.records
        return time.perf_counter() - start

    def close(self) -> None:
        self.log.close()


def _hold(until: float) -> None:
    """Busy-wait (it stands for work done under the lock) until ``perf_counter() >= until``."""
    while time.perf_counter() < until:
        pass


class LockCycle:
    """Acquire a lock, hold it ``HOLD_S`` (busy), release; optionally sleep ``pause_s`` after.

    ``step()`` reports the wait for the lock. The pause stands for what an
    EventLog writer does after unlocking (``fdatasync``): it gives the lock
    away instead of re-taking it at once, so every acquisition is a hand-over.
    """

    def __init__(self, acquire: Callable[[], object], release: Callable[[], None],
                 close: Callable[[], None] | None, pause_s: float):
        self._acquire, self._release, self._close = acquire, release, close
        self.pause_s = pause_s

    def warm_up(self) -> None:
        pass

    def step(self) -> float:
        start = time.perf_counter()
        self._acquire()
        got = time.perf_counter()
        _hold(got + HOLD_S)
        self._release()
        if self.pause_s:
            time.sleep(self.pause_s)
        return got - start

    def close(self) -> None:
        if self._close is not None:
            self._close()


def append_lock_cycle(path: str, worker_id: int, pause_s: float = 0.0) -> LockCycle:
    """The EventLog's own lock: one blocking ``flock(LOCK_EX)``; the kernel wakes the waiter."""
    lock = AppendLock(path)
    return LockCycle(lock.acquire, lock.release, lock.close, pause_s)


def filelock_cycle(path: str, worker_id: int, pause_s: float = 0.0) -> LockCycle:
    """``filelock.FileLock`` at its default ``poll_interval``: try ``LOCK_NB``, sleep, retry."""
    lock = FileLock(path)
    return LockCycle(lock.acquire, lock.release, None, pause_s)


def eventsourcing_step(path: str, worker_id: int) -> Stepper:
    """The optional peer, imported only when it runs (the library may not be installed)."""
    from stress.peers import eventsourcing_step as peer

    return peer.EventsourcingCounterStep(path, worker_id)


STEPPERS: dict[str, Callable[[str, int], Stepper]] = {
    "raw": RawDiskStep,
    "eventlog": EventLogStep,
    "sqlite": sqlite_step.SqliteCounterStep,
    "eventsourcing": eventsourcing_step,
    "flock": append_lock_cycle,
    "filelock": filelock_cycle,
    "flock+pause": partial(append_lock_cycle, pause_s=PAUSE_S),
    "filelock+pause": partial(filelock_cycle, pause_s=PAUSE_S),
}


@dataclass
class WorkerReport:
    """What a worker sends back: each step's latency (s) and completion time (monotonic s)."""

    worker_id: int
    latencies: list[float] = field(default_factory=list)
    completions: list[float] = field(default_factory=list)
    start: float = 0.0
    error: str | None = None


def _worker(kind: str, path: str, worker_id: int, duration: float, barrier, results) -> None:
    """Child process body of this benchmark's windows (:func:`work_window` with :data:`STEPPERS`)."""
    work_window(STEPPERS[kind], path, worker_id, duration, barrier, results)


def work_window(make: Callable[[str, int], Stepper], where: str, worker_id: int, duration: float, barrier,
                results, startup_timeout: float = STARTUP_TIMEOUT_S) -> None:
    """A window worker's body, in its child process: build the stepper (``make(where, worker_id)``),
    warm it up, wait for the start, step until the window ends, then put its report in ``results``
    (with the traceback if anything failed; the barrier is broken so that nobody waits for it)."""
    report = WorkerReport(worker_id)
    try:
        stepper = make(where, worker_id)
        try:
            stepper.warm_up()
            barrier.wait(startup_timeout)
            step_for(stepper, duration, report)
        finally:
            stepper.close()
    except BaseException:
        barrier.abort()  # nobody waits out the startup timeout for a worker that will never come
        report.error = traceback.format_exc()
    results.put(report)


def step_for(stepper: Stepper, duration: float, report: WorkerReport) -> None:
    """Step until ``duration`` seconds have passed, each step's latency and completion into ``report``."""
    latencies, completions = report.latencies, report.completions
    step, now = stepper.step, time.monotonic
    report.start = now()
    deadline = report.start + duration
    while True:
        latencies.append(step())
        done = now()
        completions.append(done)
        if done >= deadline:
            break


# -- one measured window -------------------------------------------------------
@dataclass
class Window:
    """One measured window: aggregate rate, latency summary, per-worker step counts (all steps)."""

    rate: float
    latency: LatencySummary
    steps: list[int]

    @property
    def total(self) -> int:
        return sum(self.steps)


def measure(ctx, kind: str, path: Path, procs: int, duration: float) -> Window:
    """Run ``procs`` workers of ``kind`` against ``path`` for ``duration`` seconds."""
    reports = run_workers(ctx, _worker, lambda i, barrier, results: (kind, str(path), i, duration, barrier, results),
                          procs, duration, STARTUP_TIMEOUT_S)
    start = min(r.start for r in reports)
    end = start + duration
    in_window = sum(1 for r in reports for t in r.completions if t <= end)
    steps = [len(r.latencies) for r in reports]
    latencies = [x for r in reports for x in r.latencies]
    return Window(in_window / duration, LatencySummary.of(latencies), steps)


# -- scenarios: set up a store, measure, check it ------------------------------
def _prepare_eventlog(path: Path) -> None:
    EventLog.open(path, create=True, durability="always").close()


def check_eventlog(path: Path, reported_steps: int) -> list[str]:
    """Read the whole log back: seq 1..N contiguous, n = previous n + 1, N = steps reported, verify ok."""
    problems: list[str] = []
    count = 0
    prev_n = 0
    with EventLog.open(path) as log:
        bad_seq = bad_n = None  # the first of each kind of problem is reported
        for count, record in enumerate(log.read(), 1):
            n = record.data.get("n")
            if bad_seq is None and record.seq != count:
                bad_seq = f"record #{count} has seq {record.seq} (seq not contiguous)"
            if bad_n is None and n != prev_n + 1:
                bad_n = f"seq {record.seq} has n={n} after n={prev_n} (lost or repeated update)"
            prev_n = n
        problems += [p for p in (bad_seq, bad_n) if p is not None]
        report = log.verify()
    if count != reported_steps:
        problems.append(f"log holds {count} records but workers reported {reported_steps} steps")
    if not report.ok:
        problems.append(f"verify found problems: {report.problems[:3]}")
    return problems


def check_raw(path: Path, reported_steps: int) -> list[str]:
    size = path.stat().st_size
    expected = reported_steps * LINE_BYTES
    return [] if size == expected else [f"file is {size} bytes, expected {expected}"]


def _no_check(path: Path, reported_steps: int) -> list[str]:
    return []


def _prepare_eventsourcing(path: Path) -> None:
    from stress.peers import eventsourcing_step as peer

    peer.create(path)


def check_eventsourcing(path: Path, reported_steps: int) -> list[str]:
    from stress.peers import eventsourcing_step as peer

    return peer.check(path, reported_steps)


@dataclass(frozen=True)
class Scenario:
    """One table row: which stepper, how many processes, how to set up and check its store."""

    label: str
    kind: str
    procs: int
    unit: str
    prepare: Callable[[Path], None] | None
    check: Callable[[Path, int], list[str]]
    lock_bench: bool = False

    @property
    def key(self) -> str:
        return f"{self.label} @{self.procs}"


RAW = Scenario("raw disk: write+fdatasync", "raw", 1, "steps/s", None, check_raw)
EVENTLOG = "EventLog durable step"
SQLITE = "SQLite WAL FULL step"
ESLIB = "eventsourcing SQLite step"
PEERS = {SQLITE: "sqlite", ESLIB: "eventsourcing"}  # step label -> the name in ratio_<name>
LOCKS = [
    ("flock", "AppendLock (blocking flock)"),
    ("filelock", "filelock.FileLock (50 ms poll)"),
    ("flock+pause", "AppendLock, 0.2 ms sleep after"),
    ("filelock+pause", "filelock.FileLock, 0.2 ms sleep after"),
]


def _step_scenario(label: str, procs: int) -> Scenario:
    if label == EVENTLOG:
        return Scenario(label, "eventlog", procs, "steps/s", _prepare_eventlog, check_eventlog)
    if label == ESLIB:
        return Scenario(label, "eventsourcing", procs, "steps/s", _prepare_eventsourcing, check_eventsourcing)
    return Scenario(label, "sqlite", procs, "steps/s", sqlite_step.create, sqlite_step.check)


def schedule(rep: int, eventsourcing: bool = False) -> list[Scenario]:
    """The scenarios of one repetition; EventLog and its peers take turns to go first (EventLog
    and SQLite swap every other rep; with the eventsourcing peer, the three rotate)."""
    labels = [EVENTLOG, SQLITE, ESLIB] if eventsourcing else [EVENTLOG, SQLITE]
    k = rep % len(labels)
    order = labels[k:] + labels[:k]
    steps = [_step_scenario(label, procs) for procs in (1, MANY) for label in order]
    locks = [Scenario(label, kind, MANY, "acq/s", None, _no_check, lock_bench=True) for kind, label in LOCKS]
    return [RAW, *steps, *locks]


# -- the run ---------------------------------------------------------------------
@dataclass
class Results:
    """Figures by scenario key, in first-seen order, plus every worker's step count (all reps) for fairness."""

    figures: dict[str, Figure] = field(default_factory=dict)
    spread: dict[str, list[int]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # peers skipped

    def figure(self, scenario: Scenario) -> Figure:
        if scenario.key not in self.figures:
            self.figures[scenario.key] = Figure(scenario.label, scenario.procs, scenario.unit)
        return self.figures[scenario.key]


def _mp_context():
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])  # children fork with eventstore, sqlite3, filelock imported
    return ctx


def run(options: RunOptions, out: TextIO) -> BenchResult:
    """Run every scenario ``options.repeat`` times, interleaved; print the tables to ``out``."""
    ctx = _mp_context()
    lock_duration = max(1.0, 0.3 * options.duration)
    results = Results()
    with_es = installed(EVENTSOURCING)
    if not with_es:
        results.notes.append(skip_note(ESLIB, EVENTSOURCING))
        _progress(results.notes[-1])
    started = time.monotonic()
    for rep in range(options.repeat):
        rep_dir = Path(tempfile.mkdtemp(prefix="bench-log-"))
        try:
            for scenario in schedule(rep, with_es):
                duration = lock_duration if scenario.lock_bench else options.duration
                _run_one(ctx, scenario, rep_dir, duration, rep, options.repeat, results)
        finally:
            shutil.rmtree(rep_dir, ignore_errors=True)
    _progress(f"done in {time.monotonic() - started:.0f} s")
    print_report(results, options, lock_duration, out)
    return BenchResult(figures_json(results), results.failures)


def _run_one(ctx, scenario: Scenario, rep_dir: Path, duration: float, rep: int, reps: int, results: Results) -> None:
    """Measure one scenario once, check its store, and file the numbers or the failure."""
    path = rep_dir / f"{scenario.kind}-{scenario.procs}"
    where = f"[rep {rep + 1}/{reps}] {scenario.key}"
    try:
        if scenario.prepare is not None:
            scenario.prepare(path)
        window = measure(ctx, scenario.kind, path, scenario.procs, duration)
    except Exception as exc:  # report it, keep measuring the rest
        results.failures.append(f"{where}: {exc}")
        _progress(f"{where}: FAILED: {exc}")
        return
    problems = scenario.check(path, window.total)
    results.failures.extend(f"{where}: {p}" for p in problems)
    results.figure(scenario).add(window.rate, window.latency)
    results.spread.setdefault(scenario.key, []).extend(window.steps)
    status = "ok" if not problems else "CHECK FAILED: " + "; ".join(problems)
    _progress(
        f"{where}: {window.rate:,.0f} {scenario.unit}, p50 {window.latency.p50_ms:.2f} ms, "
        f"p99 {window.latency.p99_ms:.2f} ms, {window.total} steps; {status}"
    )


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the report --------------------------------------------------------------------
def _rate_row(f: Figure) -> list[str]:
    return [
        f.label, str(f.procs), fmt(f.rate, 0), fmt(min(f.rates), 0), fmt(max(f.rates), 0),
        fmt(f.p50_ms, 2), fmt(f.p99_ms, 2), fmt(f.max_ms, 1),
    ]


def _get(results: Results, label: str, procs: int) -> Figure | None:
    f = results.figures.get(f"{label} @{procs}")
    return f if f is not None and f.measured else None


def _ratio(a: Figure | None, b: Figure | None) -> tuple[float, float, float] | None:
    """Median, min, max over repetitions of a.rate / b.rate (paired by repetition)."""
    if a is None or b is None:
        return None
    pairs = [x / y for x, y in zip(a.rates, b.rates, strict=False) if y > 0]
    return (median(pairs), min(pairs), max(pairs)) if pairs else None


LOCK_PEERS = {LOCKS[0][1]: LOCKS[1][1], LOCKS[2][1]: LOCKS[3][1]}  # AppendLock variant -> its filelock twin


def figures_json(results: Results) -> dict[str, dict]:
    """Every figure's JSON; EventLog steps carry ``ratio_<peer>`` and AppendLock ``ratio_filelock``
    (medians of the per-repetition ratios), which the regression check compares (see
    :mod:`stress.bench.regress`); the separate ``ratio ...`` entries are for reading."""
    out = {f.key: f.to_json() for f in results.figures.values()}
    for f in results.figures.values():
        if f.label in PEERS or f.label in LOCK_PEERS.values() or f.label == RAW.label:
            out[f.key]["peer"] = True
    for procs in (1, MANY):
        ours = _get(results, EVENTLOG, procs)
        for label, peer in PEERS.items():
            r = _ratio(ours, _get(results, label, procs))
            if r is not None and ours is not None:
                out[ours.key][f"ratio_{peer}"] = round(r[0], 4)
                name = "SQLite" if label == SQLITE else "eventsourcing"
                out[f"ratio EventLog/{name} @{procs}"] = {
                    "median": round(r[0], 4), "min": round(r[1], 4), "max": round(r[2], 4),
                    "p50_ms": None, "p99_ms": None, "unit": "x",
                }
    for ours_label, theirs_label in LOCK_PEERS.items():
        ours = _get(results, ours_label, MANY)
        r = _ratio(ours, _get(results, theirs_label, MANY))
        if r is not None and ours is not None:
            out[ours.key]["ratio_filelock"] = round(r[0], 4)
    return out


def print_report(results: Results, options: RunOptions, lock_duration: float, out: TextIO) -> None:
    steps = [f for f in results.figures.values() if f.unit == "steps/s" and f.measured]
    locks = [f for f in results.figures.values() if f.unit == "acq/s" and f.measured]
    print(
        f"\nstress.bench log: {options.repeat} repetition(s) of {options.duration:g} s windows, "
        f"{os.cpu_count()} CPUs, temp dir {tempfile.gettempdir()}\n"
        "steps/s = median (min, max) over repetitions; latency = median over repetitions of each window's "
        "p50/p99, worst max; steps/proc = fewest..most steps one worker did in any window",
        file=out,
    )
    headers = ["benchmark", "procs", "steps/s", "min", "max", "p50 ms", "p99 ms", "max ms", "steps/proc min..max"]
    rows = [[*_rate_row(f), _spread(results.spread.get(f.key, []))] for f in steps]
    print(format_table(headers, rows), file=out)
    for line in _summary_lines(results) + results.notes:
        print(line, file=out)
    if locks:
        print(f"\nlock hand-over: {MANY} procs acquire, hold {HOLD_S * 1e3:g} ms (busy), release "
              f"[, sleep {PAUSE_S * 1e3:g} ms as the log's fdatasync would]; {lock_duration:g} s windows; "
              "latency = wait for the lock", file=out)
        headers = ["lock", "procs", "acq/s", "min", "max", "p50 ms", "p99 ms", "max ms", "acq/proc min..max"]
        rows = [[*_rate_row(f), _spread(results.spread.get(f.key, []))] for f in locks]
        print(format_table(headers, rows), file=out)
    if results.failures:
        print(f"\nCORRECTNESS FAILURES ({len(results.failures)}):", file=out)
        for failure in results.failures:
            print(f"  {failure}", file=out)


def _spread(steps: list[int]) -> str:
    return f"{min(steps):,}..{max(steps):,}" if steps else "-"


def _summary_lines(results: Results) -> list[str]:
    lines = []
    many = _ratio(_get(results, EVENTLOG, MANY), _get(results, SQLITE, MANY))
    el_many = _get(results, EVENTLOG, MANY)
    if many is not None and el_many is not None:
        verdict = "met" if many[0] >= TARGET_RATIO else "MISSED"
        p99 = el_many.p99_ms
        p99_verdict = "met" if p99 < TARGET_P99_MS else "MISSED"
        lines.append(
            f"ratio EventLog/SQLite @{MANY} procs: {many[0]:.2f}x (reps {many[1]:.2f}..{many[2]:.2f}x)  "
            f"(target >= {TARGET_RATIO}x: {verdict})   EventLog p99 @{MANY}: {p99:.1f} ms "
            f"(target < {TARGET_P99_MS:g} ms: {p99_verdict})"
        )
    one = _ratio(_get(results, EVENTLOG, 1), _get(results, SQLITE, 1))
    if one is not None:
        lines.append(f"ratio EventLog/SQLite @1 proc: {one[0]:.2f}x (reps {one[1]:.2f}..{one[2]:.2f}x)")
    for procs in (MANY, 1):
        es = _ratio(_get(results, EVENTLOG, procs), _get(results, ESLIB, procs))
        if es is not None:
            lines.append(f"ratio EventLog/eventsourcing @{procs} proc{'s' if procs > 1 else ''}: {es[0]:.2f}x "
                         f"(reps {es[1]:.2f}..{es[2]:.2f}x)")
    ceiling = _ratio(_get(results, EVENTLOG, 1), _get(results, RAW.label, 1))
    if ceiling is not None:
        lines.append(f"EventLog @1 proc reaches {ceiling[0]:.0%} of the raw write+fdatasync ceiling")
    scaling = _ratio(el_many, _get(results, EVENTLOG, 1))
    if scaling is not None:
        lines.append(f"EventLog @{MANY} procs / @1 proc: {scaling[0]:.2f}x (group flush: one fdatasync covers many)")
    return lines
