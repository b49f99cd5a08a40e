"""restore(): rebuild a damaged log from the git archive plus the intact tail on disk."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from dulwich.repo import Repo

from eventstore import EventLog, EventStoreError, LogTruncatedError
from eventstore.archive import BRANCH, REPO_NAME, Archive, UnknownRevisionError
from eventstore.restore import (
    JOURNAL_NAME,
    ConfirmationRequiredError,
    NoArchiveError,
    NothingToRestoreError,
    RestoreError,
    restore,
)
from eventstore.segments import fast_seq

from .conftest import ev, segment_files

ROOT = Path(__file__).resolve().parents[2]
SIZES = (1, 2, 3)  # batch sizes, cycled: single records and multi-record batches


def lines_of(path: Path, log_dir: str = "log") -> list[bytes]:
    """Every line of the segment files under ``path/log_dir``, in file order."""
    files = sorted((path / log_dir).glob("*.jsonl"))
    return [line for f in files for line in f.read_bytes().splitlines(keepends=True)]


def append_batches(log: EventLog, count: int, start: int = 0, pad: int = 40) -> list[tuple[int, int]]:
    """``count`` appends of 1, 2, 3, 1, ... events; returns their (first, last) seqs."""
    done = []
    for i in range(start, start + count):
        size = SIZES[i % len(SIZES)]
        r = log.append([ev("t", i=i, part=k, pad="x" * pad) for k in range(size)])
        done.append((r.first_seq, r.last_seq))
    return done


class Scenario:
    """A log with appends, an archive commit part way, then more (acknowledged) appends."""

    def __init__(self, tmp_path: Path, segment_bytes: int | None = None, before: int = 8, after: int = 8):
        self.path = tmp_path / "project"
        self.log = EventLog.open(self.path, create=True, durability="none", segment_bytes=segment_bytes)
        self.batches = append_batches(self.log, before)
        self.commit = Archive(self.log, fsync=False).commit()
        assert self.commit is not None
        self.archived = self.commit.last_seq
        self.batches += append_batches(self.log, after, start=before)
        self.last = self.log.last_seq
        self.lines = lines_of(self.path)  # the acknowledged records, byte for byte
        assert [fast_seq(line) for line in self.lines] == list(range(1, self.last + 1))

    def batch_of(self, seq: int) -> tuple[int, int]:
        return next(b for b in self.batches if b[0] <= seq <= b[1])

    def where(self, seq: int) -> tuple[Path, int, int]:
        """(segment file, offset, length) of record ``seq``."""
        for f in segment_files(self.path):
            offset = 0
            for line in f.read_bytes().splitlines(keepends=True):
                if fast_seq(line) == seq:
                    return f, offset, len(line)
                offset += len(line)
        raise AssertionError(f"seq {seq} not found")

    def flip(self, seq: int) -> tuple[Path, int]:
        """Flip one bit in the middle of record ``seq``; return its file and offset."""
        f, offset, length = self.where(seq)
        fd = os.open(f, os.O_RDWR)  # in place: a writer may be appending to the same file
        try:
            at = offset + length // 2
            os.pwrite(fd, bytes([os.pread(fd, 1, at)[0] ^ 0x01]), at)
        finally:
            os.close(fd)
        return f, offset

    def damaged_copy(self) -> dict[str, bytes]:
        return {f.name: f.read_bytes() for f in segment_files(self.path)}

    def check(self, report, expected: list[bytes], damaged: dict[str, bytes] | None) -> None:
        """The common checks after a restore."""
        with EventLog.open(self.path, durability="none") as fresh:
            assert fresh.verify().ok
            assert fresh.last_seq == report.last_seq == len(expected)
            assert lines_of(self.path) == expected  # byte-identical, seqs contiguous from 1
            r = fresh.append([ev("after.restore")])
            assert (r.first_seq, r.last_seq) == (len(expected) + 1, len(expected) + 1)
            assert fresh.verify().ok
        if damaged is not None:  # the damaged files are kept, unchanged, for a person
            kept = Path(report.quarantine_dir) / "log"
            assert {f.name: f.read_bytes() for f in kept.glob("*.jsonl")} == damaged
            assert str(kept) in report.quarantined
        with pytest.raises(LogTruncatedError):  # opened before the restore: must reopen
            self.log.append([ev("stale")])
        assert report.generation >= 1
        assert not list(self.path.glob("log.restore-*")) and not (self.path / JOURNAL_NAME).exists()

    def close(self) -> None:
        self.log.close()


@pytest.fixture
def scenario(tmp_path):
    made = []

    def make(**kwargs) -> Scenario:
        s = Scenario(tmp_path, **kwargs)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def test_flipped_byte_after_the_commit(scenario):
    s = scenario()
    bad = s.archived + 6
    first, _ = s.batch_of(bad)
    s.log.save_snapshot(s.archived, b"state at the archive")
    s.log.save_snapshot(s.last, b"state at the end")
    f, offset = s.flip(bad)
    damaged = s.damaged_copy()
    head_before = Archive(s.log).head()

    report = restore(s.path)

    keep = first - 1  # the damaged record's whole batch is not salvaged
    assert report.from_archive == list(range(1, s.archived + 1))
    assert report.salvaged == list(range(s.archived + 1, keep + 1))
    assert report.lost == [seq for seq in range(first, s.last + 1) if seq != bad]
    assert [(d.file, d.offset) for d in report.damaged] == [(str(f), offset)]
    assert f"seq {bad} is missing or damaged" in report.stopped or f"batch starting at seq {first}" in report.stopped
    text = str(report)
    assert f"ends at seq {keep}" in text and f"lost: {len(report.lost)}" in text
    s.check(report, s.lines[:keep], damaged)
    # a snapshot beyond the restored end is set aside; the one before it stays
    store_seqs = sorted(int(p.stem) for p in (s.path / "snapshots").glob("*.snap"))
    assert store_seqs == [s.archived]
    assert any(p.endswith(f"{s.last:020d}.snap") for p in report.quarantined)
    assert Archive(s.log).head() == head_before  # the archive is untouched


def test_flipped_byte_in_the_archived_part(scenario):
    s = scenario()
    f, offset = s.flip(3)
    damaged = s.damaged_copy()
    report = restore(s.path)
    assert report.from_archive == list(range(1, s.archived + 1))
    assert report.salvaged == list(range(s.archived + 1, s.last + 1))
    assert report.lost == []
    assert [(d.file, d.offset) for d in report.damaged] == [(str(f), offset)]
    s.check(report, s.lines, damaged)  # nothing lost at all


@pytest.mark.parametrize("where", ["after", "archived"])
def test_deleted_middle_segment(scenario, where):
    s = scenario(segment_bytes=1024, before=12, after=12)
    segments = segment_files(s.path)
    assert len(segments) >= 5
    firsts = [int(p.stem) for p in segments]
    # a segment that lies wholly after (or wholly within) the archived part, not the last one
    if where == "after":
        i = next(i for i, first in enumerate(firsts) if first > s.archived + 1 and i < len(firsts) - 1)
    else:
        i = next(i for i in range(len(firsts) - 1) if firsts[i] > 1 and firsts[i + 1] - 1 <= s.archived)
    gone_first, gone_last = firsts[i], firsts[i + 1] - 1
    segments[i].unlink()
    damaged = s.damaged_copy()
    report = restore(s.path)
    if where == "after":
        assert report.salvaged == list(range(s.archived + 1, gone_first))
        assert report.lost == list(range(gone_last + 1, s.last + 1))
        assert f"seq {gone_first} is missing" in report.stopped
        s.check(report, s.lines[: gone_first - 1], damaged)
    else:
        assert report.lost == [] and report.salvaged == list(range(s.archived + 1, s.last + 1))
        s.check(report, s.lines, damaged)


def test_truncated_last_segment_mid_record(scenario):
    s = scenario(segment_bytes=1024, before=12, after=12)
    last_batch = s.batches[-1]
    assert last_batch[1] - last_batch[0] == 2 and last_batch[0] > s.archived
    target = last_batch[0] + 1  # the middle record of the last batch
    f, offset, length = s.where(target)
    assert f == [p for p in segment_files(s.path) if p.stat().st_size][-1]  # the last segment with data
    os.truncate(f, offset + length // 2)
    damaged = s.damaged_copy()
    report = restore(s.path)
    first, _ = s.batch_of(target)
    assert report.salvaged == list(range(s.archived + 1, first))
    assert report.lost == list(range(first, target))  # intact records of the cut batch: not salvaged
    assert [(d.file, d.offset) for d in report.damaged] == [(str(f), offset)]
    s.check(report, s.lines[: first - 1], damaged)


def test_whole_log_directory_deleted(scenario):
    s = scenario()
    shutil.rmtree(s.path / "log")
    report = restore(s.path)
    assert report.from_archive == list(range(1, s.archived + 1))
    assert report.salvaged == [] and report.lost == []
    assert report.damaged and "missing" in report.damaged[0].reason
    s.check(report, s.lines[: s.archived], None)


def test_restore_to_a_tag_needs_confirmation(scenario):
    s = scenario()
    archive = Archive(s.log, fsync=False)
    tag_sha = archive.tag("v1")
    point = s.archived
    append_batches(s.log, 3, start=100)
    old_head = archive.commit()  # a second commit after the tag
    append_batches(s.log, 2, start=200)
    end = s.log.last_seq
    all_lines = lines_of(s.path)
    before = s.damaged_copy()

    with pytest.raises(ConfirmationRequiredError) as refused:
        restore(s.path, to="v1")
    assert refused.value.discard_count == end - point
    assert f"discard {end - point} event(s)" in str(refused.value) and "quarantine" in str(refused.value)
    assert s.damaged_copy() == before  # nothing changed
    assert archive.head().sha == old_head.sha

    report = restore(s.path, to="v1", confirm=True)
    assert report.last_seq == point and report.revision == tag_sha
    assert report.discarded == list(range(point + 1, end + 1))
    assert report.salvaged == [] and report.lost == []
    s.check(report, all_lines[:point], before)  # later events only in quarantine
    repo = Repo(str(s.path / REPO_NAME))
    try:
        assert repo.refs[BRANCH] == tag_sha.encode()
        assert report.kept_branch.startswith("refs/heads/before-restore-")
        assert repo.refs[report.kept_branch.encode()] == old_head.sha.encode()
    finally:
        repo.close()
    with EventLog.open(s.path, durability="none") as fresh, Archive(fresh, fsync=False) as again:
        assert again.archived_seq() == point
        fresh.append([ev("new.history")])
        assert again.commit().first_seq == point + 1  # the archive continues from the point


def test_refusals_change_nothing(scenario, tmp_path):
    bare = EventLog.open(tmp_path / "bare", create=True, durability="none")
    bare.append([ev()])
    with pytest.raises(NoArchiveError, match="planner commit"):
        restore(tmp_path / "bare")
    bare.close()

    s = scenario()
    before = s.damaged_copy()
    with pytest.raises(NothingToRestoreError, match="nothing to restore.*--to"):
        restore(s.path)
    with pytest.raises(UnknownRevisionError):
        restore(s.path, to="no-such-tag")
    assert s.damaged_copy() == before
    assert not (s.path / "quarantine").exists()
    s.log.append([ev("still.writable")])  # no generation bump: the old handle still writes
    assert issubclass(NothingToRestoreError, RestoreError)


def test_accepts_an_open_handle_and_a_clean_but_short_log(scenario):
    s = scenario()
    # cut the log below the archive's end at a record boundary (as a repair would): it verifies clean
    first, _ = s.batch_of(s.archived - 1)
    f, offset, _ = s.where(first)
    os.truncate(f, offset)
    assert s.log.verify().ok
    report = restore(s.log)  # an open handle is accepted
    assert report.last_seq == s.archived and report.salvaged == [] and report.lost == []
    s.check(report, s.lines[: s.archived], None)


WRITER = textwrap.dedent("""
    import sys
    from eventstore import EventLog, EventStoreError, LogTruncatedError
    path, after_reopen = sys.argv[1], int(sys.argv[2])
    log = EventLog.open(path, durability="always")
    i = acks_after = 0
    reopened = False
    while not reopened or acks_after < after_reopen:
        key = f"w{i}"
        try:
            r = log.append([{"type": "w", "data": {"i": i}}], idempotency_key=key)
        except LogTruncatedError:
            log.close()
            log = EventLog.open(path, durability="always")
            reopened = True
            print("reopen", flush=True)
            continue
        print(f"ack {key} {r.first_seq} {r.last_seq}", flush=True)
        acks_after += reopened
        i += 1
    log.close()
