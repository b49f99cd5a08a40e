"""``python -m stress.bench git`` (BENCH-004): the git archive of the log under load.

What is measured is :mod:`eventstore.archive` (one bare repository per log,
``<log dir>/archive.git``, written with dulwich, objects fsynced) as the
planner uses it: :meth:`planner.Planner.archive` commits the batch of events
and a rendering of the project's state (:mod:`planner.engine.archiving`: the task
shards the batch touched and ``state/project.json``). Every part runs in
fresh temp dirs under the default temp dir, removed after. Planner handles
are opened with ``archive_every=0, archive_interval=0``, so that only the
benchmark commits. A default run takes about 4 minutes on two cores,
``--quick`` about 20 s.

The event stream ("churn")
--------------------------
Planner events come from planner commands on a project made by
``generate_complex_project(n)`` (seed 0) and imported with
``import_plan(read_fixture(...))`` as one batch. The churn issues one command
per step, each an acknowledged append of one batch of one event: step k with
k % 4 == 1 completes the oldest task the churn started (if any), k % 4 == 3
starts (``in_progress``) the best ready task (if any), every other step edits
a task (``edit_task``: a new description and a priority from a cycle; task
number k * 37 modulo the project's size, so the edits spread over the state
shards). A batch of N events is churn until at least N events wait to be
archived.

1. Commit latency (``part 1``)
------------------------------
For projects of 100, 500 and 1,000 tasks (``--quick``: 100 and 1,000), per
repetition: a fresh project (log ``durability="always"``), the import
committed and one 100-event batch committed (both untimed: the repository
exists and is warm), then batches of 100 and 1,000 events taken in turn
(:data:`SAMPLES`: 5 and 3; ``--quick``: 3 and 2), each committed with
``Planner.archive(force=True)``, timed with ``perf_counter`` around the call
(so it includes opening the repository, catching up the projection,
rendering the state shards, zlib-compressing and fsyncing every loose
object, the compare-and-swap of the branch and the planner's ``archive.seq``
sidecar). Figures per (tasks, batch): **median**, **p50**, **p99**
(nearest rank over every sample of every repetition; with fewer than 100
samples p99 is the max) and **max** in ms, and the events per commit
(median; a batch can exceed N by the one command that crossed it).
**Target**: a 1,000-event batch commits in under 50 ms (the median).

Peer, in the same run and the same repetitions: **events only**, a twin log
(same durability) into which every batch's records (type and data) are
appended as one batch right after the churn, committed with
``Archive(twin).commit(force=True)`` (no render, default message; the planner
and the peer alternate which commits first): what the
archiving of the events costs without the planner's state rendering. If the
1,000-event target is missed, one commit of a 1,000-event batch on a
1,000-task project is run under cProfile (wall-clock) and the 10 functions
with the most own time are printed (where the time goes).

2. The 1st vs the 1,000th commit (``part 2``)
---------------------------------------------
One 1,000-task project (log ``durability="none"``: 100,000 churn commands
have to be generated quickly; the archive still fsyncs its objects), its
import committed (untimed), then :data:`HISTORY_COMMITS` (1,000;
``--quick``: 100) commits of 100-event batches, each timed as in part 1, and
the same on an events-only twin (as in part 1; the two alternate which
commits first). Figures: the **1st** commit's latency; **commit #k** for
k = 10 and the last: the median of the 9 commits nearest to k (k-4..k+4,
shifted to stay within 1..N); the **ratio #N / #10**. **Target**: the
1,000th within 20% of the 10th (ratio <= 1.2). The commit's cost is meant to
be independent of the history's length (see :mod:`eventstore.archive`).

3. Repository bytes per event (``part 3``)
------------------------------------------
Measured on part 2's repositories when they hold 1/4, 1/2, 3/4 and all of
the commits (linear growth: bytes per event should stay flat). For the
planner's repository (events and state) and the events-only twin:
**du bytes/event**, the disk usage of ``archive.git`` (``st_blocks * 512``
over every file, as ``du`` counts: loose objects, no ``git gc``) divided by
the archived events; **apparent bytes/event** (sum of file sizes); the
**log bytes/event** (the segment files' sizes over the log's events, the
same events); the **ratio** repository du / log bytes (the twin's against
its own log). **Target**: < 1.5x
(the planner's repository, no gc). When the ``git`` binary exists, a copy of
each final repository is also packed with ``git gc`` and its du per event
reported (information, no target).

4. Appenders with and without a committer (``part 4``)
------------------------------------------------------
N appender processes (``forkserver`` children; N = 1, 4, 8, 12) each open
the same fresh ``EventLog`` (``durability="always"``) and, released together
by a barrier, append one event per batch back to back (each acknowledged
after its fdatasync) for a window of ``--duration`` seconds. Throughput:
the appends completed within [the first appender's start, + duration],
divided by the duration; latency: one append (every append, pooled over the
appenders). With a committer: one more process, ``Archive(log)`` opened per
commit (events only: the appenders are not planner commands) committing at R
commits per minute (R = 1, 5, 10, 20), that is ``max(1, round(R *
duration / 60))`` commits evenly spaced in the window (the k-th at
``(k + 0.5) * duration / count``). With 5 s windows, 1, 5 and 10 per
minute each put exactly one commit in the window (and 20 two): for the low
rates the figure is the slowdown of a window that contains a commit, an
upper bound for the slowdown averaged over a minute. Combinations (default):
20/min at every N and 1, 5, 10/min at 12 (``--quick``: N = 1 and 4 at
20/min). Every repetition measures, per N, the window without a committer
and then the windows with one. Figures: **appends/s** (median, min, max over
the repetitions, p50/p99/max latency), the committer's **commits** per
window, **commit ms** (median) and **events/commit** (median), and the
**ratio** with / without (median of the per-repetition ratios, each against
that repetition's window without a committer). **Target**: >= 0.9.

Correctness (any failure: exit status 1)
----------------------------------------
After every part-1 and part-2 project and every part-4 window with a
committer (after a final untimed commit of the rest): the archive's record
lines (``records_at()``, which itself checks seqs contiguous from 1 and
every checksum) equal the log's lines byte for byte (every event archived
exactly once, in order); the commits (``history()``) follow each other
(each one's first seq is the previous one's last + 1, numbered 1..N); every
timed commit archived what was waiting; and ``git fsck --strict`` passes
when the ``git`` binary exists. After every part-4 window: the log holds
exactly the appends the appenders reported. Missed targets are reported,
not failures.
"""

