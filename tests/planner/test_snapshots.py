"""Projection snapshots: a reopen starts from the newest usable one, and equals a full replay."""

import pytest

from eventstore import CorruptSnapshotWarning
from planner import Planner
from planner.domain.events import parse_event
from projections.graph import TaskGraph


def full_replay(planner):
    graph = TaskGraph()
    for record in planner.log.read():
        graph.apply(record.seq, parse_event(record.type, record.data))
    return graph


def build(home, snapshot_every=0):
    p = Planner.open(home, "p", create=True, durability="none", snapshot_every=snapshot_every)
    p.add_task("a")
    p.add_task("b", depends_on=["T1"], priority="high")
    p.add_task("c", parent="T2")
    p.transition("T1", "in_progress")
    return p


def test_a_reopen_starts_from_the_snapshot_and_equals_a_full_replay(tmp_path):
    with build(tmp_path) as p:
        at = p.snapshot()
        p.transition("T1", "completed")
        p.checkpoint("T3", notes="half way")
    with Planner.open(tmp_path, "p") as again:
        assert again.loaded_from_snapshot == at
        assert again.graph.derived() == full_replay(again).derived() == again.graph.recompute()
        assert again.ready() == ["T3"] and again.task("T3")["checkpoint"]["notes"] == "half way"


@pytest.mark.parametrize("damage", ["bytes", "schema"])
def test_an_unusable_snapshot_means_a_full_replay_and_a_warning(tmp_path, damage):
    with build(tmp_path) as p:
        p.snapshot()
        path = sorted((tmp_path / "projects" / "p" / "snapshots").glob("*.snap"))[-1]
    if damage == "bytes":
        raw = bytearray(path.read_bytes())
        raw[-5] ^= 0xFF
        path.write_bytes(bytes(raw))
    else:  # a valid file in a schema this code no longer reads
        with Planner.open(tmp_path, "p") as p:
            snap = p.graph.to_snapshot()
            p.log.save_snapshot(p.graph.seq, __import__("orjson").dumps({**snap, "schema": 0}))
    with pytest.warns(CorruptSnapshotWarning), Planner.open(tmp_path, "p") as again:
        assert again.loaded_from_snapshot == 0
        assert again.graph.derived() == full_replay(again).derived()


def test_snapshots_are_taken_every_n_events_and_pruned(tmp_path):
    with build(tmp_path, snapshot_every=3) as p:
        for i in range(20):
            p.add_task(f"more {i}")
        kept = sorted((tmp_path / "projects" / "p" / "snapshots").glob("*.snap"))
        assert 1 <= len(kept) <= 3
    with Planner.open(tmp_path, "p") as again:
        assert again.loaded_from_snapshot >= again.graph.seq - 3
        assert again.graph.derived() == full_replay(again).derived()


def test_a_handle_opened_from_a_snapshot_writes_without_rereading_and_keeps_retries_exact(tmp_path):
    with Planner.open(tmp_path, "p", create=True, durability="none") as p:
        p.add_task("one", id="a", command_id="add-a")
        p.add_task("two", id="b")
        at = p.snapshot()
    with Planner.open(tmp_path, "p", create=True, durability="none") as again:  # create: no-op here
        assert again.loaded_from_snapshot == at
        assert again.log._reader.next_seq == at + 1  # its writer starts after the snapshot
        # a retry of a command from before the snapshot is still recognised (keys read on demand)
        assert again.add_task("one", id="a", command_id="add-a") == "a"
        again.add_task("three", id="c", depends_on=["a"])
        assert again.log.last_seq == at + 2 and again.tasks() == ["a", "b", "c"]
    with Planner.open(tmp_path, "p", durability="none") as third:
        assert third.task("c")["depends_on"] == ["a"] and third.graph.derived() == third.graph.recompute()


def test_only_the_process_that_claims_the_next_snapshot_writes_it(tmp_path):
    """Several processes crossing the mark together write one snapshot, not one each."""
    from eventstore.snapshots import SnapshotStore

    with build(tmp_path, snapshot_every=0):
        pass
    store = SnapshotStore(tmp_path / "projects" / "p" / "snapshots")
    assert store.claim(0)  # another process is writing the first snapshot right now
    with Planner.open(tmp_path, "p", durability="none", snapshot_every=3) as p:
        for i in range(5):
            p.add_task(f"more {i}")
        assert store.seqs() == []  # it left the snapshot to the claimer
        store.release(0)  # which gave up: the next due point is this handle's
        released_at = p.graph.seq
        for i in range(4):
            p.add_task(f"again {i}")
        assert len(store.seqs()) == 1 and store.seqs()[0] > released_at
