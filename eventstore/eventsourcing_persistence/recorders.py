"""The library's four recorders on our storage protocol: thin views of a shared Datastore.

=========================  ===========================================================
recorder                   what it does here
=========================  ===========================================================
aggregate                  insert (IntegrityError on a recorded version), select_events
application                + notification ids (= seqs), select_notifications,
                           max_notification_id, subscribe / listen (the store's follow)
tracking                   insert_tracking (exactly once: positions only increase),
                           max_tracking_id, wait (the store's follow, not the
                           library's sleep-and-poll)
process                    application + tracking, written atomically in one batch
=========================  ===========================================================

Costs: see :mod:`.datastore` (an insert is one transaction under the store's append lock,
O(batch)) and :mod:`.index` (reads are O(log n + returned) from memory after a catch-up).
"""

from __future__ import annotations

from collections.abc import Sequence
from threading import Event
from time import monotonic
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    ListenNotifySubscription,
    Notification,
    ProcessRecorder,
    Recorder,
    StoredEvent,
    Subscription,
    Tracking,
    TrackingRecorder,
    WaitInterruptedError,
)

from .datastore import Datastore


class EventStoreRecorder(Recorder):
    """A recorder on one project's :class:`Datastore` (shared with the others of its factory)."""

    def __init__(self, datastore: Datastore):
        self.datastore = datastore


class EventStoreAggregateRecorder(EventStoreRecorder, AggregateRecorder):
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        self.datastore.write(stored_events)
        return None

    def select_events(self, originator_id: UUID | str, *, gt: int | None = None, lte: int | None = None,
                      desc: bool = False, limit: int | None = None) -> Sequence[StoredEvent]:
        with self.datastore.reading() as index:
            return index.select_events(originator_id, gt, lte, desc, limit)


class EventStoreApplicationRecorder(EventStoreAggregateRecorder, ApplicationRecorder):
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        first = self.datastore.write(stored_events)
        return [] if first is None else list(range(first, first + len(stored_events)))

    def select_notifications(self, start: int | None, limit: int, stop: int | None = None,
                             topics: Sequence[str] = (), *, inclusive_of_start: bool = True) -> Sequence[Notification]:
        with self.datastore.reading() as index:
            return index.select_notifications(start, limit, stop, topics, inclusive_of_start)

    def max_notification_id(self) -> int | None:
        with self.datastore.reading() as index:
            return index.max_notification_id()

    def subscribe(self, gt: int | None = None, topics: Sequence[str] = ()) -> Subscription[ApplicationRecorder]:
        return EventStoreSubscription(self, gt=gt, topics=topics)

    def listen(self, event: Event) -> None:
        """Set ``event`` whenever any process records events (and once now)."""
        self.datastore.listen(event)

    def unlisten(self, event: Event) -> None:
        self.datastore.unlisten(event)


class EventStoreSubscription(ListenNotifySubscription[EventStoreApplicationRecorder]):
    """The library's pull-on-notify subscription, notified by the store's follow."""

    def __init__(self, recorder: EventStoreApplicationRecorder, gt: int | None = None,
                 topics: Sequence[str] = ()) -> None:
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        self._recorder.listen(self._has_been_notified)

    def stop(self) -> None:
        super().stop()
        self._recorder.unlisten(self._has_been_notified)


class EventStoreTrackingRecorder(EventStoreRecorder, TrackingRecorder):
    def insert_tracking(self, tracking: Tracking) -> None:
        self.datastore.write((), tracking)

    def max_tracking_id(self, application_name: str) -> int | None:
        with self.datastore.reading() as index:
            return index.max_tracking_id(application_name)

    def wait(self, application_name: str, notification_id: int | None, timeout: float = 1.0,
             interrupt: Event | None = None) -> None:
        """Block until ``notification_id`` of ``application_name`` is tracked (see the library's
        TrackingRecorder.wait): TimeoutError after ``timeout`` seconds, WaitInterruptedError once
        ``interrupt`` is set. Sleeps on the store's follow between looks, never polls."""
        deadline = monotonic() + timeout
        while not self.has_tracking_id(application_name, notification_id):
            if interrupt is not None and interrupt.is_set():
                raise WaitInterruptedError
            left = deadline - monotonic()
            if left <= 0:
                raise TimeoutError(f"Timed out waiting for notification {notification_id} "
                                   f"from application '{application_name}' to be processed")
            self.datastore.wait_for_records(self.datastore.index.end, left, interrupt)


class EventStoreProcessRecorder(EventStoreTrackingRecorder, EventStoreApplicationRecorder, ProcessRecorder):
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        first = self.datastore.write(stored_events, kwargs.get("tracking"))
        return [] if first is None or not stored_events else list(range(first, first + len(stored_events)))
