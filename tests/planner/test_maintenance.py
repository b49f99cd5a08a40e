"""The engine's maintenance steps, run by the embedded engine after writes or by a caller on its own clock."""

from __future__ import annotations

import pytest

from eventstore.archive import Archive
from planner.domain.errors import DomainError
from planner.engine.engine import Planner
from planner.engine.maintenance import Maintenance, commit_archive
from tests import pg_server


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_tick_reaps_expired_leases_on_its_own_clock(tmp_path):
    """A long-running process expires a silent agent's lease without any command arriving."""
    clock = Clock()
    with Planner.open(tmp_path, "p", create=True, durability="none", clock=clock, lease_ttl=60,
                      archive_every=0, archive_interval=0) as p:
        p.add_task("a", id="a")
        p.set_mode("working")
        p.register_agent("w")
        lease = p.claim("w")
        assert p.maintenance.tick(p) == []  # nothing has run out yet
        clock.now += 61
        expired = p.maintenance.tick(p)
        assert [(e.id, e.token) for e in expired] == [("a", lease.token)]
        assert p.task("a")["lease"] is None and p.task("a")["state"] == "pending"


def test_a_snapshot_is_written_when_due_and_only_then(tmp_path):
    with Planner.open(tmp_path, "p", create=True, durability="none", snapshot_every=5,
                      archive_every=0, archive_interval=0) as p:
        for i in range(3):
            p.add_task(f"t{i}")
        assert p.log.snapshot_seqs() == []  # 4 events: not due
        p.add_task("t3")
        assert p.log.snapshot_seqs() == [5]
        for i in range(4):
            p.add_task(f"u{i}")
        assert p.log.snapshot_seqs() == [5]
        p.add_task("u4")
        assert p.log.snapshot_seqs() == [5, 10]


def test_the_archive_step_starts_the_committer_it_is_given_once_per_claim(tmp_path):
    """When a commit is due, the archive step calls the committer it was given (a long-running
    process passes one that commits in a thread); the claim keeps a second from starting
    until the first releases it, and a refused claim is asked again only a second later."""
    started: list[int] = []

    def start(planner: Planner) -> None:
        started.append(planner.graph.seq)

    clock = Clock()
    steps = Maintenance(snapshot_every=0, archive_every=3, archive_interval=0, start_committer=start, clock=clock)
    with Planner.open(tmp_path, "p", create=True, durability="none", maintenance=steps) as p:
        p.add_task("a")
        assert started == []  # 2 events behind the archive
        p.add_task("b")
        assert started == [3]
        p.add_task("c")
        assert started == [3]  # the first committer still holds the claim
        marks = Maintenance.marks(p)
        marks.release_committer()  # (what the committer does when done)
        p.add_task("d")
        assert started == [3]  # a refused claim is not asked again for a second
        clock.now += 1.5
        p.add_task("e")
        assert started == [3, 6]


def test_a_store_without_files_is_archived_in_the_home_or_not_at_all(tmp_path):
    """A PostgreSQL project opened with a home keeps its archive in ``<home>/archives/<project>``
    and commits there on schedule; opened without a home, it has no archive step, and asking for
    a commit says why in one line."""
    store = pg_server.store_name()
    with Planner.open(tmp_path, "p", create=True, store=store, archive_every=3, archive_interval=0,
                      maintenance=Maintenance(archive_every=3, archive_interval=0,
                                              start_committer=commit_archive)) as p:
        assert p.archive_dir == tmp_path / "archives" / "p"
        p.add_task("a")
        p.add_task("b")  # the third event crosses the threshold
        with Archive(p.log, directory=p.archive_dir) as archive:
            assert archive.archived_seq() == 3
        assert Maintenance.marks(p).read()[0] == 3
    with Planner.open(None, "p", store=store) as p:
        assert p.archive_dir is None and Maintenance.marks(p) is None
        with pytest.raises(DomainError, match="opened without a home: there is no directory to keep its git archive"):
            p.archive()
