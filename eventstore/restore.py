"""Rebuild a damaged log from its git archive plus the intact tail still on disk (I7).

``restore(path)`` is the recovery for damage that ``repair()`` can only cut
at: a flipped byte in the middle of the log, a deleted or truncated segment, a
torn record that is followed by others, the whole ``log/`` directory gone.
``restore(path, to="v1", confirm=True)`` goes back to a recovery point (a tag
or commit of the archive), discarding every event after it.

What it does, in order, holding the log's append lock (no writer appends
meanwhile; a writer waits, then finds the repair generation bumped, refuses
with :class:`~eventstore.errors.LogTruncatedError` and must reopen) and the
archive's lock ``archive.lock`` (no commit runs meanwhile):

1. **From the archive**: every record line up to its head (or up to ``to``),
   byte for byte, verified by :meth:`Archive.records_at` (seqs contiguous
   from 1, every checksum).
2. **Salvage** (not with ``to``): the current segments are read line by line,
   tolerating damage, and the records right after the archive's last seq are
   taken while they are contiguous and checksum-valid, *whole batches only*
   (a batch missing any of its records is not salvaged). The salvage stops at
   the first missing seq. A damaged line that is *not* one of the records
   needed (garbage between two intact records, or a record the archive
   holds) does not stop it. If the disk still holds the archive's last record
   and it differs from the archive's, the disk's tail is from another history
   (the log was repaired or replaced after the last commit): nothing is
   salvaged. (Only that one record is compared: memory stays O(one batch).)
3. **Rebuild**: the lines are written as fresh segment files (same naming,
   rolled at the log's ``segment_bytes`` after a batch, as the writer does)
   in ``<path>/log.restore-<ts>.tmp/``; each file and the directory are
   fsynced; the result is checked with :func:`eventstore.verify.verify`
   (no problem at all, ends at the expected seq).
4. **Swap**: a journal ``<path>/restore.pending`` is written, the damaged
   ``log/`` moves to ``quarantine/restore-<ts>/log/`` (kept for a person), the
   new directory becomes ``log/``, the parent is fsynced and the journal
   removed. A crash at any point leaves either the old log (and a temporary
   directory the next restore deletes) or a swap the next ``restore`` call
   finishes first (the rebuilt directory was verified and fsynced before the
   journal existed). Snapshots beyond the restored end move to
   ``quarantine/restore-<ts>/snapshots/``. Then the repair generation in the
   lock file is bumped, as ``repair()`` does, so every handle opened before
   refuses to write until reopened.
5. **The archive is left untouched**, except with ``to``: its branch must not
   point past the restored log, so the old head is kept as
   ``refs/heads/before-restore-<ts>`` and ``refs/heads/main`` is reset to the
   recovery point (only when they differ). The next commit then continues
   from the point. The discarded events stay in the quarantined old log and
   in the archive on that branch.

Refusals (all subclasses of :class:`RestoreError`, itself an
:class:`~eventstore.errors.EventStoreError`, and all leaving everything as it
was): :class:`NoArchiveError` (restore needs at least one archive commit),
:class:`~eventstore.archive.UnknownRevisionError` (``to`` names nothing),
:class:`NothingToRestoreError` (the log verifies clean and holds everything
the archive holds: use ``to`` to go back), :class:`LogDivergedError` (the log
is clean but differs from the archive: rebuilding would drop its records),
:class:`ConfirmationRequiredError` (``to`` without ``confirm=True``; says how
many events would be discarded).

Costs: O(bytes archived up to the point) to read the archive, O(bytes on
disk) to scan the log, O(bytes restored) written and verified; memory
O(largest batch). A refusal after the scan (nothing to restore, diverged,
not confirmed) has paid the reading and writing already (the temporary
directory is deleted). No guarantee is made for files changed by hand while
restore runs other than through the log's and the archive's locks.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import NamedTuple

from dulwich.repo import Repo

from .archive import BRANCH, LOCK_NAME, REPO_NAME, Archive, ArchiveCorruptError, EmptyArchiveError
from .durability import FlushGate
from .errors import EventStoreError, InvalidArgumentError
from .fsutil import atomic_write, fsync_dir, os_error, write_all
from .locking import AppendLock
from .log import EventLog
from .record import Damage, decode, sealed
from .segments import fast_batch_end, fast_seq, iter_lines, list_segments, segment_name
from .verify import _ranges, verify

log = logging.getLogger("eventstore")

JOURNAL_NAME = "restore.pending"
_TMP_PREFIX = "log.restore-"
_TMP_SUFFIX = ".tmp"
BEFORE_RESTORE_PREFIX = "refs/heads/before-restore-"


# -- errors ----------------------------------------------------------------
class RestoreError(EventStoreError):
    """Base class of the refusals of :func:`restore`; nothing was changed."""


class NoArchiveError(EmptyArchiveError, RestoreError):
    """The log has no archive commit to restore from."""


class NothingToRestoreError(RestoreError):
    """The log verifies clean and holds every archived record."""


class LogDivergedError(RestoreError):
    """The log is clean but its record at the archive's last seq is not the archive's."""


class ConfirmationRequiredError(RestoreError):
    """Going back to a recovery point discards events; ``discard_count`` says how many."""

    def __init__(self, message: str, discard_count: int, to_seq: int):
        self.discard_count = discard_count
        self.to_seq = to_seq
        super().__init__(message)


class RestoreVerificationError(RestoreError):
    """The rebuilt log did not verify (a bug or a failing disk); the old log is untouched."""


# -- the report ------------------------------------------------------------
class DamagedRange(NamedTuple):
    """Bytes of the old log that are not intact records (``length`` 0: records missing there)."""

    file: str
    offset: int
    length: int
    reason: str

    def __str__(self) -> str:
        size = f"{self.length} bytes" if self.length else "no bytes"
        return f"{self.file} at byte {self.offset} ({size}): {self.reason}"


@dataclass
class RestoreReport:
    """What :func:`restore` did. Seq lists are ascending; ``str()`` is a short summary."""

    path: str
    last_seq: int = 0  # the restored log ends here
    from_archive: list[int] = field(default_factory=list)  # 1..archived (or 1..the point)
    salvaged: list[int] = field(default_factory=list)  # from the old log's segments, after the archive
    lost: list[int] = field(default_factory=list)  # checksum-valid records on disk that could not be kept
    damaged: list[DamagedRange] = field(default_factory=list)  # every damaged range of the old log
    stopped: str | None = None  # why the salvage stopped (None with ``to``)
    discarded: list[int] = field(default_factory=list)  # with ``to``: events after the point
    revision: str | None = None  # the archive commit restored from
    to: str | None = None
    kept_branch: str | None = None  # with ``to``: the branch keeping the archive's old head
    quarantined: list[str] = field(default_factory=list)  # the old log, stale snapshots
    quarantine_dir: str | None = None
    resumed: bool = False  # an interrupted restore's swap was finished first
    generation: int = 0  # the repair generation after the restore

    def __str__(self) -> str:
        lines = [f"restored {self.path}: the log now ends at seq {self.last_seq}"]
        source = f"tag/revision {self.to}, commit {self.revision[:12]}" if self.to else f"commit {self.revision[:12]}"
        lines.append(f"  from the archive ({source}): {len(self.from_archive)} record(s)"
                     + (f", seqs {_ranges(self.from_archive)}" if self.from_archive else ""))
        if self.to is None:
            lines.append(f"  salvaged from disk: {len(self.salvaged)} record(s)"
                         + (f", seqs {_ranges(self.salvaged)}" if self.salvaged else "")
                         + (f"; stopped: {self.stopped}" if self.stopped else ""))
            if self.lost:
                lines.append(f"  lost: {len(self.lost)} intact record(s) beyond the gap, seqs {_ranges(self.lost)}")
        else:
            lines.append(f"  discarded: {len(self.discarded)} event(s) after seq {self.last_seq}"
                         + (f" (seqs {_ranges(self.discarded)})" if self.discarded else "")
                         + (f"; the archive's old head is kept on {self.kept_branch}" if self.kept_branch else ""))
        if self.damaged:
            shown = "; ".join(str(d) for d in self.damaged[:3])
            more = f" and {len(self.damaged) - 3} more" if len(self.damaged) > 3 else ""
            lines.append(f"  damaged (in the old log, now in quarantine): {shown}{more}")
        if self.quarantine_dir:
            lines.append(f"  the old log is kept in {self.quarantine_dir}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "path": self.path, "last_seq": self.last_seq,
            "from_archive": {"count": len(self.from_archive), "seqs": _ranges(self.from_archive)},
            "salvaged": {"count": len(self.salvaged), "seqs": _ranges(self.salvaged)},
            "lost": {"count": len(self.lost), "seqs": _ranges(self.lost)},
            "damaged": [d._asdict() for d in self.damaged], "stopped": self.stopped,
            "discarded": {"count": len(self.discarded), "seqs": _ranges(self.discarded)},
            "revision": self.revision, "to": self.to, "kept_branch": self.kept_branch,
            "quarantined": self.quarantined, "quarantine_dir": self.quarantine_dir,
            "resumed": self.resumed, "generation": self.generation,
        }


# -- the entry point -------------------------------------------------------
def restore(
    path: os.PathLike | str | EventLog,
    to: str | None = None,
    confirm: bool = False,
    *,
    lock_timeout: float | None = None,
) -> RestoreReport:
    """Rebuild the log at ``path`` from its archive and the intact tail on disk.

    ``path`` is the log's directory or an open :class:`EventLog` (its path and
    ``lock_timeout`` are used; the handle itself, like every handle opened
    before, must be reopened afterwards; do not call this inside one of its
    transactions, which would wait for itself). ``to`` (a tag, ``main``, a
    ref or a commit id) goes back to that archive commit: everything after it
    is discarded, which needs ``confirm=True``. ``lock_timeout`` bounds the
    wait for each lock (None: wait as long as it takes; raises
    :class:`~eventstore.errors.LockTimeoutError`). See the module docstring
    for the guarantees, errors and costs.
    """
    if isinstance(path, EventLog):
        lock_timeout = path.lock_timeout if lock_timeout is None else lock_timeout
        path = path.path
    path = Path(path)
    if to is not None and (not isinstance(to, str) or not to):
        raise InvalidArgumentError(f"to must be a non-empty revision name or None, not {to!r}")
    meta = EventLog._read_meta(path)  # NotALogError / LogPermissionError when it is not a log
    lock = AppendLock(path / ".lock")
    archive_lock = AppendLock(path / LOCK_NAME)
    try:
        lock.acquire(lock_timeout)
        archive_lock.acquire(lock_timeout)
        return _Restore(path, meta["segment_bytes"], lock).run(to, confirm)
    finally:
        archive_lock.close()
        lock.close()


# -- the work, under both locks -------------------------------------------
class _Restore:
    def __init__(self, path: Path, segment_bytes: int, lock: AppendLock):
        self.path = path
        self.log_dir = path / "log"
        self.segment_bytes = segment_bytes
        self.lock = lock
        self.stamp = _stamp()
        self.report = RestoreReport(str(path))
        self.journaled = False  # once the journal is written, the rebuilt directory must survive

    def run(self, to: str | None, confirm: bool) -> RestoreReport:
        report = self.report
        report.to = to
        report.resumed = self._finish_interrupted()
        archive = Archive(SimpleNamespace(path=self.path), fsync=True)  # only its path is used
        try:
            head = archive.head()
            if head is None:
                raise NoArchiveError(
                    archive.path, f"nothing to restore {self.path} from: the archive has no commit yet; restore "
                    "needs at least one (run `planner commit` while the log is healthy)")
            if to is None:
                point_sha, point_seq = head.sha, head.last_seq
            else:
                point_sha, point_seq = _resolve(archive, to)
            report.revision = point_sha
            tmp = self.path / f"{_TMP_PREFIX}{self.stamp}{_TMP_SUFFIX}"
            try:
                end = self._build(archive, to, point_seq, tmp)
                if self._decide(to, confirm, head.last_seq, point_seq, end):
                    self._swap(tmp, end)
            finally:
                if tmp.exists() and not self.journaled:
                    shutil.rmtree(tmp, ignore_errors=True)
            if to is not None and head.sha != point_sha:
                self._reset_branch(archive, head.sha, point_sha)
        finally:
            archive.close()
        return report

    # -- reading and writing --------------------------------------------------
    def _build(self, archive: Archive, to: str | None, point_seq: int, tmp: Path) -> int:
        """Write the archive's lines and the salvage into ``tmp``; verify it; return its end."""
        report = self.report
        writer = _SegmentWriter(tmp, self.segment_bytes)
        try:
            batch: list[bytes] = []
            last_line = None
            for line in archive.records_at(to):
                batch.append(line)
                end = fast_batch_end(line)
                if end is None or end == fast_seq(line):
                    writer.write(batch)
                    batch = []
                last_line = line
            if batch:
                raise ArchiveCorruptError(archive.path, f"its records end inside a batch (at seq {writer.next_seq - 1 + len(batch)})")
            archived = writer.next_seq - 1
            if archived != point_seq:
                raise ArchiveCorruptError(archive.path, f"the commit says seq {point_seq} but holds {archived} records")
            report.from_archive = list(range(1, archived + 1))
            scan = _Scan(archived, last_line, writer if to is None else None)
            scan.run(self.log_dir)
            report.damaged = scan.damage
            self.diverged = scan.diverged
            if to is None:
                report.salvaged = list(range(archived + 1, writer.next_seq))
                report.stopped = scan.stopped
                report.lost = sorted(s for s in scan.valid_beyond if s >= writer.next_seq)
            else:
                report.discarded = sorted(scan.valid_beyond)  # (with the archive's, see _decide)
            writer.finish()
        finally:
            writer.close()
        end = writer.next_seq - 1
        check = verify(tmp)
        if not check.ok or check.intact_through != end:
            raise RestoreVerificationError(
                f"the log rebuilt in {tmp} does not verify ({'; '.join(map(str, check.problems)) or 'it ends at seq '}"
                f"{'' if check.problems else check.intact_through}, expected {end}): the old log is untouched")
        report.last_seq = end
        return end

    def _decide(self, to: str | None, confirm: bool, head_seq: int, point_seq: int, end: int) -> bool:
        """Refuse what must be refused, before anything changes; False: nothing to swap in."""
        report = self.report
        if to is None:
            old = verify(self.log_dir) if self.log_dir.is_dir() else None
            if old is None or not old.ok:
                return True
            if self.diverged is not None:
                raise LogDivergedError(
                    f"{self.log_dir} verifies clean but {self.diverged}: it was repaired or replaced after the "
                    f"archive's last commit; restoring would replace its records from seq {head_seq} on by the "
                    "archive's. Go back on purpose with to=<revision> and confirm=True, or move the archive aside")
            if end == old.intact_through and not report.lost:
                if report.resumed:
                    return False
                raise NothingToRestoreError(
                    f"nothing to restore: the log {self.log_dir} verifies clean and holds all {head_seq} archived "
                    "records; use to=<tag or commit> (--to) to go back to a recovery point")
            return True
        discarded = sorted(set(report.discarded) | set(range(point_seq + 1, head_seq + 1)))
        report.discarded = discarded
        if discarded and not confirm:
            raise ConfirmationRequiredError(
                f"restoring {self.path} to {to!r} (seq {point_seq}) would discard {len(discarded)} event(s) after it "
                f"(seqs {_ranges(discarded)}); they would be kept in quarantine/ (and the archive's old head on a "
                "before-restore branch). Pass confirm=True (--yes) to go ahead", len(discarded), point_seq)
        return True

    # -- swapping in -------------------------------------------------------------
    def _swap(self, tmp: Path, end: int) -> None:
        """Journal, move the old log to quarantine, rename the new one in, bump the generation,
        set stale snapshots aside, drop the journal; each step fsynced. Once the journal
        exists, ``tmp`` is never deleted: a failure from there on is finished by the next call."""
        report = self.report
        qdir = self.path / "quarantine" / f"restore-{self.stamp}"
        journal = self.path / JOURNAL_NAME
        atomic_write(journal, json.dumps({"new": tmp.name, "quarantine": str(qdir)}).encode())
        self.journaled = True
        gate = FlushGate(self.path)
        try:
            with gate.rewriting():  # drop every "durable up to" claim about the old segments
                qdir.mkdir(parents=True, exist_ok=False)
                if self.log_dir.exists():
                    os.rename(self.log_dir, qdir / "log")
                    report.quarantined.append(str(qdir / "log"))
                fsync_dir(qdir)
                fsync_dir(qdir.parent)
                os.rename(tmp, self.log_dir)
                fsync_dir(self.path)
                report.generation = self.lock.bump_generation()  # before the journal goes: never skipped
            report.quarantine_dir = str(qdir)
            self._quarantine_snapshots(end, qdir)
            journal.unlink()
            fsync_dir(self.path)
        except OSError as exc:
            raise os_error(exc, self.log_dir, "swap in the restored log (call restore again to finish it)") from None
        finally:
            gate.close()
        log.warning("restored %s: the log ends at seq %d; the old log is kept in %s", self.path, end, qdir)

    def _quarantine_snapshots(self, end: int, qdir: Path) -> None:
        from .snapshots import SnapshotStore

        store = SnapshotStore(self.path / "snapshots")
        stale = [seq for seq in store.seqs() if seq > end]
        if not stale:
            return
        target_dir = qdir / "snapshots"
        target_dir.mkdir()
        for seq in stale:
            source = store.path(seq)
            os.replace(source, target_dir / source.name)
            self.report.quarantined.append(str(target_dir / source.name))
        fsync_dir(target_dir)
        fsync_dir(store.directory)

    def _finish_interrupted(self) -> bool:
        """Finish a restore killed (or failed) mid-swap; delete stale temporary directories.

        The journal is written once the rebuilt directory is verified and fsynced: when
        ``log/`` is missing, that directory is renamed into place; when ``log/`` exists
        (killed before the old log moved, or after the new one moved in), the leftover
        is deleted. Either way the generation is bumped, as the killed call may not have.
        """
        journal = self.path / JOURNAL_NAME
        resumed = False
        if journal.exists():
            try:
                note = json.loads(journal.read_bytes())
                new = self.path / Path(note["new"]).name
                qdir = note.get("quarantine")
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                new, qdir = None, None
            if new is not None and new.is_dir() and not self.log_dir.exists():
                os.rename(new, self.log_dir)
                fsync_dir(self.path)
                resumed = True
                self.report.quarantine_dir = qdir
                if qdir and (Path(qdir) / "log").is_dir():
                    self.report.quarantined.append(str(Path(qdir) / "log"))
                log.warning("finished an interrupted restore of %s (its old log is in %s)", self.path, qdir)
            self.report.generation = self.lock.bump_generation()
            journal.unlink()
            fsync_dir(self.path)
        for stale in self.path.glob(f"{_TMP_PREFIX}*{_TMP_SUFFIX}"):
            shutil.rmtree(stale, ignore_errors=True)
        return resumed

    def _reset_branch(self, archive: Archive, old: str, point: str) -> None:
        """Keep the archive's old head on a branch; move ``main`` back to the point."""
        branch = f"{BEFORE_RESTORE_PREFIX}{self.stamp}".encode()
        repo = Repo(os.fspath(self.path / REPO_NAME))
        try:
            if not repo.refs.add_if_new(branch, old.encode()):
                raise ArchiveCorruptError(archive.path, f"{branch.decode()} exists already")
            if not repo.refs.set_if_equals(BRANCH, old.encode(), point.encode()):
                raise ArchiveCorruptError(archive.path, f"{BRANCH.decode()} moved while restore held the archive lock")
        finally:
            repo.close()
        self.report.kept_branch = branch.decode()


