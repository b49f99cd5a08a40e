"""Torn tails are cut (into quarantine); damage in the middle is never cut silently."""

import json
import os

import pytest

from eventstore import CorruptLogError, EventLog

from .conftest import ev, segment_files


def fill(path, n=5, **kw):
    with EventLog.open(path, create=True, **kw) as log:
        for i in range(n):
            log.append([ev(i=i)])


def quarantined(path):
    return sorted((path / "quarantine").glob("*.bin"))


@pytest.mark.parametrize(
    "tail, reason",
    [
        (b'{"seq":6,"id":"x","ty', "incomplete record"),
        (b"\x00" * 300, "incomplete record"),
        (b"\x00" * 299 + b"\n", "zero bytes"),
        (b'{"seq":6,"garbage":true,"crc":"00000000"}\n', "checksum mismatch"),
    ],
)
def test_a_torn_tail_is_invisible_to_readers_and_cut_by_the_next_writer(log_path, tail, reason):
    fill(log_path)
    seg = segment_files(log_path)[0]
    good = seg.read_bytes()
    seg.write_bytes(good + tail)
    with EventLog.open(log_path) as log:
        assert [r.seq for r in log.read()] == [1, 2, 3, 4, 5]
        assert log.last_seq == 5
        report = log.verify()
        assert [p.kind for p in report.problems] == ["torn_tail"] and report.only_torn_tail
        assert log.append([ev(i=5)]).first_seq == 6
        assert len(log.recovered) == 1
        cut = log.recovered[0]
        assert cut.offset == len(good) and cut.seq == 6 and reason in cut.reason
        assert log.verify().ok
    (kept,) = quarantined(log_path)
    assert kept.read_bytes() == tail  # the cut bytes are kept, not dropped
    note = json.loads(kept.with_suffix(".json").read_text())
    assert note["offset"] == len(good) and note["what"] == "torn tail"


def test_several_bad_final_records_are_one_torn_tail(log_path):
    fill(log_path)
    seg = segment_files(log_path)[0]
    lines = seg.read_bytes().splitlines(keepends=True)
    damaged = [line.replace(b'"i":', b'"j":') for line in lines[3:]]  # checksums no longer match
    seg.write_bytes(b"".join(lines[:3] + damaged))
    with EventLog.open(log_path) as log:
        assert log.last_seq == 3
        assert log.append([ev()]).first_seq == 4
        assert log.recovered[0].bytes == sum(map(len, damaged))


def test_damage_followed_by_valid_records_blocks_appends_and_names_the_place(log_path):
    fill(log_path)
    seg = segment_files(log_path)[0]
    lines = seg.read_bytes().splitlines(keepends=True)
    offset = sum(map(len, lines[:2]))
    lines[2] = lines[2].replace(b'"i":2', b'"i":9')
    seg.write_bytes(b"".join(lines))
    with EventLog.open(log_path) as log:
        got = []
        with pytest.raises(CorruptLogError) as info:
            for record in log.read():
                got.append(record.seq)
        assert got == [1, 2]  # everything before the damage is readable
        err = info.value
        assert err.file == str(seg) and err.offset == offset and err.seq == 3
        assert "checksum mismatch" in str(err) and "followed by valid records" in str(err)
        with pytest.raises(CorruptLogError):
            log.append([ev()])
        assert seg.read_bytes() == b"".join(lines)  # nothing was cut or written
        report = log.verify()
        assert [(p.kind, p.seq, p.offset) for p in report.problems] == [("checksum", 3, offset)]
        assert report.intact_through == 2 and report.beyond == [4, 5]


def test_repair_cuts_at_the_damage_keeps_a_backup_and_says_what_it_removed(log_path):
    fill(log_path)
    seg = segment_files(log_path)[0]
    data = seg.read_bytes()
    lines = data.splitlines(keepends=True)
    offset = sum(map(len, lines[:2]))
    lines[2] = b"not json at all\n"
    seg.write_bytes(b"".join(lines))
    with EventLog.open(log_path) as log:
        report = log.repair()
        assert report.kept_through == 2
        assert report.removed_valid == [4, 5]
        assert "removed" in report.summary() and "4-5" in report.summary()
        (kept,) = quarantined(log_path)
        assert kept.read_bytes() == b"".join(lines)[offset:]
        assert log.verify().ok and log.last_seq == 2
        assert log.append([ev()]).first_seq == 3
        assert log.repair().changed is False  # nothing left to do


def test_a_non_utf8_line_in_the_middle_is_reported_as_such(log_path):
    fill(log_path)
    seg = segment_files(log_path)[0]
    lines = seg.read_bytes().splitlines(keepends=True)
    lines[1] = b"\xff\xfe garbage\n"
    seg.write_bytes(b"".join(lines))
    with EventLog.open(log_path) as log, pytest.raises(CorruptLogError, match="not UTF-8"):
        list(log.read())


def test_a_duplicated_record_is_a_gap(log_path):
    fill(log_path)
    seg = segment_files(log_path)[0]
    lines = seg.read_bytes().splitlines(keepends=True)
    seg.write_bytes(b"".join(lines[:3] + [lines[2]] + lines[3:]))
    with EventLog.open(log_path) as log:
        with pytest.raises(CorruptLogError, match="seq 3 where seq 4 was expected"):
            list(log.read())
        assert [p.kind for p in log.verify().problems][0] == "gap"


def test_repair_of_a_clean_log_changes_nothing(log_path):
    fill(log_path)
    before = segment_files(log_path)[0].read_bytes()
    with EventLog.open(log_path) as log:
        assert not log.repair().changed
    assert segment_files(log_path)[0].read_bytes() == before


