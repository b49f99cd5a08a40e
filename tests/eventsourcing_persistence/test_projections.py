"""The ``eventsourcing`` library's projection test cases (``eventsourcing.tests.projection``) on
our module, once per backend. They need subscriptions (the library's SQLite module cannot run
them): EventSourcedProjectionTestCase as it is; EventCountersViewTestCase and
AggregateEventCountersProjectionTestCase with the materialised view they ask each module
for, written here on our tracking recorder (each counter an aggregate whose version is the
count, incremented atomically with its tracking position). Not run:
TaggedDecisionCountersProjectionTestCase, which needs the library's DCB recorders
(``eventsourcing.dcb``), a different persistence API that this module does not provide."""

from __future__ import annotations

import pytest

pytest.importorskip("eventsourcing")
pytest.importorskip("msgspec", reason="eventsourcing.tests.projection imports msgspec: pip install -e '.[dev]'")

from eventsourcing.persistence import StoredEvent, Tracking  # noqa: E402
from eventsourcing.tests import projection as upstream  # noqa: E402

from eventstore.eventsourcing_persistence import EventStoreTrackingRecorder  # noqa: E402

from .backends import WithFileStore, WithPostgres  # noqa: E402


class EventStoreCountersView(EventStoreTrackingRecorder, upstream.EventCountersView):
    """Two counters, each an aggregate of our log whose version is its count."""

    CREATED, SUBSEQUENT = "counter-created", "counter-subsequent"

    def _count(self, name: str) -> int:
        with self.datastore.reading() as index:
            last = index.select_events(name, None, None, True, 1)
        return last[0].originator_version if last else 0

    def _increment(self, name: str, tracking: Tracking) -> None:
        # (a concurrent increment of the same count, or a tracked position again: IntegrityError)
        self.datastore.write([StoredEvent(name, self._count(name) + 1, "Incremented", b"{}")], tracking)

    def get_created_event_counter(self) -> int:
        return self._count(self.CREATED)

    def get_subsequent_event_counter(self) -> int:
        return self._count(self.SUBSEQUENT)

    def incr_created_event_counter(self, tracking: Tracking) -> None:
        self._increment(self.CREATED, tracking)

    def incr_subsequent_event_counter(self, tracking: Tracking) -> None:
        self._increment(self.SUBSEQUENT, tracking)


class OurEnv:
    def setUp(self) -> None:
        super().setUp()  # (the backend mixin makes self.store_name first)
        self.env = self.env_for_store()


class TestFileEventCountersView(WithFileStore, upstream.EventCountersViewTestCase):
    def construct_event_counters_view(self):
        return EventStoreCountersView(self.new_datastore())


class TestPostgresEventCountersView(WithPostgres, upstream.EventCountersViewTestCase):
    def construct_event_counters_view(self):
        return EventStoreCountersView(self.new_datastore())


class TestFileAggregateEventCountersProjection(WithFileStore, OurEnv, upstream.AggregateEventCountersProjectionTestCase):
    view_class = EventStoreCountersView


class TestPostgresAggregateEventCountersProjection(WithPostgres, OurEnv,
                                                   upstream.AggregateEventCountersProjectionTestCase):
    view_class = EventStoreCountersView


class TestFileEventSourcedProjection(WithFileStore, OurEnv, upstream.EventSourcedProjectionTestCase):
    pass


class TestPostgresEventSourcedProjection(WithPostgres, OurEnv, upstream.EventSourcedProjectionTestCase):
    pass
