"""Whole-log verification and explicit repair.

``verify`` reads every byte of every segment and reports *every* problem, not
just the first: it re-synchronises on the next valid record after damage.
``repair`` cuts the log at its first problem, after copying every byte it
removes into quarantine with a JSON note, and reports exactly what went. It
never renumbers or drops a record in the middle (seq stays contiguous); the
records cut after the damage stay in quarantine for ``planner restore``.

Both are O(size of the log).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import (  # noqa: F401 - the kinds are part of this module's reports
    CHECKSUM,
    GAP,
    INCOMPLETE_BATCH,
    MALFORMED,
    MISSING_SEGMENT,
    TORN_TAIL,
    UNREADABLE_SEGMENT,
    CorruptLogError,
    EventStoreError,
)
from .fsutil import fsync_dir, os_error, quarantine
from .reader import LogReader
from .record import Damage, decode, read_seq
from .segments import iter_lines, list_segments, segment_name


@dataclass(frozen=True)
class Problem:
    kind: str
    file: str
    offset: int
    seq: int | None  # the seq expected at that place
    detail: str

    def __str__(self) -> str:
        seq = f" (seq {self.seq})" if self.seq is not None else ""
        return f"{self.kind}: {self.file} at byte {self.offset}{seq}: {self.detail}"


@dataclass
class VerifyReport:
    path: str
    segments: int = 0
    valid_records: int = 0  # every checksum-valid record found, before or after damage
    intact_through: int = 0  # last seq of the undamaged prefix of complete batches
    problems: list[Problem] = field(default_factory=list)
    beyond: list[int] = field(default_factory=list)  # seqs of valid records after the intact prefix
    cut_file: str | None = None  # where the intact prefix ends (what repair keeps)
    cut_offset: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def only_torn_tail(self) -> bool:
        """Damage the next writer repairs by itself (no human needed)."""
        return bool(self.problems) and all(p.kind == TORN_TAIL for p in self.problems)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["ok"] = self.ok
        out["beyond"] = _ranges(self.beyond)
        return out


def verify(log_dir: Path) -> VerifyReport:
    report = VerifyReport(str(log_dir))
    try:
        segments = list_segments(log_dir)
    except OSError as exc:
        raise os_error(exc, log_dir, "list") from None
    report.segments = len(segments)
    if not segments:
        report.problems.append(Problem(MISSING_SEGMENT, str(log_dir), 0, 1, "the log has no segment at all"))
        return report
    first = _intact_prefix(log_dir, report)
    state = _Scan(report)
    for i, seg in enumerate(segments):
        if seg.first_seq != state.expected:
            state.problem(MISSING_SEGMENT if seg.first_seq > state.expected else GAP, str(seg.path), 0,
                          f"segment starts at seq {seg.first_seq} but seq {state.expected} comes next"
                          + (" (a segment is missing)" if seg.first_seq > state.expected else ""))
            state.expected = seg.first_seq
        try:
            fd = os.open(seg.path, os.O_RDONLY)
        except OSError as exc:
            state.problem(UNREADABLE_SEGMENT, str(seg.path), 0, exc.strerror or str(exc))
            continue
        try:
            state.scan_segment(fd, str(seg.path), is_last=i == len(segments) - 1)
        finally:
            os.close(fd)
    if first is not None:
        # The readers' verdict comes first; the same tail or hole seen line by line is listed once.
        same_kind = first.kind if first.kind in (TORN_TAIL, MISSING_SEGMENT) else None
        rest = [p for p in report.problems if p.kind != same_kind
                and (p.file, p.offset) != (first.file, first.offset)]
        report.problems = [first, *rest]
    # valid records past the intact prefix: an unfinished batch, then whatever follows damage
    report.beyond = [*range(report.intact_through + 1, state.line_intact_through + 1),
                     *(seq for seq in report.beyond if seq > report.intact_through)]
    return report


def _intact_prefix(log_dir: Path, report: VerifyReport) -> Problem | None:
    """Read the log as every reader does; record where the intact prefix ends."""
    reader = LogReader(log_dir)
    try:
        for _ in reader.poll():
            pass
        torn = reader.torn
        problem = None if torn is None else Problem(TORN_TAIL, torn.file, torn.offset, torn.seq, torn.reason)
    except CorruptLogError as err:
        problem = Problem(err.kind, err.file, err.offset, err.seq, err.reason)
    finally:
        reader.close()
    report.intact_through = reader.next_seq - 1
    if reader.next_seq == 1 and problem is not None and problem.kind == MISSING_SEGMENT:
        report.cut_file = None  # the first segment itself is missing: nothing is intact
    else:
        report.cut_file, report.cut_offset = str(reader.segment_path), reader.offset
    return problem


class _Scan:
    """Walks lines, tracking the expected seq and runs of bad lines."""

    def __init__(self, report: VerifyReport):
        self.report = report
        self.expected = 1
        self.intact = True
        self.line_intact_through = 0

    def problem(self, kind: str, file: str, offset: int, detail: str, seq: int | None = None) -> None:
        self.report.problems.append(Problem(kind, file, offset, self.expected if seq is None else seq, detail))
        self.intact = False

    def scan_segment(self, fd: int, file: str, is_last: bool) -> None:
        bad: tuple[int, str, int] | None = None  # first bad line of a run: offset, reason, expected seq
        for offset, line in iter_lines(fd, 0):
            try:
                decode(line, self.expected)
            except Damage as damage:
                seq = read_seq(line)
                if seq is None:
                    bad = bad or (offset, damage.reason, self.expected, damage.kind)
                    continue
                # A valid record, but not the seq expected here.
                if bad is not None:
                    self._bad_run(file, bad, f"; records {bad[2]}..{seq - 1} are lost here")
                    bad = None
                else:
                    self.problem(GAP, file, offset, damage.reason)
                self.expected = seq
            if bad is not None:
                self._bad_run(file, bad, "")
                bad = None
            self._valid(self.expected)
            self.expected += 1
        if bad is not None:
            if is_last:
                kind = TORN_TAIL
                detail = f"{bad[1]} (at the end of the log: the next writer cuts it into quarantine)"
                self.report.problems.append(Problem(kind, file, bad[0], bad[2], detail))
                self.intact = False
            else:
                self._bad_run(file, bad, " (at the end of a sealed segment)")

    def _bad_run(self, file: str, bad: tuple[int, str, int, str], extra: str) -> None:
        self.problem(bad[3], file, bad[0], bad[1] + extra, seq=bad[2])

    def _valid(self, seq: int) -> None:
        self.report.valid_records += 1
        if self.intact:
            self.line_intact_through = seq  # (the readers' verdict may end earlier: batches)
        else:
            self.report.beyond.append(seq)


@dataclass
class RepairReport:
    path: str
    problems: list[Problem]
    kept_through: int  # the log now ends at this seq
    removed_bytes: int = 0
    removed_valid: list[int] = field(default_factory=list)  # seqs of valid records cut off
    quarantined: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.quarantined)

    def summary(self) -> str:
        if not self.problems:
            return f"{self.path}: no damage; nothing removed"
        lost = _ranges(self.removed_valid)
        return (
            f"{self.path}: cut at {self.problems[0].file} byte {self.problems[0].offset}; the log now ends "
            f"at seq {self.kept_through}; removed {self.removed_bytes} bytes holding "
            f"{len(self.removed_valid)} valid record(s) {lost or ''}; backup in {', '.join(self.quarantined)}"
        )

    def to_dict(self) -> dict:
        out = asdict(self)
        out["removed_valid"] = _ranges(self.removed_valid)
        return out


def repair(log_dir: Path, quarantine_dir: Path) -> RepairReport:
    """Cut the log at its first problem (the caller holds the append lock)."""
    report = verify(log_dir)
    result = RepairReport(str(log_dir), report.problems, report.intact_through)
    if report.ok:
        return result
    first = report.problems[0]
    if first.kind == UNREADABLE_SEGMENT:
        raise EventStoreError(f"cannot repair: {first}; make the file readable first")
    segments = list_segments(log_dir)
    info = {"what": "repair", "problem": str(first), "kept_through_seq": report.intact_through}
    if report.cut_file is None:  # nothing is intact: keep every segment aside, start afresh
        later = segments
    else:
        cut_file = Path(report.cut_file)
        with open(cut_file, "rb") as f:
            f.seek(report.cut_offset)
            data = f.read()
        if data:
            kept = quarantine(quarantine_dir, f"repair-{cut_file.name}-at{report.cut_offset}", data,
                              {**info, "file": str(cut_file), "offset": report.cut_offset})
            result.quarantined.append(str(kept))
            result.removed_bytes += len(data)
            try:
                fd = os.open(cut_file, os.O_WRONLY)
                try:
                    os.ftruncate(fd, report.cut_offset)
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as exc:
                raise os_error(exc, cut_file, "truncate") from None
        later = [seg for seg in segments if seg.path.name > cut_file.name]
    for seg in later:
        data = seg.path.read_bytes()
        kept = quarantine(quarantine_dir, f"repair-{seg.path.name}", data, {**info, "file": str(seg.path), "offset": 0})
        result.quarantined.append(str(kept))
        result.removed_bytes += len(data)
        seg.path.unlink()
    fsync_dir(log_dir)
    result.removed_valid = list(report.beyond)
    if not list_segments(log_dir):  # the first segment itself was missing: start afresh
        os.close(os.open(log_dir / segment_name(1), os.O_WRONLY | os.O_CREAT, 0o644))
        fsync_dir(log_dir)
    return result


def _ranges(seqs: list[int]) -> str:
    """``[1, 2, 3, 7]`` -> ``"1-3, 7"``."""
    out: list[str] = []
    start = prev = None
    for s in seqs:
        if prev is not None and s == prev + 1:
            prev = s
            continue
        if start is not None:
            out.append(f"{start}" if start == prev else f"{start}-{prev}")
        start = prev = s
    if start is not None:
        out.append(f"{start}" if start == prev else f"{start}-{prev}")
    return ", ".join(out)
