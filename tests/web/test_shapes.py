"""What the live stream and the graph compute, on an embedded service: the digest of a batch of
records, the effort tally against the analysis, the derived flags, the subtree graph's layout."""

from __future__ import annotations

import pytest

from planner.domain.errors import DomainError
from planner.service.service import Service
from planner.web import shapes
from planner.web.graph import subtree_graph


@pytest.fixture
def service(tmp_path):
    """A diamond under a container: a <- b, a <- c, (b, c) <- d; and a lone task z."""
    with Service.open(tmp_path, "p", create=True, archive_every=0, archive_interval=0) as s:
        s.add_task("the work", id="w")
        s.add_task("a", id="a", parent="w", effort=1)
        s.add_task("b", id="b", parent="w", depends_on=["a"], effort=5)
        s.add_task("c", id="c", parent="w", depends_on=["a"], effort=2)
        s.add_task("d", id="d", parent="w", depends_on=["b", "c"], effort=1)
        s.add_task("z", id="z", effort=3)
        s.set_mode("working")
        yield s


def records(service: Service, after: int) -> list:
    return list(service.planner.log.read(after + 1))


def finish(service: Service, task: str) -> None:
    service.set_state(task, "in_progress")
    service.set_state(task, "completed")


def test_the_graph_of_a_subtree_by_levels_with_its_heaviest_chain(service):
    graph = subtree_graph(service, "w")
    levels = {n["id"]: n["level"] for n in graph["nodes"]}
    assert levels == {"a": 0, "b": 1, "c": 1, "d": 2}  # the container has no dependency of its own: not drawn
    assert sorted(map(tuple, graph["edges"])) == [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]
    assert graph["critical_path"] == ["a", "b", "d"] and graph["critical_effort"] == 7.0
    assert {n["id"] for n in graph["nodes"] if n["critical"]} == {"a", "b", "d"}
    assert subtree_graph(service, "b")["nodes"][0]["outside"] == 1  # b waits on a, outside b's subtree
    with pytest.raises(DomainError, match="at most 3"):
        subtree_graph(service, None, limit=3)


def test_derived_flags_follow_a_completion_to_dependents_and_containers(service):
    seq = service.seq
    finish(service, "a")
    flipped = shapes.derived(service, records(service, seq))
    assert flipped["b"]["ready"] and flipped["c"]["ready"] and not flipped.get("d", {}).get("ready")
    for task in ("b", "c"):
        finish(service, task)
    seq = service.seq
    finish(service, "d")
    flipped = shapes.derived(service, records(service, seq))
    assert flipped["w"] == {"state": "pending", "done": True, "ready": False}  # the container is done now


def test_the_effort_tally_agrees_with_the_analysis(service):
    tally = shapes.EffortTally()
    assert tally.figures(service) == shapes.effort(service) == {"total": 12.0, "done": 0.0, "fraction": 0.0}
    seq = service.seq
    finish(service, "a")
    finish(service, "z")
    tally.fold(records(service, seq))
    assert tally.figures(service) == shapes.effort(service)
    seq = service.seq
    service.add_task("more", id="m", effort=4)  # the shape changed: the efforts are read again
    tally.fold(records(service, seq))
    assert tally.efforts is None and tally.figures(service) == shapes.effort(service)


def test_a_digest_sums_up_a_batch(service):
    seq = service.seq
    finish(service, "a")
    service.add_task("late", id="late", parent="w")
    service.edit_task("z", title="zed")
    digest = shapes.digest(records(service, seq))
    assert digest["states"] == {"a": "completed"} and [s for s, _ in digest["completed"]] == [seq + 2]
    assert digest["shape"] == ["w"] and digest["graph"] and digest["titles"] == {"z": "zed"}
    assert set(digest["touched"]) == {"a", "late", "z"} and digest["skipped"] == 0
    assert [e["seq"] for e in digest["events"]] == list(range(seq + 1, service.seq + 1))
    assert all("text" in e for e in digest["events"])
