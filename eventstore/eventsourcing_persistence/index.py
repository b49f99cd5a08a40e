"""LogIndex: what the recorders answer from, kept in memory and fed from one project's log.

Built by applying the log's records in seq order (:meth:`LogIndex.apply`) and extended by
each write of this process (:meth:`LogIndex.add`); pure (no I/O, no locking: the
:class:`~eventstore.eventsourcing_persistence.datastore.Datastore` holding it locks).

Holds, for a log of n records (e of them stored events, a aggregates):

- per originator id, its versions (ascending) and their events: ``select_events`` is
  O(log v + events returned), a uniqueness check O(log v) per event;
- every stored event by notification id (two parallel arrays, ascending):
  ``select_notifications`` is O(log e + records scanned);
- per application name, the highest notification id tracked: O(1).

Memory is O(e + total state size): the events are kept decoded, as the in-memory (POPO)
module keeps them, so that reads never touch the disk.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence

from eventsourcing.persistence import Notification, StoredEvent, Tracking

from ..record import Record
from .codec import decode, key_of


class LogIndex:
    """Stored events by originator and by notification id, and tracking positions."""

    def __init__(self) -> None:
        self.end = 0  # the last seq applied
        self._versions: dict[str, tuple[list[int], list[StoredEvent]]] = {}  # key -> (versions, events)
        self._ids: list[int] = []  # notification ids (seqs of stored events), ascending
        self._events: list[StoredEvent] = []  # parallel to _ids
        self._tracking: dict[str, int] = {}  # application name -> max notification id

    # -- feeding -----------------------------------------------------------------------
    def apply(self, records: Iterable[Record]) -> None:
        """Index records read from the log (in seq order, after :attr:`end`). O(records)."""
        for record in records:
            event, tracking = decode(record)
            if event is not None:
                self._add_event(record.seq, event)
            if tracking is not None:
                self._tracking[tracking[0]] = tracking[1]
            self.end = record.seq

    def add(self, first_seq: int, stored_events: Sequence[StoredEvent], tracking: Tracking | None) -> None:
        """Index what this process just wrote at ``first_seq``.. (already checked). O(events)."""
        if stored_events:
            self._ids.extend(range(first_seq, first_seq + len(stored_events)))
            self._events.extend(stored_events)
            for key, events in _by_originator(stored_events):
                self._add_versions(key, events)
        if tracking is not None:
            self._tracking[tracking.application_name] = tracking.notification_id
        self.end = first_seq + max(len(stored_events), 1) - 1

    def _add_event(self, seq: int, event: StoredEvent) -> None:
        self._add_versions(key_of(event.originator_id), (event,))
        self._ids.append(seq)
        self._events.append(event)

    def _add_versions(self, key: str, events: Sequence[StoredEvent]) -> None:
        """One originator's new events (in the insert's order)."""
        known = self._versions.get(key)
        if known is None:
            known = self._versions[key] = ([], [])
        versions, stored = known
        numbers = [e.originator_version for e in events]
        if (not versions or numbers[0] > versions[-1]) and all(a < b for a, b in zip(numbers, numbers[1:], strict=False)):
            versions.extend(numbers)  # the usual case: the next versions, in order
            stored.extend(events)
            return
        for version, event in zip(numbers, events, strict=True):
            i = bisect_left(versions, version)
            versions.insert(i, version)
            stored.insert(i, event)

    # -- checks (under the store's append lock) ------------------------------------------
    def conflict(self, stored_events: Sequence[StoredEvent], tracking: Tracking | None) -> str | None:
        """Why this insert must be refused (an IntegrityError), or None. O(events), or
        O(events * log v) when an insert's versions are not all above the recorded ones."""
        for key, events in _by_originator(stored_events):
            numbers = [e.originator_version for e in events]
            if len(set(numbers)) < len(numbers):
                return f"the insert holds a version of {events[0].originator_id} twice: {numbers}"
            known = self._versions.get(key)
            if known is None or min(numbers) > known[0][-1]:
                continue  # a new aggregate, or versions after the last recorded one: the usual case
            versions = known[0]
            for version in numbers:
                i = bisect_left(versions, version)
                if i < len(versions) and versions[i] == version:
                    return f"version {version} of {events[0].originator_id} is already recorded"
        if tracking is not None:
            done = self._tracking.get(tracking.application_name)
            if done is not None and done >= tracking.notification_id:
                return (f"tracking {tracking.application_name!r} {tracking.notification_id}: notification "
                        f"{done} of that application is recorded already (positions only increase)")
        return None

    # -- reads ----------------------------------------------------------------------------
    def select_events(self, originator_id, gt: int | None, lte: int | None, desc: bool,
                      limit: int | None) -> list[StoredEvent]:
        """The events of one originator, by version. O(log v + returned)."""
        known = self._versions.get(key_of(originator_id))
        if known is None:
            return []
        versions, events = known
        lo = 0 if gt is None else bisect_right(versions, gt)
        hi = len(versions) if lte is None else bisect_right(versions, lte)
        if lo >= hi:
            return []
        if desc:
            if limit is not None:
                lo = max(lo, hi - limit)
            picked = events[lo:hi]
            picked.reverse()
            return picked
        if limit is not None:
            hi = min(hi, lo + limit)
        return events[lo:hi]

    def select_notifications(self, start: int | None, limit: int, stop: int | None, topics: Sequence[str],
                             inclusive_of_start: bool) -> list[Notification]:
        """Stored events from notification id ``start`` (see ApplicationRecorder). O(log e + scanned)."""
        ids, events = self._ids, self._events
        i = 0 if start is None else bisect_left(ids, start) if inclusive_of_start else bisect_right(ids, start)
        wanted = set(topics) if topics else None
        out: list[Notification] = []
        n = len(ids)
        while i < n and len(out) < limit:
            seq = ids[i]
            if stop is not None and seq > stop:
                break
            e = events[i]
            i += 1
            if wanted is not None and e.topic not in wanted:
                continue
            out.append(Notification(originator_id=e.originator_id, originator_version=e.originator_version,
                                    topic=e.topic, state=e.state, id=seq))
        return out

    def max_notification_id(self) -> int | None:
        return self._ids[-1] if self._ids else None

    def max_tracking_id(self, application_name: str) -> int | None:
        return self._tracking.get(application_name)


def _by_originator(stored_events: Sequence[StoredEvent]) -> list[tuple[str, Sequence[StoredEvent]]]:
    """The insert's events grouped by originator key, in order. O(events); one group (the
    usual insert: one aggregate's new events) costs one key computation."""
    first = stored_events[0].originator_id if stored_events else None
    if all(e.originator_id is first or e.originator_id == first for e in stored_events):
        return [(key_of(first), stored_events)] if stored_events else []
    groups: dict[str, list[StoredEvent]] = {}
    for event in stored_events:
        groups.setdefault(key_of(event.originator_id), []).append(event)
    return list(groups.items())
