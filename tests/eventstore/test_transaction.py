"""transaction(): the read-decide-append step under the lock."""

import pytest

from eventstore import AppendResult, ConcurrencyConflict, EventLog

from .conftest import ev


def test_first_transaction_sees_the_whole_log_then_only_others(log_path):
    with EventLog.open(log_path, create=True) as a, EventLog.open(log_path) as b:
        a.append([ev(i=1), ev(i=2)])
        with b.transaction() as tx:
            assert [r.seq for r in tx.records] == [1, 2]
            tx.append([ev(by="b")])
        a.append([ev(i=4)])
        with b.transaction() as tx:
            assert [r.seq for r in tx.records] == [4]  # b's own append is not echoed
            assert tx.last_seq == 4
        with b.transaction() as tx:
            assert tx.records == []


def test_first_transaction_after_plain_reads_still_gets_history(log):
    log.append([ev(i=1)])
    assert log.last_seq == 1
    with log.transaction() as tx:
        assert [r.seq for r in tx.records] == [1]


def test_since_returns_everything_after_a_seq(log):
    log.append([ev(i=i) for i in range(5)])
    with log.transaction(since=3) as tx:
        assert [r.seq for r in tx.records] == [4, 5]


def test_appends_are_buffered_and_written_once_on_exit(log):
    with log.transaction() as tx:
        assert tx.append([ev(i=1)]) == AppendResult(1, 1)
        assert tx.append([ev(i=2), ev(i=3)], expected_seq=1) == AppendResult(2, 3)
        assert tx.last_seq == 3
        assert log.last_seq == 0  # nothing is visible until the block ends
    assert [r.data["i"] for r in log.read()] == [1, 2, 3]


def test_an_exception_discards_the_whole_transaction(log):
    log.append([ev(i=0)])
    with pytest.raises(RuntimeError), log.transaction() as tx:
        tx.append([ev(i=1)])
        raise RuntimeError("decided against it")
    assert log.last_seq == 1
    log.append([ev(i=2)])  # the lock was released
    assert log.last_seq == 2


def test_conflicts_and_keys_inside_a_transaction(log):
    log.append([ev()], idempotency_key="k")
    with log.transaction() as tx:
        with pytest.raises(ConcurrencyConflict):
            tx.append([ev()], expected_seq=0)
        assert tx.append([ev()], idempotency_key="k") == AppendResult(1, 1, True)
        new = tx.append([ev()], idempotency_key="k2")
        assert tx.append([ev()], idempotency_key="k2") == AppendResult(new.first_seq, new.last_seq, True)
    assert log.last_seq == 2


def test_the_lock_excludes_other_handles_in_the_same_process(log_path):
    import threading

    with EventLog.open(log_path, create=True) as a, EventLog.open(log_path) as b:
        done = threading.Event()

        def other():
            b.append([ev(by="b")])
            done.set()

        with a.transaction() as tx:
            thread = threading.Thread(target=other)
            thread.start()
            assert not done.wait(0.2)  # b is blocked on the lock while a holds it
            tx.append([ev(by="a")])
        thread.join()
        assert [r.data["by"] for r in a.read()] == ["a", "b"]


def test_a_nested_transaction_on_the_same_handle_is_refused(log):
    from eventstore import EventStoreError

    with log.transaction() as tx:
        with pytest.raises(EventStoreError, match="already in a transaction"):
            log.append([ev(i=9)])
        with pytest.raises(EventStoreError, match="already in a transaction"), log.transaction():
            pass
        tx.append([ev(i=1)])
    assert [r.data["i"] for r in log.read()] == [1]  # the outer transaction was untouched


def test_appending_after_the_block_is_refused(log):
    from eventstore import EventStoreError

    with log.transaction() as tx:
        pass
    with pytest.raises(EventStoreError, match="has ended"):
        tx.append([ev()])
    assert log.last_seq == 0


def test_records_are_still_owed_after_a_failure_before_they_were_handed_over(log_path):
    from eventstore import InvalidArgumentError

    with EventLog.open(log_path, create=True) as a, EventLog.open(log_path) as b:
        a.append([ev(i=1)])
        with pytest.raises(InvalidArgumentError), b.transaction(since=-1):
            pass
        with b.transaction() as tx:
            assert [r.seq for r in tx.records] == [1]


def test_records_handed_to_a_failed_body_are_not_shown_twice(log_path):
    with EventLog.open(log_path, create=True) as a, EventLog.open(log_path) as b:
        a.append([ev(i=1)])
        with pytest.raises(ValueError), b.transaction() as tx:
            assert [r.seq for r in tx.records] == [1]  # folded by the caller...
            raise ValueError("command refused")  # ...which then refused its command
        a.append([ev(i=2)])
        with b.transaction() as tx:
            assert [r.seq for r in tx.records] == [2]  # seq 1 is not delivered twice


def test_a_transaction_is_one_batch_even_with_several_appends(log, log_path):
    with log.transaction() as tx:
        tx.append([ev(i=1)])
        tx.append([ev(i=2), ev(i=3)])
    lines = (log_path / "log" / "00000000000000000001.jsonl").read_bytes().splitlines()
    assert all(b'"end":3' in line for line in lines)  # readers see all three or none
    with log.transaction() as tx:
        tx.append([ev(i=4)])
    last = (log_path / "log" / "00000000000000000001.jsonl").read_bytes().splitlines()[-1]
    assert b'"end"' not in last  # a batch of one needs no marker
