"""Opening and creating logs, and refusing paths that are not logs."""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import pytest

from eventstore import EventLog, LogNotFoundError, LogPermissionError, NotALogError
from eventstore.log import META_NAME

from .conftest import ev


def test_create_lays_out_the_directory(log_path):
    with EventLog.open(log_path, create=True) as log:
        log.append([ev()])
    meta = json.loads((log_path / META_NAME).read_text())
    assert meta["format"] == "superplanner.eventlog" and meta["version"] == 1
    assert (log_path / "log" / "00000000000000000001.jsonl").stat().st_size > 0
    assert (log_path / ".lock").exists()


def test_missing_log_without_create(tmp_path):
    with pytest.raises(LogNotFoundError, match="create=True"):
        EventLog.open(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LogNotFoundError):
        EventLog.open(tmp_path / "empty")


def test_paths_that_are_not_logs(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotALogError, match="is a file"):
        EventLog.open(tmp_path / "file", create=True)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(NotALogError, match="no eventlog.json"):
        EventLog.open(other)
    with pytest.raises(NotALogError, match="not empty"):
        EventLog.open(other, create=True)
    assert (other / "notes.txt").read_text() == "mine"  # untouched


@pytest.mark.parametrize(
    "content, message",
    [
        (b"{not json", "unreadable"),
        (json.dumps({"format": "other"}).encode(), "does not describe"),
        (json.dumps({"format": "superplanner.eventlog", "version": 99, "segment_bytes": 10}).encode(), "newer"),
    ],
)
def test_bad_marker_files(log_path, content, message):
    EventLog.open(log_path, create=True).close()
    (log_path / META_NAME).write_bytes(content)
    with pytest.raises(NotALogError, match=message):
        EventLog.open(log_path)


def test_an_interrupted_create_is_finished_by_the_next(log_path):
    EventLog.open(log_path, create=True).close()
    (log_path / META_NAME).unlink()  # as if the creator died before writing the marker
    with EventLog.open(log_path, create=True) as log:
        log.append([ev()])
        assert log.last_seq == 1


def test_concurrent_creators_agree(tmp_path):
    path = tmp_path / "log"
    code = "import sys; from eventstore import EventLog; EventLog.open(sys.argv[1], create=True).append([{'type':'t','data':{}}])"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path)]) for _ in range(8)]
    assert [p.wait() for p in procs] == [0] * 8
    with EventLog.open(path) as log:
        assert log.last_seq == 8 and log.verify().ok


@pytest.fixture
def open_dir():
    """A directory any user may traverse (pytest's tmp root is private to its owner)."""
    path = tempfile.mkdtemp(prefix="eventstore-perm-")
    os.chmod(path, 0o755)
    yield pathlib.Path(path)
    shutil.rmtree(path, ignore_errors=True)


def _without_privileges(fn) -> str:
    """Run ``fn()`` in a forked child that cannot write the log; return what it returned.

    As root (CI), the child becomes ``nobody``, since root ignores file modes;
    otherwise the caller has already removed the write bits.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.close(read_end)
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            try:
                out = fn()
            except Exception as exc:  # report the type so the test can assert on it
                out = f"{type(exc).__name__}: {exc}"
            os.write(write_end, out.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        out = pipe.read()
    os.waitpid(pid, 0)
    return out


def test_permission_denied_is_a_clear_error(open_dir):
    path = open_dir / "log"
    with EventLog.open(path, create=True) as log:
        log.append([ev()])
    writable = os.geteuid() != 0  # not root: take our own write bits away
    for p in [path, *path.rglob("*")]:
        os.chmod(p, (0o555 if writable else 0o755) if p.is_dir() else (0o444 if writable else 0o644))

    def read_then_append():
        log = EventLog.open(path)
        seqs = [r.seq for r in log.read()]
        try:
            log.append([ev()])
            return f"read {seqs}; appended"
        except LogPermissionError as exc:
            return f"read {seqs}; refused: {exc}"

    out = _without_privileges(read_then_append)
    assert out.startswith("read [1]; refused: permission denied"), out  # reading still works
    assert str(path) in out
    os.chmod(path / "log", 0o700 if not writable else 0o000)
    out = _without_privileges(lambda: repr(EventLog.open(path)))
    assert out.startswith("LogPermissionError: permission denied to list"), out
    os.chmod(path / "log", 0o755)
