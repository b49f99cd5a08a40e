"""Snapshot storage: opaque bytes tagged with the seq they describe.

A snapshot file ``snapshots/<seq>.snap`` is one JSON header line
(``format``, ``seq``, ``size``, ``crc``) followed by the payload. It is
written atomically (temp file, fsync, rename, fsync the directory), so it is
either absent or whole. Snapshots are derived data: a damaged one is skipped
with a :class:`CorruptSnapshotWarning`, never trusted, and any of them can be
deleted at any time (the log rebuilds the state).
"""

from __future__ import annotations

import json
import os
import time
import warnings
import zlib
from pathlib import Path
from typing import NamedTuple

from .fsutil import atomic_write

FORMAT = "superplanner.snapshot"
SUFFIX = ".snap"


class CorruptSnapshotWarning(UserWarning):
    """A snapshot file failed its checks and was ignored."""


class Snapshot(NamedTuple):
    seq: int
    data: bytes
    path: Path
    #: where the record after ``seq`` starts, ``(segment_first, offset)``, when known: a
    #: hint that lets a reader start there without scanning (checked before use)
    position: tuple[int, int] | None = None


class SnapshotStore:
    """The snapshots of one log. Listing is O(files); load reads one file."""

    def __init__(self, directory: Path):
        self.directory = directory

    def save(self, seq: int, data: bytes, position: tuple[int, int] | None = None) -> Path:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"snapshot data must be bytes, not {type(data).__name__}")
        data = bytes(data)
        header = {"format": FORMAT, "version": 1, "seq": seq, "size": len(data), "crc": zlib.crc32(data)}
        if position is not None:
            header["position"] = list(position)
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(seq)
        atomic_write(path, json.dumps(header, sort_keys=True).encode() + b"\n" + data)
        return path

    def path(self, seq: int) -> Path:
        return self.directory / f"{seq:020d}{SUFFIX}"

    def prune(self, keep: int) -> list[int]:
        """Delete all but the ``keep`` newest snapshots; return the seqs deleted."""
        doomed = self.seqs()[:-keep] if keep > 0 else self.seqs()
        for seq in doomed:
            self.path(seq).unlink(missing_ok=True)
        return doomed

    def claim(self, after: int, stale_after: float = 30.0) -> bool:
        """Be the one process that writes the snapshot following snapshot ``after`` (0: the
        first). True for the first caller: it creates the marker ``.after-<seq>`` (``O_EXCL``);
        False for every other while the marker is fresh. A marker older than ``stale_after``
        seconds (its writer died or gave up) is taken over. Markers for older snapshots are
        removed by the winner. When the directory cannot be written, True: the caller tries
        and reports the error as it would have. O(markers)."""
        marker = self.directory / f".after-{after:020d}"
        for _ in range(2):
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            except FileExistsError:
                try:
                    fresh = time.time() - marker.stat().st_mtime < stale_after
                except FileNotFoundError:
                    continue  # released while we looked: try again
                if fresh:
                    return False
                marker.unlink(missing_ok=True)  # a dead claim: take it over
                continue
            except OSError:
                return True
            for old in self.directory.glob(".after-*"):
                if old.name < marker.name:
                    old.unlink(missing_ok=True)
            return True
        return False

    def release(self, after: int) -> None:
        """Give up a claim (the snapshot could not be written): another process may try."""
        (self.directory / f".after-{after:020d}").unlink(missing_ok=True)

    def seqs(self) -> list[int]:
        """Seqs of the snapshot files present (not yet checked), ascending."""
        if not self.directory.is_dir():
            return []
        found = []
        for name in os.listdir(self.directory):
            stem = name[: -len(SUFFIX)]
            if name.endswith(SUFFIX) and stem.isdigit():
                found.append(int(stem))
        return sorted(found)

    def read(self, seq: int) -> Snapshot | None:
        """The snapshot for ``seq`` if it is intact; None (with a warning) if it is not."""
        path = self.path(seq)
        problem, data, header = _check(path, seq)
        if problem:
            warnings.warn(f"snapshot {path} ignored: {problem}", CorruptSnapshotWarning, stacklevel=3)
            return None
        position = header.get("position")
        valid = isinstance(position, list) and len(position) == 2 and all(type(x) is int for x in position)
        return Snapshot(seq, data, path, tuple(position) if valid else None)

    def load(self, max_seq: int, log_end: int) -> Snapshot | None:
        """The newest intact snapshot with seq <= ``max_seq``, or None.

        One beyond ``log_end`` describes records the log no longer has (it was
        cut by a repair or restore): skipped with a warning.
        """
        for seq in reversed(self.seqs()):
            path = self.path(seq)
            if seq > log_end:
                warnings.warn(
                    f"snapshot {path} is for seq {seq}, beyond the log's end at {log_end}: ignored",
                    CorruptSnapshotWarning, stacklevel=3,
                )
                continue
            if seq > max_seq:
                continue
            problem, data, _ = _check(path, seq)
            if problem:
                warnings.warn(f"snapshot {path} ignored: {problem}", CorruptSnapshotWarning, stacklevel=3)
                continue
            return Snapshot(seq, data, path)
        return None


def _check(path: Path, seq: int) -> tuple[str | None, bytes, dict]:
    """(problem or None, payload, header) of a snapshot file."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return f"unreadable ({exc.strerror})", b"", {}
    head, newline, data = raw.partition(b"\n")
    try:
        header = json.loads(head)
    except ValueError:
        return "its header is not JSON", b"", {}
    if not newline or not isinstance(header, dict) or header.get("format") != FORMAT:
        return "not a snapshot file", b"", {}
    if header.get("seq") != seq:
        return f"its header says seq {header.get('seq')!r}, its name says {seq}", b"", {}
    if header.get("size") != len(data):
        return f"truncated: {len(data)} of {header.get('size')} bytes", b"", {}
    if header.get("crc") != zlib.crc32(data):
        return "checksum mismatch", b"", {}
    return None, data, header
