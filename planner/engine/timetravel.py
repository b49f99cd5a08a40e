"""The project as it was: rebuild the projections from the log up to a seq or a time.

A seq point starts from the newest snapshot at or before it and replays the rest:
O(snapshot + events after it). A time point replays from the start up to the first
event after that time (a record's ``ts`` follows its seq, so that event ends the
search): O(events up to it). A seq in the middle of one command's events means the
state after that command (:func:`command_end`): a command's events are written
together, so the state between two of them never existed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson

from planner.domain.errors import DomainError
from planner.domain.trusted import fold_event
from projections.bulk import gc_paused
from projections.graph import TaskGraph


def parse_point(point: str | int | None) -> tuple[int | None, datetime | None]:
    """``--at``: a seq (an int or digits) or an ISO 8601 time, as (to_seq, aware datetime)."""
    if point is None:
        return None, None
    if isinstance(point, int) or (isinstance(point, str) and point.isdigit()):
        seq = int(point)
        if seq < 1:
            raise DomainError(f"--at {point}: a seq starts at 1")
        return seq, None
    try:
        when = datetime.fromisoformat(point)
    except ValueError:
        raise DomainError(f"--at {point!r} is neither a seq nor an ISO 8601 time (e.g. 2026-11-28T15:00:00Z)") from None
    return None, when if when.tzinfo is not None else when.astimezone()


def _check_within(store: Any, to_seq: int | None) -> int | None:
    """``to_seq``, moved to the end of the command whose events include it (a command's events
    are written together: a state between two of them never existed); an error beyond the log."""
    if to_seq is None:
        return None
    end = store.last_seq
    if to_seq > end:
        raise DomainError(f"--at {to_seq} is beyond the end of the log (seq {end})")
    return command_end(store, to_seq)


def command_end(store: Any, seq: int) -> int:
    """The last seq of the command that wrote record ``seq``: the records after it with the same
    ``ts`` and command id (one command's events share both; O(its events))."""
    first = next(iter(store.read(seq, seq)))
    last = seq
    for record in store.read(seq + 1):
        if record.ts != first.ts or record.cmd != first.cmd:
            break
        last = record.seq
    return last


def state_at(store: Any, point: str | int) -> TaskGraph:
    """The projections as they were at ``point`` (see :func:`parse_point`). Raises DomainError
    for a seq beyond the log's end."""
    to_seq, until = parse_point(point)
    to_seq = _check_within(store, to_seq)
    graph = TaskGraph()
    with gc_paused():
        start = 1
        if to_seq is not None:
            snap = store.load_snapshot(max_seq=to_seq)
            if snap is not None:
                try:
                    graph = TaskGraph.from_snapshot(orjson.loads(snap.data))
                    start = graph.seq + 1
                except (ValueError, KeyError, TypeError):
                    graph = TaskGraph()  # a snapshot is never trusted over the log: replay it all
        _fold_until(graph, store.read(start, to_seq), until, fold_event)
    return graph


def time_at(store: Any, point: str | int, seq: int) -> float:
    """When ``point`` was, in seconds since the epoch (for the time left on the leases of a past
    view): a time point's own time; a seq point's record's ``ts`` (O(1) read)."""
    _, until = parse_point(point)
    if until is not None:
        return until.timestamp()
    record = next(iter(store.read(seq, seq)), None) if seq else None
    return datetime.fromisoformat(record.ts).timestamp() if record is not None else 0.0


def _fold_until(graph: TaskGraph, records: Any, until: datetime | None, decode: Any,
                progress: Callable[[int], None] | None = None) -> None:
    """Fold ``records`` into ``graph``, stopping at the first one stamped after ``until`` (a record's
    ``ts`` follows its seq, so the project as it was then is complete). ``progress(seq)`` every
    4,096 records."""
    for record in records:
        if until is not None and datetime.fromisoformat(record.ts) > until:
            break
        graph.apply(record.seq, decode(record.type, record.data))
        if progress is not None and not record.seq % 4096:
            progress(record.seq)


def replay(planner: Any, at: str | int | None = None, verify: bool = False,
           progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Rebuild everything from the log (up to ``at``), timed; with ``verify``, every event is
    validated again as it was when written (pydantic) and the result is compared with a
    recomputation from the stored facts, and, for the whole log, with the live state.
    ``progress(done, total)`` is called every 4,096 events."""
    decode = fold_event  # a plain replay trusts the records' checksums
    if verify:
        from planner.domain.events import parse_event as decode
    to_seq, until = parse_point(at)
    to_seq = _check_within(planner.log, to_seq)
    planner.refresh()
    live = planner.graph
    total = min(to_seq or live.seq, live.seq)
    with gc_paused():
        start = time.perf_counter()
        graph = TaskGraph()
        _fold_until(graph, planner.log.read(1, to_seq), until, decode,
                    None if progress is None else (lambda seq: progress(seq, total)))
        seconds = time.perf_counter() - start
        result: dict[str, Any] = {
            "seq": graph.seq, "tasks": len(graph.tasks), "ready": len(graph.ready), "seconds": round(seconds, 6),
            "events_per_second": round(graph.seq / seconds) if seconds else None,
        }
        if verify:
            derived = graph.derived()
            differences = [k for k, v in graph.recompute().items() if derived[k] != v]
            if to_seq is None and until is None:
                with planner.locked():
                    differences += ["engine state"] if live.derived() != derived else []
            result["verified"] = not differences
            result["differences"] = differences
    return result
