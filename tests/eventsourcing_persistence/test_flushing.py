"""FlushGroup (group commit among one handle's threads), with made-up transactions: which
flushes run, what each write is told, and what a failed flush leaves."""

from __future__ import annotations

import pytest

pytest.importorskip("eventsourcing")

from eventstore.eventsourcing_persistence.flushing import FlushGroup  # noqa: E402


class FakeTx:
    def __init__(self, name: str, log: list[str], fail: bool = False):
        self.name, self.log, self.fail = name, log, fail

    def flush(self) -> None:
        self.log.append(self.name)
        if self.fail:
            raise OSError("disk gone")


def test_one_flush_of_the_newest_write_covers_the_earlier_ones():
    group, flushed = FlushGroup(), []
    group.begin()
    group.begin()
    first = group.written(FakeTx("a", flushed))
    second = group.written(FakeTx("b", flushed))
    group.flush(first)  # (no writer under way: no gathering wait)
    group.flush(second)
    assert flushed == ["b"]  # the newest flushed once, for both


def test_a_write_after_the_flush_is_flushed_again():
    group, flushed = FlushGroup(), []
    group.begin()
    group.flush(group.written(FakeTx("a", flushed)))
    group.begin()
    group.flush(group.written(FakeTx("b", flushed)))
    assert flushed == ["a", "b"]


def test_an_abandoned_insert_is_not_waited_for_and_a_failed_flush_is_not_reported_done():
    group, flushed = FlushGroup(), []
    group.begin()
    group.begin()
    number = group.written(FakeTx("bad", flushed, fail=True))
    group.abandoned()
    with pytest.raises(OSError):
        group.flush(number)
    with pytest.raises(OSError):  # still not durable: flushed again (and fails again)
        group.flush(number)
    assert flushed == ["bad", "bad"]
