"""Segment files: naming, listing, and splitting bytes into lines.

A log is a sequence of segment files ``log/<first-seq>.jsonl`` (the first seq
zero-padded to 20 digits so names sort numerically). Only the last segment is
ever appended to; once the log rolls past it, a segment is sealed and never
changes again.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

SEGMENT_SUFFIX = ".jsonl"
_DIGITS = 20
CHUNK_BYTES = 1 << 20


class Segment(NamedTuple):
    first_seq: int
    path: Path


def segment_name(first_seq: int) -> str:
    return f"{first_seq:0{_DIGITS}d}{SEGMENT_SUFFIX}"


def list_segments(log_dir: Path) -> list[Segment]:
    """The segments in ``log_dir``, in seq order. O(files); other names are ignored."""
    found = []
    for name in os.listdir(log_dir):
        stem, dot, ext = name.partition(".")
        if dot and "." + ext == SEGMENT_SUFFIX and len(stem) == _DIGITS and stem.isdigit():
            found.append(Segment(int(stem), log_dir / name))
    found.sort()
    return found


def iter_lines(fd: int, start: int) -> Iterator[tuple[int, bytes]]:
    """Yield ``(offset, line)`` for each line of ``fd`` from byte ``start`` to EOF.

    Lines keep their newline; a final line without one (a write in progress
    or cut short) is yielded as is. Reads in 1 MiB chunks with ``pread``, so
    memory is O(chunk + longest line) and the fd's position is untouched.
    """
    read_at = start
    offset = start
    pending = b""
    while True:
        chunk = os.pread(fd, CHUNK_BYTES, read_at)
        if not chunk:
            break
        read_at += len(chunk)
        buf = pending + chunk if pending else chunk
        i = 0
        find = buf.find
        while True:
            j = find(b"\n", i)
            if j < 0:
                break
            line = buf[i : j + 1]
            yield offset, line
            offset += len(line)
            i = j + 1
        pending = buf[i:]
    if pending:
        yield offset, pending


def fast_seq(line: bytes) -> int | None:
    """The seq a line claims in its ``{"seq":N,`` prefix, without verifying it."""
    if line.startswith(b'{"seq":'):
        end = line.find(b",", 7, 30)
        if end > 7 and line[7:end].isdigit():
            return int(line[7:end])
    return None


def fast_batch_end(line: bytes) -> int | None:
    """The batch end a line claims (``"end"``, before ``"data"``), without verifying it.

    Raw ``,"end":`` and ``,"data":`` cannot occur inside the JSON strings that
    come before them (quotes there are escaped), so the first ``,"data":`` is
    the field itself and only the text before it is searched.
    """
    data = line.find(b',"data":')
    at = line.find(b',"end":', 0, data if data >= 0 else len(line))
    if at < 0:
        return None
    stop = line.find(b",", at + 7)
    digits = line[at + 7 : stop if stop >= 0 else None]
    return int(digits) if digits.isdigit() else None


def ends_batch(line: bytes) -> bool:
    """True when ``line`` is the last record of its batch (no ``end``, or its own seq). Unverified."""
    end = fast_batch_end(line)
    return end is None or end == fast_seq(line)
