"""EventStoreFactory: the ``eventsourcing`` library's infrastructure factory for our stores.

Selected the library's way, ``PERSISTENCE_MODULE=eventstore.eventsourcing_persistence``,
and configured through the application's environment (each key may be prefixed with the
application's name, ``BANKACCOUNTS_EVENTSTORE_NAME``, as the library's own modules allow):

=======================  ================================================================
key                      meaning
=======================  ================================================================
EVENTSTORE_NAME          where the store is: a directory (``file:PATH`` too) or a
                         ``postgresql://`` URL, as :func:`eventstore.open_store` takes it
EVENTSTORE_PROJECT       the project holding the application's events (default: the
                         application's name, with characters a project name refuses as ``-``)
EVENTSTORE_DURABILITY    ``always`` (default: flushed before an insert returns), ``batch``
                         or ``none``; see :data:`eventstore.DURABILITY_MODES`
CREATE_TABLE             ``y`` (default): create the project when missing; ``n``: it must exist
=======================  ================================================================

The application recorder, the process recorder, the tracking recorder and
``aggregate_recorder("events")`` share the project's log; another purpose (the snapshots)
gets a project of its own, ``<project>.<purpose>``, since snapshots are derived data.
"""

from __future__ import annotations

import re
from typing import Any

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    InfrastructureFactory,
    ProcessRecorder,
)
from eventsourcing.utils import Environment, EnvType, resolve_topic, strtobool

from ..errors import InvalidArgumentError
from ..log import DURABILITY_MODES
from ..store import MAX_PROJECT_NAME, check_project_name
from .datastore import Datastore
from .recorders import (
    EventStoreAggregateRecorder,
    EventStoreApplicationRecorder,
    EventStoreProcessRecorder,
    EventStoreTrackingRecorder,
)

_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9_.-]")


def project_for(application_name: str) -> str:
    """The default project of an application: its name, with characters a project name does not
    allow as ``-`` and no leading ``.``; ``eventsourcing`` for an unnamed environment. O(len)."""
    name = _NOT_IN_NAME.sub("-", application_name).lstrip(".")[:MAX_PROJECT_NAME]
    return name or "eventsourcing"


class EventStoreFactory(InfrastructureFactory[EventStoreTrackingRecorder]):
    """Recorders on one project of an :func:`eventstore.open_store` store; see the module docstring."""

    EVENTSTORE_NAME = "EVENTSTORE_NAME"
    EVENTSTORE_PROJECT = "EVENTSTORE_PROJECT"
    EVENTSTORE_DURABILITY = "EVENTSTORE_DURABILITY"
    CREATE_TABLE = "CREATE_TABLE"

    aggregate_recorder_class = EventStoreAggregateRecorder
    application_recorder_class = EventStoreApplicationRecorder
    tracking_recorder_class = EventStoreTrackingRecorder
    process_recorder_class = EventStoreProcessRecorder

    def __init__(self, env: Environment | EnvType | None):
        super().__init__(env)
        name = self.env.get(self.EVENTSTORE_NAME)
        if not name:
            raise OSError("eventstore name not found in environment with keys: "
                          f"{', '.join(self.env.create_keys(self.EVENTSTORE_NAME))} (a directory or a "
                          "postgresql:// URL)")
        self.store_name = name
        self.project = self.env.get(self.EVENTSTORE_PROJECT) or project_for(self.env.name)
        self.durability = self.env.get(self.EVENTSTORE_DURABILITY) or "always"
        if self.durability not in DURABILITY_MODES:
            raise OSError(f"invalid {self.EVENTSTORE_DURABILITY} {self.durability!r}: "
                          f"use one of {', '.join(DURABILITY_MODES)}")
        _check_project(self.project)
        self._datastores: dict[str, Datastore] = {}

    def datastore(self, purpose: str = "events") -> Datastore:
        """The shared :class:`Datastore` of this factory's project (or of ``<project>.<purpose>``)."""
        project = self.project if purpose == "events" else f"{self.project}.{purpose}"
        found = self._datastores.get(project)
        if found is None:
            _check_project(project)
            found = Datastore(self.store_name, project, create=self.env_create_table(), durability=self.durability)
            self._datastores[project] = found
        return found

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        return self.aggregate_recorder_class(self.datastore(purpose))

    def application_recorder(self) -> ApplicationRecorder:
        cls = self._topic_class(self.APPLICATION_RECORDER_TOPIC, self.application_recorder_class)
        return cls(self.datastore())

    def tracking_recorder(self, tracking_recorder_class: type[EventStoreTrackingRecorder] | None = None
                          ) -> EventStoreTrackingRecorder:
        cls = tracking_recorder_class or self._topic_class(self.TRACKING_RECORDER_TOPIC, self.tracking_recorder_class)
        return cls(self.datastore())

    def process_recorder(self) -> ProcessRecorder:
        cls = self._topic_class(self.PROCESS_RECORDER_TOPIC, self.process_recorder_class)
        return cls(self.datastore())

    def _topic_class(self, key: str, default: type[Any]) -> type[Any]:
        """The recorder class named by ``key`` in the environment (a subclass of ``default``), or ``default``."""
        topic = self.env.get(key)
        if not topic:
            return default
        cls = resolve_topic(topic)
        if not (isinstance(cls, type) and issubclass(cls, default)):
            raise OSError(f"{key} {topic!r} is not a subclass of {default.__qualname__}")
        return cls

    def env_create_table(self) -> bool:
        return bool(strtobool(self.env.get(self.CREATE_TABLE, "yes") or "yes"))

    def close(self) -> None:
        """Close every project this factory opened (stops their followers)."""
        for datastore in self._datastores.values():
            datastore.close()
        self._datastores.clear()


def _check_project(project: str) -> None:
    try:
        check_project_name(project)
    except InvalidArgumentError as exc:
        raise OSError(f"eventstore project: {exc} (set EVENTSTORE_PROJECT)") from None