CRASH_MID_BATCH = r"""
import os, signal, sys
import eventstore.log as L

def cut_short(fd, buf):  # the kernel took 2.5 of the 4 records, then the writer died
    lines = buf.splitlines(keepends=True)
    os.write(fd, lines[0] + lines[1] + lines[2][:40])
    os.kill(os.getpid(), signal.SIGKILL)

L.write_all = cut_short
L.EventLog.open(sys.argv[1]).append([{"type": "part", "data": {"i": i}} for i in range(4)], idempotency_key="cmd-7")
"""


def test_a_batch_cut_short_by_a_crash_is_cut_as_a_whole(log_path):
    import signal
    import subprocess
    import sys

    fill(log_path, n=2)
    end_of_good = segment_files(log_path)[0].stat().st_size
    crash = subprocess.run([sys.executable, "-c", CRASH_MID_BATCH, str(log_path)], capture_output=True)
    assert crash.returncode == -signal.SIGKILL
    with EventLog.open(log_path) as log:
        assert [r.seq for r in log.read()] == [1, 2]  # none of the unfinished batch is visible
        problems = log.verify().problems
        assert [p.kind for p in problems] == ["torn_tail"] and problems[0].offset == end_of_good
        retry = log.append([{"type": "part", "data": {"i": i}} for i in range(4)], idempotency_key="cmd-7")
        assert (retry.first_seq, retry.last_seq, retry.duplicate) == (3, 6, False)  # not a half "duplicate"
        assert log.recovered[0].offset == end_of_good and "batch" in log.recovered[0].reason
        assert [r.data.get("i") for r in log.read(3)] == [0, 1, 2, 3]


def test_readers_never_see_part_of_a_batch(log_path):
    from eventstore.record import prepare, seal

    fill(log_path, n=1)
    lines = [seal(2 + i, b"2026-11-28T10:00:00.000001Z", prepare(i, ev(i=i), f"id{i}", None, 1 << 20), 4)
             for i in range(3)]
    seg = segment_files(log_path)[0]
    with EventLog.open(log_path) as log:
        with open(seg, "ab") as f:
            f.write(lines[0] + lines[1])  # two of the batch's three records are on disk
            f.flush()
            assert log.last_seq == 1 and [r.seq for r in log.read()] == [1]
            f.write(lines[2])  # the batch is complete
            f.flush()
        assert log.last_seq == 4 and [r.seq for r in log.read()] == [1, 2, 3, 4]


def test_a_valid_record_out_of_place_at_the_tail_is_damage_not_a_torn_tail(log_path):
    fill(log_path, n=3)
    seg = segment_files(log_path)[0]
    lines = seg.read_bytes().splitlines(keepends=True)
    seg.write_bytes(b"".join(lines + [lines[1]]))  # a complete, checksum-valid copy of seq 2 at the end
    with EventLog.open(log_path) as log:
        with pytest.raises(CorruptLogError, match="out of place"):
            log.append([ev()])
        assert seg.read_bytes() == b"".join(lines + [lines[1]])  # nothing was cut


def test_repair_sets_aside_snapshots_of_records_it_cut(log_path):
    fill(log_path, n=6)
    with EventLog.open(log_path) as log:
        log.save_snapshot(2, b"state@2")
        log.save_snapshot(5, b"state@5")
    seg = segment_files(log_path)[0]
    lines = seg.read_bytes().splitlines(keepends=True)
    lines[3] = b"garbage\n"
    seg.write_bytes(b"".join(lines))
    with EventLog.open(log_path) as log:
        report = log.repair()
        assert report.kept_through == 3
        for i in range(5):  # the log grows past the cut snapshot's seq again
            log.append([ev(i=i)])
        assert log.load_snapshot().data == b"state@2"  # not the snapshot of a past that was cut
        assert any("repair-snapshot" in q for q in report.quarantined)


def test_a_failed_roll_after_a_good_write_is_not_reported_as_nothing_written(log_path, monkeypatch):
    import eventstore.log as log_module

    with EventLog.open(log_path, create=True, segment_bytes=1024, durability="none") as log:
        real_open = os.open

        def no_new_segments(path, flags, *args):
            if str(path).endswith(".jsonl") and flags & os.O_CREAT:
                raise OSError(28, "No space left on device")
            return real_open(path, flags, *args)

        monkeypatch.setattr(log_module.os, "open", no_new_segments)
        results = [log.append([ev(i=i, pad="x" * 300)], idempotency_key=f"k{i}") for i in range(6)]
        monkeypatch.undo()
        assert [r.first_seq for r in results] == [1, 2, 3, 4, 5, 6]  # every write acknowledged once
        assert log.append([ev()], idempotency_key="k2").duplicate  # and its key remembered
        log.append([ev(i=7)])  # space is back: the roll happens now
    assert len(segment_files(log_path)) == 2
    with EventLog.open(log_path) as log:
        assert log.verify().ok and [r.cmd for r in log.read()][:6] == [f"k{i}" for i in range(6)]


def test_a_handle_open_across_another_handles_repair_must_reopen(log_path):
    from eventstore import LogTruncatedError

    fill(log_path, n=5)
    with EventLog.open(log_path) as stale, EventLog.open(log_path) as fixer:
        assert stale.last_seq == 5
        seg = segment_files(log_path)[0]
        lines = seg.read_bytes().splitlines(keepends=True)
        seg.write_bytes(b"".join(lines[:3] + [b"garbage\n"] + lines[4:]))
        assert fixer.repair().kept_through == 3
        for i in range(6):  # the log grows past the stale handle's old position
            fixer.append([ev(i=i)])
        with pytest.raises(LogTruncatedError, match="reopen"):
            stale.append([ev()])
    with EventLog.open(log_path) as fresh:
        assert fresh.verify().ok and fresh.last_seq == 9
        assert fresh.append([ev()]).first_seq == 10
