"""What the real-process test's children run (``spawn``): inserts through our recorder.

Each child opens its own factory on the shared store (as another program would, through
the environment alone), waits at the barrier, then for every version ``i`` tries to insert
version ``i`` of the one contended aggregate (every child tries every version: exactly one
must win it, the others get the library's IntegrityError) and inserts a batch of three
events of its own aggregate (never contended: must always succeed). It reports the
notification ids it was given, with what it inserted at them.
"""

from __future__ import annotations

import traceback
from uuid import UUID

#: how long a child waits at the barrier for the others (a safety net, never a synchronisation)
WAIT_S = 60.0


def insert_contending(queue, worker: int, store_name: str, project: str, shared: str, versions: int,
                      barrier) -> None:
    try:
        queue.put(("ok", worker, _insert(worker, store_name, project, UUID(shared), versions, barrier)))
    except BaseException:  # noqa: BLE001 - the parent must see every failure
        queue.put(("error", worker, traceback.format_exc()))


def _insert(worker: int, store_name: str, project: str, shared: UUID, versions: int, barrier) -> dict:
    from uuid import uuid4

    from eventsourcing.persistence import InfrastructureFactory, IntegrityError, StoredEvent

    factory = InfrastructureFactory.construct({"PERSISTENCE_MODULE": "eventstore.eventsourcing_persistence",
                                               "EVENTSTORE_NAME": store_name, "EVENTSTORE_PROJECT": project})
    recorder = factory.application_recorder()
    own = uuid4()
    written: list[tuple[int, str, int]] = []  # (notification id, originator, version)
    conflicts = 0
    barrier.wait(WAIT_S)
    try:
        for i in range(versions):
            try:
                (nid,) = recorder.insert_events([StoredEvent(shared, i, "Shared", b'{"w":%d}' % worker)])
                written.append((nid, str(shared), i))
            except IntegrityError:
                conflicts += 1
            batch = [StoredEvent(own, 3 * i + j, "Own", b"{}") for j in range(3)]
            ids = recorder.insert_events(batch)
            written += [(nid, str(own), e.originator_version) for nid, e in zip(ids, batch, strict=True)]
    finally:
        factory.close()
    return {"written": written, "conflicts": conflicts, "own": str(own)}
