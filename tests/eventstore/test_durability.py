"""Durability modes: what is flushed when, and what happens when the disk refuses."""

import errno
import os
import subprocess
import sys

import pytest

from eventstore import DurabilityError, EventLog, InvalidArgumentError

from .conftest import ev, parse_acks, segment_files


@pytest.fixture
def flushes(monkeypatch):
    """Record every fdatasync the store makes (and still make it)."""
    calls = []
    real = os.fdatasync

    def spy(fd):
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fdatasync", spy)
    return calls


def test_always_flushes_before_acknowledging(log_path, flushes):
    with EventLog.open(log_path, create=True, durability="always") as log:
        for _ in range(5):
            log.append([ev()])
            assert len(flushes) >= 1
            flushes.clear()


def test_none_never_flushes(log_path, flushes):
    with EventLog.open(log_path, create=True, durability="none") as log:
        for _ in range(5):
            log.append([ev()])
    assert flushes == []


def test_batch_flushes_once_for_a_burst_and_on_close(log_path, flushes):
    log = EventLog.open(log_path, create=True, durability="batch", batch_interval_ms=60_000)
    for _ in range(20):
        log.append([ev()])
    assert flushes == []  # acknowledged from the page cache; the flush is pending
    log.close()
    assert len(flushes) == 1  # close flushes what the interval had not


@pytest.fixture
def flushed(monkeypatch):
    """An event set by every fdatasync the store makes (which still happens)."""
    import threading

    event = threading.Event()
    real = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (real(fd), event.set()))
    return event


def test_batch_flusher_flushes_within_the_interval(log_path, flushed):
    with EventLog.open(log_path, create=True, durability="batch", batch_interval_ms=5) as log:
        log.append([ev()])
        assert flushed.wait(30)  # the background thread flushed without another append


def test_a_failed_flush_is_not_acknowledged_and_poisons_the_handle(log_path, monkeypatch):
    with EventLog.open(log_path, create=True) as log:
        log.append([ev()])

        def broken(fd):
            raise OSError(errno.EIO, "Input/output error")

        monkeypatch.setattr(os, "fdatasync", broken)
        with pytest.raises(DurabilityError, match="Input/output error"):
            log.append([ev()])
        monkeypatch.undo()
        with pytest.raises(DurabilityError, match="reopen"):
            log.append([ev()])
    with EventLog.open(log_path) as log:  # a new handle works once the device does
        assert log.append([ev()]).first_seq == 3


def test_unknown_durability_mode():
    with pytest.raises(InvalidArgumentError, match="durability"):
        EventLog.open("/nonexistent", durability="sometimes")


FULL_DISK_WRITER = r"""
import resource, sys
from eventstore import DiskFullError, EventLog
path, limit = sys.argv[1], int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
with EventLog.open(path) as log:
    i = 0
    while True:
        try:
            r = log.append([{"type": "t", "data": {"i": i, "pad": "x" * 300}}], idempotency_key=f"k{i}")
        except DiskFullError as exc:
            print("full", exc, flush=True)
            break
        print(f"ack k{i} {r.first_seq} {r.last_seq}", flush=True)
        i += 1
"""


def test_a_full_disk_gives_a_clear_error_and_loses_nothing(log_path):
    with EventLog.open(log_path, create=True) as log:
        log.append([ev(i=-1)])
    size = segment_files(log_path)[0].stat().st_size
    limit = size + 10_000  # room for some appends; the one that crosses it is cut short
    proc = subprocess.run([sys.executable, "-c", FULL_DISK_WRITER, str(log_path), str(limit)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    acks = parse_acks(proc.stdout)
    assert len(acks) > 5
    assert "full" in proc.stdout and "File too large" in proc.stdout and "nothing was acknowledged" in proc.stdout
    seg = segment_files(log_path)[0]
    assert seg.stat().st_size <= limit
    with EventLog.open(log_path) as log:
        report = log.verify()
        assert report.ok, report.problems  # the partial write was truncated away
        keys = [r.cmd for r in log.read()][1:]
        assert keys == sorted(acks, key=lambda k: acks[k][0])  # every acknowledged append, in order, once
        log.append([ev(i="after")])  # once space is back, the next append works
        assert log.verify().ok



def test_a_long_transaction_does_not_hold_back_the_batch_flush(log_path, flushed):
    with EventLog.open(log_path, create=True, durability="batch", batch_interval_ms=5) as log:
        log.append([ev()])
        with log.transaction():  # the handle is busy for as long as this body runs
            assert flushed.wait(30), "the batch flush waited for the transaction"
