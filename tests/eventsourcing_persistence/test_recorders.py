"""The ``eventsourcing`` library's own recorder test suites, on our module, once per backend.

Every test of ``eventsourcing.tests.persistence``'s AggregateRecorderTestCase,
ApplicationRecorderTestCase (with its optional subscription test), TrackingRecorderTestCase,
ProcessRecorderTestCase and NonInterleavingNotificationIDsBaseCase runs unchanged, its
concurrency tests with threads as written upstream; nothing is skipped. The
``test_performance`` and ``test_concurrent_throughput`` tests only print a rate (they
assert no time), and take well under a second each here, so they run too. The extra
``WithTextOriginatorID`` classes repeat upstream's text-id variants (its SQLite tests).
"""

from __future__ import annotations

from uuid import uuid4

import pytest

pytest.importorskip("eventsourcing")

from eventsourcing.tests import persistence as upstream  # noqa: E402

from eventstore.eventsourcing_persistence import (  # noqa: E402
    EventStoreAggregateRecorder,
    EventStoreApplicationRecorder,
    EventStoreProcessRecorder,
    EventStoreTrackingRecorder,
)

from .backends import WithFileStore, WithPostgres  # noqa: E402


class TextIds:
    def new_originator_id(self) -> str:
        return "test-" + str(uuid4())


class Aggregate(upstream.AggregateRecorderTestCase):
    def create_recorder(self):
        return EventStoreAggregateRecorder(self.new_datastore())


class Application(upstream.ApplicationRecorderTestCase):
    def create_recorder(self):
        return EventStoreApplicationRecorder(self.new_datastore())

    def test_insert_subscribe(self) -> None:
        self.optional_test_insert_subscribe()


class Tracking(upstream.TrackingRecorderTestCase):
    def create_recorder(self):
        return EventStoreTrackingRecorder(self.new_datastore())


class Process(upstream.ProcessRecorderTestCase):
    def create_recorder(self):
        return EventStoreProcessRecorder(self.new_datastore())


class NonInterleaving(upstream.NonInterleavingNotificationIDsBaseCase):
    insert_num = 10000  # as upstream's SQLite file test (two racing inserts of 10,000 events each)

    def create_recorder(self):
        return EventStoreApplicationRecorder(self.new_datastore())


# -- the file store ----------------------------------------------------------------------
class TestFileAggregateRecorder(WithFileStore, Aggregate):
    pass


class TestFileAggregateRecorderTextIds(TextIds, WithFileStore, Aggregate):
    pass


class TestFileApplicationRecorder(WithFileStore, Application):
    pass


class TestFileApplicationRecorderTextIds(TextIds, WithFileStore, Application):
    pass


class TestFileTrackingRecorder(WithFileStore, Tracking):
    pass


class TestFileProcessRecorder(WithFileStore, Process):
    pass


class TestFileProcessRecorderTextIds(TextIds, WithFileStore, Process):
    pass


class TestFileNonInterleaving(WithFileStore, NonInterleaving):
    pass


# -- PostgreSQL ------------------------------------------------------------------------------
class TestPostgresAggregateRecorder(WithPostgres, Aggregate):
    pass


class TestPostgresApplicationRecorder(WithPostgres, Application):
    pass


class TestPostgresApplicationRecorderTextIds(TextIds, WithPostgres, Application):
    pass


class TestPostgresTrackingRecorder(WithPostgres, Tracking):
    pass


class TestPostgresProcessRecorder(WithPostgres, Process):
    pass


class TestPostgresNonInterleaving(WithPostgres, NonInterleaving):
    insert_num = 1000  # (upstream's PostgreSQL test: 100)


del Aggregate, Application, Tracking, Process, NonInterleaving
