"""Segments roll at a size threshold; sealed segments never change; reads span them."""

import hashlib

import pytest

from eventstore import CorruptLogError, EventLog

from .conftest import ev, segment_files


@pytest.fixture
def small(log_path):
    with EventLog.open(log_path, create=True, segment_bytes=2048, durability="none") as log:
        yield log


def test_rolls_at_the_threshold_and_reads_across(small, log_path):
    for i in range(60):
        small.append([ev(i=i, pad="x" * 40)])
    files = segment_files(log_path)
    assert len(files) > 3
    firsts = [int(f.stem) for f in files]
    assert firsts[0] == 1 and firsts == sorted(firsts)
    for f in files[:-1]:
        assert f.stat().st_size >= 2048
    assert [r.data["i"] for r in small.read()] == list(range(60))
    assert [r.seq for r in small.read(firsts[2], firsts[2] + 1)] == [firsts[2], firsts[2] + 1]
    report = small.verify()
    assert report.ok and report.segments == len(files) and report.intact_through == 60


def test_sealed_segments_never_change(small, log_path):
    for i in range(30):
        small.append([ev(i=i, pad="x" * 40)])
    sealed = segment_files(log_path)[:-1]
    digests = {f: hashlib.sha256(f.read_bytes()).hexdigest() for f in sealed}
    for i in range(30):
        small.append([ev(i=i, pad="x" * 40)])
    assert {f: hashlib.sha256(f.read_bytes()).hexdigest() for f in sealed} == digests


def test_another_handle_follows_a_roll(small, log_path):
    with EventLog.open(log_path) as other:
        assert other.last_seq == 0
        for i in range(40):
            small.append([ev(i=i, pad="x" * 40)])
        assert other.last_seq == 40
        assert other.append([ev()]).first_seq == 41


def test_a_missing_middle_segment_is_damage(small, log_path):
    for i in range(60):
        small.append([ev(i=i, pad="x" * 40)])
    files = segment_files(log_path)
    files[1].unlink()
    with EventLog.open(log_path) as log:
        with pytest.raises(CorruptLogError, match="missing"):
            list(log.read())
        problems = log.verify().problems
        assert problems[0].kind == "missing_segment"
        with pytest.raises(CorruptLogError):
            log.append([ev()])
        report = log.repair()
        assert report.kept_through == int(files[1].stem) - 1
        assert log.verify().ok
        assert log.append([ev()]).first_seq == int(files[1].stem)


def test_damage_at_the_end_of_a_sealed_segment_is_not_a_torn_tail(small, log_path):
    for i in range(40):
        small.append([ev(i=i, pad="x" * 40)])
    first = segment_files(log_path)[0]
    data = bytearray(first.read_bytes())
    data[-5] ^= 0x01
    first.write_bytes(bytes(data))
    with EventLog.open(log_path) as log, pytest.raises(CorruptLogError, match="sealed segment"):
        log.append([ev()])


def test_a_long_lived_writer_notices_a_middle_segment_deleted_under_it(log_path):
    with EventLog.open(log_path, create=True, segment_bytes=2048, durability="none") as early:
        with EventLog.open(log_path, segment_bytes=2048, durability="none") as busy:
            for i in range(60):  # fills several segments while `early` sits idle
                busy.append([ev(i=i, pad="x" * 40)])
        files = segment_files(log_path)
        first_size = files[0].stat().st_size
        files[1].unlink()
        with pytest.raises(CorruptLogError, match="missing"):
            early.append([ev()])
        assert files[0].stat().st_size == first_size  # nothing was appended to a sealed segment
