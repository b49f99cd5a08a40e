"""The optional eventsourcing peers (skipped when the library is not installed) and the benchmarks'
behaviour without them."""

import io

import pytest

from fixtures.generators import generate_complex_project
from stress import peers
from stress.bench import load_bench, log_bench


def test_installed_and_the_skip_note():
    assert peers.installed("json") and not peers.installed("no_such_library_here")
    assert "pip install -e '.[bench]'" in peers.skip_note("x", "y")


def test_the_log_schedule_rotates_the_peers_that_run():
    two = [s.label for s in log_bench.schedule(0, eventsourcing=False) if s.kind in ("eventlog", "sqlite",
                                                                                       "eventsourcing")]
    assert two == [log_bench.EVENTLOG, log_bench.SQLITE] * 2
    firsts = [log_bench.schedule(rep, eventsourcing=True)[1].label for rep in range(3)]
    assert firsts == [log_bench.EVENTLOG, log_bench.SQLITE, log_bench.ESLIB]


def test_the_load_benchmark_skips_a_missing_peer_and_says_so(monkeypatch):
    monkeypatch.setattr(load_bench, "installed", lambda library: False)
    out = io.StringIO()
    result = load_bench.measure([10], repeat=1, out=out, quick=True, cli_size=None, memory=False)
    assert result.failures == []
    assert "peer eventsourcing skipped: the 'eventsourcing' library is not installed" in out.getvalue()
    row = result.figures["cold load, full replay @10"]
    assert "ratio_sqlite" in row and "ratio_eventsourcing" not in row


def test_the_load_benchmark_measures_the_eventsourcing_peer():
    pytest.importorskip("eventsourcing")
    result = load_bench.measure([10], repeat=1, out=io.StringIO(), quick=True, cli_size=None, memory=False,
                                eventsourcing=True)
    assert result.failures == []
    for name in ("spec load_project @10", "cold load, snapshot @10", "cold load, full replay @10", "replay rate @10"):
        assert result.figures[name]["eventsourcing"] > 0 and result.figures[name]["ratio_eventsourcing"] > 0, name


def test_the_plan_peer_rebuilds_the_fixture_from_its_events_and_from_its_snapshot(tmp_path):
    pytest.importorskip("eventsourcing")
    from stress.peers import eventsourcing_plan as peer

    data = generate_complex_project(60, 5, 0.3, 0).to_dict()
    edges = sum(len(t["dependencies"]) for t in data["tasks"])
    db = tmp_path / "plan.db"
    assert peer.create(db, data) == 1 + len(data["tasks"]) + edges
    assert peer.snapshot(db) == 1 + len(data["tasks"]) + edges
    for from_snapshot in (False, True):
        plan = peer.load(db, snapshot=from_snapshot)
        assert set(plan.tasks) == {t["id"] for t in data["tasks"]}
        assert {tid: deps for tid, deps in plan.depends_on.items() if deps} == {
            t["id"]: t["dependencies"] for t in data["tasks"] if t["dependencies"]}
        parents = {t["id"]: t["parent_id"] for t in data["tasks"]}
        assert {(p, c) for p, kids in plan.children.items() for c in kids} == {
            (p, c) for c, p in parents.items() if p is not None}


def test_the_step_peer_retries_when_another_process_appended_first(tmp_path):
    pytest.importorskip("eventsourcing")
    from stress.peers import eventsourcing_step as peer

    db = tmp_path / "counter.db"
    peer.create(db)
    mine, theirs = peer.EventsourcingCounterStep(str(db), 0), peer.EventsourcingCounterStep(str(db), 1)
    try:
        mine.warm_up()
        theirs.warm_up()
        save = mine.app.save
        raced = []

        def save_after_the_other(*args, **kwargs):  # the other worker's step lands between my read and my save
            if not raced:
                raced.append(theirs.step())
            return save(*args, **kwargs)

        mine.app.save = save_after_the_other
        mine.step()
        mine.app.save = save
        mine.step()
    finally:
        mine.close()
        theirs.close()
    assert mine.conflicts == 1 and len(raced) == 1
    assert peer.check(db, 3) == []
    assert peer.check(db, 4) == ["3 increments stored but workers reported 4 steps"]
