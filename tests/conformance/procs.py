"""What the conformance suite's child processes run, and how they find the store.

A child reaches the project only by its :class:`StoreRef` (the store's name, the
project, the backend's options), exactly as another program would: through
:func:`eventstore.open_store`. Nothing here knows which backend it is talking to.

Every body reports through a queue: ``("ok", worker, value)`` or ``("error",
worker, traceback)``, so that a failure in a child shows up in the test's output.
Children are started with the ``spawn`` context (see ``conftest.processes``).
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from eventstore import ConcurrencyConflict, open_store

#: the longest a child waits for the test to tell it to go (a safety net, never a synchronisation)
WAIT_S = 60.0


@dataclass(frozen=True)
class StoreRef:
    """How any process opens the project under test: picklable, backend-neutral."""

    name: str
    project: str
    options: dict[str, Any] = field(default_factory=dict)

    def open(self, create: bool = False):
        return open_store(self.name, self.project, create=create, **self.options)

    @contextmanager
    def opened(self) -> Iterator[Any]:
        """A handle closed on exit (the protocol has ``close``, not ``with``)."""
        store = self.open()
        try:
            yield store
        finally:
            store.close()


def _report(queue, worker: int, body, *args) -> None:
    try:
        queue.put(("ok", worker, body(*args)))
    except BaseException:  # noqa: BLE001 - the parent must see every failure
        queue.put(("error", worker, traceback.format_exc()))


# -- read-modify-append of a counter ------------------------------------------------
def _count_in_transactions(ref: StoreRef, worker: int, increments: int, barrier) -> int:
    """Each step: fold what others appended into the counter, append counter + 1."""
    with ref.opened() as store:
        counter = 0
        barrier.wait(WAIT_S)
        for i in range(increments):
            with store.transaction() as tx:
                for record in tx.records:
                    counter = record.data["n"]
                counter += 1
                tx.append([{"type": "counter.incremented", "data": {"n": counter, "by": worker}}],
                          idempotency_key=f"w{worker}-{i}")
        return increments


def _count_with_expected_seq(ref: StoreRef, worker: int, increments: int, barrier) -> int:
    """Each step: read the end, append counter + 1 at ``expected_seq``; on a conflict, read again and retry."""
    with ref.opened() as store:
        counter, last = 0, 0
        conflicts = 0
        barrier.wait(WAIT_S)
        for i in range(increments):
            while True:
                for record in store.read(last + 1):
                    counter, last = record.data["n"], record.seq
                try:
                    result = store.append([{"type": "counter.incremented", "data": {"n": counter + 1, "by": worker}}],
                                          expected_seq=last, idempotency_key=f"w{worker}-{i}")
                except ConcurrencyConflict:
                    conflicts += 1
                    continue
                counter, last = counter + 1, result.last_seq
                break
        return conflicts


def count(queue, ref: StoreRef, worker: int, increments: int, barrier, mode: str) -> None:
    body = _count_in_transactions if mode == "transaction" else _count_with_expected_seq
    _report(queue, worker, body, ref, worker, increments, barrier)


# -- big batches, for readers racing the writer --------------------------------------
def _append_batches(ref: StoreRef, batches: int, size: int, pad: int, go) -> int:
    """Once told to go, ``batches`` batches of ``size`` records; every other one a transaction of two appends."""
    filler = "x" * pad
    with ref.opened() as store:
        if not go.wait(WAIT_S):
            raise TimeoutError("the test never said go")
        for b in range(batches):
            events = [{"type": "big", "data": {"b": b, "i": i, "pad": filler}} for i in range(size)]
            if b % 2:
                store.append(events)
            else:
                with store.transaction() as tx:
                    tx.append(events[: size // 2])
                    tx.append(events[size // 2:])
        return batches


def append_batches(queue, ref: StoreRef, batches: int, size: int, pad: int, go) -> None:
    _report(queue, 0, _append_batches, ref, batches, size, pad, go)


# -- one record, when told -----------------------------------------------------------
def _append_when_told(ref: StoreRef, go, data: dict) -> int:
    with ref.opened() as store:
        if not go.wait(WAIT_S):
            raise TimeoutError("the test never said go")
        return store.append([{"type": "from.child", "data": data}]).last_seq


def append_when_told(queue, ref: StoreRef, go, data: dict) -> None:
    _report(queue, 0, _append_when_told, ref, go, data)


# -- claiming the next snapshot ------------------------------------------------------
def _claim(ref: StoreRef, after: int, barrier) -> bool:
    with ref.opened() as store:
        barrier.wait(WAIT_S)
        return store.claim_snapshot(after)


def claim(queue, ref: StoreRef, worker: int, after: int, barrier) -> None:
    _report(queue, worker, _claim, ref, after, barrier)
