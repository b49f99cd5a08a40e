"""Group commit: a flush that already covers an append is not repeated, and a cut never
leaves a stale durability claim behind."""

import os

import pytest

from eventstore import EventLog
from eventstore import durability as dur
from eventstore.durability import FlushGate

from .conftest import ev, segment_files

needs_boot_id = pytest.mark.skipif(dur.BOOT_ID is None, reason="group commit needs a boot id (Linux)")


@pytest.fixture
def flushes(monkeypatch):
    calls = []
    real = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (calls.append(fd), real(fd)))
    return calls


@needs_boot_id
def test_an_append_already_covered_by_another_flush_skips_its_own(tmp_path, flushes):
    gate = FlushGate(tmp_path)
    fd = os.open(tmp_path / "seg", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.write(fd, b"a" * 100)  # writer A
    os.write(fd, b"b" * 50)  # writer B, before anyone flushed
    gate.flush(fd, 1, 100)  # A flushes: the flush covers B's bytes too
    assert len(flushes) == 1
    gate.flush(fd, 1, 150)  # B finds its bytes durable
    assert len(flushes) == 1
    gate.flush(fd, 2, 10)  # another segment is never covered by this one's marker
    assert len(flushes) == 2
    os.close(fd)
    gate.close()


@needs_boot_id
def test_truncate_and_rewriting_withdraw_claims(tmp_path, flushes):
    gate = FlushGate(tmp_path)
    fd = os.open(tmp_path / "seg", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.write(fd, b"a" * 100)
    gate.flush(fd, 1, 100)
    gate.truncate(fd, 1, 40)  # the segment is cut at 40: bytes written there later are new
    assert os.fstat(fd).st_size == 40
    os.write(fd, b"b" * 20)
    gate.flush(fd, 1, 60)
    assert len(flushes) == 2
    with gate.rewriting():  # a repair drops every claim
        pass
    gate.flush(fd, 1, 10)
    assert len(flushes) == 3
    os.close(fd)
    gate.close()


@needs_boot_id
def test_a_marker_from_another_boot_or_damaged_is_ignored(tmp_path, flushes, monkeypatch):
    gate = FlushGate(tmp_path)
    fd = os.open(tmp_path / "seg", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.write(fd, b"a" * 100)
    gate.flush(fd, 1, 100)
    monkeypatch.setattr(dur, "BOOT_ID", b"\x01" * 16)  # as if the machine had rebooted
    gate.flush(fd, 1, 100)
    assert len(flushes) == 2
    raw = bytearray((tmp_path / ".durable").read_bytes())
    raw[20] ^= 0xFF
    (tmp_path / ".durable").write_bytes(bytes(raw))
    gate.flush(fd, 1, 100)
    assert len(flushes) == 3
    os.close(fd)
    gate.close()


def _tear_and_claim(log_path, seg):
    """Leave torn bytes at the tail, then have a flusher flush and claim them as durable."""
    with open(seg, "ab") as f:
        f.write(b'{"seq":2,"torn' + b"x" * 4000)
    gate = FlushGate(log_path)
    fd = os.open(seg, os.O_WRONLY | os.O_APPEND)
    gate.flush(fd, 1, seg.stat().st_size)
    os.close(fd)
    gate.close()


@needs_boot_id
def test_cutting_a_torn_tail_withdraws_the_claim_over_the_cut_bytes(log_path, flushes):
    """A flusher may have fsynced torn bytes and claimed them; after the cut, new bytes
    land at those offsets and must be flushed by their own writer."""
    with EventLog.open(log_path, create=True) as log:
        log.append([ev(i=0)])
    seg = segment_files(log_path)[0]
    good = seg.stat().st_size
    _tear_and_claim(log_path, seg)
    flushes.clear()
    with EventLog.open(log_path) as log:
        result = log.append([ev(i=1)])  # cuts the tail, then writes inside the old claim
        assert result.first_seq == 2 and log.recovered[0].offset == good
        assert seg.stat().st_size < good + 4000
        assert flushes, "an append inside a withdrawn claim skipped its flush"


DIES_WHILE_CUTTING = r"""
import os, signal, sys
from eventstore import EventLog
real_ftruncate = os.ftruncate
os.ftruncate = lambda fd, size: (real_ftruncate(fd, size), os.kill(os.getpid(), signal.SIGKILL))  # dies right after
EventLog.open(sys.argv[1]).append([{"type": "t", "data": {}}])
"""


@needs_boot_id
def test_a_cutter_killed_mid_cut_leaves_no_stale_claim(log_path, flushes):
    import signal
    import subprocess
    import sys

    with EventLog.open(log_path, create=True) as log:
        log.append([ev(i=0)])
    seg = segment_files(log_path)[0]
    _tear_and_claim(log_path, seg)
    died = subprocess.run([sys.executable, "-c", DIES_WHILE_CUTTING, str(log_path)], capture_output=True)
    assert died.returncode == -signal.SIGKILL
    flushes.clear()
    with EventLog.open(log_path) as log:
        for i in range(3):  # every one of these lands inside the old, withdrawn claim
            log.append([ev(i=i)])
            assert flushes, "an append inside a withdrawn claim skipped its flush"
            flushes.clear()


@needs_boot_id
def test_a_covered_writer_does_not_queue_for_the_flush_lock_and_a_torn_marker_makes_it_queue(tmp_path, flushes):
    import threading

    from eventstore.locking import AppendLock

    gate = FlushGate(tmp_path)
    fd = os.open(tmp_path / "seg", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.write(fd, b"a" * 100)
    gate.flush(fd, 1, 100)
    holder = AppendLock(tmp_path / ".flush.lock")
    holder.acquire()  # someone is flushing right now
    covered = threading.Thread(target=gate.flush, args=(fd, 1, 100), daemon=True)
    covered.start()
    covered.join(30)
    assert not covered.is_alive()  # returned without waiting for the lock: its bytes were covered
    raw = bytearray(os.pread(gate._fd, 64, 0))
    raw[20] ^= 0xFF  # a marker torn by a concurrent write: fails its checksum
    os.pwrite(gate._fd, bytes(raw), 0)
    queued = threading.Thread(target=gate.flush, args=(fd, 1, 100), daemon=True)
    queued.start()
    queued.join(0.5)
    assert queued.is_alive()  # it cannot trust the marker: it waits for the lock, then flushes itself
    holder.release()
    queued.join(30)
    assert not queued.is_alive() and len(flushes) == 2
    holder.close()
    os.close(fd)
    gate.close()
