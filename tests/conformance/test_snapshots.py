"""Snapshots: save/load (newest at or before a seq), listing and pruning, one claimant among
concurrent processes (and a release letting another win), start() returning the newest snapshot
with a cursor right after it, and resume() making a fresh handle start after the snapshot."""

from __future__ import annotations

import warnings

import pytest

from eventstore import CorruptSnapshotWarning, InvalidArgumentError

from . import procs
from .records import ev, seqs


@pytest.fixture(autouse=True)
def no_snapshot_warnings():
    """Nothing here damages a snapshot: any CorruptSnapshotWarning is a failure."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", CorruptSnapshotWarning)
        yield


def filled(store, batches: int = 10):
    for i in range(batches):
        store.append([ev(i=i)])
    return store


def test_no_snapshot_at_first(store):
    assert store.load_snapshot() is None
    assert store.snapshot_seqs() == []
    snapshot, cursor = store.start()
    try:
        assert snapshot is None
        assert cursor.next_seq == 1
        assert list(cursor.poll()) == []
    finally:
        cursor.close()


def test_save_then_load_the_newest_at_or_before_a_seq(store, open_another):
    filled(store)
    store.save_snapshot(4, b"state@4")
    store.save_snapshot(9, b"state@9")
    store.save_snapshot(0, b"empty")
    assert store.snapshot_seqs() == [0, 4, 9]
    other = open_another()
    for max_seq, expected in [(None, 9), (100, 9), (9, 9), (8, 4), (4, 4), (3, 0), (0, 0)]:
        snap = other.load_snapshot(max_seq)
        assert (snap.seq, snap.data) == (expected, f"state@{expected}".encode() if expected else b"empty"), max_seq


def test_snapshot_bytes_round_trip_exactly(store):
    store.append([ev()])
    payload = bytes(range(256)) * 40 + b"\n\x00\r\n"
    store.save_snapshot(1, payload)
    assert store.load_snapshot().data == payload
    store.save_snapshot(1, b"replaced")
    assert store.load_snapshot().data == b"replaced"
    assert store.snapshot_seqs() == [1]


def test_a_snapshot_must_be_of_a_seq_the_log_holds(store):
    store.append([ev(), ev()])
    for bad in (3, -1):
        with pytest.raises(InvalidArgumentError):
            store.save_snapshot(bad, b"x")
    assert store.snapshot_seqs() == []
    assert store.load_snapshot() is None


def test_prune_keeps_the_newest(store):
    filled(store, 6)
    for seq in range(1, 7):
        store.save_snapshot(seq, f"s{seq}".encode())
    assert sorted(store.prune_snapshots(keep=2)) == [1, 2, 3, 4]
    assert store.snapshot_seqs() == [5, 6]
    assert store.load_snapshot().data == b"s6"
    assert store.load_snapshot(5).data == b"s5"
    assert store.load_snapshot(4) is None
    assert store.prune_snapshots(keep=2) == []
    assert sorted(store.prune_snapshots(keep=0)) == [5, 6]
    assert store.snapshot_seqs() == []
    assert store.load_snapshot() is None
    assert store.last_seq == 6  # snapshots are derived: the log is untouched
    assert seqs(store.read()) == [1, 2, 3, 4, 5, 6]


def test_start_returns_the_newest_snapshot_and_a_cursor_right_after_it(store, open_another):
    store.append([ev(i=1), ev(i=2)])
    store.append([ev(i=3)])
    store.save_snapshot(2, b"state@2")
    store.append([ev(i=4), ev(i=5)])
    store.save_snapshot(5, b"state@5")
    store.append([ev(i=6)])
    store.append([ev(i=7), ev(i=8)])
    snapshot, cursor = open_another().start()
    try:
        assert (snapshot.seq, snapshot.data) == (5, b"state@5")
        assert cursor.next_seq == 6
        assert [r.data["i"] for r in cursor.poll()] == [6, 7, 8]
        store.append([ev(i=9)])
        assert seqs(cursor.poll()) == [9]  # an ordinary cursor from then on
    finally:
        cursor.close()


def test_start_at_the_end_of_the_log(store):
    store.append([ev(i=1), ev(i=2)])
    store.save_snapshot(2, b"state@2")
    snapshot, cursor = store.start()
    try:
        assert snapshot.seq == 2
        assert list(cursor.poll()) == []
        assert cursor.next_seq == 3
    finally:
        cursor.close()


def test_resume_makes_the_first_transaction_start_after_the_snapshot(store, open_another):
    filled(store, 4)
    store.save_snapshot(3, b"state@3")
    fresh = open_another()
    snapshot, cursor = fresh.start()
    cursor.close()
    fresh.resume(snapshot)
    store.append([ev(i=4), ev(i=5)])
    with fresh.transaction() as tx:
        assert seqs(tx.records) == [4, 5, 6]
        assert tx.last_seq == 6
        appended = tx.append([ev(by="fresh")], expected_seq=6)
    assert (appended.first_seq, appended.last_seq) == (7, 7)
    assert fresh.last_seq == 7
    assert seqs(store.read()) == list(range(1, 8))
    assert store.verify().ok


def test_resume_from_the_loaded_snapshot_at_the_end(store, open_another):
    store.append([ev(i=1), ev(i=2)])
    store.save_snapshot(2, b"state@2")
    snapshot = store.load_snapshot()  # (resume is for a handle that has not read yet: load it elsewhere)
    fresh = open_another()
    fresh.resume(snapshot)
    with fresh.transaction() as tx:
        assert tx.records == []
        assert tx.last_seq == 2
        tx.append([ev(i=3)])
    assert seqs(store.read()) == [1, 2, 3]


def test_one_of_many_concurrent_claimants_wins_and_a_release_lets_another_win(store, ref, processes, open_another):
    filled(store, 3)
    claimants = 4
    barrier = processes.ctx.Barrier(claimants)
    for worker in range(claimants):
        processes.start(procs.claim, ref, worker, 0, barrier)
    won = processes.results(claimants)
    processes.join()
    assert sorted(won.values()) == [False] * (claimants - 1) + [True]
    other = open_another()
    assert other.claim_snapshot(0) is False  # still held by the winner
    other.release_snapshot(0)  # (on the winner's behalf: it could not write the snapshot)
    assert store.claim_snapshot(0) is True
    assert other.claim_snapshot(0) is False
    store.release_snapshot(0)
    assert other.claim_snapshot(0) is True


@pytest.mark.parametrize("batch, at", [(3, 2), (3, 0), (0, 0)], ids=["inside-a-batch", "zero", "zero-empty-log"])
def test_a_snapshot_the_store_accepts_is_one_start_and_resume_use(store, open_another, batch, at):
    if batch:
        store.append([ev(i=i) for i in range(1, batch + 1)])  # one batch: 1..3
    try:
        store.save_snapshot(at, f"state@{at}".encode())
    except InvalidArgumentError:
        return  # refusing it when saved keeps the contract too
    assert store.load_snapshot().seq == at
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CorruptSnapshotWarning)  # (fail on the assertion, not the warning)
        snapshot, cursor = store.start()
    try:
        assert snapshot is not None and (snapshot.seq, snapshot.data) == (at, f"state@{at}".encode())
        assert cursor.next_seq == at + 1
        assert seqs(cursor.poll()) == list(range(at + 1, batch + 1))
    finally:
        cursor.close()
    fresh = open_another()
    fresh.resume(snapshot)
    with fresh.transaction() as tx:
        assert seqs(tx.records) == list(range(at + 1, batch + 1))
