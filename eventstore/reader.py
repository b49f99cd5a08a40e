"""Lock-free, resumable forward reading of a log.

A :class:`LogReader` holds a position (segment, byte offset, next seq) and
yields every whole batch of checksum-valid records from there to the log's
current end. It takes no lock: a writer appends a batch with one ``write``
call, and every record of a multi-record batch names the batch's last seq, so
a reader returns a batch once all of it is there and leaves an unfinished
batch or line for the next call.

Damage is classified the same way everywhere:

* **torn tail**: an unfinished batch and/or invalid bytes at the end of the
  *last* segment, with no valid record after them (a writer died mid-write,
  or a power loss lost unflushed bytes). Readers stop before the unfinished
  batch; the next writer cuts it off, whole, into quarantine.
* **mid-log damage**: an invalid line followed by a valid record, or any
  invalid line in a sealed segment, or a missing segment. Readers yield
  everything before it and then raise :class:`CorruptLogError`.

Cost: O(bytes read); lines before the position are never touched.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import (
    INCOMPLETE_BATCH,
    MALFORMED,
    MISSING_SEGMENT,
    CorruptLogError,
    EventStoreError,
    LogTruncatedError,
)
from .record import Damage, Record, decode, decode_buffer, is_valid
from .segments import CHUNK_BYTES, fast_batch_end, fast_seq, iter_lines, list_segments, segment_name


@dataclass(frozen=True)
class TornTail:
    """Bytes at the end of the last segment that are not a valid record."""

    file: str
    offset: int
    seq: int
    reason: str


class LogReader:
    """Reads records forward from a position; see the module docstring."""

    def __init__(self, log_dir: Path, first_seq: int = 1, roll_bytes: int | None = None):
        self.log_dir = log_dir
        self._dir = os.fspath(log_dir)
        self.segment_first = 1  # first seq of the segment being read
        self.offset = 0  # byte offset in it of the next unread line
        self.next_seq = 1
        self.torn: TornTail | None = None  # set when the last poll stopped at a torn tail
        self.seen_size = 0  # the current segment's size when the last poll looked
        self._fd: int | None = None
        segments = list_segments(log_dir)
        # A broken chain is reported when reading, not here: a log must still open, to be repaired.
        self._chain_error = self._chain_problem(segments)
        # Any segment before this one must roll over to a successor; if the
        # successor is missing, a segment was deleted (checked at each end).
        self._last_listed = segments[-1].first_seq if segments else 1
        # a segment this full should have a successor: when it seems not to, look again
        self._roll_bytes = roll_bytes
        # a cursor asked to start beyond the log's end must not hand over what is appended
        # before first_seq later (as read and follow do not): those records are skipped
        self._min_seq = 0
        if first_seq > 1 and not self._seek(first_seq, segments):
            self._min_seq = first_seq

    # -- positioning -------------------------------------------------------
    @property
    def segment_path(self) -> Path:
        return self.log_dir / segment_name(self.segment_first)

    def set_position(self, segment_first: int, offset: int, next_seq: int) -> None:
        """Jump to a known-good position (used by the writer after its own append)."""
        if segment_first != self.segment_first:
            self._close_fd()
            self.segment_first = segment_first
        self.offset = offset
        self.next_seq = next_seq

    def jump(self, segment_first: int, offset: int, last_seq: int) -> Record | None:
        """Position right after record ``last_seq``, said to end at ``offset`` in segment
        ``segment_first``, if the file agrees (see :meth:`_record_ending_at`). Returns
        that record, or None, moving nothing, when the file disagrees. O(that line)."""
        record = self._record_ending_at(segment_first, offset, last_seq)
        if record is not None:
            self.set_position(segment_first, offset, last_seq + 1)
        return record

    def record_before(self, last_seq: int) -> Record | None:
        """The record just before the current position, if it is record ``last_seq``,
        whole and checksum-valid, and ends its batch; else None. For a position found
        by scanning line prefixes (:meth:`_seek`), which trusts them. O(that line)."""
        if self.offset > 0:
            return self._record_ending_at(self.segment_first, self.offset, last_seq)
        earlier = [s for s in list_segments(self.log_dir) if s.first_seq < self.segment_first]
        if not earlier:
            return None
        try:
            size = earlier[-1].path.stat().st_size
        except OSError:
            return None
        return self._record_ending_at(earlier[-1].first_seq, size, last_seq)

    def _record_ending_at(self, segment_first: int, offset: int, last_seq: int) -> Record | None:
        """Record ``last_seq`` if it is the whole, checksum-valid line that ends at byte
        ``offset`` of the segment and the last record of its batch; else None."""
        line = self._line_before(segment_first, offset) if offset > 0 else None
        if line is None:
            return None
        try:
            record = decode(line, last_seq)
        except Damage:
            return None
        return record if fast_batch_end(line) in (None, last_seq) else None

    def _line_before(self, segment_first: int, offset: int) -> bytes | None:
        """The whole line that ends at byte ``offset`` of a segment, or None."""
        try:
            fd = os.open(self.log_dir / segment_name(segment_first), os.O_RDONLY)
        except OSError:
            return None
        try:
            span = 4096
            while True:
                start = max(0, offset - span)
                chunk = os.pread(fd, offset - start, start)
                if len(chunk) != offset - start or not chunk.endswith(b"\n"):
                    return None
                cut = chunk.rfind(b"\n", 0, len(chunk) - 1)
                if cut >= 0 or start == 0:
                    return chunk[cut + 1:]
                span *= 4
        finally:
            os.close(fd)

    def _seek(self, first_seq: int, segments: list) -> bool:
        """Position at the start of the batch holding record ``first_seq`` (or the log's end:
        then False).

        Finds the segment by name, then skips whole batches by the seq and batch
        end their lines claim, without parsing them: O(bytes of that segment
        before the record). Readers only ever start at a batch's first record.
        """
        candidates = [s for s in segments if s.first_seq <= first_seq]
        if not candidates:  # an empty log (past its end), or a broken chain that reading reports
            return bool(segments)
        seg = candidates[-1]
        self.set_position(seg.first_seq, 0, seg.first_seq)
        fd = self._open_fd()
        expected = seg.first_seq
        for offset, line in iter_lines(fd, 0):
            seq = fast_seq(line)
            if seq is None or seq >= first_seq or seq != expected or not line.endswith(b"\n"):
                return True  # (anything odd: let the validating scan from the last batch start report it)
            expected += 1
            end = fast_batch_end(line)
            if end is None or end == seq:  # the last record of its batch: a batch starts after it
                self.offset = offset + len(line)
                self.next_seq = expected
        return self.next_seq >= first_seq  # the log ends before first_seq

    @staticmethod
    def _chain_problem(segments: list) -> CorruptLogError | None:
        if segments and segments[0].first_seq != 1:
            return CorruptLogError(
                str(segments[0].path), 0, 1,
                f"the first segment starts at seq {segments[0].first_seq}: the segment(s) before it are missing",
                MISSING_SEGMENT,
            )
        return None

    # -- reading -----------------------------------------------------------
    def poll(self) -> Iterator[Record]:
        """Yield every valid record from the position to the current end.

        The position advances a chunk of records at a time, before they are
        yielded (a caller that abandons the iteration abandons the reader).
        Stops at a torn tail (recorded in ``self.torn``); raises
        :class:`CorruptLogError` at mid-log damage, after yielding everything
        before it.
        """
        self.torn = None
        if self._chain_error is not None:
            raise self._chain_error
        while True:
            fd = self._open_fd()
            size = self.seen_size = os.fstat(fd).st_size
            if size < self.offset:
                raise LogTruncatedError(str(self.segment_path), size, self.offset)
            chunk = CHUNK_BYTES
            while self.offset < size:
                start = self.offset
                buf = os.pread(fd, min(chunk, size - start), start)
                if not buf:
                    break
                extent = self._long_batch(fd, buf, start, size)
                if extent is not None:  # a batch longer than the buffer: read all of it, decode once
                    chunk = max(chunk, extent)
                    buf = os.pread(fd, min(chunk, size - start), start)
                records, used, bad_at = decode_buffer(buf, self.next_seq)
                if records:
                    self.offset += used
                    self.next_seq += len(records)
                    if self._min_seq:
                        if records[-1].seq < self._min_seq:
                            records = []
                        else:
                            records = [r for r in records if r.seq >= self._min_seq]
                            self._min_seq = 0
                    yield from records
                if bad_at is not None:
                    self._unfinished(fd)  # sets self.torn, or raises
                    return
                if used < len(buf):
                    if start + len(buf) >= size:  # an unfinished batch or line at the end
                        self._unfinished(fd)
                        return
                    if used == 0:
                        chunk *= 2  # a batch longer than the chunk: read more at once
            # Clean end of this segment: has a writer rolled to a new one?
            # (a plain string path: this check runs on every step of every writer)
            nxt = f"{self._dir}/{segment_name(self.next_seq)}"
            if self.offset and os.path.exists(nxt):
                self.set_position(self.next_seq, 0, self.next_seq)
                continue
            if self._roll_bytes and self.offset >= self._roll_bytes and self.segment_first >= self._last_listed:
                self._last_listed = max(seg.first_seq for seg in list_segments(self.log_dir))
                if os.path.exists(nxt):  # a writer rolled while we looked: not a hole
                    self.set_position(self.next_seq, 0, self.next_seq)
                    continue
            if self.segment_first < self._last_listed:
                raise CorruptLogError(
                    nxt, 0, self.next_seq,
                    f"segment {segment_name(self.next_seq)} is missing: {self.segment_path.name} ends at seq "
                    f"{self.next_seq - 1} but later segments exist",
                    MISSING_SEGMENT,
                )
            return

    def _long_batch(self, fd: int, buf: bytes, start: int, size: int) -> int | None:
        """The byte length of the batch starting at ``start`` if it is longer than ``buf``
        and entirely in the file, else None. Without this, such a batch (a big import)
        would be decoded again for every doubling of the buffer. O(batch bytes), in C."""
        first = buf[: buf.find(b"\n") + 1]
        end = fast_batch_end(first)
        if end is None or fast_seq(first) != self.next_seq or end < self.next_seq:
            return None
        remaining = end - self.next_seq + 1  # lines in the batch
        if remaining <= buf.count(b"\n"):
            return None
        pos = start
        while pos < size:
            block = os.pread(fd, min(CHUNK_BYTES * 8, size - pos), pos)
            if not block:
                return None
            lines = block.count(b"\n")
            if lines < remaining:
                remaining -= lines
                pos += len(block)
                continue
            at = -1
            for _ in range(remaining):
                at = block.find(b"\n", at + 1)
            return pos + at + 1 - start
        return None  # not all written yet (or torn): the usual path classifies it

    def _unfinished(self, fd: int) -> None:
        """Classify what follows the last complete batch (at ``self.offset``).

        Lists the segments *first*, then re-reads the bytes: a successor
        segment exists only once every write to this one has completed, so a
        batch that was being written when ``poll`` looked is seen whole here
        (and left for the next ``poll``) rather than mistaken for damage.
        A checksum-valid record out of place, or damage followed by any valid
        record, is mid-log damage (raised). Otherwise the bytes from
        ``self.offset`` on are an unfinished batch and/or a cut-short line: a
        torn tail (``self.torn``, cut as a whole by the next writer), unless the
        segment is sealed, where it is damage.
        """
        sealed = any(seg.first_seq > self.segment_first for seg in list_segments(self.log_dir))
        file = str(self.segment_path)
        data = b"".join(line for _, line in iter_lines(fd, self.offset))
        records, used, bad = decode_buffer(data, self.next_seq)
        if records:
            return  # whole batches after all: the write completed while we looked
        lines = iter_lines(fd, self.offset)
        whole = 0  # valid lines of the unfinished batch before the first bad one
        reason = None
        for offset, line in lines:
            if bad is None or offset - self.offset < bad:
                if line.endswith(b"\n"):
                    whole += 1
                    continue
                reason = "incomplete record (no line end): a write was cut short"
                break
            seq = self.next_seq + whole
            try:
                decode(line, seq)
                reason, kind = "a valid record that does not fit the batch it follows", INCOMPLETE_BATCH
            except Damage as damage:
                reason, kind = damage.reason, damage.kind
            if is_valid(line):
                raise CorruptLogError(file, offset, seq, f"{reason} (a complete record out of place is never cut)",
                                      kind)
            for _, later in lines:
                if is_valid(later):
                    raise CorruptLogError(file, offset, seq, f"{reason}, followed by valid records", kind)
            break
        else:
            if whole == 0:
                return  # nothing after all
        if whole:
            what = f"{whole} record(s) of a batch whose last record is missing"
            reason = what if reason is None else f"{what}, then {reason}"
        if sealed:
            raise CorruptLogError(file, self.offset, self.next_seq, f"{reason} (in a sealed segment)",
                                  INCOMPLETE_BATCH if whole else MALFORMED)
        self.torn = TornTail(file, self.offset, self.next_seq, reason)

    # -- file handles ------------------------------------------------------
    def _open_fd(self) -> int:
        if self._fd is None:
            path = self.segment_path
            try:
                self._fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                if self.segment_first == 1 and self.offset == 0:
                    raise EventStoreError(f"the log's first segment {path} is missing") from None
                raise CorruptLogError(str(path), 0, self.next_seq, "segment file is missing",
                                      MISSING_SEGMENT) from None
        return self._fd

    def _close_fd(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def close(self) -> None:
        self._close_fd()

    def __del__(self):  # a reader abandoned mid-iteration must not leak its fd
        try:
            self._close_fd()
        except Exception:
            pass
