"""Cross-machine visibility on a PostgreSQL project: how long after one planner appends does
another planner's ``follow()`` deliver it (LISTEN/NOTIFY)? Part of ``python -m stress.bench postgres``;
alone: ``python -m stress.bench.pg_visibility [APPENDS]``.

Two processes, each with a home of its own (as on two machines), on one project of one store:
the *writer* runs ``add_task`` (one event, durable when it returns), the *follower* sits in
``Service.follow_seqs`` and stamps each seq on arrival. One append at a time: the parent tells
the writer to append, then waits (on the pipe) until the follower has seen that seq, so each
figure is one append's latency, not a queue's. Both stamp ``time.perf_counter()`` (the
system-wide monotonic clock on Linux: comparable across processes of one machine).

Figures, p50 and p99 over the appends (after :data:`WARM_UP` unmeasured ones):

* ``call -> seen``: from the writer calling ``add_task`` to the follower holding the record;
  an upper bound of commit -> seen (it includes the append's own round trips).
* ``ack -> seen``: from ``add_task`` returning (committed and flushed) to the follower holding
  it; can be negative (the NOTIFY goes out at the commit, before the WAL flush returns).

Target (issue 16): p99 of ``call -> seen`` under 100 ms.
"""

from __future__ import annotations

import multiprocessing
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from stress.bench.stats import LatencySummary

APPENDS = 200
WARM_UP = 10
TARGET_P99_MS = 100.0
#: a process that does not answer in this long has failed (a safety net: every wait is on a pipe)
STEP_TIMEOUT_S = 60.0


def _writer(home: str, url: str, conn: Any) -> None:
    from planner.service.service import Service

    with Service.open(home, "vis", store=url) as s:
        conn.send("ready")
        while conn.recv() != "stop":
            start = time.perf_counter()
            s.add_task("visible")
            acked = time.perf_counter()
            conn.send((s.planner.graph.seq, start, acked))


def _follower(home: str, url: str, from_seq: int, count: int, conn: Any) -> None:
    from planner.service.service import Service

    with Service.open(home, "vis", store=url) as s:
        conn.send("ready")  # (follow LISTENs before it reads: an append before the LISTEN is read, not lost)
        for seen, seq in enumerate(s.follow_seqs(from_seq, timeout=STEP_TIMEOUT_S), 1):
            conn.send((seq, time.perf_counter()))
            if seen == count:
                return


def measure(url: str, appends: int = APPENDS) -> dict[str, LatencySummary]:
    """Run the writer and the follower on the store ``url`` (a fresh project ``vis`` in it);
    the two latencies of the module docstring."""
    from planner.engine.engine import Planner

    with Planner.open(None, "vis", store=url, create=True, archive_every=0, archive_interval=0) as p:
        start_seq = p.graph.seq + 1
    ctx = multiprocessing.get_context("spawn")
    total = WARM_UP + appends
    with tempfile.TemporaryDirectory(prefix="vis-") as tmp:
        homes = [Path(tmp, name) for name in ("machine-a", "machine-b")]
        write_end, writer_conn = ctx.Pipe()
        follow_end, follower_conn = ctx.Pipe()
        writer = ctx.Process(target=_writer, args=(str(homes[0]), url, writer_conn), daemon=True)
        follower = ctx.Process(target=_follower, args=(str(homes[1]), url, start_seq, total, follower_conn),
                               daemon=True)
        writer.start()
        follower.start()
        try:
            for end in (write_end, follow_end):
                _recv(end)  # "ready"
            calls, acks = [], []
            seen_seq = 0
            for i in range(total):
                write_end.send("append")
                seq, start, acked = _recv(write_end)
                while seen_seq < seq:
                    seen_seq, arrived = _recv(follow_end)
                if i >= WARM_UP:
                    calls.append(arrived - start)
                    acks.append(arrived - acked)
            write_end.send("stop")
        finally:
            for proc in (writer, follower):
                proc.join(STEP_TIMEOUT_S)
                if proc.is_alive():
                    proc.kill()
                    proc.join()
    return {"call -> seen": LatencySummary.of(calls), "ack -> seen": LatencySummary.of(acks)}


def _recv(conn: Any) -> Any:
    if not conn.poll(STEP_TIMEOUT_S):
        raise TimeoutError(f"no answer from a visibility process within {STEP_TIMEOUT_S:g} s")
    return conn.recv()


def main(argv: list[str]) -> int:
    from stress import pgserver

    appends = int(argv[0]) if argv else APPENDS
    url = pgserver.with_schema(pgserver.server_url())
    for name, summary in measure(url, appends).items():
        print(f"{name}: p50 {summary.p50_ms:.2f} ms, p99 {summary.p99_ms:.2f} ms ({appends} appends)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