from __future__ import annotations

import contextlib
import cProfile
import io
import math
import multiprocessing
import os
import pstats
import queue
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from eventstore import EventLog
from eventstore.archive import REPO_NAME, Archive
from fixtures.generators import generate_complex_project
from planner import Planner
from planner.plans.importing import import_plan, read_fixture
from stress.bench import BenchResult, RunOptions
from stress.bench.figures import HIGHER, LOWER
from stress.bench.stats import Figure, LatencySummary, fmt, format_table, median

PROJECT = "bench"
SEED = 0
SIZES, QUICK_SIZES = [100, 500, 1000], [100, 1000]
BATCHES = [100, 1000]
SAMPLES = {100: 5, 1000: 3}  # timed commits per (size, batch) per repetition
QUICK_SAMPLES = {100: 3, 1000: 2}
HISTORY_TASKS = 1000
HISTORY_COMMITS, QUICK_HISTORY_COMMITS = 1000, 100
HISTORY_BATCH = 100
NEIGHBOURS = 9  # commits whose median stands for "commit #k"
EARLY = 10  # the commit the last one is compared with
APPENDERS = [1, 4, 8, 12]
RATES = [1, 5, 10, 20]  # commits per minute
COMBOS = [(1, 20), (4, 20), (8, 20), (12, 1), (12, 5), (12, 10), (12, 20)]
QUICK_COMBOS = [(1, 20), (4, 20)]
TARGET_COMMIT_MS = 50.0  # a 1,000-event batch
TARGET_HISTORY_RATIO = 1.2  # commit #N / commit #10
TARGET_BYTES_RATIO = 1.5  # repository du / log bytes, per event
TARGET_APPEND_RATIO = 0.9  # appends/s with a committer / without
PROFILE_TOP = 10
STARTUP_TIMEOUT_S = 120.0
PRIORITIES = ["low", "medium", "high", "critical"]
STRIDE = 37


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _num(value: float | None, digits: int = 4) -> float | None:
    return None if value is None or math.isnan(value) else round(value, digits)


# -- results --------------------------------------------------------------------------------
@dataclass
class Series:
    """Latency samples (seconds) of one kind of commit, plus the events each archived."""

    seconds: list[float] = field(default_factory=list)
    events: list[int] = field(default_factory=list)

    def add(self, seconds: float, events: int) -> None:
        self.seconds.append(seconds)
        self.events.append(events)

    def to_json(self, target: str | None = None, met: bool | None = None) -> dict[str, Any]:
        s = LatencySummary.of(self.seconds)
        med = _num(median(self.seconds) * 1e3 if self.seconds else math.nan)
        out: dict[str, Any] = {"median": med, "min": _num(min(self.seconds, default=math.nan) * 1e3),
                               "max": _num(s.max_ms), "median_ms": med,
                               "p50_ms": _num(s.p50_ms), "p99_ms": _num(s.p99_ms), "max_ms": _num(s.max_ms),
                               "samples": s.count, "events_median": median(self.events) if self.events else None,
                               "unit": "ms", "better": LOWER}
        if target is not None:
            out["target"], out["met"] = target, met
        return out

    @property
    def median_ms(self) -> float:
        return median(self.seconds) * 1e3 if self.seconds else math.nan


@dataclass
class Window:
    """One part-4 window: appends/s, latency, and the committer's commits (seconds, events)."""

    rate: float
    latency: LatencySummary
    commits: list[tuple[float, int]] = field(default_factory=list)


