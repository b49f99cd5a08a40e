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


def test_reading_from_the_middle_or_end_of_a_batch(log):
    log.append([ev(i=1), ev(i=2), ev(i=3)])  # one batch: seq 1..3
    log.append([ev(i=4)])
    for start in (1, 2, 3, 4):
        assert [r.seq for r in log.read(start)] == list(range(start, 5))
        assert [r.seq for r in log.follow(start, timeout=0.01)] == list(range(start, 5))
    with log.transaction(since=2) as tx:
        assert [r.seq for r in tx.records] == [3, 4]


RACE_WRITER = r"""
import sys
from eventstore import EventLog
with EventLog.open(sys.argv[1], segment_bytes=1024, durability="none") as log:
    for i in range(int(sys.argv[2])):
        log.append([{"type": "t", "data": {"i": i, "pad": "x" * 2000}} for _ in range(7)])
"""


def test_lock_free_readers_racing_a_writer_that_rolls_see_no_false_damage(log_path):
    """Batches bigger than a page become visible page by page, and every one rolls the segment."""
    import subprocess
    import sys

    EventLog.open(log_path, create=True, segment_bytes=1024).close()
    proc = subprocess.Popen([sys.executable, "-c", RACE_WRITER, str(log_path), "400"], stderr=subprocess.PIPE)
    polls = 0
    with EventLog.open(log_path, segment_bytes=1024) as reader:
        while proc.poll() is None:
            last = reader.last_seq  # a CorruptLogError here is the bug
            assert last % 7 == 0  # and never part of a batch
            polls += 1
    assert proc.returncode == 0, proc.stderr.read()
    with EventLog.open(log_path) as log:
        assert log.last_seq == 2800 and log.verify().ok
    assert polls > 10


def test_a_log_whose_first_segment_is_missing_still_opens_to_be_repaired(small, log_path):
    for i in range(40):
        small.append([ev(i=i, pad="x" * 40)])
    files = segment_files(log_path)
    files[0].unlink()
    with EventLog.open(log_path) as log:  # opening works; reading says what is wrong
        with pytest.raises(CorruptLogError, match="before it are missing"):
            list(log.read())
        assert log.verify().problems[0].kind == "missing_segment"
        report = log.repair()
        assert report.kept_through == 0 and len(report.quarantined) == len(files) - 1
        assert log.append([ev()]).first_seq == 1 and log.verify().ok


def test_repair_inside_a_transaction_is_refused(log):
    from eventstore import EventStoreError

    log.append([ev()])
    with log.transaction() as tx:
        with pytest.raises(EventStoreError, match="inside a transaction"):
            log.repair()
        tx.append([ev()])
    assert log.last_seq == 2 and log.verify().ok


def test_damage_in_a_sealed_batch_is_named_as_such(small, log_path):
    small.append([ev(i=i, pad="x" * 300) for i in range(8)])  # one batch, then a roll
    small.append([ev(i=9)])
    first = segment_files(log_path)[0]
    lines = first.read_bytes().splitlines(keepends=True)
    first.write_bytes(b"".join(lines[:-1]))  # the batch's last record is gone
    with EventLog.open(log_path) as log:
        kinds = [p.kind for p in log.verify().problems]
        assert kinds[0] == "incomplete_batch" and kinds.count("missing_segment") <= 1


def test_a_tail_cursor_resumes_where_it_stopped(log):
    log.append([ev(i=1)])
    log.append([ev(i=2), ev(i=3)])
    cursor = log.tail(3)
    assert [r.seq for r in cursor.poll()] == [2, 3]  # from the start of seq 3's batch: never half a batch
    assert [r.seq for r in cursor.poll()] == []
    log.append([ev(i=4)])
    assert [r.seq for r in cursor.poll()] == [4]
    cursor.close()


def test_a_batch_several_times_longer_than_the_read_buffer_is_decoded_once(log, monkeypatch):
    """An import is one batch of many megabytes: readers find its extent first and decode
    it in one pass, rather than once per doubling of their buffer."""
    from eventstore import reader as reader_module
    from eventstore import record as record_module

    monkeypatch.setattr(reader_module, "CHUNK_BYTES", 4096)
    log.append([ev(n=0)])
    log.append([ev(n=i, pad="x" * 200) for i in range(1, 400)])  # ~100 KB: 25 buffers long
    log.append([ev(n=400)])
    decoded = []
    real = record_module.decode_buffer

    def counting(buf, next_seq):
        decoded.append(len(buf))
        return real(buf, next_seq)

    monkeypatch.setattr(reader_module, "decode_buffer", counting)
    assert [r.data["n"] for r in log.read()] == list(range(401))
    size = sum(p.stat().st_size for p in (log.path / "log").glob("*.jsonl"))
    assert sum(decoded) < 2 * size  # (doubling from 4 KB would decode the batch ~5 times)
