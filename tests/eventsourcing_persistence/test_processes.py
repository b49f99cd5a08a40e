"""Optimistic concurrency across real processes: several Python processes insert through our
recorder into one file-store project at once, contending for the same aggregate versions.
Checked: every notification id is contiguous from 1, no (originator id, version) is recorded
twice, each contended version has exactly one winner (the others got IntegrityError), and
what each process was told matches the log. (The upstream suites' concurrency tests use
threads in one process; this one crosses processes, where only our append lock serialises.)"""

from __future__ import annotations

import multiprocessing
import uuid

import pytest

pytest.importorskip("eventsourcing")

from eventstore.eventsourcing_persistence.datastore import Datastore  # noqa: E402
from eventstore.eventsourcing_persistence.recorders import EventStoreApplicationRecorder  # noqa: E402

from .workers import insert_contending  # noqa: E402

PROCESSES = 4
VERSIONS = 40
TIMEOUT_S = 120.0


def test_processes_contend_through_our_lock(tmp_path) -> None:
    store_name, project, shared = str(tmp_path / "store"), "contended", uuid.uuid4()
    Datastore(store_name, project).close()  # created once, before the children open it
    ctx = multiprocessing.get_context("spawn")
    queue, barrier = ctx.Queue(), ctx.Barrier(PROCESSES)
    procs = [ctx.Process(target=insert_contending, args=(queue, w, store_name, project, str(shared), VERSIONS, barrier),
                         daemon=True) for w in range(PROCESSES)]
    for proc in procs:
        proc.start()
    try:
        reports = {}
        for _ in procs:
            status, worker, value = queue.get(timeout=TIMEOUT_S)
            assert status == "ok", f"worker {worker} failed:\n{value}"
            reports[worker] = value
        for proc in procs:
            proc.join(TIMEOUT_S)
            assert proc.exitcode == 0
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()

    datastore = Datastore(store_name, project)
    try:
        recorder = EventStoreApplicationRecorder(datastore)
        notifications = recorder.select_notifications(start=None, limit=10**6)
    finally:
        datastore.close()
    total = VERSIONS + PROCESSES * VERSIONS * 3
    assert [n.id for n in notifications] == list(range(1, total + 1))  # contiguous from 1
    pairs = [(str(n.originator_id), n.originator_version) for n in notifications]
    assert len(set(pairs)) == len(pairs)  # no (originator id, version) twice
    won = sorted(v for r in reports.values() for nid, oid, v in r["written"] if oid == str(shared))
    assert won == list(range(VERSIONS))  # each contended version: exactly one winner
    assert sum(r["conflicts"] for r in reports.values()) == (PROCESSES - 1) * VERSIONS
    told = {nid: (oid, v) for r in reports.values() for nid, oid, v in r["written"]}
    assert told == {n.id: (str(n.originator_id), n.originator_version) for n in notifications}