@dataclass
class Results:
    commits: dict[tuple[str, int, int], Series] = field(default_factory=dict)  # (kind, tasks, batch)
    history: dict[str, list[float]] = field(default_factory=dict)  # kind -> seconds of commit 1..N
    growth: list[dict[str, Any]] = field(default_factory=list)  # part 3, one row per probe
    packed: dict[str, float] = field(default_factory=dict)  # kind -> du bytes/event after git gc
    appends: dict[tuple[int, int], Figure] = field(default_factory=dict)  # (procs, rate; 0: none)
    committed: dict[tuple[int, int], list[tuple[float, int]]] = field(default_factory=dict)
    commits_per_window: dict[tuple[int, int], list[int]] = field(default_factory=dict)
    profile: str | None = None
    failures: list[str] = field(default_factory=list)

    def series(self, kind: str, tasks: int, batch: int) -> Series:
        return self.commits.setdefault((kind, tasks, batch), Series())

    def fail(self, where: str, problems: list[str]) -> None:
        for problem in problems:
            self.failures.append(f"{where}: {problem}")
            _progress(f"{where}: CHECK FAILED: {problem}")


PLANNER, EVENTS = "planner archive", "events only"


# -- checks -------------------------------------------------------------------------------------
def log_lines(log: EventLog) -> list[bytes]:
    """Every record line of the log's segment files, in seq order (the raw bytes)."""
    segments = sorted((p for p in Path(log.log_dir).iterdir() if p.suffix == ".jsonl" and p.stem.isdigit()),
                      key=lambda p: int(p.stem))
    lines: list[bytes] = []
    for path in segments:
        lines.extend(path.read_bytes().splitlines(keepends=True))
    return lines


def git_available() -> bool:
    return shutil.which("git") is not None


def check_archive(log: EventLog) -> list[str]:
    """The archive of ``log`` holds every record of the log once, in order, byte for byte;
    its commits follow each other; ``git fsck --strict`` passes (if git exists)."""
    problems: list[str] = []
    with Archive(log, fsync=False) as archive:
        try:
            archived = list(archive.records_at())
        except Exception as exc:  # noqa: BLE001 - any error reading the archive is the finding
            return [f"records_at() failed: {type(exc).__name__}: {exc}"]
        history = list(reversed(archive.history()))
    lines = log_lines(log)
    if archived != lines:
        same = next((i for i, (a, b) in enumerate(zip(archived, lines, strict=False)) if a != b),
                    min(len(archived), len(lines)))
        problems.append(f"the archive holds {len(archived)} record lines, the log {len(lines)}; they differ from "
                        f"seq {same + 1}")
    expected_first = 1
    for number, info in enumerate(history, start=1):
        if info.number != number or info.first_seq != expected_first or info.last_seq < info.first_seq:
            problems.append(f"commit {info.sha[:12]} is number {info.number} for seqs {info.first_seq}.."
                            f"{info.last_seq}; expected number {number} starting at seq {expected_first}")
            break
        expected_first = info.last_seq + 1
    if git_available():
        repo = Path(log.path) / REPO_NAME
        fsck = subprocess.run(["git", "--git-dir", os.fspath(repo), "fsck", "--strict", "--no-progress"],
                              capture_output=True, text=True, timeout=600)
        if fsck.returncode != 0:
            problems.append(f"git fsck --strict failed ({fsck.returncode}): {(fsck.stderr or fsck.stdout).strip()}")
    return problems


def disk_usage(path: Path) -> tuple[int, int, int]:
    """(du bytes = st_blocks * 512, apparent bytes, files) of every file under ``path``."""
    du = apparent = files = 0
    for dirpath, _dirs, names in os.walk(path):
        for name in names:
            st = os.lstat(os.path.join(dirpath, name))
            du += st.st_blocks * 512
            apparent += st.st_size
            files += 1
    return du, apparent, files


# -- the churn ---------------------------------------------------------------------------------------
class Churn:
    """Planner commands, one event each: edits, starts and completions (module docstring)."""

    def __init__(self, planner: Planner):
        self.p = planner
        self.tasks = planner.tasks()
        self.step = 0
        self.started: deque[str] = deque()

    def run(self, events: int, since: int) -> None:
        """Issue commands until at least ``events`` records follow seq ``since``."""
        while self.p.graph.seq - since < events:
            self.one()

    def one(self) -> None:
        k = self.step
        self.step += 1
        p = self.p
        if k % 4 == 1 and self.started:
            p.transition(self.started.popleft(), "completed")
            return
        if k % 4 == 3:
            ready = p.ready(limit=1)
            if ready:
                p.transition(ready[0], "in_progress")
                self.started.append(ready[0])
                return
        task = self.tasks[(k * STRIDE) % len(self.tasks)]
        p.edit_task(task, description=f"revision {k}", priority=PRIORITIES[k % len(PRIORITIES)])


def open_project(home: Path, tasks: int, durability: str) -> Planner:
    p = Planner.open(home, PROJECT, create=True, archive_every=0, archive_interval=0, durability=durability)
    import_plan(p, read_fixture(generate_complex_project(tasks, seed=SEED).to_dict(), "generated.json"))
    return p


class Twin:
    """The events-only peer: a log that receives each batch's records, committed without render."""

    def __init__(self, path: Path, durability: str):
        self.log = EventLog.open(path, create=True, durability=durability)
        self._cursor: Any = None  # a tail reader of the source log (O(new records) per mirror)

    def mirror(self, source: EventLog) -> None:
        """Append, as one batch, what ``source`` gained since the previous mirror."""
        if self._cursor is None:
            self._cursor = source.tail(1)
        records = [{"type": r.type, "data": r.data} for r in self._cursor.poll()]
        if records:
            self.log.append(records)

    def commit(self) -> tuple[float, Any]:
        started = time.perf_counter()
        with Archive(self.log) as archive:
            info = archive.commit(force=True)
        return time.perf_counter() - started, info

    def close(self) -> None:
        if self._cursor is not None:
            self._cursor.close()
        self.log.close()


