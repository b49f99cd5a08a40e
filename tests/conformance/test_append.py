"""Appending and reading: contiguous seqs, read ranges, ``expected_seq`` conflicts, exactly-once keys
(across handles, reopening and ``resume``), invalid batches writing nothing, ts following seq, verify()."""

from __future__ import annotations

import pytest

from eventstore import (
    ConcurrencyConflict,
    EventStoreError,
    InvalidArgumentError,
    InvalidEventError,
    Store,
    open_store,
)

from .records import ev, result, seqs


def test_a_store_satisfies_the_protocol_and_its_name_opens_the_same_project(store, ref):
    assert isinstance(store, Store)
    store.append([ev(i=1)])
    again = open_store(store.name, ref.project, **ref.options)
    try:
        assert [r.data for r in again.read()] == [{"i": 1}]
    finally:
        again.close()


def test_an_empty_store_reads_nothing(store):
    assert store.last_seq == 0
    assert list(store.read()) == []
    assert list(store.read(1, 10)) == []


def test_appends_get_contiguous_seqs_from_one(store):
    results = [store.append([ev(i=i) for i in range(n)]) for n in (1, 3, 1, 2)]
    assert [result(r) for r in results] == [(1, 1, False), (2, 4, False), (5, 5, False), (6, 7, False)]
    assert store.last_seq == 7
    records = list(store.read())
    assert seqs(records) == list(range(1, 8))
    assert [r.data["i"] for r in records] == [0, 0, 1, 2, 0, 0, 1]
    assert [r.type for r in records] == ["t"] * 7
    assert len({r.id for r in records}) == 7  # every record has its own id


def test_read_ranges_are_inclusive_and_exact_even_inside_a_batch(store):
    store.append([ev(i=i) for i in range(1, 6)])  # one batch: 1..5
    store.append([ev(i=6), ev(i=7)])
    assert seqs(store.read(3)) == [3, 4, 5, 6, 7]
    assert seqs(store.read(2, 4)) == [2, 3, 4]
    assert seqs(store.read(5, 6)) == [5, 6]
    assert seqs(store.read(7, 7)) == [7]
    assert seqs(store.read(1, 0)) == []
    assert seqs(store.read(8)) == []
    assert seqs(store.read(6, 100)) == [6, 7]
    assert [r.data["i"] for r in store.read(4, 6)] == [4, 5, 6]


@pytest.mark.parametrize("bad", [0, -1, "1"])
def test_read_refuses_a_from_seq_below_one(store, bad):
    store.append([ev()])
    with pytest.raises(InvalidArgumentError):
        list(store.read(bad))


def test_another_handle_sees_every_append_at_once(store, open_another):
    other = open_another()
    assert other.last_seq == 0
    store.append([ev(i=1), ev(i=2)])
    assert other.last_seq == 2
    assert [r.data["i"] for r in other.read()] == [1, 2]
    other.append([ev(i=3)])
    assert store.last_seq == 3
    assert seqs(store.read()) == [1, 2, 3]


def test_expected_seq_must_be_the_end_and_a_conflict_writes_nothing(store):
    assert result(store.append([ev(i=1)], expected_seq=0)) == (1, 1, False)
    before = list(store.read())
    for wrong in (0, 2, 5):
        with pytest.raises(ConcurrencyConflict) as caught:
            store.append([ev(i=99), ev(i=98)], expected_seq=wrong)
        assert (caught.value.expected_seq, caught.value.actual_seq) == (wrong, 1)
    assert store.last_seq == 1
    assert list(store.read()) == before
    assert result(store.append([ev(i=2)], expected_seq=1)) == (2, 2, False)


def test_a_stale_handle_conflicts_with_what_another_handle_appended(store, open_another):
    other = open_another()
    store.append([ev(by="store")])
    seen = other.last_seq
    store.append([ev(by="store")])  # the other handle has not looked since
    with pytest.raises(ConcurrencyConflict) as caught:
        other.append([ev(by="other")], expected_seq=seen)
    assert caught.value.actual_seq == 2
    assert [r.data["by"] for r in store.read()] == ["store", "store"]


def test_a_retried_key_returns_the_original_result_and_writes_nothing(store):
    first = store.append([ev(i=1), ev(i=2)], idempotency_key="cmd-1")
    store.append([ev(i=3)], idempotency_key="cmd-2")
    retry = store.append([ev(i=1), ev(i=2)], idempotency_key="cmd-1")
    assert result(first) == (1, 2, False)
    assert result(retry) == (1, 2, True)
    # a retry after a lost acknowledgement carries its stale expected_seq: still the original result
    assert result(store.append([ev(i=1), ev(i=2)], expected_seq=0, idempotency_key="cmd-1")) == (1, 2, True)
    # the key decides, not the content
    assert result(store.append([ev(other=True)], idempotency_key="cmd-2")) == (3, 3, True)
    assert store.last_seq == 3
    assert [(r.seq, r.cmd) for r in store.read()] == [(1, "cmd-1"), (2, "cmd-1"), (3, "cmd-2")]
    assert result(store.append([ev(i=4)])) == (4, 4, False)
    assert next(iter(store.read(4))).cmd is None


