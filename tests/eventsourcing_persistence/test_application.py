"""The ``eventsourcing`` library's application tests (``eventsourcing.tests.application``) on our
module, once per backend, selected through ``os.environ`` as upstream's own SQLite and
PostgreSQL variants do: ApplicationTestCase (recording, caching, fast-forwarding under
100 contending threads) and ExampleApplicationTestCase (the BankAccounts example, with
snapshots). Nothing is skipped. The BankAccounts run through a process restart is in
``test_bank_restart.py``."""

from __future__ import annotations

import os
from unittest import mock

import pytest

pytest.importorskip("eventsourcing")

from eventsourcing.tests import application as upstream  # noqa: E402

from .backends import WithFileStore, WithPostgres  # noqa: E402


class OurModule:
    expected_factory_topic = "eventstore.eventsourcing_persistence.factory:EventStoreFactory"

    def setUp(self) -> None:
        super().setUp()  # (the backend mixin makes self.store_name first)
        patched = mock.patch.dict(os.environ, {**self.env_for_store(), "CREATE_TABLE": "y"})
        patched.start()
        self.addCleanup(patched.stop)


class TestFileApplication(WithFileStore, OurModule, upstream.ApplicationTestCase):
    pass


class TestFileExampleApplication(WithFileStore, OurModule, upstream.ExampleApplicationTestCase):
    pass


class TestPostgresApplication(WithPostgres, OurModule, upstream.ApplicationTestCase):
    pass


class TestPostgresExampleApplication(WithPostgres, OurModule, upstream.ExampleApplicationTestCase):
    pass
