"""Transactions: what ``tx.records`` hands over, buffered appends written as one batch on exit (or
not at all when the block raises), keys and conflicts inside a transaction, and read-modify-append
from real concurrent processes losing no update."""

from __future__ import annotations

import pytest

from eventstore import ConcurrencyConflict, InvalidArgumentError

from . import procs
from .records import ev, result, seqs


def test_the_first_transaction_hands_over_the_whole_log_then_only_what_others_appended(store, open_another):
    other = open_another()
    store.append([ev(i=1), ev(i=2)])
    with other.transaction() as tx:
        assert seqs(tx.records) == [1, 2]
        assert [r.data["i"] for r in tx.records] == [1, 2]
        assert tx.last_seq == 2
        tx.append([ev(by="other")])
    store.append([ev(i=4)])
    store.append([ev(i=5), ev(i=6)])
    other.append([ev(by="other, outside a transaction")])  # its own: never handed back
    with other.transaction() as tx:
        assert seqs(tx.records) == [4, 5, 6]
        assert tx.last_seq == 7
    with other.transaction() as tx:
        assert tx.records == []
    with store.transaction() as tx:  # the store's own first transaction: everything so far
        assert seqs(tx.records) == [1, 2, 3, 4, 5, 6, 7]


def test_since_hands_over_every_record_after_a_seq(store):
    store.append([ev(i=i) for i in range(5)])
    with store.transaction(since=3) as tx:
        assert seqs(tx.records) == [4, 5]
    with store.transaction(since=0) as tx:
        assert seqs(tx.records) == [1, 2, 3, 4, 5]
    with store.transaction(since=5) as tx:
        assert tx.records == []
    with pytest.raises(InvalidArgumentError), store.transaction(since=-1):
        pass


def test_appends_are_buffered_and_seen_by_others_only_whole_after_the_block(store, open_another):
    reader = open_another()
    store.append([ev(i=0)])
    with store.transaction() as tx:
        assert result(tx.append([ev(i=1)])) == (2, 2, False)
        assert result(tx.append([ev(i=2), ev(i=3)], expected_seq=2)) == (3, 4, False)
        assert tx.last_seq == 4
        assert reader.last_seq == 1  # nothing of the transaction is visible yet
        assert seqs(reader.read()) == [1]
        cursor = reader.tail(1)
        assert seqs(cursor.poll()) == [1]
    assert seqs(cursor.poll()) == [2, 3, 4]  # all of it at once
    cursor.close()
    assert reader.last_seq == 4
    assert [r.data["i"] for r in reader.read()] == [0, 1, 2, 3]


def test_a_transaction_that_raises_writes_nothing_and_releases_the_lock(store, open_another):
    store.append([ev(i=0)], idempotency_key="before")
    with pytest.raises(RuntimeError, match="decided against it"), store.transaction() as tx:
        tx.append([ev(i=1)], idempotency_key="inside")
        tx.append([ev(i=2), ev(i=3)])
        raise RuntimeError("decided against it")
    assert store.last_seq == 1
    assert seqs(store.read()) == [1]
    other = open_another()
    assert result(other.append([ev(i=1)], expected_seq=1, idempotency_key="inside")) == (2, 2, False)
    with store.transaction() as tx:
        assert result(tx.seen("inside")) == (2, 2, True)  # the key was never written by the failed block
        assert tx.seen("before") is not None


def test_a_transaction_that_appends_nothing_writes_nothing(store, open_another):
    store.append([ev()])
    with store.transaction() as tx:
        assert tx.last_seq == 1
    assert open_another().last_seq == 1


def test_conflicts_and_keys_inside_a_transaction(store):
    store.append([ev(i=0)], idempotency_key="k")
    with store.transaction() as tx:
        with pytest.raises(ConcurrencyConflict) as caught:
            tx.append([ev(i=1)], expected_seq=0)
        assert caught.value.actual_seq == 1
        assert tx.last_seq == 1  # the refused append left nothing in the buffer
        assert result(tx.append([ev(i=1)], idempotency_key="k")) == (1, 1, True)
        assert tx.seen("k2") is None
        fresh = tx.append([ev(i=2), ev(i=3)], idempotency_key="k2")
        assert result(fresh) == (2, 3, False)
        assert result(tx.seen("k2")) == (2, 3, True)  # a key buffered in this transaction counts
        assert result(tx.append([ev(i=9)], idempotency_key="k2")) == (2, 3, True)
        assert result(tx.append([ev(i=4)], expected_seq=3)) == (4, 4, False)
    assert [r.data["i"] for r in store.read()] == [0, 2, 3, 4]
    assert [r.cmd for r in store.read()] == ["k", "k2", "k2", None]


def test_a_transaction_sees_what_another_handle_appended_just_before(store, open_another):
    other = open_another()
    with store.transaction() as tx:
        assert tx.records == []
    other.append([ev(by="other")])
    with store.transaction() as tx:  # caught up under the lock: appending cannot conflict
        assert seqs(tx.records) == [1]
        assert result(tx.append([ev(by="store")], expected_seq=1)) == (2, 2, False)


@pytest.mark.parametrize("mode", ["transaction", "expected_seq"])
def test_concurrent_processes_incrementing_a_counter_lose_no_update(store, ref, processes, mode):
    workers, increments = 4, 25
    barrier = processes.ctx.Barrier(workers)
    for worker in range(workers):
        processes.start(procs.count, ref, worker, increments, barrier, mode)
    processes.results(workers)
    processes.join()
    total = workers * increments
    records = list(store.read())
    assert seqs(records) == list(range(1, total + 1))
    assert [r.data["n"] for r in records] == list(range(1, total + 1))  # each saw its predecessor
    assert sorted(r.cmd for r in records) == sorted(f"w{w}-{i}" for w in range(workers) for i in range(increments))
    assert {r.data["by"] for r in records} == set(range(workers))
    stamps = [r.ts for r in records]
    assert stamps == sorted(stamps)  # ts follows seq across processes too
    assert store.verify().ok
