"""The Planner: commands decided on the latest state, refused cleanly, replayable."""

import re
import subprocess
import sys

import pytest

from planner import CycleError, DomainError, DuplicateTask, IllegalTransition, Planner, UnknownTask
from tests import pg_server


@pytest.fixture(params=["file", "postgresql"])
def store(request) -> dict:
    """Every engine test runs on the home's file store, and on a fresh PostgreSQL store."""
    return {"store": pg_server.store_name()} if request.param == "postgresql" else {}


@pytest.fixture
def planner(tmp_path, store):
    with Planner.open(tmp_path, "demo", create=True, durability="none", **store) as p:
        yield p


def written(planner):
    return planner.log.last_seq


def test_tasks_dependencies_and_the_ready_queue(planner):
    schema = planner.add_task("schema")
    api = planner.add_task("api", depends_on=[schema], priority="high")
    docs = planner.add_task("docs", priority="low")
    assert (schema, api, docs) == ("T1", "T2", "T3")
    assert planner.ready() == [schema, docs]
    planner.transition(schema, "in_progress")
    planner.transition(schema, "completed")
    assert planner.ready() == [api, docs]
    assert planner.task(api)["depends_on"] == [schema] and planner.task(schema)["dependents"] == [api]
    assert planner.stats()["leaves_by_state"] == {"completed": 1, "pending": 2}


@pytest.mark.parametrize("action, error, message", [
    (lambda p: p.add_task("x", id="T1"), DuplicateTask, "already exists"),
    (lambda p: p.add_task("x", parent="nope"), UnknownTask, "unknown parent 'nope'"),
    (lambda p: p.add_task("x", depends_on=["nope"]), UnknownTask, "unknown dependency"),
    (lambda p: p.add_dependency("T1", "T1"), CycleError, "same task or one contains the other"),
    (lambda p: p.add_dependency("T1", "T2"), CycleError, "T1 -> T2 (new), T2 -> T1"),
    (lambda p: p.transition("T1", "completed"), IllegalTransition, "can go to: assigned, blocked"),
    (lambda p: p.transition("T2", "in_progress"), DomainError, "waits on T1"),
    (lambda p: p.transition("E", "in_progress"), DomainError, "rolls up"),
    (lambda p: p.add_task("x", depends_on=["E"], parent="E"), CycleError, "contains"),
    (lambda p: p.remove_dependency("T1", "T2"), DomainError, "does not depend"),
    (lambda p: p.move_task("E", "E1"), DomainError, "itself or inside it"),
])
def test_refused_commands_say_why_and_write_nothing(planner, action, error, message):
    planner.add_task("one")
    planner.add_task("two", depends_on=["T1"])
    planner.add_task("epic", id="E")
    planner.add_task("part", id="E1", parent="E")
    before = written(planner)
    with pytest.raises(error, match=re.escape(message)):
        action(planner)
    assert written(planner) == before


def test_a_task_being_worked_on_cannot_become_a_container(planner):
    planner.add_task("work")
    planner.transition("T1", "in_progress")
    with pytest.raises(DomainError, match="being worked on"):
        planner.add_task("sub", parent="T1")


def test_the_depth_limit(planner):
    parent = None
    for level in range(8):
        parent = planner.add_task(f"level {level}", parent=parent)
    with pytest.raises(DomainError, match="limit of 8"):
        planner.add_task("too deep", parent=parent)


def test_a_retried_command_is_applied_once(planner):
    first = planner.add_task("once", command_id="cmd-1")
    again = planner.add_task("once", command_id="cmd-1")  # e.g. after a timeout
    assert first == again == "T1" and planner.tasks() == ["T1"]  # the retry learns the id it was given
    planner.transition("T1", "in_progress", command_id="cmd-2")
    planner.transition("T1", "in_progress", command_id="cmd-2")
    assert planner.task("T1")["state"] == "in_progress"


def test_a_reopened_project_replays_to_the_same_state(tmp_path, store):
    with Planner.open(tmp_path, "p", create=True, durability="none", **store) as p:
        p.add_task("a")
        p.add_task("b", depends_on=["T1"])
        p.add_task("c", parent="T2")
        p.transition("T1", "in_progress")
        p.transition("T1", "completed")
        p.move_task("T3", None)
        p.checkpoint("T3", notes="half way", data={"step": 2})
        incremental = p.graph.derived()
    with Planner.open(tmp_path, "p", **store) as again:
        assert again.graph.derived() == incremental == again.graph.recompute()
        assert again.task("T3")["checkpoint"]["notes"] == "half way"


ADDER = r"""
import sys
from planner import Planner
with Planner.open(sys.argv[1], "shared", store=sys.argv[4] or None) as p:
    for i in range(int(sys.argv[2])):
        print(p.add_task(f"task {sys.argv[3]}.{i}"), flush=True)
"""


def test_concurrent_processes_get_unique_ids_and_lose_no_task(tmp_path, store):
    Planner.open(tmp_path, "shared", create=True, **store).close()
    procs = [subprocess.Popen([sys.executable, "-c", ADDER, str(tmp_path), "15", str(w), store.get("store", "")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for w in range(6)]
    ids = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        ids += out.split()
    assert len(ids) == len(set(ids)) == 90  # every process got its own ids, decided under the lock
    with Planner.open(tmp_path, "shared", **store) as p:
        assert sorted(p.tasks()) == sorted(ids)
        assert {p.task(t)["title"] for t in ids} == {f"task {w}.{i}" for w in range(6) for i in range(15)}


def test_a_new_task_may_not_wait_on_something_that_waits_on_its_container(planner):
    """Found by the planner state machine: T3 waits on all of T2; a task added under T2
    that waits on T3 would wait on itself."""
    planner.add_task("one")
    planner.add_task("container")
    planner.add_task("three", depends_on=["T2"])
    before = written(planner)
    with pytest.raises(CycleError, match=re.escape("T4 -> T3 (new), T3 -> T2")):
        planner.add_task("inside", parent="T2", depends_on=["T3"])
    assert written(planner) == before
