"""The service layer: every result has the schema's shape, time travel, and many threads on one handle."""

from __future__ import annotations

import sys
import threading
import typing
from collections import Counter

import orjson
import pytest
import typing_extensions
from pydantic import ConfigDict, TypeAdapter

from planner.domain.errors import DomainError, StaleLease, UnknownTask
from planner.service import schema
from planner.service.service import Service


def _strict_schema() -> None:
    """Forbid extra keys in every TypedDict of the schema, so a result with a field the schema
    does not document fails validation (and so does one missing a required field)."""
    for value in vars(schema).values():
        if isinstance(value, type) and typing_extensions.is_typeddict(value):
            value.__pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[attr-defined]


_strict_schema()


def check(kind: typing.Any, value: typing.Any) -> typing.Any:
    """``value`` has exactly the schema's shape and is JSON-ready (orjson, no default hook)."""
    TypeAdapter(kind).validate_python(value, strict=False)
    orjson.dumps(value)
    return value


@pytest.fixture
def s(tmp_path):
    with Service.open(tmp_path, "p", create=True, durability="none", archive_every=0, archive_interval=0) as service:
        yield service


def test_every_query_and_command_returns_the_documented_shape(s):
    check(schema.Added, s.add_task("Backend", id="be", effort=3))
    check(schema.Added, s.add_task("API", id="api", parent="be", capabilities=["python"], priority="high"))
    check(schema.Added, s.add_task("Docs", id="docs", depends_on=["api"]))
    check(schema.TaskView, s.add_dependency("docs", "be"))
    check(schema.TaskView, s.remove_dependency("docs", "be"))
    check(schema.TaskView, s.edit_task("docs", title="Write the docs", effort=2))
    check(schema.TaskView, s.move_task("docs", None))
    check(schema.Status, s.set_mode("working"))
    check(schema.AgentView, s.register_agent("a1", capabilities=["python"], capacity=2))
    check(schema.AgentView, s.heartbeat("a1"))
    lease = check(schema.Lease, s.claim("a1"))
    assert lease["task"] == "api" and lease["agent"] == "a1"  # the only task a1 can do that is ready
    check(schema.TaskView, s.set_state("api", "in_progress", token=lease["token"]))
    check(schema.Checkpoint, s.checkpoint("api", notes="half", data={"step": 1}, token=lease["token"]))
    check(schema.Lease, s.renew("api", lease["token"]))
    check(list[schema.ReadyTask], s.ready())
    outlook = check(schema.Outlook, s.outlook(["python"]))
    assert (outlook["mode"], outlook["held"], outlook["fits"]) == ("working", 1, False)  # api is held
    check(list[schema.AgentView], s.agents())
    check(schema.TaskView, s.show("api"))
    check(list[schema.TreeNode], s.tree())
    check(list[schema.EventView], s.history("api"))
    check(schema.Analysis, s.analyze())
    check(schema.Status, s.status())
    check(schema.TaskView, s.release("api", lease["token"], reason="lunch"))
    check(list[schema.Lease], s.assign())
    check(list[schema.Expiry], s.reap())
    check(schema.AgentView, s.deregister_agent("a1"))
    check(schema.Replay, s.replay(verify=True))
    check(list[schema.EventView], s.events(last=3))
    assert s.snapshot() == {"seq": s.status()["seq"]}


def test_the_schema_is_strict_enough_to_fail(s):
    s.add_task("x", id="x")
    task = s.show("x")
    with pytest.raises(ValueError):
        check(schema.TaskView, {**task, "surprise": 1})
    with pytest.raises(ValueError):
        check(schema.TaskView, {k: v for k, v in task.items() if k != "ready"})
    assert "properties" in schema.json_schema(schema.TaskView)


def test_queries_answer_what_the_commands_did(s):
    s.add_task("A", id="a", capabilities=["go"])
    s.add_task("B", id="b", capabilities=["python"], priority="critical")
    s.add_task("C", id="c", depends_on=["a"])
    s.add_task("C1", id="c1", parent="c")
    assert [t["id"] for t in s.ready()] == ["b", "a"]
    assert [t["id"] for t in s.ready(capabilities=["go"])] == ["a"]
    assert s.ready(capabilities=[]) == []
    assert [t["id"] for t in s.ready(limit=1, capabilities=["go", "python"])] == ["b"]
    top = s.tree(depth=1)
    assert [(n["id"], n["hidden_children"], n["children"]) for n in top] == [("a", 0, []), ("b", 0, []), ("c", 1, [])]
    assert [n["id"] for n in s.tree(root="c")[0]["children"]] == ["c1"]
    assert s.capabilities() == ["go", "python"]
    assert [e["type"] for e in s.history("c")] == ["task.added", "dependency.added"]
    with pytest.raises(UnknownTask):
        s.show("nope")
    with pytest.raises(UnknownTask):
        s.tree(root="nope")
    with pytest.raises(DomainError, match="cannot edit"):
        s.edit_task("a", state="completed")


