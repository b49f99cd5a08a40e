"""Where the upstream test cases' stores live: one mixin per backend, for ``unittest.TestCase``s.

``WithFileStore``: a fresh directory per test (removed after it). ``WithPostgres``: a fresh
schema per test on the session's throwaway PostgreSQL cluster (``tests/pg_server.py``:
started on first use, skipped with the reason when there is none, failed in CI).
Each mixin gives ``store_name`` (set in ``setUp``), ``env_for_store()`` (the environment
keys that select our module on it) and ``new_datastore()`` (a fresh project, closed after
the test). Tests use the default durability (``always``): what an application gets.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from typing import Any

from eventstore.eventsourcing_persistence.datastore import Datastore

from .. import pg_server

MODULE = "eventstore.eventsourcing_persistence"


class StoreMixin:
    store_name: str

    def make_store_name(self) -> str:  # pragma: no cover - each backend's own
        raise NotImplementedError

    def setUp(self) -> None:
        self.store_name = self.make_store_name()
        super().setUp()

    def env_for_store(self) -> dict[str, str]:
        return {"PERSISTENCE_MODULE": MODULE, "EVENTSTORE_NAME": self.store_name}

    def new_datastore(self, **options: Any) -> Datastore:
        """A Datastore on a project no other call of this test uses."""
        datastore = Datastore(self.store_name, f"p-{uuid.uuid4().hex[:12]}", **options)
        self.addCleanup(datastore.close)
        return datastore


class WithFileStore(StoreMixin):
    def make_store_name(self) -> str:
        directory = tempfile.mkdtemp(prefix="es-persistence-")
        self.addCleanup(shutil.rmtree, directory, True)
        return directory


class WithPostgres(StoreMixin):
    def make_store_name(self) -> str:
        return pg_server.store_name()  # (skips, or fails in CI, without a server)