""")


def test_restore_racing_a_writer_process(scenario):
    s = scenario()
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(s.path), "5"],
        env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        acks: list[tuple[str, int]] = []

        def read_acks(n: int) -> None:
            for _ in range(n):
                line = proc.stdout.readline()
                assert line.startswith("ack "), (line, proc.stderr.read() if not line else "")
                _, key, first, _last = line.split()
                acks.append((key, int(first)))

        read_acks(5)
        s.flip(3)  # damage behind the writer: it goes on appending
        read_acks(5)
        report = restore(s.path)  # the writer waits on the lock meanwhile
        before_restore = []
        while True:
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            if line == "reopen\n":
                break
            _, key, first, _last = line.split()
            acks.append((key, int(first)))
        before_restore = list(acks)
        after = [tuple(line.split()[1:3]) for line in proc.stdout.read().splitlines()]
        assert proc.wait() == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()

    assert report.lost == [] and report.salvaged[-1] == report.last_seq
    # every append acknowledged before the writer noticed the restore is in the restored log
    assert all(first <= report.last_seq for _, first in before_restore)
    with EventLog.open(s.path, durability="none") as fresh:
        assert fresh.verify().ok
        by_seq = {r.seq: r for r in fresh.read()}
    for key, first in before_restore:
        assert by_seq[first].cmd == key
    # and the writer, reopened, appends right after the restored end
    assert [int(first) for _, first in after] == list(range(report.last_seq + 1, report.last_seq + 6))
    assert max(by_seq) == report.last_seq + 5
    assert lines_of(s.path)[: s.last] == s.lines  # the original records, byte for byte


def test_a_restore_interrupted_mid_swap_is_finished_by_the_next(scenario, monkeypatch):
    s = scenario()
    s.flip(3)
    damaged = s.damaged_copy()
    real_rename = os.rename

    def failing_rename(src, dst):  # the old log moves away, then the new one cannot move in
        if Path(dst) == s.path / "log":
            raise OSError(5, "Input/output error")
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", failing_rename)
    with pytest.raises(EventStoreError, match="call restore again"):
        restore(s.path)
    monkeypatch.setattr(os, "rename", real_rename)
    assert not (s.path / "log").exists() and (s.path / JOURNAL_NAME).exists()
    assert len(list(s.path.glob("log.restore-*.tmp"))) == 1  # verified and kept for the next call

    report = restore(s.path)
    assert report.resumed and report.last_seq == s.last
    s.check(report, s.lines, damaged)
    with pytest.raises(NothingToRestoreError):
        restore(s.path)