def timed_archive(p: Planner) -> tuple[float, Any]:
    started = time.perf_counter()
    info = p.archive(force=True)
    return time.perf_counter() - started, info


def _expect(res: Results, where: str, info: Any, first: int, last: int) -> None:
    """A timed commit must have archived exactly seqs first..last."""
    if info is None:
        res.fail(where, [f"nothing was committed (seqs {first}..{last} waited)"])
    elif (info.first_seq, info.last_seq) != (first, last):
        res.fail(where, [f"committed seqs {info.first_seq}..{info.last_seq}, expected {first}..{last}"])


# -- part 1: commit latency ---------------------------------------------------------------------------
def measure_commits(root: Path, tasks: int, samples: dict[int, int], rep: int, res: Results) -> None:
    where = f"[rep {rep + 1}] commits @{tasks} tasks"
    p = open_project(root / "home", tasks, "always")
    twin = Twin(root / "twin", "always")
    try:
        churn = Churn(p)
        p.archive(force=True)
        churn.run(HISTORY_BATCH, p.graph.seq)
        p.archive(force=True)
        twin.mirror(p.log)
        twin.commit()
        counts = dict.fromkeys(BATCHES, 0)
        plan = []
        while any(counts[b] < samples.get(b, 0) for b in BATCHES):
            for b in BATCHES:
                if counts[b] < samples.get(b, 0):
                    plan.append(b)
                    counts[b] += 1
        for i, batch in enumerate(plan):
            since = p.graph.seq
            churn.run(batch, since)
            end = p.graph.seq
            twin.mirror(p.log)
            runs = [(PLANNER, lambda: timed_archive(p)), (EVENTS, twin.commit)]
            for kind, commit in runs if i % 2 == 0 else reversed(runs):
                seconds, info = commit()
                _expect(res, f"{where} {kind}", info, since + 1, end)
                res.series(kind, tasks, batch).add(seconds, 0 if info is None else info.events)
        res.fail(where, check_archive(p.log))
        res.fail(f"{where} {EVENTS}", check_archive(twin.log))
    finally:
        twin.close()
        p.close()
    s100, s1000 = res.series(PLANNER, tasks, 100), res.series(PLANNER, tasks, 1000)
    _progress(f"{where}: planner archive median {s100.median_ms:.1f} ms (100 events), "
              f"{s1000.median_ms:.1f} ms (1,000 events)")


def profile_commit(root: Path, tasks: int = HISTORY_TASKS, batch: int = 1000, top: int = PROFILE_TOP) -> str:
    """One ``Planner.archive()`` of a ``batch``-event batch on a ``tasks``-task project under
    cProfile (wall clock, after a warm-up commit): the ``top`` functions by own time."""
    p = open_project(root / "profile", tasks, "always")
    try:
        churn = Churn(p)
        p.archive(force=True)
        churn.run(batch, p.graph.seq)
        p.archive(force=True)
        churn.run(batch, p.graph.seq)
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        info = p.archive(force=True)
        profiler.disable()
        elapsed = time.perf_counter() - started
    finally:
        p.close()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(top)
    body = "\n".join(line for line in text.getvalue().splitlines() if line.strip())
    events = info.events if info is not None else 0
    return f"one Planner.archive() of {events} events on {tasks} tasks: {elapsed * 1e3:.1f} ms under cProfile\n{body}"


