"""Snapshots: atomic, checksummed, and never trusted when damaged."""

import warnings

import pytest

from eventstore import CorruptSnapshotWarning, InvalidArgumentError

from .conftest import ev


def test_save_and_load_the_newest(log):
    for _ in range(10):
        log.append([ev()])
    log.save_snapshot(4, b"state@4")
    log.save_snapshot(9, b"state@9")
    snap = log.load_snapshot()
    assert (snap.seq, snap.data) == (9, b"state@9")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a snapshot above the limit asked for is no anomaly
        assert log.load_snapshot(max_seq=8).data == b"state@4"
        assert log.load_snapshot(max_seq=3) is None


def test_a_damaged_snapshot_is_skipped_with_a_warning(log):
    for _ in range(10):
        log.append([ev()])
    log.save_snapshot(4, b"state@4")
    path = log.save_snapshot(9, b"state@9")
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.warns(CorruptSnapshotWarning, match="checksum"):
        assert log.load_snapshot().seq == 4
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.warns(CorruptSnapshotWarning, match="truncated"):
        assert log.load_snapshot().seq == 4


def test_a_snapshot_inside_a_batch_is_refused(log):
    """A state after part of a batch never existed for any reader: no snapshot describes one."""
    log.append([ev() for _ in range(3)])
    with pytest.raises(InvalidArgumentError, match="inside a batch"):
        log.save_snapshot(2, b"half")
    assert log.snapshot_seqs() == []
    log.save_snapshot(3, b"whole")
    assert log.load_snapshot().data == b"whole"


def test_a_snapshot_beyond_the_log_end_is_ignored(log, log_path):
    log.append([ev() for _ in range(3)])
    log.save_snapshot(3, b"s")
    (log_path / "snapshots" / "00000000000000000099.snap").write_bytes(
        (log_path / "snapshots" / "00000000000000000003.snap").read_bytes().replace(b'"seq": 3', b'"seq": 99')
    )
    with pytest.warns(CorruptSnapshotWarning, match="beyond"):
        assert log.load_snapshot().seq == 3


def test_snapshot_seq_must_exist(log):
    log.append([ev()])
    with pytest.raises(InvalidArgumentError):
        log.save_snapshot(2, b"x")
    with pytest.raises(TypeError):
        log.save_snapshot(1, "not bytes")
    assert list((log.path / "snapshots").glob("*.tmp")) == []


def _rewrite_position(path, position):
    """Point a snapshot's position hint elsewhere (the header is not under the payload's checksum)."""
    import json

    head, _, data = path.read_bytes().partition(b"\n")
    header = json.loads(head)
    header["position"] = position
    path.write_bytes(json.dumps(header).encode() + b"\n" + data)


@pytest.mark.parametrize("hint", ["exact", "mid-line", "another-line", "none"])
def test_snapshot_and_tail_starts_right_after_the_snapshot_however_good_its_hint(log, hint):
    log.append([ev(n=i) for i in range(5)])
    after_five = sum(p.stat().st_size for p in (log.path / "log").glob("*.jsonl"))
    log.append([ev(n=5), ev(n=6)])  # a batch of two: the snapshot ends at its last record
    path = log.save_snapshot(7, b"state@7")
    good = log.snapshots.read(7).position
    (segment,) = (log.path / "log").glob("*.jsonl")
    assert good == (1, segment.stat().st_size)  # where record 8 will start
    if hint == "mid-line":
        _rewrite_position(path, [1, good[1] - 5])  # must be refused, then found by scanning
    elif hint == "another-line":
        _rewrite_position(path, [1, after_five])  # a line boundary, but after record 5, not 7
    elif hint == "none":
        _rewrite_position(path, None)
    log.append([ev(n=7), ev(n=8)])
    snap, cursor = log.snapshot_and_tail()
    try:
        assert snap.seq == 7 and [r.data["n"] for r in cursor.poll()] == [7, 8]
    finally:
        cursor.close()


def test_snapshot_and_tail_skips_a_snapshot_the_log_no_longer_reaches(log, log_path):
    log.append([ev(n=i) for i in range(3)])
    log.save_snapshot(3, b"s")
    (log_path / "snapshots" / "00000000000000000099.snap").write_bytes(
        (log_path / "snapshots" / "00000000000000000003.snap").read_bytes().replace(b'"seq": 3', b'"seq": 99')
    )
    with pytest.warns(CorruptSnapshotWarning, match="beyond what the log holds"):
        snap, cursor = log.snapshot_and_tail()
    try:
        assert snap.seq == 3 and list(cursor.poll()) == []
    finally:
        cursor.close()


