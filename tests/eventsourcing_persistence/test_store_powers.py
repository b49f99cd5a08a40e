"""What our module adds to the upstream suites: waiting on the store's follow for another
handle's inserts (as another process's arrive: they never notify this one directly), and an
eventsourcing application's log in our git archive. Once per backend where it applies."""

from __future__ import annotations

import threading
from uuid import uuid4

import pytest

pytest.importorskip("eventsourcing")

from eventsourcing.persistence import StoredEvent, Tracking  # noqa: E402

from eventstore import open_store  # noqa: E402
from eventstore.archive import Archive  # noqa: E402
from eventstore.eventsourcing_persistence import (  # noqa: E402
    EventStoreApplicationRecorder,
    EventStoreProcessRecorder,
)
from eventstore.eventsourcing_persistence.datastore import Datastore  # noqa: E402

from .. import pg_server  # noqa: E402

#: a safety net: a subscription that was never woken is stopped after this, and the test fails
WATCHDOG_S = 30.0


@pytest.fixture(params=["file", "postgresql"])
def two_handles(request, tmp_path):
    """Two Datastores on one project: what two processes would hold."""
    name = str(tmp_path / "store") if request.param == "file" else pg_server.store_name()
    handles = [Datastore(name, "shared"), Datastore(name, "shared")]
    yield handles
    for handle in handles:
        handle.close()


def test_a_subscription_wakes_for_another_handles_inserts(two_handles):
    mine, theirs = (EventStoreApplicationRecorder(h) for h in two_handles)
    oid = uuid4()
    with mine.subscribe(gt=None) as subscription:
        watchdog = threading.Timer(WATCHDOG_S, subscription.stop)
        watchdog.start()
        try:
            theirs.insert_events([StoredEvent(oid, 1, "Opened", b"{}")])
            got = [next(subscription)]
            # the subscription has read to the end: only the follow can tell it of this one
            theirs.insert_events([StoredEvent(oid, 2, "Credited", b"{}")])
            got.append(next(subscription))
        finally:
            watchdog.cancel()
    assert [(n.id, n.originator_id, n.originator_version) for n in got] == [(1, oid, 1), (2, oid, 2)]


def test_wait_returns_once_another_handle_tracks_the_position(two_handles):
    mine, theirs = (EventStoreProcessRecorder(h) for h in two_handles)
    outcome: list[BaseException | None] = []

    def waiter() -> None:
        try:
            mine.wait("upstream", 3, timeout=WATCHDOG_S)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - reported below
            outcome.append(exc)

    thread = threading.Thread(target=waiter)
    thread.start()
    theirs.insert_events([], tracking=Tracking("upstream", 3))
    thread.join(WATCHDOG_S + 5)
    assert outcome == [None]
    assert mine.max_tracking_id("upstream") == 3


def test_an_applications_log_goes_to_the_git_archive(tmp_path):
    datastore = Datastore(str(tmp_path), "bank", durability="none")
    recorder = EventStoreApplicationRecorder(datastore)
    oid = uuid4()
    recorder.insert_events([StoredEvent(oid, 1, "Opened", b'{"name":"Alice"}'), StoredEvent(oid, 2, "Credited", b"\xff")])
    datastore.close()
    with open_store(str(tmp_path), "bank") as store, Archive(store, fsync=False) as archive:
        commit = archive.commit()
        lines = list(archive.records_at())
        log_bytes = b"".join(p.read_bytes() for p in sorted((tmp_path / "bank" / "log").iterdir()))
    assert commit is not None and len(lines) == 2
    assert b"".join(lines) == log_bytes  # byte for byte what the log holds
