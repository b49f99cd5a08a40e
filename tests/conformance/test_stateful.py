"""A Hypothesis state machine of the backend-neutral rules, checked against a plain in-memory model.

Rules: plain appends (with or without an idempotency key, with a right or wrong ``expected_seq``)
on one of two handles; transactions of several appends that commit or raise; reopening a handle
(fresh, or resumed from the snapshot ``start()`` returns); saving, loading and pruning snapshots.
After every step the store must read back exactly the model's records (seq contiguous from 1,
type, data, key, ts non-decreasing), every handle must agree on the end, and a long-lived tail
cursor on a third handle must yield exactly the records appended since its previous poll.

Snapshots are taken only at the end of a batch (seq >= 1): a seq inside a batch is refused
(test_snapshots.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from eventstore import ConcurrencyConflict

from .conftest import fresh_project
from .procs import StoreRef

HANDLES = ["a", "b"]

values = st.one_of(st.integers(-(2**63), 2**63 - 1), st.text(max_size=12), st.none(), st.booleans(),
                   st.floats(allow_nan=False, allow_infinity=False))
events = st.lists(
    st.fixed_dictionaries({
        "type": st.sampled_from(["a", "b", "task.added"]),
        "data": st.dictionaries(st.text(max_size=5), values, max_size=3),
    }),
    min_size=1, max_size=3,
)
keys = st.one_of(st.none(), st.sampled_from(["k1", "k2", "k3", "k4", "k5"]))
offsets = st.sampled_from([None, 0, -1, 1])  # expected_seq = the end + offset (None: not given)


class Refused(Exception):
    """A transaction body that decides against its appends."""


@dataclass
class HandleModel:
    """What one handle is owed by its next transaction."""

    store: Any
    owed: list[int] = field(default_factory=list)  # records others appended that it was not handed yet
    own_before_first: list[int] = field(default_factory=list)  # its own appends before its first transaction
    started: bool = False  # has it had a transaction yet


class StoreMachine(RuleBasedStateMachine):
    def __init__(self, name: str, options: dict[str, Any]):
        super().__init__()
        self.ref = StoreRef(name, fresh_project(), options)
        self.records: list[tuple[str, dict, str | None]] = []  # (type, data, key); seq = index + 1
        self.keys: dict[str, tuple[int, int]] = {}
        self.batch_ends: list[int] = []
        self.snapshots: dict[int, bytes] = {}
        self.handles: dict[str, HandleModel] = {}
        self.reader = self.ref.open(create=True)
        self.cursor = self.reader.tail(1)
        self.polled = 0
        for name in HANDLES:
            self.handles[name] = HandleModel(self.ref.open(), owed=[])

    def teardown(self):
        self.cursor.close()
        self.reader.close()
        for handle in self.handles.values():
            handle.store.close()

    # -- the model ----------------------------------------------------------------
    @property
    def end(self) -> int:
        return len(self.records)

    def _expected(self, offset: int | None) -> int | None:
        if offset is None:
            return None
        return self.end + offset if self.end + offset >= 0 else self.end + 1

    def _outcome(self, batch, key, expected, end, keys) -> tuple[str, tuple[int, int] | None]:
        """What an append must do: ("duplicate", range), ("conflict", None) or ("new", range)."""
        if key is not None and key in keys:
            return "duplicate", keys[key]
        if expected is not None and expected != end:
            return "conflict", None
        return "new", (end + 1, end + len(batch))

    def _commit(self, by: str, batches: list[tuple[list[dict], str | None]]) -> None:
        """Add the batches appended (in one write) by handle ``by`` to the model."""
        first = self.end + 1
        for batch, key in batches:
            if key is not None:
                self.keys[key] = (self.end + 1, self.end + len(batch))
            self.records += [(e["type"], e["data"], key) for e in batch]
        written = list(range(first, self.end + 1))
        if written:
            self.batch_ends.append(self.end)
        for name, handle in self.handles.items():
            if name != by:
                handle.owed += written
            elif not handle.started:
                handle.own_before_first += written

    def _check_handed(self, handle: HandleModel, records) -> None:
        got = [r.seq for r in records]
        others = sorted(handle.owed)
        allowed = [others]
        if handle.own_before_first:  # a handle's own appends before its first transaction: either way
            allowed.append(sorted(others + handle.own_before_first))
        assert got in allowed, f"handed {got}, expected one of {allowed}"
        for r in records:
            assert (r.type, r.data, r.cmd) == self.records[r.seq - 1]
        handle.owed, handle.own_before_first, handle.started = [], [], True

    # -- rules --------------------------------------------------------------------
    @rule(by=st.sampled_from(HANDLES), batch=events, key=keys, offset=offsets)
    def append(self, by, batch, key, offset):
        expected = self._expected(offset)
        outcome, span = self._outcome(batch, key, expected, self.end, self.keys)
        store = self.handles[by].store
        if outcome == "conflict":
            with pytest.raises(ConcurrencyConflict) as caught:
                store.append(batch, expected_seq=expected, idempotency_key=key)
            assert caught.value.actual_seq == self.end
            return
        got = store.append(batch, expected_seq=expected, idempotency_key=key)
        assert (got.first_seq, got.last_seq, got.duplicate) == (*span, outcome == "duplicate")
        if outcome == "new":
            self._commit(by, [(batch, key)])

    @rule(by=st.sampled_from(HANDLES), steps=st.lists(st.tuples(events, keys, offsets), min_size=0, max_size=3),
          probe=keys, refuse=st.booleans())
    def transaction(self, by, steps, probe, refuse):
        handle = self.handles[by]
        buffered: list[tuple[list[dict], str | None]] = []
        known = dict(self.keys)  # with this transaction's buffered keys
        end = self.end
        try:
            with handle.store.transaction() as tx:
                self._check_handed(handle, tx.records)
                assert tx.last_seq == self.end
                for batch, key, offset in steps:
                    expected = None if offset is None else (end + offset if end + offset >= 0 else end + 1)
                    outcome, span = self._outcome(batch, key, expected, end, known)
                    if outcome == "conflict":
                        with pytest.raises(ConcurrencyConflict):
                            tx.append(batch, expected_seq=expected, idempotency_key=key)
                        continue
                    got = tx.append(batch, expected_seq=expected, idempotency_key=key)
                    assert (got.first_seq, got.last_seq, got.duplicate) == (*span, outcome == "duplicate")
                    if outcome == "new":
                        buffered.append((batch, key))
                        end = span[1]
                        if key is not None:
                            known[key] = span
                    assert tx.last_seq == end
                if probe is not None:
                    seen = tx.seen(probe)
                    if probe in known:
                        assert (seen.first_seq, seen.last_seq, seen.duplicate) == (*known[probe], True)
                    else:
                        assert seen is None
                if refuse:
                    raise Refused
        except Refused:
            return  # nothing written: the invariants check it
        self._commit(by, buffered)

    @rule(which=st.sampled_from(HANDLES), resume=st.booleans())
    def reopen(self, which, resume):
        self.handles[which].store.close()
        store = self.ref.open()
        model = HandleModel(store, owed=list(range(1, self.end + 1)))
        if resume:
            snapshot, cursor = store.start()
            try:
                newest = max(self.snapshots, default=None)
                if newest is None:
                    assert snapshot is None
                else:
                    assert (snapshot.seq, snapshot.data) == (newest, self.snapshots[newest])
                after = 0 if newest is None else newest
                assert cursor.next_seq == after + 1
                assert [r.seq for r in cursor.poll()] == list(range(after + 1, self.end + 1))
            finally:
                cursor.close()
            if snapshot is not None:
                store.resume(snapshot)
                model.owed = list(range(snapshot.seq + 1, self.end + 1))
        self.handles[which] = model

    @precondition(lambda self: self.batch_ends)
    @rule(by=st.sampled_from(HANDLES), data=st.data(), payload=st.binary(max_size=40))
    def save_snapshot(self, by, data, payload):
        seq = data.draw(st.sampled_from(self.batch_ends))
        self.handles[by].store.save_snapshot(seq, payload)
        self.snapshots[seq] = payload

    @rule(by=st.sampled_from(HANDLES), limit=st.one_of(st.none(), st.integers(0, 40)))
    def load_snapshot(self, by, limit):
        usable = [s for s in self.snapshots if limit is None or s <= limit]
        snapshot = self.handles[by].store.load_snapshot(limit)
        if not usable:
            assert snapshot is None
        else:
            assert (snapshot.seq, snapshot.data) == (max(usable), self.snapshots[max(usable)])

    @rule(by=st.sampled_from(HANDLES), keep=st.integers(0, 3))
    def prune_snapshots(self, by, keep):
        present = sorted(self.snapshots)
        doomed = present[:-keep] if keep else present
        assert sorted(self.handles[by].store.prune_snapshots(keep)) == doomed
        for seq in doomed:
            del self.snapshots[seq]

    # -- what must hold after every step -------------------------------------------
    @invariant()
    def the_store_reads_back_the_model(self):
        records = list(self.reader.read())
        assert [r.seq for r in records] == list(range(1, self.end + 1))
        assert [(r.type, r.data, r.cmd) for r in records] == self.records
        stamps = [r.ts for r in records]
        assert stamps == sorted(stamps)
        for name, handle in self.handles.items():
            assert handle.store.last_seq == self.end, name
        assert self.reader.snapshot_seqs() == sorted(self.snapshots)

    @invariant()
    def the_cursor_yields_exactly_what_is_new(self):
        polled = [r.seq for r in self.cursor.poll()]
        assert polled == list(range(self.polled + 1, self.end + 1))
        self.polled = self.end


def test_the_store_behaves_like_its_model(backend, store_name):
    run_state_machine_as_test(
        lambda: StoreMachine(store_name, dict(backend.options)),
        settings=settings(
            max_examples=int(os.environ.get("CONFORMANCE_STATEFUL_EXAMPLES", "50")),
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
