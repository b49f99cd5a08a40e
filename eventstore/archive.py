"""The git archive of a log: every batch, byte for byte, in a bare git repository.

One bare repository per log, written with dulwich (no ``git`` binary needed), beside a
file store's log or, for a store without files (PostgreSQL), in a directory its caller
names (``Archive(store, directory=...)``); such a store's records are read through the
storage protocol and encoded exactly as the file log writes them, so the archive of the
same records holds the same bytes whichever store kept them::

    <log dir>/archive.git/                  bare repository, branch refs/heads/main
        events/<NNNNNN>/<MMM>-<first>-<last>.jsonl
                                            the raw record lines of commit number
                                            N*1000+M: byte-identical to the log
        state/...                           files from the ``render`` callback, if any
    <log dir>/archive.lock                  the committers' lock (flock)

It is never the user's repository: nothing here touches any other ``.git``,
index, working tree or branch, and the repository has no working tree.

One commit archives one run of whole batches (everything appended since the
previous commit, or at most about ``max_events`` of it). Its message is a
summary line, a body (both from the ``describe`` callback; by default the
event count and the event types with their counts) and trailers::

    Archived-Seqs: 38..52
    Archive-Commit: 2
    Archive-Position: 1:10440
    Archived-Last-Id: 5a0f...

``Archived-Seqs`` and ``Archive-Commit`` are the archive's state: the last
archived seq and the commit number are read from the head commit alone (O(1)
in history). ``Archive-Position`` (the segment's first seq and the byte just
after the last archived record) lets the next commit start reading the log
there, after checking that the record ending at that byte is the archived one
(``Archived-Last-Id``): O(one line) instead of a scan of the segment. Author
and committer are ``superplanner <planner@localhost>`` at the batch's last
record's ``ts`` (UTC), so the same batches give the same commit ids.

Guarantees:

* **Exactly once, in order**: each commit archives the records right after the
  head's ``Archived-Seqs``, so the archive's lines, commit by commit, are the
  log's lines from seq 1 with no gap and no repeat (``records_at`` checks it
  while reading).
* **Byte-identical**: the lines are read back from the segment files (never
  re-encoded) and each is checked against the verified record of the same seq
  (seq and checksum) before it is written. Through the protocol, each batch
  is sealed again as the file log seals it (:func:`eventstore.batches.batch_lines`).
* **Concurrent committers**: :meth:`Archive.commit` takes a non-blocking
  ``flock`` on ``archive.lock``; a second committer returns None at once. The
  kernel releases a dead owner's flock, and under the lock any git
  ``*.lock`` file left by a killed committer is known to be stale and is
  removed, so a committer killed at any point never blocks the next one.
  Objects are written before the branch moves (compare-and-swap on the
  parent): a commit is published whole or not at all; a killed committer
  leaves at most unreferenced objects (harmless; ``git gc`` prunes them).
* **Never in the writers' way**: the log is read lock-free; the log's append
  lock is never taken, so archiving never delays an append.
* **Durable** (``fsync=True``, the default): object files are fsynced before
  the branch ref (which dulwich fsyncs) is replaced.
* **Derived** (invariant I7): the archive can be deleted and rebuilt from the
  log; the log up to ``archived_seq()`` can be rebuilt from ``records_at()``.

Costs: a commit reads the head commit and its trees along one path, the new
records once (lock-free reader) and their bytes once, and writes one blob, one
``events/<N>`` tree of at most 1,000 entries, the ``events`` tree (one entry
per 1,000 commits), the root tree, the ``state`` trees along the rendered
paths and the commit: O(batch + 1,000), independent of the history's length.
``archived_seq``: one ref read and one commit read. ``history(limit)``:
O(limit) commit reads. ``records_at``: O(bytes archived up to the revision).
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from dulwich.file import FileLocked
from dulwich.objects import Blob, Commit, ShaFile, Tag, Tree
from dulwich.refs import check_ref_format
from dulwich.repo import Repo

from .batches import batch_lines, read_batches
from .errors import EventStoreError, InvalidArgumentError
from .fsutil import fsync_dir
from .log import EventLog
from .reader import LogReader
from .record import Record, sealed
from .segments import ends_batch, fast_seq, segment_name
from .store import Store

REPO_NAME = "archive.git"
LOCK_NAME = "archive.lock"
BRANCH = b"refs/heads/main"
TAG_PREFIX = b"refs/tags/"
IDENTITY = b"superplanner <planner@localhost>"
#: blobs per ``events/<N>`` tree: bounds every tree a commit rewrites
PER_DIR = 1000
#: every this many commits, the loose objects are packed into one pack file: a loose object
#: costs a whole filesystem block (4 KiB for a ~100-byte tree), a pack stores them back to back
PACK_EVERY = 64

_FILE_MODE = 0o100644
_DIR_MODE = 0o040000
_TRAILER = re.compile(r"^([A-Za-z][A-Za-z0-9-]*): (.*)$")
_EVENTS_NAME = re.compile(rb"^(\d{3})-(\d+)-(\d+)\.jsonl$")

#: ``render(records) -> {path: bytes or None}``: files under ``state/`` (None removes one)
Render = Callable[[list[Record]], Mapping[str, "bytes | None"]]
#: ``describe(records) -> (summary line, body)``: the commit message above the trailers
Describe = Callable[[list[Record]], tuple[str, str]]


# -- errors ----------------------------------------------------------------
class ArchiveError(EventStoreError):
    """Base class of the archive's errors; ``path`` is the repository."""

    def __init__(self, path: os.PathLike | str, message: str):
        self.path = os.fspath(path)
        super().__init__(f"git archive {self.path}: {message}")


