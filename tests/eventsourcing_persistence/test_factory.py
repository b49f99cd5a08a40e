"""The ``eventsourcing`` library's InfrastructureFactoryTestCase on our module, once per backend,
and what our factory adds: its environment keys and the projects it opens."""

from __future__ import annotations

import pytest

pytest.importorskip("eventsourcing")

from eventsourcing.persistence import InfrastructureFactory, OperationalError, StoredEvent  # noqa: E402
from eventsourcing.tests import persistence as upstream  # noqa: E402
from eventsourcing.utils import Environment  # noqa: E402

from eventstore import list_projects  # noqa: E402
from eventstore.eventsourcing_persistence import (  # noqa: E402
    EventStoreAggregateRecorder,
    EventStoreApplicationRecorder,
    EventStoreFactory,
    EventStoreProcessRecorder,
    EventStoreTrackingRecorder,
)
from eventstore.eventsourcing_persistence.factory import project_for  # noqa: E402

from .backends import MODULE, WithFileStore, WithPostgres  # noqa: E402


class TrackingRecorderSubclass(EventStoreTrackingRecorder):
    pass


class Factory(upstream.InfrastructureFactoryTestCase[EventStoreFactory]):
    def expected_factory_class(self):
        return EventStoreFactory

    def expected_aggregate_recorder_class(self):
        return EventStoreAggregateRecorder

    def expected_application_recorder_class(self):
        return EventStoreApplicationRecorder

    def expected_tracking_recorder_class(self):
        return EventStoreTrackingRecorder

    def tracking_recorder_subclass(self):
        return TrackingRecorderSubclass

    def expected_process_recorder_class(self):
        return EventStoreProcessRecorder

    def setUp(self) -> None:  # (after the backend mixin has made self.store_name)
        self.env = Environment("TestCase")
        self.env.update(self.env_for_store())
        super().setUp()

    # -- ours ----------------------------------------------------------------------------
    def test_construct_raises_environment_error_when_store_name_missing(self) -> None:
        del self.env[EventStoreFactory.EVENTSTORE_NAME]
        with self.assertRaises(OSError) as cm:
            InfrastructureFactory.construct(self.env)
        self.assertIn("TESTCASE_EVENTSTORE_NAME, EVENTSTORE_NAME", cm.exception.args[0])

    def test_bad_durability_and_project(self) -> None:
        self.env[EventStoreFactory.EVENTSTORE_DURABILITY] = "sometimes"
        with self.assertRaises(OSError):
            EventStoreFactory(self.env)
        del self.env[EventStoreFactory.EVENTSTORE_DURABILITY]
        self.env[EventStoreFactory.EVENTSTORE_PROJECT] = ".hidden"
        with self.assertRaises(OSError):
            EventStoreFactory(self.env)

    def test_projects_opened(self) -> None:
        self.assertEqual(self.factory.project, "TestCase")
        self.factory.application_recorder()
        self.factory.aggregate_recorder("snapshots")
        self.assertTrue({"TestCase", "TestCase.snapshots"} <= set(list_projects(self.store_name)))
        # the same project's recorders share one Datastore (one handle, one index)
        self.assertIs(self.factory.process_recorder().datastore, self.factory.tracking_recorder().datastore)

    def test_missing_project_without_create_table(self) -> None:
        self.env[EventStoreFactory.CREATE_TABLE] = "n"
        self.env[EventStoreFactory.EVENTSTORE_PROJECT] = "never-created"
        factory = EventStoreFactory(self.env)
        self.addCleanup(factory.close)
        with self.assertRaises(OperationalError):
            factory.application_recorder()

    def test_prefixed_keys(self) -> None:
        self.env["TESTCASE_EVENTSTORE_PROJECT"] = "prefixed"
        factory = EventStoreFactory(self.env)
        self.addCleanup(factory.close)
        recorder = factory.application_recorder()
        recorder.insert_events([StoredEvent("x", 1, "t", b"{}")])
        self.assertIn("prefixed", list_projects(self.store_name))


class TestFileFactory(WithFileStore, Factory):
    pass


class TestPostgresFactory(WithPostgres, Factory):
    pass


del Factory


def test_project_for() -> None:
    assert project_for("BankAccounts") == "BankAccounts"
    assert project_for("my app/v2") == "my-app-v2"
    assert project_for("..x") == "x"
    assert project_for("") == "eventsourcing"
    assert len(project_for("a" * 300)) == 100


def test_module_is_found_by_the_library(tmp_path) -> None:
    factory = InfrastructureFactory.construct(Environment("A", {"PERSISTENCE_MODULE": MODULE,
                                                                "EVENTSTORE_NAME": str(tmp_path)}))
    assert type(factory) is EventStoreFactory
    factory.close()
