"""How the ``eventsourcing`` library's stored events and tracking positions sit in our records.

One :class:`~eventsourcing.persistence.StoredEvent` is one record, so its notification id is
the record's seq::

    type  the event's topic ("eventsourcing.tests.domain:BankAccount.Opened")
    data  {"o": originator id (a str)  | "u": the id's 32 hex digits when it is a UUID,
           "v": originator version,
           "s": the state as text when it is UTF-8 (what the JSON transcoder writes)
                | "b": its base64 when it is not (a cipher's or a compressor's bytes),
           ["t": the topic, only when it is empty: a record's type must not be],
           ["k": [application name, notification id]: the tracking position recorded
                 atomically with the batch, on its last record only]}

A tracking position recorded without events is a record of type :data:`TRACKING_TYPE`
with data ``{"k": [...]}``. Records without ``"v"`` are not stored events (no notification).
Encoding and decoding are O(size of the state); nothing here does I/O.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent, Tracking

from ..record import Record

#: the record type of a tracking position recorded without events
TRACKING_TYPE = "eventsourcing.tracking"
#: the record type of an event whose topic is empty (the topic then goes in "t")
EMPTY_TOPIC_TYPE = "eventsourcing.untitled"


def key_of(originator_id: UUID | str) -> str:
    """The index key of an originator id: a UUID's hex, a str as it is (as the SQLite module keys them)."""
    return originator_id.hex if isinstance(originator_id, UUID) else originator_id


def encode(stored_events: Sequence[StoredEvent], tracking: Tracking | None) -> list[dict[str, Any]]:
    """The records (``{"type", "data"}``) for one insert: one per stored event, and the tracking
    position on the last one (or alone, when there are no events). O(total state size)."""
    events: list[dict[str, Any]] = []
    last_oid: Any = None
    id_key = id_value = ""
    for s in stored_events:
        oid = s.originator_id
        if oid is not last_oid:  # (an insert is usually one aggregate's events: one id to convert)
            last_oid = oid
            id_key, id_value = ("u", oid.hex) if isinstance(oid, UUID) else ("o", oid)
        state = s.state
        try:
            data = {id_key: id_value, "v": s.originator_version, "s": state.decode()}  # JSON text stays readable
        except UnicodeDecodeError:
            data = {id_key: id_value, "v": s.originator_version, "b": base64.b64encode(state).decode()}
        topic = s.topic
        if not topic:
            data["t"] = topic
        events.append({"type": topic or EMPTY_TOPIC_TYPE, "data": data})
    if tracking is not None:
        position = [tracking.application_name, tracking.notification_id]
        if events:
            events[-1]["data"]["k"] = position
        else:
            events.append({"type": TRACKING_TYPE, "data": {"k": position}})
    return events


def decode(record: Record) -> tuple[StoredEvent | None, list | None]:
    """``(stored event or None, [application name, notification id] or None)`` of one record."""
    data = record.data
    tracking = data.get("k")
    if "v" not in data:
        return None, tracking
    text = data.get("s")
    state = text.encode() if text is not None else base64.b64decode(data["b"])
    oid = data.get("o")
    event = StoredEvent(
        originator_id=UUID(hex=data["u"]) if oid is None else oid,
        originator_version=data["v"],
        topic=data.get("t", record.type),
        state=state,
    )
    return event, tracking