def test_the_project_as_it_was_at_every_seq_and_time(s):
    """at(seq) gives what the live service said right after that seq: from a snapshot or not."""
    seen: dict[int, tuple] = {}

    def look() -> None:
        status = s.status()
        seen[status["seq"]] = (status, s.ready(), s.tree(), s.agents(), [s.show(t) for t in ("a", "b") if
                                                                        t in {n["id"] for n in s.tree()}])

    look()
    s.add_task("A", id="a")
    look()
    s.add_task("B", id="b", depends_on=["a"])
    look()
    s.snapshot()
    s.set_mode("working")
    look()
    s.register_agent("w")
    lease = s.claim("w")
    look()
    s.set_state("a", "in_progress", token=lease["token"])
    s.set_state("a", "completed", token=lease["token"])
    look()
    for seq, (status, ready, tree, agents, shown) in seen.items():
        past = s.at(seq)
        assert past.status() == status
        assert past.ready() == ready
        assert past.tree() == tree
        assert [{k: v for k, v in a.items() if k != "health"} for a in past.agents()] == \
            [{k: v for k, v in a.items() if k != "health"} for a in agents]
        assert [past.show(t["id"]) for t in shown] == shown
    end = s.status()["seq"]
    with pytest.raises(DomainError, match="beyond the end of the log"):
        s.at(end + 1)
    with pytest.raises(DomainError, match="neither a seq nor"):
        s.at("yesterday")
    last = s.events(last=1)[0]
    assert s.at(last["ts"]).status() == s.status()
    assert s.at("2000-01-01T00:00:00Z").status()["seq"] == 0


def test_many_threads_on_one_service_never_double_lease(tmp_path):
    """The concurrency model of a long-running process: 8 threads share one handle (one engine,
    one graph), claiming, working and completing, while 2 more read; every task is leased once
    and completed once, the readers never see a broken graph, and a replay verifies."""
    tasks, workers = 60, 8
    with Service.open(tmp_path, "p", create=True, durability="none", archive_every=0, archive_interval=0) as s:
        for i in range(tasks):
            s.add_task(f"t{i}", id=f"t{i}", depends_on=[f"t{i - 7}"] if i >= 7 else [])
        s.set_mode("working")
        errors: list[BaseException] = []
        done = threading.Event()
        start = threading.Barrier(workers + 2)
        switch = sys.getswitchinterval()
        sys.setswitchinterval(1e-5)  # switch threads as often as possible: races show up

        def work(n: int) -> None:
            try:
                start.wait()
                agent = f"w{n}"
                s.register_agent(agent)
                while True:
                    lease = s.claim(agent)
                    if lease is None:
                        if s.status()["progress"]["fraction"] == 1.0:
                            return
                        s.heartbeat(agent)
                        continue
                    s.set_state(lease["task"], "in_progress", token=lease["token"], by=agent)
                    s.checkpoint(lease["task"], notes=f"{agent} half way", token=lease["token"])
                    s.set_state(lease["task"], "completed", token=lease["token"], by=agent)
            except BaseException as exc:  # noqa: BLE001 - reported by the test thread
                errors.append(exc)

        def read() -> None:
            try:
                start.wait()
                while not done.is_set():
                    status = s.status()
                    assert sum(status["leaves_by_state"].values()) == tasks
                    for row in s.ready(limit=5):
                        assert s.show(row["id"])["state"] in ("pending", "assigned", "in_progress", "completed")
                    s.agents()
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
        readers = [threading.Thread(target=read) for _ in range(2)]
        try:
            for t in threads + readers:
                t.start()
            for t in threads:
                t.join(120)
        finally:
            done.set()
            for t in readers:
                t.join(30)
            sys.setswitchinterval(switch)
        assert not errors, errors
        assert s.status()["leaves_by_state"] == {"completed": tasks}
        events = [e for e in s.events() if e["type"] in ("task.assigned", "task.state_changed")]
        assigned = Counter(e["data"]["id"] for e in events if e["type"] == "task.assigned")
        completed = Counter(e["data"]["id"] for e in events if e["type"] == "task.state_changed"
                            and e["data"]["to_state"] == "completed")
        assert assigned == completed == Counter({f"t{i}": 1 for i in range(tasks)})
        tokens = [e["data"]["token"] for e in events if e["type"] == "task.assigned"]
        assert tokens == sorted(tokens) and len(set(tokens)) == len(tokens)  # fencing tokens only grow
        assert s.replay(verify=True)["verified"]


def test_a_stale_token_from_another_thread_is_refused(s):
    s.add_task("a", id="a")
    s.set_mode("working")
    s.register_agent("w1")
    s.register_agent("w2")
    first = s.claim("w1")
    s.release("a", first["token"])
    second = s.claim("w2")
    with pytest.raises(StaleLease):
        s.set_state("a", "completed", token=first["token"])
    assert s.show("a")["lease"]["token"] == second["token"]