class ArchiveCorruptError(ArchiveError):
    """The repository does not hold what this module writes (a commit without
    trailers, a missing object, a gap in the archived seqs). Move it aside: it
    can be rebuilt from the log (I7)."""


class ArchiveDivergedError(ArchiveError):
    """The log no longer holds, where the archive ends, the record the archive
    holds there: the log was repaired, cut or replaced. Restore the log from the
    archive, or move the archive aside to start a new one."""


class UnknownRevisionError(ArchiveError, LookupError):
    """A revision (tag, ref or commit id) that the archive does not have."""


class TagExistsError(ArchiveError):
    """A tag of that name exists already; tags are never moved."""


class InvalidTagNameError(ArchiveError, InvalidArgumentError):
    """The tag name is not a valid git ref name component."""


class EmptyArchiveError(ArchiveError):
    """The operation needs a commit, and the archive has none yet."""


# -- values ----------------------------------------------------------------
class CommitInfo(NamedTuple):
    """One archive commit: ``seconds`` is its commit time (the batch's last ts, Unix seconds)."""

    sha: str
    number: int
    first_seq: int
    last_seq: int
    events: int
    seconds: int


class TagInfo(NamedTuple):
    """A tag: the commit it names (peeled) and that commit's last archived seq."""

    name: str
    sha: str
    archived_seq: int


class _Head(NamedTuple):
    """What the head commit says (parsed from its trailers)."""

    info: CommitInfo
    tree: bytes
    position: tuple[int, int] | None  # (segment first seq, byte after the last archived record)
    last_id: str | None


class _Batch(NamedTuple):
    records: list[Record]
    raw: bytes
    position: tuple[int, int] | None  # where it ends in the file log (None: read through the protocol)


def default_describe(records: list[Record]) -> tuple[str, str]:
    """``"N events (seqs a..b)"`` and one ``type: count`` line per event type, most frequent first."""
    first, last = records[0].seq, records[-1].seq
    noun = "event" if len(records) == 1 else "events"
    summary = f"{len(records)} {noun} (seqs {first}..{last})"
    counts = Counter(r.type for r in records)
    body = "\n".join(f"{kind}: {n}" for kind, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return summary, body


def _ts_seconds(ts: str) -> int:
    """Unix seconds of a record's ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` timestamp."""
    return int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp())


