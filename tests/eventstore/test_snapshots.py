"""Snapshots: atomic, checksummed, and never trusted when damaged."""

import warnings

import pytest

from eventstore import CorruptSnapshotWarning, InvalidArgumentError

from .conftest import ev


def test_save_and_load_the_newest(log):
    log.append([ev() for _ in range(10)])
    log.save_snapshot(4, b"state@4")
    log.save_snapshot(9, b"state@9")
    snap = log.load_snapshot()
    assert (snap.seq, snap.data) == (9, b"state@9")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a snapshot above the limit asked for is no anomaly
        assert log.load_snapshot(max_seq=8).data == b"state@4"
        assert log.load_snapshot(max_seq=3) is None


def test_a_damaged_snapshot_is_skipped_with_a_warning(log):
    log.append([ev() for _ in range(10)])
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
