"""A log-writing process for stress runs, tests and the demo.

``python -m stress.log_writer PATH --worker W [--mode tx|expected|plain]``

Appends to the log at PATH through the public API and prints one line per
*acknowledged* append, flushed immediately::

    ack <idempotency-key> <first_seq> <last_seq>

A line is printed only after ``append`` (or the transaction) returned, so a
supervisor that kills this process at any moment knows a lower bound of what
was acknowledged: every key it read must be in the log, exactly once.

Modes:
  tx        read-decide-append: inside ``transaction()``, fold the records
            others appended into a counter and append ``n = counter + 1``.
            A lost update shows as two records with the same ``n``.
  expected  optimistic: append with ``expected_seq=last_seq``; on
            ConcurrencyConflict retry from the seq the error reports.
  plain     append with an idempotency key and no expectations.
"""

from __future__ import annotations

import argparse
import os
import sys

from eventstore import ConcurrencyConflict, EventLog


def _events(worker: str, i: int, batch: int, pad: int, n: int | None = None) -> list[dict]:
    data = {"worker": worker, "i": i, "pad": "x" * pad}
    if n is not None:
        data["n"] = n
    return [{"type": "stress.appended", "data": {**data, "part": k}} for k in range(batch)]


def run(path: str, worker: str, mode: str, count: int, batch: int, pad: int, durability: str) -> int:
    out = sys.stdout
    with EventLog.open(path, create=True, durability=durability) as log:
        counter = 0
        i = 0
        while count == 0 or i < count:
            key = f"{worker}-{i}"
            if mode == "tx":
                with log.transaction() as tx:
                    for record in tx.records:
                        counter = record.data.get("n", counter)
                    counter += 1
                    result = tx.append(_events(worker, i, batch, pad, counter), idempotency_key=key)
            elif mode == "expected":
                expected = log.last_seq
                while True:
                    try:
                        result = log.append(_events(worker, i, batch, pad), expected_seq=expected, idempotency_key=key)
                        break
                    except ConcurrencyConflict as conflict:
                        expected = conflict.actual_seq
            else:
                result = log.append(_events(worker, i, batch, pad), idempotency_key=key)
            out.write(f"ack {key} {result.first_seq} {result.last_seq}\n")
            out.flush()
            i += 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stress.log_writer", description=__doc__.split("\n\n")[0])
    parser.add_argument("path")
    parser.add_argument("--worker", default=f"w{os.getpid()}")
    parser.add_argument("--mode", choices=("tx", "expected", "plain"), default="tx")
    parser.add_argument("--count", type=int, default=100, help="appends to make; 0 = until killed")
    parser.add_argument("--batch", type=int, default=1, help="events per append")
    parser.add_argument("--pad", type=int, default=64, help="bytes of padding per event")
    parser.add_argument("--durability", choices=("always", "batch", "none"), default="always")
    args = parser.parse_args(argv)
    return run(args.path, args.worker, args.mode, args.count, args.batch, args.pad, args.durability)


if __name__ == "__main__":
    raise SystemExit(main())