def test_resume_starts_a_fresh_handle_after_a_snapshot(log_path):
    from eventstore import EventLog

    with EventLog.open(log_path, create=True, durability="none") as first:
        first.append([ev(n=1)], idempotency_key="k1")
        first.append([ev(n=2), ev(n=3)])
        first.save_snapshot(3, b"s")
        position = first.snapshots.read(3).position
        assert position is not None
        first.append([ev(n=4)])
    for hint in (position, None, (1, 7)):  # exact, absent, wrong: the same outcome
        with EventLog.open(log_path, durability="none") as handle:
            handle.resume(3, hint)
            with handle.transaction() as tx:
                assert [r.data["n"] for r in tx.records] == [4]  # owed only what follows seq 3
            assert handle.append([ev(n=1)], idempotency_key="k1").duplicate  # found before seq 3
    with EventLog.open(log_path, durability="none") as handle:
        result = handle.append([ev(n=5)])
        with pytest.raises(InvalidArgumentError, match="fresh handle"):
            handle.resume(3, position)
    assert result.first_seq == 5
    with EventLog.open(log_path, durability="none") as handle:
        with pytest.raises(InvalidArgumentError, match="holds 5 records"):
            handle.resume(9)
        assert handle.append([ev(n=6)]).first_seq == 6  # still usable, from the start


def test_a_damaged_last_record_is_not_resumed_after_or_trusted_by_a_snapshot(log_path):
    """A scan for the position trusts line prefixes: the record before it is checked whole."""
    from eventstore import EventLog

    with EventLog.open(log_path, create=True, durability="none") as first:
        first.append([ev(n=1)])
        first.append([ev(n=2)])
        first.append([ev(n=3, pad="x" * 50)])
        first.save_snapshot(2, b"s")  # not at the end: no position hint, so a scan is needed later
    (segment,) = (log_path / "log").glob("*.jsonl")
    raw = bytearray(segment.read_bytes())
    raw[-30] ^= 0x01  # record 3 torn in its middle: prefix and newline intact
    segment.write_bytes(bytes(raw))
    with EventLog.open(log_path, durability="none") as handle:
        with pytest.raises(InvalidArgumentError, match="record 3 is damaged"):
            handle.resume(3)
        handle.resume(2)  # record 2 is intact: fine
        assert handle.append([ev(n=4)]).first_seq == 3  # the torn record 3 is cut, not written past
        assert [c.reason for c in handle.recovered] and handle.verify().ok


def test_snapshot_and_tail_does_not_trust_a_snapshot_whose_last_record_is_damaged(log_path):
    from eventstore import EventLog

    with EventLog.open(log_path, create=True, durability="none") as first:
        first.append([ev(n=1)])
        first.append([ev(n=2, pad="x" * 50)])
        path = first.save_snapshot(2, b"s")
    _rewrite_position(path, None)  # as if taken elsewhere than at the end: found by a scan
    (segment,) = (log_path / "log").glob("*.jsonl")
    raw = bytearray(segment.read_bytes())
    raw[-30] ^= 0x01
    segment.write_bytes(bytes(raw))
    with EventLog.open(log_path, durability="none") as handle:
        with pytest.warns(CorruptSnapshotWarning, match="beyond what the log holds intact"):
            snap, cursor = handle.snapshot_and_tail()
        cursor.close()
        assert snap is None  # a full replay instead, which meets the damage where it is


def test_one_claim_per_next_snapshot_and_a_dead_claim_is_taken_over(log, log_path):
    import os

    from eventstore.snapshots import SnapshotStore

    a, b = SnapshotStore(log_path / "snapshots"), SnapshotStore(log_path / "snapshots")
    assert a.claim(0) and not b.claim(0)  # one winner for the snapshot after "none yet"
    a.release(0)  # the winner could not write it: someone else may
    assert b.claim(0) and not a.claim(0)
    assert a.claim(7) and not (log_path / "snapshots" / f".after-{0:020d}").exists()  # older claims go
    marker = log_path / "snapshots" / f".after-{7:020d}"
    os.utime(marker, (1, 1))  # its writer died long ago
    assert b.claim(7) and not a.claim(7)
    assert a.seqs() == []  # markers are not snapshots
