"""Our event log as a persistence module of the ``eventsourcing`` library (``pip install '.[eventsourcing]'``).

    PERSISTENCE_MODULE=eventstore.eventsourcing_persistence
    EVENTSTORE_NAME=/var/lib/myapp          (or postgresql://...)

Any eventsourcing application then records its events in one project of our store (the
file store or PostgreSQL), and passes the library's own recorder test suites
(``tests/eventsourcing_persistence``). Imported only when used: nothing else of
:mod:`eventstore` imports it, so the library stays optional.

Modules, one job each::

    codec.py      stored events and tracking positions <-> our records
    index.py      LogIndex: the in-memory index the recorders answer from (pure)
    datastore.py  Datastore: one project's Store handle + its index; inserts under our lock; follow
    recorders.py  the aggregate, application, tracking and process recorders; the subscription
    factory.py    EventStoreFactory: the environment's settings, one Datastore per project

See ``docs/eventsourcing.md`` for the mapping, the guarantees and the costs.
"""

from .factory import EventStoreFactory
from .recorders import (
    EventStoreAggregateRecorder,
    EventStoreApplicationRecorder,
    EventStoreProcessRecorder,
    EventStoreRecorder,
    EventStoreSubscription,
    EventStoreTrackingRecorder,
)

#: the library finds the module's one InfrastructureFactory subclass; ``Factory`` names it too
Factory = EventStoreFactory

__all__ = [
    "EventStoreAggregateRecorder",
    "EventStoreApplicationRecorder",
    "EventStoreFactory",
    "EventStoreProcessRecorder",
    "EventStoreRecorder",
    "EventStoreSubscription",
    "EventStoreTrackingRecorder",
    "Factory",
]
