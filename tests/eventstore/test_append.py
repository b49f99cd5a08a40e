"""append, read, last_seq: contiguity, atomic batches, expected_seq, idempotency."""

import pytest

from eventstore import (
    AppendResult,
    ConcurrencyConflict,
    EventLog,
    InvalidArgumentError,
    InvalidEventError,
    LogClosedError,
    RecordTooLargeError,
)

from .conftest import ev, segment_files


def test_empty_log(log):
    assert log.last_seq == 0 and list(log.read()) == []


def test_seqs_are_contiguous_across_batches(log):
    assert log.append([ev(i=0)]) == AppendResult(1, 1)
    assert log.append([ev(i=1), ev(i=2), ev(i=3)]) == AppendResult(2, 4)
    records = list(log.read())
    assert [r.seq for r in records] == [1, 2, 3, 4]
    assert [r.data["i"] for r in records] == [0, 1, 2, 3]
    assert len({r.id for r in records}) == 4
    assert log.last_seq == 4


def test_read_ranges(log):
    log.append([ev(i=i) for i in range(10)])
    assert [r.seq for r in log.read(4, 6)] == [4, 5, 6]
    assert [r.seq for r in log.read(9)] == [9, 10]
    assert list(log.read(11)) == []
    assert list(log.read(5, 4)) == []
    with pytest.raises(InvalidArgumentError):
        list(log.read(0))


def test_a_batch_with_one_bad_event_writes_nothing(log, log_path):
    log.append([ev()])
    size = segment_files(log_path)[0].stat().st_size
    with pytest.raises(InvalidEventError) as info:
        log.append([ev(i=1), {"type": "t", "data": {"bad": {1, 2}}}, ev(i=3)])
    assert info.value.index == 1
    with pytest.raises(RecordTooLargeError):
        log.append([ev(i=1), ev(p="x" * (2 << 20))])
    assert segment_files(log_path)[0].stat().st_size == size
    assert log.last_seq == 1


@pytest.mark.parametrize("bad", [[], "abc", {"type": "t", "data": {}}])
def test_malformed_batches_are_refused(log, bad):
    with pytest.raises(InvalidArgumentError):
        log.append(bad)


def test_expected_seq_mismatch_raises_with_current_seq_and_writes_nothing(log):
    log.append([ev(), ev()])
    with pytest.raises(ConcurrencyConflict) as info:
        log.append([ev()], expected_seq=1)
    assert info.value.expected_seq == 1 and info.value.actual_seq == 2
    assert log.last_seq == 2
    assert log.append([ev()], expected_seq=2) == AppendResult(3, 3)


def test_expected_seq_sees_other_handles(log_path):
    with EventLog.open(log_path, create=True) as a, EventLog.open(log_path) as b:
        a.append([ev()], expected_seq=0)
        with pytest.raises(ConcurrencyConflict) as info:
            b.append([ev()], expected_seq=0)
        assert info.value.actual_seq == 1
        assert b.append([ev()], expected_seq=1).first_seq == 2


def test_idempotency_key_returns_original_result_and_writes_nothing(log_path):
    with EventLog.open(log_path, create=True) as a:
        first = a.append([ev(), ev()], idempotency_key="cmd-1")
        a.append([ev()], idempotency_key="cmd-2")
        again = a.append([ev(), ev()], idempotency_key="cmd-1")
        assert again == AppendResult(first.first_seq, first.last_seq, True)
        assert a.last_seq == 3
    with EventLog.open(log_path) as b:  # a fresh handle learns the keys from the log
        assert b.append([ev()], idempotency_key="cmd-1", expected_seq=0).duplicate
        assert b.last_seq == 3
        assert [r.cmd for r in b.read()] == ["cmd-1", "cmd-1", "cmd-2"]


def test_timestamps_never_go_backwards(log):
    for _ in range(50):
        log.append([ev()])
    stamps = [r.ts for r in log.read()]
    assert stamps == sorted(stamps) and all(s.endswith("Z") for s in stamps)


def test_closed_handle_refuses_everything(log_path):
    handle = EventLog.open(log_path, create=True)
    handle.close()
    handle.close()  # idempotent
    for action in (lambda: handle.append([ev()]), lambda: handle.last_seq, lambda: list(handle.read())):
        with pytest.raises(LogClosedError):
            action()


def test_bad_idempotency_key(log):
    with pytest.raises(InvalidArgumentError):
        log.append([ev()], idempotency_key="")