# -- parts 2 and 3: a long history ------------------------------------------------------------------------
def measure_history(root: Path, commits: int, res: Results) -> None:
    where = "history"
    p = open_project(root / "home", HISTORY_TASKS, "none")
    twin = Twin(root / "twin", "none")
    probes = sorted({max(1, commits * q // 4) for q in (1, 2, 3, 4)})
    started = time.monotonic()
    try:
        churn = Churn(p)
        p.archive(force=True)
        twin.mirror(p.log)
        twin.commit()
        for k in range(1, commits + 1):
            since = p.graph.seq
            churn.run(HISTORY_BATCH, since)
            end = p.graph.seq
            twin.mirror(p.log)
            runs = [(PLANNER, lambda: timed_archive(p)), (EVENTS, twin.commit)]
            for kind, commit in runs if k % 2 else reversed(runs):
                seconds, info = commit()
                _expect(res, f"{where} {kind} commit {k}", info, since + 1, end)
                res.history.setdefault(kind, []).append(seconds)
            if k in probes:
                res.growth.append(growth_row(k, p.log, twin.log))
            if k % 100 == 0:
                _progress(f"{where}: {k} commits, {time.monotonic() - started:.0f} s")
        res.fail(where, check_archive(p.log))
        res.fail(f"{where} {EVENTS}", check_archive(twin.log))
        if git_available():
            for kind, log in ((PLANNER, p.log), (EVENTS, twin.log)):
                res.packed[kind] = packed_bytes_per_event(Path(log.path) / REPO_NAME, root / f"packed-{len(res.packed)}",
                                                          log.last_seq)
    finally:
        twin.close()
        p.close()


def growth_row(commits: int, log: EventLog, twin: EventLog) -> dict[str, Any]:
    """Repository and log bytes per event for the planner's and the twin's archives now."""
    events = log.last_seq
    log_bytes = sum(len(line) for line in log_lines(log))
    row: dict[str, Any] = {"commits": commits, "events": events, "log_bytes_per_event": log_bytes / events}
    for kind, source in ((PLANNER, log), (EVENTS, twin)):
        du, apparent, files = disk_usage(Path(source.path) / REPO_NAME)
        src_bytes = sum(len(line) for line in log_lines(source))
        row[kind] = {"du_per_event": du / source.last_seq, "apparent_per_event": apparent / source.last_seq,
                     "files": files, "ratio_du_to_log": du / src_bytes, "ratio_apparent_to_log": apparent / src_bytes}
    return row


def packed_bytes_per_event(repo: Path, copy: Path, events: int) -> float:
    """du bytes per event of a copy of ``repo`` after ``git gc`` (NaN if gc fails)."""
    shutil.copytree(repo, copy)
    try:
        gc = subprocess.run(["git", "--git-dir", os.fspath(copy), "gc", "--quiet"], capture_output=True, timeout=600)
        return disk_usage(copy)[0] / events if gc.returncode == 0 else math.nan
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def around(seconds: list[float], k: int) -> tuple[float, int, int]:
    """Median (s) of the :data:`NEIGHBOURS` commits nearest to commit ``k`` (1-based), and their range."""
    n = len(seconds)
    first = min(max(1, k - NEIGHBOURS // 2), max(1, n - NEIGHBOURS + 1))
    last = min(n, first + NEIGHBOURS - 1)
    return median(seconds[first - 1 : last]), first, last


# -- part 4: appenders and a committer --------------------------------------------------------------------------
def _appender(path: str, proc: int, window: float, barrier: Any, results: Any) -> None:
    try:
        log = EventLog.open(path, durability="always")
        latencies: list[float] = []
        done: list[float] = []
        barrier.wait(STARTUP_TIMEOUT_S)
        start = time.monotonic()
        end = start + window
        n = 0
        while True:
            t = time.perf_counter()
            log.append([{"type": "bench.appended", "data": {"agent": f"agent-{proc:02d}", "task": f"T{n:06d}",
                                                             "n": n}}])
            latencies.append(time.perf_counter() - t)
            now = time.monotonic()
            done.append(now)
            n += 1
            if now >= end:
                break
        log.close()
        results.put(("appender", proc, start, done, latencies, None))
    except BaseException:  # noqa: BLE001 - reported to the parent
        results.put(("appender", proc, 0.0, [], [], traceback.format_exc()))


def _committer(path: str, window: float, commits: int, barrier: Any, results: Any) -> None:
    try:
        log = EventLog.open(path, durability="always")
        made: list[tuple[float, int]] = []
        barrier.wait(STARTUP_TIMEOUT_S)
        start = time.monotonic()
        for k in range(commits):
            delay = start + (k + 0.5) * window / commits - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            t = time.perf_counter()
            with Archive(log) as archive:
                info = archive.commit(force=True)
            made.append((time.perf_counter() - t, 0 if info is None else info.events))
        log.close()
        results.put(("committer", -1, start, made, [], None))
    except BaseException:  # noqa: BLE001 - reported to the parent
        results.put(("committer", -1, 0.0, [], [], traceback.format_exc()))


def commits_in(window: float, per_minute: int) -> int:
    return max(1, round(per_minute * window / 60))


def append_window(ctx: Any, root: Path, procs: int, per_minute: int, window: float, where: str,
                  res: Results) -> Window | None:
    """One window of ``procs`` appenders (and a committer at ``per_minute`` unless 0); checked after."""
    path = root / f"log-{procs}-{per_minute}"
    EventLog.open(path, create=True).close()
    parties = procs + (1 if per_minute else 0)
    barrier, results = ctx.Barrier(parties), ctx.Queue()
    children = [ctx.Process(target=_appender, args=(os.fspath(path), i, window, barrier, results))
                for i in range(procs)]
    if per_minute:
        children.append(ctx.Process(target=_committer, args=(os.fspath(path), window,
                                                             commits_in(window, per_minute), barrier, results)))
    for child in children:
        child.start()
    reports = []
    try:
        for _ in children:
            reports.append(results.get(timeout=STARTUP_TIMEOUT_S + window + 60))
    except queue.Empty:
        res.fail(where, [f"only {len(reports)} of {len(children)} processes reported"])
    finally:
        for child in children:
            child.join(30)
            if child.is_alive():
                child.kill()
                child.join()
    errors = [r[5] for r in reports if r[5]]
    if errors or len(reports) < len(children):
        res.fail(where, [e.strip().splitlines()[-1] for e in errors])
        shutil.rmtree(path, ignore_errors=True)
        return None
    appenders = [r for r in reports if r[0] == "appender"]
    first = min(r[2] for r in appenders)
    in_window = sum(1 for r in appenders for t in r[3] if t <= first + window)
    total = sum(len(r[3]) for r in appenders)
    latency = LatencySummary.of(x for r in appenders for x in r[4])
    commits = next((r[3] for r in reports if r[0] == "committer"), [])
    with EventLog.open(path) as log:
        if log.last_seq != total:
            res.fail(where, [f"the log holds {log.last_seq} records, the appenders acknowledged {total}"])
        if per_minute:
            with Archive(log) as archive:
                archive.commit(force=True)
            res.fail(where, check_archive(log))
            if not any(events for _, events in commits):
                res.fail(where, ["the committer committed nothing during the window"])
    shutil.rmtree(path, ignore_errors=True)
    return Window(in_window / window, latency, list(commits))


def measure_appends(ctx: Any, root: Path, combos: list[tuple[int, int]], window: float, rep: int,
                    res: Results) -> None:
    for procs in sorted({n for n, _ in combos}):
        for per_minute in [0] + [r for n, r in combos if n == procs]:
            where = f"[rep {rep + 1}] {procs} appenders, " + (f"committer {per_minute}/min" if per_minute
                                                              else "no committer")
            got = append_window(ctx, root, procs, per_minute, window, where, res)
            if got is None:
                continue
            key = (procs, per_minute)
            label = f"appends/s, committer {per_minute}/min" if per_minute else "appends/s, no committer"
            res.appends.setdefault(key, Figure(label, procs, "appends/s")).add(got.rate, got.latency)
            if per_minute:
                res.committed.setdefault(key, []).extend(got.commits)
                res.commits_per_window.setdefault(key, []).append(len(got.commits))
            _progress(f"{where}: {got.rate:,.0f} appends/s, p99 {got.latency.p99_ms:.2f} ms"
                      + (f", {len(got.commits)} commit(s)" if per_minute else ""))


def append_ratio(res: Results, procs: int, per_minute: int) -> tuple[float, float, float] | None:
    """with / without at ``procs``: median, min, max of the per-repetition ratios."""
    with_, without = res.appends.get((procs, per_minute)), res.appends.get((procs, 0))
    if with_ is None or without is None:
        return None
    ratios = [a / b for a, b in zip(with_.rates, without.rates, strict=False) if b > 0]
    return (median(ratios), min(ratios), max(ratios)) if ratios else None


def _mp_context() -> Any:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    return ctx


# -- the run ------------------------------------------------------------------------------------------------------
def run(options: RunOptions, out: TextIO) -> BenchResult:
    """Every part at the default (or ``--quick``) sizes; print the tables to ``out``."""
    q = options.quick
    return measure(QUICK_SIZES if q else SIZES, QUICK_SAMPLES if q else SAMPLES,
                   QUICK_HISTORY_COMMITS if q else HISTORY_COMMITS, QUICK_COMBOS if q else COMBOS,
                   options.repeat, options.duration, out)


def measure(sizes: list[int], samples: dict[int, int], history_commits: int, combos: list[tuple[int, int]],
            repeat: int, duration: float, out: TextIO, profile: bool = True) -> BenchResult:
    """Part 1 at ``sizes`` (``samples`` commits per batch size and repetition), parts 2-3 with
    ``history_commits`` commits (0: skipped), part 4 for each ``(appenders, commits/min)`` of
    ``combos`` in windows of ``duration`` s; parts 1 and 4 ``repeat`` times. With ``profile``,
    cProfile a 1,000-event commit if its target is missed."""
    res = Results()
    started = time.monotonic()
    ctx = _mp_context() if combos else None
    for rep in range(repeat):
        for tasks in sizes:
            with _tempdir("bench-git-commits-") as root:
                _guard(res, f"[rep {rep + 1}] commits @{tasks} tasks", measure_commits, root, tasks, samples, rep, res)
    if history_commits:
        with _tempdir("bench-git-history-") as root:
            _guard(res, "history", measure_history, root, history_commits, res)
    for rep in range(repeat):
        if combos:
            with _tempdir("bench-git-appends-") as root:
                _guard(res, f"[rep {rep + 1}] appends", measure_appends, ctx, root, combos, duration, rep, res)
    big = [s for (kind, _t, b), s in res.commits.items() if kind == PLANNER and b == 1000 and s.seconds]
    if profile and big and any(s.median_ms >= TARGET_COMMIT_MS for s in big):
        with _tempdir("bench-git-profile-") as root:
            try:
                res.profile = profile_commit(root, max(sizes))
            except Exception as exc:  # noqa: BLE001 - the profile is information, not a check
                res.profile = f"profiling failed: {type(exc).__name__}: {exc}"
    _progress(f"done in {time.monotonic() - started:.0f} s")
    print_report(res, repeat, duration, out)
    return BenchResult(figures_json(res), res.failures)


@contextlib.contextmanager
def _tempdir(prefix: str) -> Any:
    root = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _guard(res: Results, where: str, fn: Any, *args: Any) -> None:
    """Run one part; a crash is a correctness failure of that part, and the run goes on."""
    try:
        fn(*args)
    except Exception as exc:  # noqa: BLE001
        res.fail(where, [f"{type(exc).__name__}: {exc}"])


# -- the report --------------------------------------------------------------------------------------------------------
def history_figures(res: Results) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for kind, seconds in res.history.items():
        if not seconds:
            continue
        n = len(seconds)
        early, e1, e2 = around(seconds, EARLY)
        late, l1, l2 = around(seconds, n)
        ratio = late / early if early > 0 else math.nan
        first = _num(seconds[0] * 1e3)
        # one sample: information, not compared against a baseline
        out[f"{kind}: commit #1"] = {"median": first, "min": first, "max": first, "median_ms": first, "unit": "ms"}
        for k, value, lo, hi in ((EARLY, early, e1, e2), (n, late, l1, l2)):
            near = seconds[lo - 1 : hi]
            out[f"{kind}: commit #{k}"] = {"median": _num(value * 1e3), "min": _num(min(near) * 1e3),
                                           "max": _num(max(near) * 1e3), "median_ms": _num(value * 1e3),
                                           "commits": [lo, hi], "unit": "ms", "better": LOWER}
        entry: dict[str, Any] = {"median": _num(ratio), "unit": "x", "better": LOWER, "batch": HISTORY_BATCH,
                                 "commits": n}
        if kind == PLANNER:
            entry["target"], entry["met"] = f"<= {TARGET_HISTORY_RATIO:g}", ratio <= TARGET_HISTORY_RATIO
        out[f"{kind}: commit #{n} / #{EARLY}"] = entry
        out[f"{kind}: every commit"] = Series(seconds, [HISTORY_BATCH] * n).to_json()
        if kind == EVENTS:
            for name in (f"{kind}: commit #{EARLY}", f"{kind}: commit #{n}", f"{kind}: every commit",
                         f"{kind}: commit #{n} / #{EARLY}"):
                out[name]["peer"] = True
    return out


def figures_json(res: Results) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for (kind, tasks, batch), series in sorted(res.commits.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0])):
        target = met = None
        if kind == PLANNER and batch == 1000:
            target, met = f"< {TARGET_COMMIT_MS:g} ms", series.median_ms < TARGET_COMMIT_MS
        entry = series.to_json(target, met)
        twin = res.commits.get((EVENTS, tasks, batch))
        if kind == PLANNER and twin is not None and twin.seconds and series.seconds:
            entry["ratio_events_only"] = _num(series.median_ms / twin.median_ms)  # the same batches, same run
        if kind == EVENTS:
            entry["peer"] = True  # the reference the planner's commit is compared with
        out[f"commit {batch} events, {kind} @{tasks} tasks"] = entry
    out.update(history_figures(res))
    if res.growth:
        last = res.growth[-1]
        for row in res.growth:
            out[f"repository bytes/event after {row['commits']} commits"] = {
                "events": row["events"], "log_bytes_per_event": _num(row["log_bytes_per_event"]),
                **{kind: {k: _num(v) if isinstance(v, float) else v for k, v in row[kind].items()}
                   for kind in (PLANNER, EVENTS)}}
        ratio = last[PLANNER]["ratio_du_to_log"]
        out["repository du / log bytes"] = {"median": _num(ratio), "unit": "x", "better": LOWER,
                                            "target": f"< {TARGET_BYTES_RATIO:g}",
                                            "met": ratio < TARGET_BYTES_RATIO,
                                            "events only": _num(last[EVENTS]["ratio_du_to_log"])}
    for kind, per_event in res.packed.items():
        out[f"{kind}: du bytes/event after git gc"] = {"median": _num(per_event), "unit": "bytes/event",
                                                       "better": LOWER, **({"peer": True} if kind == EVENTS else {})}
    for (procs, per_minute), figure in sorted(res.appends.items()):
        entry = figure.to_json()
        if per_minute:
            commits = res.committed.get((procs, per_minute), [])
            entry["commits_per_window"] = median(res.commits_per_window[(procs, per_minute)])
            entry["commit_ms_median"] = _num(median(s for s, _ in commits) * 1e3) if commits else None
            entry["events_per_commit_median"] = median(e for _, e in commits) if commits else None
        out[figure.key] = entry
        r = append_ratio(res, procs, per_minute) if per_minute else None
        if r is not None:
            out[f"ratio with/without committer {per_minute}/min @{procs}"] = {
                "median": _num(r[0]), "min": _num(r[1]), "max": _num(r[2]), "unit": "x", "better": HIGHER,
                "target": f">= {TARGET_APPEND_RATIO:g}", "met": r[0] >= TARGET_APPEND_RATIO}
    if res.profile:
        out["profile of a 1,000-event commit"] = {"text": res.profile}
    return out


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def print_report(res: Results, repeat: int, duration: float, out: TextIO) -> None:
    print(f"\nstress.bench git (BENCH-004): {repeat} repetition(s), {os.cpu_count()} CPUs, temp dir "
          f"{tempfile.gettempdir()}, git binary {'found' if git_available() else 'absent (no fsck, no gc)'}", file=out)
    if res.commits:
        print("\npart 1: commit latency of a batch (Planner.archive(): events + state rendering; peer: the same "
              "records committed with Archive, no render); ms over every sample of every repetition", file=out)
        headers = ["tasks", "batch", "commit", "median ms", "p50 ms", "p99 ms", "max ms", "samples", "events",
                   "target", "met?"]
        rows = []
        for (kind, tasks, batch), s in sorted(res.commits.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0])):
            summary = LatencySummary.of(s.seconds)
            targeted = kind == PLANNER and batch == 1000 and s.seconds
            rows.append([str(tasks), f"{batch:,}", kind, fmt(s.median_ms, 1), fmt(summary.p50_ms, 1),
                         fmt(summary.p99_ms, 1), fmt(summary.max_ms, 1), str(summary.count),
                         f"{median(s.events):,.0f}" if s.events else "-",
                         f"< {TARGET_COMMIT_MS:g} ms" if targeted else "",
                         _verdict(s.median_ms < TARGET_COMMIT_MS) if targeted else ""])
        print(format_table(headers, rows), file=out)
    if res.history:
        print(f"\npart 2: commit #k of {HISTORY_BATCH}-event batches on a {HISTORY_TASKS:,}-task project; #k = "
              f"median of the {NEIGHBOURS} commits nearest to k", file=out)
        figures = history_figures(res)
        headers = ["commit", "#1 ms", f"#{EARLY} ms", "#N ms", "N", "#N / #10", "p99 ms (all)", "target", "met?"]
        rows = []
        for kind, seconds in res.history.items():
            n = len(seconds)
            ratio = figures[f"{kind}: commit #{n} / #{EARLY}"]["median"]
            every = LatencySummary.of(seconds)
            rows.append([kind, fmt(seconds[0] * 1e3, 1), fmt(around(seconds, EARLY)[0] * 1e3, 1),
                         fmt(around(seconds, n)[0] * 1e3, 1), f"{n:,}", f"{ratio:.2f}x" if ratio is not None else "-",
                         fmt(every.p99_ms, 1), f"<= {TARGET_HISTORY_RATIO:g}x" if kind == PLANNER else "",
                         _verdict(ratio <= TARGET_HISTORY_RATIO) if kind == PLANNER and ratio is not None else ""])
        print(format_table(headers, rows), file=out)
    if res.growth:
        print("\npart 3: repository bytes per archived event (du = st_blocks*512, loose objects, no gc) vs the "
              "log's segment bytes per event", file=out)
        headers = ["commits", "events", "log B/ev", "planner du B/ev", "apparent B/ev", "files", "du/log",
                   "events-only du B/ev", "du/log"]
        rows = []
        for row in res.growth:
            pl, eo = row[PLANNER], row[EVENTS]
            rows.append([f"{row['commits']:,}", f"{row['events']:,}", fmt(row["log_bytes_per_event"], 0),
                         fmt(pl["du_per_event"], 0), fmt(pl["apparent_per_event"], 0), f"{pl['files']:,}",
                         f"{pl['ratio_du_to_log']:.2f}x", fmt(eo["du_per_event"], 0), f"{eo['ratio_du_to_log']:.2f}x"])
        print(format_table(headers, rows), file=out)
        ratio = res.growth[-1][PLANNER]["ratio_du_to_log"]
        print(f"planner repository du / log bytes: {ratio:.2f}x (target < {TARGET_BYTES_RATIO:g}x: "
              f"{_verdict(ratio < TARGET_BYTES_RATIO)})", file=out)
        for kind, per_event in res.packed.items():
            print(f"{kind} after git gc (a copy): {fmt(per_event, 0)} du bytes/event", file=out)
    if res.appends:
        print(f"\npart 4: N appender processes (durable single-event appends) for {duration:g} s windows, without "
              "and with a committer process (Archive.commit at R/min); appends/s = median (min, max) over "
              "repetitions", file=out)
        headers = ["appenders", "committer", "appends/s", "min", "max", "p50 ms", "p99 ms", "max ms", "commits",
                   "commit ms", "events/commit", "with/without", "met?"]
        rows = []
        for (procs, per_minute), f in sorted(res.appends.items()):
            commits = res.committed.get((procs, per_minute), [])
            r = append_ratio(res, procs, per_minute) if per_minute else None
            rows.append([str(procs), f"{per_minute}/min" if per_minute else "none", fmt(f.rate, 0),
                         fmt(min(f.rates), 0), fmt(max(f.rates), 0), fmt(f.p50_ms, 2), fmt(f.p99_ms, 2),
                         fmt(f.max_ms, 1),
                         f"{median(res.commits_per_window[(procs, per_minute)]):g}" if per_minute else "",
                         fmt(median(s for s, _ in commits) * 1e3, 1) if commits else "",
                         f"{median(e for _, e in commits):,.0f}" if commits else "",
                         f"{r[0]:.2f}x ({r[1]:.2f}..{r[2]:.2f})" if r else "",
                         _verdict(r[0] >= TARGET_APPEND_RATIO) if r else ""])
        print(format_table(headers, rows), file=out)
        print(f"target: with/without >= {TARGET_APPEND_RATIO:g}", file=out)
    if res.profile:
        print(f"\nwhere the time goes (the 1,000-event target is missed): top {PROFILE_TOP} by own time\n{res.profile}",
              file=out)
    if res.failures:
        print(f"\nCORRECTNESS FAILURES ({len(res.failures)}):", file=out)
        for failure in res.failures:
            print(f"  {failure}", file=out)