def _resolve(archive: Archive, rev: str) -> tuple[str, int]:
    """(commit id, last archived seq) of ``rev``; raises UnknownRevisionError."""
    if archive.head() is None:
        raise NoArchiveError(archive.path, "the archive has no commit yet")
    info = archive.commit_of(rev)
    return info.sha, info.last_seq


def _stamp() -> str:
    ns = time.time_ns()
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(ns // 1_000_000_000)) + f"{ns // 1000 % 1_000_000:06d}Z"


# -- the salvage scan ----------------------------------------------------------
class _Scan:
    """Walk every line of the old segments; feed whole contiguous batches after ``after`` to ``sink``.

    O(bytes on disk); memory O(one batch). Records every damaged range, every
    checksum-valid seq beyond what is salvaged, and why the salvage stopped.
    """

    def __init__(self, after: int, anchor: bytes | None, sink: _SegmentWriter | None):
        self.after = after
        self.anchor = anchor  # the archive's line of seq ``after``
        self.sink = sink
        self.salvaging = sink is not None
        self.expected = after + 1
        self.pending: list[bytes] = []
        self.pending_seqs: list[int] = []
        self.batch_end: int | None = None
        self.valid_beyond: set[int] = set()  # checksum-valid seqs > after not (yet) salvaged
        self.damage: list[DamagedRange] = []
        self.stopped: str | None = None
        self.diverged: str | None = None
        self._bad: list | None = None  # [file, offset, length, reason] of the current damaged run

    def run(self, log_dir: Path) -> None:
        if not log_dir.is_dir():
            self.damage.append(DamagedRange(str(log_dir), 0, 0, "the log/ directory is missing"))
            self._stop(f"the log/ directory is missing, so seq {self.expected} is not on disk")
            return
        try:
            segments = list_segments(log_dir)
        except OSError as exc:
            raise os_error(exc, log_dir, "list") from None
        if not segments:
            self._stop(f"log/ holds no segment, so seq {self.expected} is not on disk")
        for seg in segments:
            try:
                fd = os.open(seg.path, os.O_RDONLY)
            except OSError as exc:
                self._damaged(str(seg.path), 0, 0, f"unreadable: {exc.strerror or exc}")
                self._flush_bad()
                continue
            try:
                for offset, line in iter_lines(fd, 0):
                    self._line(str(seg.path), offset, line)
            except OSError as exc:
                self._damaged(str(seg.path), 0, 0, f"read failed: {exc.strerror or exc}")
            finally:
                os.close(fd)
            self._flush_bad()
            if self.pending:  # a batch never straddles segments: this one is incomplete
                self._stop(f"the batch starting at seq {self.pending_seqs[0]} is incomplete at the end of {seg.path}")
        self._stop(None)

    def _line(self, file: str, offset: int, line: bytes) -> None:
        seq = fast_seq(line) if sealed(line) else None
        if seq is not None:
            try:
                decode(line, seq)
            except Damage:
                seq = None
        if seq is None:
            if self._bad is not None and self._bad[1] + self._bad[2] == offset:
                self._bad[2] += len(line)
            else:
                self._flush_bad()
                self._damaged(file, offset, len(line), _reason(line))
            return
        self._flush_bad()
        if seq <= self.after:
            if seq == self.after and self.anchor is not None and line != self.anchor:
                self.diverged = (f"its record of seq {seq} ({file} at byte {offset}) is not the archive's "
                                 "record of that seq")
                self._stop(f"the log diverged from the archive: {self.diverged}")
            return
        if not self.salvaging:
            self.valid_beyond.add(seq)
            return
        if seq != self.expected:
            self.valid_beyond.add(seq)
            self._stop(f"seq {self.expected} is missing or damaged (the next intact record on disk is seq {seq}, "
                       f"{file} at byte {offset})")
            return
        end = fast_batch_end(line)
        if self.batch_end is None:
            if end is not None and end <= seq:
                self.valid_beyond.add(seq)
                self._stop(f"seq {seq} ({file} at byte {offset}) names an impossible batch end {end}")
                return
            self.batch_end = end
        elif end != self.batch_end:
            self.valid_beyond.add(seq)
            self._stop(f"the batch starting at seq {self.pending_seqs[0]} is incomplete ({file} at byte {offset})")
            return
        self.pending.append(line)
        self.pending_seqs.append(seq)
        self.valid_beyond.add(seq)
        self.expected += 1
        if self.batch_end is None or seq == self.batch_end:
            self.sink.write(self.pending)
            self.valid_beyond.difference_update(self.pending_seqs)
            self.pending, self.pending_seqs, self.batch_end = [], [], None

    def _stop(self, reason: str | None) -> None:
        """End the salvage (once): an unfinished batch is dropped (its seqs stay in valid_beyond)."""
        if not self.salvaging:
            return
        self.salvaging = False
        self.pending, self.pending_seqs, self.batch_end = [], [], None
        self.stopped = reason or f"the end of the log (seq {self.expected - 1})"

    def _damaged(self, file: str, offset: int, length: int, reason: str) -> None:
        self._bad = [file, offset, length, reason]

    def _flush_bad(self) -> None:
        if self._bad is not None:
            self.damage.append(DamagedRange(*self._bad))
            self._bad = None


def _reason(line: bytes) -> str:
    try:
        decode(line, fast_seq(line) or 0)
    except Damage as damage:
        return damage.reason
    return "not the record expected here"


# -- writing segments -------------------------------------------------------
class _SegmentWriter:
    """Writes whole batches into segment files as the log's writer lays them out.

    A batch goes into the current segment; once a segment reaches
    ``segment_bytes`` it is fsynced and closed, and the next one (named by
    the next seq) is created at once, as ``EventLog`` rolls. O(bytes).
    """

    def __init__(self, directory: Path, segment_bytes: int):
        self.directory = directory
        self.segment_bytes = segment_bytes
        self.next_seq = 1
        self._fd: int | None = None
        self._size = 0
        directory.mkdir()
        self._open()

    def _open(self) -> None:
        path = self.directory / segment_name(self.next_seq)
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as exc:
            raise os_error(exc, path, "create") from None
        self._size = 0

    def write(self, lines: list[bytes]) -> None:
        data = b"".join(lines)
        try:
            write_all(self._fd, data)
        except OSError as exc:
            raise os_error(exc, self.directory, "write the restored log in") from None
        self._size += len(data)
        self.next_seq += len(lines)
        if self._size >= self.segment_bytes:
            self._seal()
            self._open()

    def _seal(self) -> None:
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = None

    def finish(self) -> None:
        """fsync the last segment and the directory."""
        self._seal()
        fsync_dir(self.directory)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
