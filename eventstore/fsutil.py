"""Small durable-filesystem primitives (POSIX).

``atomic_write`` gives all-or-nothing replacement of a file: temp file, write,
fsync, rename over the target, fsync the directory so the rename itself
survives a power loss. ``quarantine`` keeps bytes the log had to cut off, with
a JSON sidecar saying where they came from, so nothing is silently dropped.
"""

from __future__ import annotations

import errno
import json
import os
import threading
import time
from pathlib import Path

from .errors import DiskFullError, EventStoreError, LogPermissionError

_DISK_FULL = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


def os_error(exc: OSError, path: os.PathLike | str, action: str) -> EventStoreError:
    """Translate an ``OSError`` into the store's typed error for ``action``."""
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return LogPermissionError(path, action, exc.strerror or "")
    if exc.errno in _DISK_FULL:
        return DiskFullError(os.fspath(path), exc.strerror or str(exc))
    return EventStoreError(f"could not {action} {os.fspath(path)}: {exc.strerror or exc}")


def fsync_dir(path: os.PathLike | str) -> None:
    """fsync a directory so that entries created or renamed in it are durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` (a regular file may accept a short write)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def atomic_write(path: os.PathLike | str, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` atomically and durably. O(len(data)).

    Readers see the old file or the new one, never a mix; after a crash the
    file is one or the other. A leftover ``*.tmp`` from a crash is harmless.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")  # (threads write too)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except OSError as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise os_error(exc, path, "write") from None


def quarantine(directory: Path, label: str, data: bytes, info: dict, unique: bool = True) -> Path:
    """Keep ``data`` in ``directory`` with a JSON sidecar ``info``; return the path.

    Both files are fsynced before returning, so the caller may then destroy
    the original bytes. With ``unique`` names sort by time and never collide;
    without, the name is ``label`` itself, so keeping the same bytes twice (a
    keeper killed before it could remove them) leaves one copy, not two.
    """
    directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    base = f"{stamp}-{os.getpid()}-{time.monotonic_ns()}-{label}" if unique else label
    target = directory / f"{base}.bin"
    atomic_write(target, data)
    atomic_write(directory / f"{base}.json", json.dumps(info, indent=2, sort_keys=True).encode())
    return target