def test_keys_are_seen_across_handles_and_after_reopening(store, ref, open_another):
    writer = ref.open()
    writer.append([ev(i=0)])
    writer.append([ev(i=1), ev(i=2)], idempotency_key="k")
    other = open_another()
    assert result(other.append([ev(i=9)], idempotency_key="k")) == (2, 3, True)
    writer.close()
    reopened = open_another()
    assert result(reopened.append([ev(i=9)], idempotency_key="k")) == (2, 3, True)
    with reopened.transaction() as tx:
        assert result(tx.seen("k")) == (2, 3, True)
        assert tx.seen("never-used") is None
    assert reopened.last_seq == 3


def test_keys_before_a_resumed_snapshot_are_still_seen(store, open_another):
    store.append([ev(i=1)], idempotency_key="early")
    store.append([ev(i=2), ev(i=3)], idempotency_key="middle")
    store.save_snapshot(3, b"state@3")
    store.append([ev(i=4)], idempotency_key="late")
    fresh = open_another()
    snapshot, cursor = fresh.start()
    cursor.close()
    assert snapshot.seq == 3
    fresh.resume(snapshot)
    with fresh.transaction() as tx:
        assert seqs(tx.records) == [4]
        assert result(tx.seen("early")) == (1, 1, True)
        assert result(tx.seen("middle")) == (2, 3, True)
        assert result(tx.seen("late")) == (4, 4, True)
        assert tx.seen("unknown") is None
        assert result(tx.append([ev(i=9)], idempotency_key="early")) == (1, 1, True)
    assert result(fresh.append([ev(i=9)], idempotency_key="middle")) == (2, 3, True)
    assert store.last_seq == 4


@pytest.mark.parametrize("batch", [
    [],
    [ev(i=1), "not an event"],
    [ev(i=1), {"type": "", "data": {}}],
    [ev(i=1), {"type": "t", "data": {"x": float("nan")}}],
    [ev(i=1), {"type": "t", "data": [1, 2]}],
    [ev(i=1), {"type": "t", "data": {}, "extra": 1}],
])
def test_an_invalid_batch_is_refused_whole(store, batch):
    store.append([ev(i=0)])
    with pytest.raises((InvalidEventError, InvalidArgumentError)):
        store.append(batch)
    assert store.last_seq == 1
    assert seqs(store.read()) == [1]
    assert result(store.append([ev(i=2)])) == (2, 2, False)  # and the store goes on


def test_an_empty_idempotency_key_is_refused(store):
    with pytest.raises(InvalidArgumentError):
        store.append([ev()], idempotency_key="")
    assert store.last_seq == 0


def test_data_round_trips(store):
    data = {"text": "héllo\n\"quoted\" \u2603", "int": 2**63, "neg": -1, "float": 1.5, "none": None,
            "list": [1, "two", [3]], "nested": {"a": {"b": True}}, "nul": "a\u0000b", "big": 1e308,
            "z_before_a": 1, "a_after_z": 2}
    store.append([{"type": "task.\"added\"", "data": data}, {"type": "empty", "data": {}}], idempotency_key="k\"1")
    first, second = store.read()
    assert (first.type, first.data, first.cmd) == ("task.\"added\"", data, "k\"1")
    assert list(first.data) == list(data)  # the keys in the order they were given
    assert (second.type, second.data) == ("empty", {})


def test_ts_never_goes_backwards_with_seq(store, open_another):
    other = open_another()
    for i in range(30):
        (store if i % 3 else other).append([ev(i=i)] * (1 + i % 4))
    stamps = [r.ts for r in store.read()]
    assert len(stamps) == store.last_seq
    assert all(isinstance(ts, str) and ts for ts in stamps)
    assert stamps == sorted(stamps)


def test_verify_reports_no_problem_on_a_healthy_store(store, open_another):
    store.append([ev(i=i) for i in range(5)], idempotency_key="a")
    with open_another().transaction() as tx:
        tx.append([ev(i=5)])
        tx.append([ev(i=6), ev(i=7)])
    report = store.verify()
    assert report.ok
    assert report.problems == []
    assert report.valid_records == store.last_seq == 8
    assert report.intact_through == 8


def test_an_operation_on_a_closed_handle_is_refused(ref):
    handle = ref.open(create=True)
    handle.append([ev()])
    handle.close()
    with pytest.raises(EventStoreError):
        handle.append([ev()])
    reopened = ref.open()
    try:
        assert reopened.last_seq == 1
    finally:
        reopened.close()
