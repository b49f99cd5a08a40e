"""Readers: a tail cursor yields only new, whole batches and resumes where it stopped; follow()
delivers a record another process appends, and ends on its timeout or its stop event; readers
racing a process that appends big batches (and transactions) never see part of one."""

from __future__ import annotations

import threading
from queue import Queue

import pytest

from eventstore import InvalidArgumentError

from . import procs
from .records import ev, seqs


def test_a_tail_cursor_yields_only_what_is_new_and_resumes(store):
    cursor = store.tail(1)
    try:
        assert list(cursor.poll()) == []
        assert cursor.next_seq == 1
        store.append([ev(i=1), ev(i=2)])
        assert seqs(cursor.poll()) == [1, 2]
        assert cursor.next_seq == 3
        assert list(cursor.poll()) == []  # nothing is yielded twice
        store.append([ev(i=3)])
        with store.transaction() as tx:
            tx.append([ev(i=4)])
            tx.append([ev(i=5), ev(i=6)])
        records = list(cursor.poll())
        assert seqs(records) == [3, 4, 5, 6]
        assert [r.data["i"] for r in records] == [3, 4, 5, 6]
        assert cursor.next_seq == 7
    finally:
        cursor.close()


def test_a_tail_from_a_batch_boundary_starts_exactly_there(store):
    store.append([ev(i=1), ev(i=2)])
    store.append([ev(i=3)])
    store.append([ev(i=4), ev(i=5)])
    for from_seq, expected in [(1, [1, 2, 3, 4, 5]), (3, [3, 4, 5]), (4, [4, 5]), (6, [])]:
        cursor = store.tail(from_seq)
        try:
            assert cursor.next_seq == from_seq
            assert seqs(cursor.poll()) == expected
            assert cursor.next_seq == store.last_seq + 1
        finally:
            cursor.close()


def test_a_tail_from_inside_a_batch_yields_the_whole_of_it(store):
    """Readers see whole batches: a cursor asked to start inside one may start at its first record
    (the file backend does), but never after ``from_seq``."""
    store.append([ev(i=1)])
    store.append([ev(i=2), ev(i=3), ev(i=4)])
    store.append([ev(i=5)])
    cursor = store.tail(3)
    try:
        got = seqs(cursor.poll())
        assert got in ([2, 3, 4, 5], [3, 4, 5])
        assert cursor.next_seq == 6
    finally:
        cursor.close()


def test_a_cursor_is_not_disturbed_by_other_cursors_or_handles(store, open_another):
    other = open_another()
    first, second = store.tail(1), other.tail(1)
    try:
        other.append([ev(i=1)])
        assert seqs(first.poll()) == [1]
        store.append([ev(i=2)])
        assert seqs(second.poll()) == [1, 2]
        assert seqs(first.poll()) == [2]
    finally:
        first.close()
        second.close()


def test_follow_yields_what_is_there_then_ends_after_its_timeout(store):
    store.append([ev(i=1), ev(i=2)])
    store.append([ev(i=3)])
    assert seqs(store.follow(1, timeout=0.2)) == [1, 2, 3]
    assert seqs(store.follow(2, timeout=0.2)) == [2, 3]  # from from_seq exactly, even inside a batch
    assert list(store.follow(4, timeout=0.2)) == []


def test_follow_delivers_a_record_another_process_appends(store, ref, processes):
    store.append([ev(i=1)])
    go = processes.ctx.Event()
    processes.start(procs.append_when_told, ref, go, {"from": "child"})
    got = []
    follower = store.follow(1, timeout=30)  # (the timeout only ends a failing test)
    try:
        for record in follower:
            got.append(record)
            if record.seq == 1:
                go.set()  # the follower is running: now the child appends
            if record.seq == 2:
                break
    finally:
        follower.close()
    assert seqs(got) == [1, 2]
    assert (got[1].type, got[1].data) == ("from.child", {"from": "child"})
    assert processes.results(1) == {0: 2}
    processes.join()


def test_follow_ends_when_its_stop_event_is_set(store):
    store.append([ev(i=1)])
    stop = threading.Event()
    received: Queue = Queue()

    def follower():
        for record in store.follow(1, timeout=60, stop_event=stop):
            received.put(record.seq)
        received.put("ended")

    thread = threading.Thread(target=follower, daemon=True)
    thread.start()
    assert received.get(timeout=30) == 1  # the follower is under way, then waits for more
    stop.set()
    assert received.get(timeout=30) == "ended"  # long before its 60 s timeout
    thread.join(timeout=30)
    assert not thread.is_alive()


def test_follow_with_a_stop_event_already_set_yields_what_is_there_and_ends(store):
    store.append([ev(i=1), ev(i=2)])
    stop = threading.Event()
    stop.set()
    assert seqs(store.follow(1, timeout=60, stop_event=stop)) == [1, 2]


def test_readers_racing_a_writer_process_never_see_part_of_a_batch(store, ref, processes):
    """A child appends big batches (half of them transactions of two appends) while this process
    reads as fast as it can: every poll, read and end it sees falls on a batch boundary."""
    batches, size, pad = 60, 100, 2000  # about 200 KB a batch
    total = batches * size
    go = processes.ctx.Event()
    child = processes.start(procs.append_batches, ref, batches, size, pad, go)
    cursor = store.tail(1)
    go.set()  # (the child starts writing once it has opened the store: this loop is already reading)
    seen = 0
    try:
        while seen < total:
            alive = child.is_alive()  # (before polling: a poll after the child's end must get it all)
            records = list(cursor.poll())
            for start in range(0, len(records), size):
                batch = records[start:start + size]
                assert [r.data["i"] for r in batch] == list(range(size)), "a poll split a batch"
                assert {r.data["b"] for r in batch} == {batch[0].data["b"]}
            assert len(records) % size == 0, f"a poll returned {len(records)} records: part of a batch"
            assert seqs(records) == list(range(seen + 1, seen + len(records) + 1))
            seen += len(records)
            end = store.last_seq
            assert end % size == 0, f"last_seq {end} is inside a batch"
            assert len(list(store.read(end - size + 1 if end else 1))) % size == 0
            if not alive and seen < total:
                records = list(cursor.poll())
                pytest.fail(f"the writer ended but only {seen} of {total} records were read ({len(records)} more)")
    finally:
        cursor.close()
    assert processes.results(1) == {0: batches}
    processes.join()
    assert seen == total
    assert [r.data["b"] for r in store.read(1, total)][::size] == list(range(batches))


def test_a_tail_from_beyond_the_end_yields_nothing_before_from_seq(store):
    for i in range(1, 6):
        store.append([ev(i=i)])
    try:
        cursor = store.tail(10)
    except InvalidArgumentError:
        return  # refusing a start the log does not reach keeps the contract too
    try:
        assert list(cursor.poll()) == []
        for i in range(6, 12):
            store.append([ev(i=i)])
        assert seqs(cursor.poll()) == [10, 11]
    finally:
        cursor.close()
    assert seqs(store.follow(10, timeout=0.1)) == [10, 11]  # as follow() does