class Archive:
    """The git archive of one :class:`~eventstore.EventLog`; see the module docstring.

    ``render`` and ``describe`` are the domain's hooks (eventstore knows no
    tasks): ``render(records)`` returns files (``"a/b.json" -> bytes``, or None
    to remove one) to put under ``state/`` in the commit of those records, the
    other state files being kept from the parent; ``describe(records)``
    returns the message's summary line and body. ``fsync=False`` skips the
    object fsyncs (tests, throwaway logs).

    Safe to share between threads and processes: commits exclude each other
    through the flock; reads only read immutable objects and the ref file.
    """

    def __init__(
        self,
        log: Store,
        render: Render | None = None,
        describe: Describe | None = None,
        *,
        fsync: bool = True,
        directory: os.PathLike | str | None = None,
    ):
        if directory is None:
            if getattr(log, "path", None) is None:
                where = getattr(log, "where", log.name)  # (a PostgreSQL store's name, its password masked)
                raise InvalidArgumentError(f"{where} keeps no files: name the directory to keep its git archive in")
            directory = log.path
        self.log = log
        self.pack_every = PACK_EVERY
        self.path: Path = Path(directory) / REPO_NAME
        self.lock_path: Path = Path(directory) / LOCK_NAME
        self.render = render
        self.describe = describe or default_describe
        self.fsync = fsync
        self._repo_obj: Repo | None = None

    def __enter__(self) -> Archive:
        return self

    @property
    def _where(self) -> str:
        """The archived log, for messages: its directory, or the store's name (password masked)."""
        return str(getattr(self.log, "path", None) or getattr(self.log, "where", self.log.name))

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Archive {self.path}>"

    def close(self) -> None:
        """Release the repository's open files. Idempotent; the archive reopens on next use."""
        if self._repo_obj is not None:
            self._repo_obj.close()
            self._repo_obj = None

    # -- reading -------------------------------------------------------------
    def archived_seq(self) -> int:
        """The last archived seq (0 when nothing is). One ref and one commit read: O(1) in history."""
        head = self._head()
        return 0 if head is None else head.info.last_seq

    def head(self) -> CommitInfo | None:
        """The newest commit, or None. O(1) in history."""
        head = self._head()
        return None if head is None else head.info

    def commit_of(self, rev: str | None = None) -> CommitInfo:
        """The commit ``rev`` names (a tag name, ``main``/``HEAD``, a full ref name or a commit id;
        None: the head). Raises :class:`EmptyArchiveError` or :class:`UnknownRevisionError`. O(1)."""
        repo = self._repo()
        sha = None if repo is None else self._resolve(repo, rev)
        if repo is None or sha is None:
            raise EmptyArchiveError(self.path, "the archive has no commit yet")
        return self._parse(self._commit(repo, sha)).info

    def history(self, limit: int | None = None) -> list[CommitInfo]:
        """The commits, newest first (at most ``limit``). O(commits returned)."""
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise InvalidArgumentError(f"limit must be an int >= 0 or None, not {limit!r}")
        repo = self._repo()
        if repo is None:
            return []
        sha = self._ref(repo, BRANCH)
        found: list[CommitInfo] = []
        while sha is not None and (limit is None or len(found) < limit):
            commit = self._commit(repo, sha)
            found.append(self._parse(commit).info)
            sha = commit.parents[0] if commit.parents else None
        return found

    def records_at(self, rev: str | None = None) -> Iterator[bytes]:
        """Every archived record line up to ``rev`` (default: the head), in seq order.

        ``rev`` is a tag name, ``main``/``HEAD``, a full ref name or a commit id.
        The lines are exactly the log's bytes (newline included); the run is
        checked while reading: seqs contiguous from 1, every checksum valid, the
        end equal to the commit's ``Archived-Seqs`` (else
        :class:`ArchiveCorruptError`). Raises :class:`UnknownRevisionError`.
        Lazy; O(bytes archived up to ``rev``), one blob in memory at a time.
        """
        repo = self._repo()
        if repo is None:
            if rev is None:
                return iter(())
            raise UnknownRevisionError(self.path, f"no revision {rev!r}: the archive is empty")
        sha = self._resolve(repo, rev)
        if sha is None:
            return iter(())
        return self._lines(repo, sha)

    def _lines(self, repo: Repo, sha: bytes) -> Iterator[bytes]:
        head = self._parse(self._commit(repo, sha))
        events = self._subtree(repo, head.tree, b"events")
        expected = 1
        if events is not None:
            for dir_name in sorted(e.path for e in events.iteritems() if e.path.isdigit()):
                sub = self._subtree(repo, events.id, dir_name, events)
                assert sub is not None
                blobs = []
                for entry in sub.iteritems():
                    match = _EVENTS_NAME.match(entry.path)
                    if match is None:
                        raise ArchiveCorruptError(self.path, f"unexpected file events/{entry.path.decode()}")
                    blobs.append((int(match.group(2)), int(match.group(3)), entry.sha))
                for first, last, blob_sha in sorted(blobs):
                    if first != expected:
                        raise ArchiveCorruptError(
                            self.path, f"events/{dir_name.decode()} starts at seq {first} where seq {expected} "
                            "was expected (a gap or a repeat)")
                    blob = self._object(repo, blob_sha, Blob)
                    for line in blob.as_raw_string().splitlines(keepends=True):
                        if fast_seq(line) != expected or not sealed(line):
                            raise ArchiveCorruptError(
                                self.path, f"blob {blob_sha.decode()} holds a line that is not a valid record "
                                f"of seq {expected}")
                        yield line
                        expected += 1
                    if expected != last + 1:
                        raise ArchiveCorruptError(
                            self.path, f"blob {blob_sha.decode()} is named {first}..{last} but ends at seq "
                            f"{expected - 1}")
        if expected - 1 != head.info.last_seq:
            raise ArchiveCorruptError(
                self.path, f"commit {head.info.sha} says Archived-Seqs ends at {head.info.last_seq} but its "
                f"events end at {expected - 1}")

    def tags(self) -> list[TagInfo]:
        """Every tag, in archived-seq then name order. O(tags)."""
        repo = self._repo()
        if repo is None:
            return []
        found = []
        for name, sha in repo.refs.as_dict(TAG_PREFIX).items():
            commit_sha = self._peel(repo, sha)
            info = self._parse(self._commit(repo, commit_sha)).info
            found.append(TagInfo(name.decode(), commit_sha.decode(), info.last_seq))
        found.sort(key=lambda t: (t.archived_seq, t.name))
        return found

    # -- writing -------------------------------------------------------------
    def commit(self, force: bool = False, min_events: int = 1, max_events: int | None = None) -> CommitInfo | None:
        """Archive the whole batches appended since the last commit, as one commit.

        Returns None, having written nothing, when another committer holds the
        archive's lock (it is committing: no waiting), or when fewer than
        ``min_events`` records (or none, with ``force=True``) wait. With
        ``max_events`` the commit stops at the first batch end at or after that
        many records (the rest waits for the next commit). Never takes the
        log's append lock. Raises :class:`ArchiveDivergedError` when the log
        does not continue the archive, :class:`ArchiveCorruptError` when the
        repository is not as this module writes it, and the log's own errors
        (e.g. ``CorruptLogError`` at mid-log damage). Cost: O(batch + 1,000),
        see the module docstring.
        """
        if not isinstance(min_events, int) or min_events < 1:
            raise InvalidArgumentError(f"min_events must be an int >= 1, not {min_events!r}")
        if max_events is not None and (not isinstance(max_events, int) or max_events < 1):
            raise InvalidArgumentError(f"max_events must be an int >= 1 or None, not {max_events!r}")
        fd = self._lock(blocking=False)
        if fd is None:
            return None
        try:
            repo = self._repo(create=True)
            assert repo is not None
            head = self._head(repo)
            archived = 0 if head is None else head.info.last_seq
            end = self.log.last_seq
            if end < archived:
                raise ArchiveDivergedError(
                    self.path, f"the archive ends at seq {archived} but the log ({self._where}) ends at seq "
                    f"{end}: it was cut (a repair?); restore its tail from the archive (records_at)")
            if end - archived < (1 if force else min_events):
                return None
            batch = self._collect(head, max_events)
            if not batch.records or (not force and len(batch.records) < min_events):
                return None
            commit, objects = self._build(repo, head, batch)
            self._store(repo, objects)
            self._publish(repo, None if head is None else head.info.sha.encode(), commit.id)
            info = self._parse(commit).info
            if self.pack_every and info.number % self.pack_every == 0:
                self._pack(repo, whole=info.number % self.pack_every ** 2 == 0)
            return info
        finally:
            os.close(fd)

    def tag(self, name: str, message: str | None = None) -> str:
        """Tag the head commit as ``refs/tags/<name>``; returns the commit id.

        Annotated (tagger ``superplanner``, now) when ``message`` is given,
        lightweight otherwise. Waits for a commit in progress. Raises
        :class:`InvalidTagNameError`, :class:`TagExistsError` (a tag never
        moves) or :class:`EmptyArchiveError`. O(1).
        """
        if not isinstance(name, str) or not name or not check_ref_format(TAG_PREFIX + name.encode()):
            raise InvalidTagNameError(self.path, f"{name!r} is not a valid tag name (see git check-ref-format)")
        ref = TAG_PREFIX + name.encode()
        fd = self._lock(blocking=True)
        assert fd is not None
        try:
            repo = self._repo()
            head = None if repo is None else self._ref(repo, BRANCH)
            if repo is None or head is None:
                raise EmptyArchiveError(self.path, f"nothing to tag as {name!r}: commit first")
            if self._ref(repo, ref) is not None:
                raise TagExistsError(self.path, f"tag {name!r} exists already (tags never move): choose another name")
            target = head
            if message is not None:
                tag = Tag()
                tag.name = name.encode()
                tag.object = (Commit, head)
                tag.tagger = IDENTITY
                tag.tag_time = int(time.time())
                tag.tag_timezone = 0
                tag.message = message.encode() + (b"" if message.endswith("\n") else b"\n")
                self._store(repo, [tag])
                target = tag.id
            self._clear_stale(self.path / ref.decode())
            if not repo.refs.add_if_new(ref, target):
                raise TagExistsError(self.path, f"tag {name!r} appeared while tagging")
            return head.decode()
        finally:
            os.close(fd)

    # -- the commit's steps ----------------------------------------------------
    def _collect(self, head: _Head | None, max_events: int | None) -> _Batch:
        """The whole batches after the head: verified records and their raw bytes. O(batch)."""
        if not isinstance(self.log, EventLog):
            return self._collect_through_protocol(head, max_events)
        from_seq = 1 if head is None else head.info.last_seq + 1
        reader = self._position(head, from_seq)
        records: list[Record] = []
        pieces: list[list[int]] = []  # [segment first seq, start byte, end byte] read from each segment
        try:
            start_segment, start_offset = reader.segment_first, reader.offset
            for record in reader.poll():
                if not records and record.seq != from_seq:
                    raise ArchiveDivergedError(
                        self.path, f"the log's batch at seq {record.seq} does not start right after the "
                        f"archived seq {from_seq - 1}")
                if not pieces or pieces[-1][0] != reader.segment_first:  # the first record, or a roll
                    start = start_offset if reader.segment_first == start_segment else 0
                    pieces.append([reader.segment_first, start, start])
                records.append(record)
                # The reader advances past a run of whole batches before yielding it: at
                # that run's last record its offset is exactly where the record ends.
                if record.seq == reader.next_seq - 1:
                    pieces[-1][2] = reader.offset
                    if max_events is not None and len(records) >= max_events:
                        break
        finally:
            reader.close()
        return self._bytes(records, pieces, max_events)

    def _collect_through_protocol(self, head: _Head | None, max_events: int | None) -> _Batch:
        """The whole batches after the head, read through the storage protocol and encoded as the
        file log encodes them (:func:`~eventstore.batches.batch_lines`): the same bytes a file
        store's archive holds for the same records. O(batch); the record at the head's seq is
        checked to be the archived one first (else ArchiveDivergedError)."""
        from_seq = 1 if head is None else head.info.last_seq + 1
        if head is not None:
            last = next(iter(self.log.read(head.info.last_seq, head.info.last_seq)), None)
            if last is None:
                raise ArchiveDivergedError(self.path, f"the archive ends at seq {head.info.last_seq} but "
                                           f"{self.log.name} has no record there: it was replaced")
            self._check_same(last, head)
        records: list[Record] = []
        chunks: list[bytes] = []
        for batch in read_batches(self.log, self.log.last_seq, from_seq):
            if batch[0].seq != from_seq + len(records):
                raise ArchiveDivergedError(self.path, f"the batch at seq {batch[0].seq} does not start right "
                                           f"after seq {from_seq + len(records) - 1}")
            records += batch
            chunks.append(batch_lines(batch))
            if max_events is not None and len(records) >= max_events:
                break
        return _Batch(records, b"".join(chunks), None)

    def _position(self, head: _Head | None, from_seq: int) -> LogReader:
        """A reader at the batch that starts at ``from_seq``, having checked that the
        log's record ``from_seq - 1`` is the archive's last (else ArchiveDivergedError).

        O(one line) through the head's ``Archive-Position``; otherwise (a first
        commit, or a position the log disagrees with) the reader's own seek,
        O(bytes of that segment before the record).
        """
        if head is None:
            return self.log.tail(1)
        if head.position is not None:
            reader = LogReader(self.log.log_dir, roll_bytes=self.log.segment_bytes)
            record = reader.jump(head.position[0], head.position[1], head.info.last_seq)
            if record is not None:
                self._check_same(record, head)
                return reader
            reader.close()
        reader = self.log.tail(from_seq)
        record = reader.record_before(head.info.last_seq)
        if record is None:
            reader.close()
            raise ArchiveDivergedError(
                self.path, f"the archive ends at seq {head.info.last_seq} but the log ({self.log.path}) has no "
                "record there that ends a batch: it was cut or replaced; restore it from the archive or move "
                "the archive aside")
        self._check_same(record, head)
        return reader

    def _check_same(self, record: Record, head: _Head) -> None:
        if head.last_id is not None and record.id != head.last_id:
            raise ArchiveDivergedError(
                self.path, f"the log's record {record.seq} has id {record.id} but the archive's has id "
                f"{head.last_id}: the log was replaced; restore it from the archive or move the archive aside")

    def _bytes(self, records: list[Record], pieces: list[list[int]], max_events: int | None) -> _Batch:
        """Read the records' raw lines from the segments and check them against the records.

        Each line must carry the record's seq and a valid checksum (the bytes
        the reader verified; they differ only if a repair rewrote the log under
        us). With ``max_events``, cut at the first batch end at or after it.
        """
        chunks = []
        for segment_first, start, end in pieces:
            path = self.log.log_dir / segment_name(segment_first)
            with open(path, "rb") as f:
                data = os.pread(f.fileno(), end - start, start)
            if len(data) != end - start:
                raise ArchiveDivergedError(self.path, f"{path} became shorter while archiving: a repair ran; retry")
            chunks.append(data)
        raw = b"".join(chunks)
        lines = raw.splitlines(keepends=True)
        if len(lines) != len(records):
            raise ArchiveDivergedError(
                self.path, f"read {len(lines)} lines for {len(records)} records from {self.log.log_dir}: "
                "the log changed while archiving; retry")
        used = 0
        for i, (line, record) in enumerate(zip(lines, records, strict=True)):
            if fast_seq(line) != record.seq or not sealed(line):
                raise ArchiveDivergedError(
                    self.path, f"the line read for seq {record.seq} from {self.log.log_dir} is not that record: "
                    "the log changed while archiving; retry")
            used += len(line)
            if max_events is not None and i + 1 >= max_events and i + 1 < len(records) and ends_batch(line):
                records, raw = records[: i + 1], raw[:used]
                break
        position = (1, 0)
        kept = len(raw)  # where the last kept record ends, for the next commit's jump
        for segment_first, start, end in pieces:
            if kept <= end - start:
                position = (segment_first, start + kept)
                break
            kept -= end - start
        return _Batch(records, raw, position)

    def _build(self, repo: Repo, head: _Head | None, batch: _Batch) -> tuple[Commit, list[ShaFile]]:
        """The commit of ``batch`` and every new object it needs (children first). O(batch + 1,000)."""
        records = batch.records
        first, last = records[0].seq, records[-1].seq
        number = 1 if head is None else head.info.number + 1
        objects: list[ShaFile] = []
        blob = Blob.from_string(batch.raw)
        objects.append(blob)
        root = self._copy(repo, None if head is None else head.tree)
        events = self._copy(repo, _entry(root, b"events"))
        dir_name = f"{number // PER_DIR:06d}".encode()
        sub = self._copy(repo, _entry(events, dir_name))
        sub.add(f"{number % PER_DIR:03d}-{first}-{last}.jsonl".encode(), _FILE_MODE, blob.id)
        objects.append(sub)
        events.add(dir_name, _DIR_MODE, sub.id)
        objects.append(events)
        root.add(b"events", _DIR_MODE, events.id)
        if self.render is not None:
            files = self.render(records)
            if files:
                changes = {_state_path(self.path, path): data for path, data in files.items()}
                state = self._merge(repo, _entry(root, b"state"), changes, objects)
                if state is None:
                    if b"state" in root:
                        del root[b"state"]
                else:
                    root.add(b"state", _DIR_MODE, state)
        objects.append(root)
        summary, body = self.describe(records)
        summary = " ".join(str(summary).split()) or default_describe(records)[0]
        body = str(body).strip("\n")
        trailers = (
            f"Archived-Seqs: {first}..{last}\n"
            f"Archive-Commit: {number}\n"
            + (f"Archive-Position: {batch.position[0]}:{batch.position[1]}\n" if batch.position else "")
            + f"Archived-Last-Id: {records[-1].id}\n"
        )
        message = f"{summary}\n\n" + (f"{body}\n\n" if body else "") + trailers
        commit = Commit()
        commit.tree = root.id
        commit.parents = [] if head is None else [head.info.sha.encode()]
        commit.author = commit.committer = IDENTITY
        commit.author_time = commit.commit_time = _ts_seconds(records[-1].ts)
        commit.author_timezone = commit.commit_timezone = 0
        commit.encoding = b"UTF-8"
        commit.message = message.encode()
        objects.append(commit)
        return commit, objects

    def _merge(self, repo: Repo, base: bytes | None, changes: dict, objects: list[ShaFile]) -> bytes | None:
        """Apply ``{(part, ...): bytes | None}`` to the tree ``base``; the new tree's id, or
        None when it ends up empty. O(changed paths x depth x entries of the trees on them)."""
        tree = self._copy(repo, base)
        files: dict[bytes, bytes | None] = {}
        dirs: dict[bytes, dict] = {}
        for parts, data in changes.items():
            if len(parts) == 1:
                files[parts[0]] = data
            else:
                dirs.setdefault(parts[0], {})[parts[1:]] = data
        for name, data in files.items():
            if name in dirs:
                raise InvalidArgumentError(f"render() gave {name.decode()!r} both as a file and as a directory")
            if data is None:
                if name in tree:
                    del tree[name]
                continue
            if not isinstance(data, bytes | bytearray | memoryview):
                raise InvalidArgumentError(f"render() must give bytes (or None) per path, not {type(data).__name__}")
            blob = Blob.from_string(bytes(data))
            objects.append(blob)
            tree.add(name, _FILE_MODE, blob.id)
        for name, sub_changes in dirs.items():
            sub = self._merge(repo, _entry(tree, name, _DIR_MODE), sub_changes, objects)
            if sub is None:
                if name in tree:
                    del tree[name]
            else:
                tree.add(name, _DIR_MODE, sub)
        if not len(tree):
            return None
        objects.append(tree)
        return tree.id

    def _store(self, repo: Repo, objects: list[ShaFile]) -> None:
        """Write loose objects, children first. Under the lock, an object's ``.lock``
        file can only be a dead committer's: it is removed and the write retried."""
        store = repo.object_store
        store.fsync_object_files = self.fsync
        for obj in objects:
            try:
                store.add_object(obj)
            except FileLocked as exc:
                self._clear_stale(Path(os.fsdecode(exc.filename)))
                store.add_object(obj)

    @staticmethod
    def _pack(repo: Repo, whole: bool) -> None:
        """Pack the loose objects into one pack file (every ``pack_every`` commits), or every
        pack and loose object into one (every ``pack_every``² commits, so that lookups, which
        try each pack in turn, stay cheap). The new pack is complete before anything it
        replaces is deleted: a committer killed in between leaves duplicates, which git and
        dulwich read alike. O(objects packed); in the committer's process, never an appender's."""
        store = repo.object_store
        if whole:
            store.repack()
        else:
            store.pack_loose_objects()

    def _publish(self, repo: Repo, old: bytes | None, new: bytes) -> None:
        """Move the branch from ``old`` to ``new`` (compare-and-swap). The commit is visible from here."""
        self._clear_stale(self.path / BRANCH.decode())
        moved = repo.refs.add_if_new(BRANCH, new) if old is None else repo.refs.set_if_equals(BRANCH, old, new)
        if not moved:
            raise ArchiveCorruptError(
                self.path, f"{BRANCH.decode()} moved while this committer held {self.lock_path}: something "
                "outside eventstore writes to the archive")

    @staticmethod
    def _clear_stale(target: Path) -> None:
        """Remove git's ``<target>.lock``: only called under the archive lock, where it is stale."""
        try:
            os.unlink(f"{target}.lock")
        except FileNotFoundError:
            pass

    # -- plumbing --------------------------------------------------------------
    def _lock(self, blocking: bool) -> int | None:
        """An fd holding ``flock(LOCK_EX)`` on ``archive.lock``, or None (non-blocking, taken)."""
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise ArchiveError(self.lock_path, f"cannot open the archive lock: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return None
            raise ArchiveError(self.lock_path, f"cannot lock: {exc.strerror or exc}") from None
        return fd

    def _repo(self, create: bool = False) -> Repo | None:
        """The repository (None if it does not exist). ``create`` (under the lock only)
        makes it in a temporary directory renamed into place, so no reader ever sees
        half a repository."""
        if self._repo_obj is not None:
            return self._repo_obj
        if not (self.path / "HEAD").exists():
            if not create:
                return None
            parent = self.path.parent
            for stale in parent.glob(f"{REPO_NAME}.tmp-*"):  # a dead creator's
                shutil.rmtree(stale, ignore_errors=True)
            tmp = parent / f"{REPO_NAME}.tmp-{os.getpid()}"
            Repo.init_bare(tmp, mkdir=True, default_branch=b"main").close()
            os.rename(tmp, self.path)
            fsync_dir(parent)
        try:
            self._repo_obj = Repo(os.fspath(self.path))
        except Exception as exc:  # dulwich raises NotGitRepository and friends
            raise ArchiveCorruptError(self.path, f"cannot open the repository: {exc}") from None
        return self._repo_obj

    def _head(self, repo: Repo | None = None) -> _Head | None:
        repo = repo or self._repo()
        if repo is None:
            return None
        sha = self._ref(repo, BRANCH)
        return None if sha is None else self._parse(self._commit(repo, sha))

    @staticmethod
    def _ref(repo: Repo, name: bytes) -> bytes | None:
        return repo.refs.read_ref(name)

    def _object(self, repo: Repo, sha: bytes, kind: type) -> ShaFile:
        try:
            obj = repo.object_store[sha]
        except KeyError:
            raise ArchiveCorruptError(self.path, f"object {sha.decode()} is missing") from None
        if not isinstance(obj, kind):
            raise ArchiveCorruptError(self.path, f"object {sha.decode()} is a {obj.type_name.decode()}, "
                                      f"not a {kind.type_name.decode()}")
        return obj

    def _commit(self, repo: Repo, sha: bytes) -> Commit:
        return self._object(repo, sha, Commit)  # type: ignore[return-value]

    def _copy(self, repo: Repo, sha: bytes | None) -> Tree:
        """A new, modifiable tree with the entries of tree ``sha`` (empty for None). O(entries)."""
        tree = Tree()
        if sha is not None:
            for entry in self._object(repo, sha, Tree).iteritems():
                tree.add(entry.path, entry.mode, entry.sha)
        return tree

    def _subtree(self, repo: Repo, tree_sha: bytes, name: bytes, tree: Tree | None = None) -> Tree | None:
        tree = tree or self._object(repo, tree_sha, Tree)
        sha = _entry(tree, name, _DIR_MODE)
        return None if sha is None else self._object(repo, sha, Tree)  # type: ignore[return-value]

    def _parse(self, commit: Commit) -> _Head:
        """The archive's state from a commit's trailers (the message's last paragraph)."""
        text = commit.message.decode("utf-8", "replace").rstrip("\n")
        trailers = {}
        for line in text.rsplit("\n\n", 1)[-1].splitlines():
            match = _TRAILER.match(line)
            if match:
                trailers[match.group(1)] = match.group(2).strip()
        sha = commit.id.decode()
        try:
            first, last = (int(x) for x in trailers["Archived-Seqs"].split(".."))
            number = int(trailers["Archive-Commit"])
        except (KeyError, ValueError):
            raise ArchiveCorruptError(
                self.path, f"commit {sha} has no valid Archived-Seqs / Archive-Commit trailers: it was not "
                "written by eventstore") from None
        position = None
        if "Archive-Position" in trailers:
            segment, _, offset = trailers["Archive-Position"].partition(":")
            if segment.isdigit() and offset.isdigit():
                position = (int(segment), int(offset))
        info = CommitInfo(sha, number, first, last, last - first + 1, commit.commit_time)
        return _Head(info, commit.tree, position, trailers.get("Archived-Last-Id"))

    def _resolve(self, repo: Repo, rev: str | None) -> bytes | None:
        """The commit id ``rev`` names (None: the head, None if there is none)."""
        if rev is None:
            return self._ref(repo, BRANCH)
        if not isinstance(rev, str) or not rev:
            raise InvalidArgumentError(f"rev must be a non-empty str or None, not {rev!r}")
        name = rev.encode()
        candidates = [TAG_PREFIX + name] if check_ref_format(TAG_PREFIX + name) else []
        if rev in ("main", "HEAD"):
            candidates.append(BRANCH)
        if rev.startswith("refs/") and check_ref_format(name):
            candidates.append(name)
        for ref in candidates:
            sha = self._ref(repo, ref)
            if sha is not None:
                return self._peel(repo, sha)
        if re.fullmatch(r"[0-9a-f]{40}", rev) and name in repo.object_store:
            self._commit(repo, name)
            return name
        raise UnknownRevisionError(self.path, f"no tag, ref or commit {rev!r}")

    def _peel(self, repo: Repo, sha: bytes) -> bytes:
        obj = self._object(repo, sha, ShaFile)
        while isinstance(obj, Tag):
            sha = obj.object[1]
            obj = self._object(repo, sha, ShaFile)
        self._object(repo, sha, Commit)
        return sha


def _entry(tree: Tree, name: bytes, mode: int | None = _DIR_MODE) -> bytes | None:
    """The id of ``tree``'s entry ``name`` if it is a directory (or any ``mode`` when None)."""
    try:
        entry_mode, sha = tree[name]
    except KeyError:
        return None
    return sha if mode is None or entry_mode == mode else None


def _state_path(repo: Path, path: str) -> tuple[bytes, ...]:
    """``"a/b.json"`` as ``(b"a", b"b.json")``, refusing what git or a checkout would mangle."""
    if not isinstance(path, str):
        raise InvalidArgumentError(f"render() paths must be str, not {type(path).__name__}")
    parts = path.split("/")
    for part in parts:
        if part in ("", ".", "..") or part.lower() == ".git" or "\0" in part:
            raise InvalidArgumentError(
                f"render() gave the path {path!r} for {repo}/state: use relative 'a/b.json' paths, with no empty, "
                "'.', '..' or '.git' part")
    return tuple(p.encode() for p in parts)
