"""The verification every stress runner ends with: independent of the engine's own code path.

It reads the segment files itself (``open``, split on newlines, ``zlib.crc32``,
``json.loads``; nothing from :mod:`eventstore`), or a PostgreSQL store's tables with
plain SQL (:func:`read_postgres_log`: not the store's reader), and checks:

* I1: every line is a whole record whose CRC-32 matches, and seqs run 1, 2, 3, ...
  across segments with no gap or repeat; multi-record batches are whole
  (``end`` names the batch's last seq). A final line without its newline
  (a torn write, never acknowledged) is reported, not counted as damage.
* I3, I5, I6: the events replayed through :class:`stress.model.Model`, which
  checks each against the state table, the leases and the dependency rules.
* I2: each runner's own journal of acknowledged commands, ``{"cmd": ID,
  "expect": [{"type": .., field: value, ..}, ..]}`` per line, against the log:
  every acknowledged command id is in the log, and the records it produced
  carry what the runner was told (the task, the token, the new state...).

:func:`audit` returns an :class:`Audit`; its ``problems`` list is empty when all
is well. Costs: O(bytes) to read, plus the model's (see :mod:`stress.model`).
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner.engine.journal import Journal  # noqa: F401 - the runners' half: writing journals

from .model import Model, Violation

_CRC_TAG = b',"crc":"'


@dataclass
class RawLog:
    """The records of one log as the bytes say, and what was wrong with the bytes."""

    records: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    torn_tail: int = 0  # bytes of an unterminated last line (an unacknowledged write)


def read_raw_log(log_dir: Path) -> RawLog:
    """Every record of ``log_dir``'s segments (``<20-digit first seq>.jsonl``), checked for I1."""
    raw = RawLog()
    names = sorted(n for n in os.listdir(log_dir) if n.endswith(".jsonl") and n[:-6].isdigit())
    expected = 1
    for i, name in enumerate(names):
        data = (log_dir / name).read_bytes()
        if int(name[:-6]) != expected and data:
            raw.problems.append(f"{name}: the segment starts at seq {int(name[:-6])}, expected {expected}")
        offset = 0
        for line in data.split(b"\n")[:-1]:
            where = f"{name} offset {offset}"
            offset += len(line) + 1
            record = _decode(line, where, raw.problems)
            if record is None:
                continue
            if record["seq"] != expected:
                raw.problems.append(f"{where}: seq {record['seq']}, expected {expected}")
            expected = record["seq"] + 1
            raw.records.append(record)
        tail = len(data) - offset
        if tail:
            if i == len(names) - 1:
                raw.torn_tail = tail
            else:
                raw.problems.append(f"{name}: a sealed segment ends with {tail} bytes of a partial record")
    _check_batches(raw)
    return raw


def read_postgres_log(name: str, project: str) -> RawLog:
    """Every record of ``project`` in the PostgreSQL store ``name``, read with plain SQL (not the
    store's reader), checked for I1: seqs contiguous from 1, the recorded end the last record.
    ``end`` as in the files: a multi-record batch's last seq, absent on a batch of one."""
    import psycopg

    from eventstore.postgres.names import parse

    store = parse(name)
    with psycopg.connect(store.conninfo, autocommit=True) as conn:
        rows = conn.execute(f'SELECT seq, id, type, ts, cmd, batch_end, data::text FROM "{store.schema}".events '
                            "WHERE project = %s ORDER BY seq", (project,)).fetchall()
        row = conn.execute(f'SELECT last_seq FROM "{store.schema}".projects WHERE name = %s', (project,)).fetchone()
    raw = RawLog()
    if row is None:
        raw.problems.append(f"no project {project!r} in {store.shown}")
        return raw
    prev_end = 0
    for expected, (seq, rid, typ, ts, cmd, end, data) in enumerate(rows, 1):
        if seq != expected:
            raw.problems.append(f"seq {seq}, expected {expected}")
        single = end == seq and prev_end != end  # (the store records every batch's end, even of one)
        raw.records.append({"seq": seq, "id": rid, "type": typ, "ts": ts, "cmd": cmd,
                            **({} if single else {"end": end}), "data": json.loads(data)})
        prev_end = end
    if row[0] != len(rows):
        raw.problems.append(f"the recorded end {row[0]} is not the last record {len(rows)}")
    _check_batches(raw)
    return raw


def _decode(line: bytes, where: str, problems: list[str]) -> dict[str, Any] | None:
    cut = line.rfind(_CRC_TAG)
    if cut < 0 or not line.endswith(b'"}'):
        problems.append(f"{where}: not a sealed record: {line[:80]!r}")
        return None
    crc = line[cut + len(_CRC_TAG):-2].decode("ascii", "replace")
    actual = f"{zlib.crc32(line[:cut]) & 0xFFFFFFFF:08x}"
    if crc != actual:
        problems.append(f"{where}: checksum {crc}, the bytes give {actual}")
        return None
    try:
        record = json.loads(line)
    except ValueError as exc:
        problems.append(f"{where}: not JSON ({exc})")
        return None
    if not isinstance(record.get("seq"), int) or "type" not in record or not isinstance(record.get("data"), dict):
        problems.append(f"{where}: a record without seq, type or data")
        return None
    return record


def _check_batches(raw: RawLog) -> None:
    """A batch of n > 1 records carries ``end`` = its last seq on every record: all present."""
    records = raw.records
    i = 0
    while i < len(records):
        end = records[i].get("end")
        if end is None:
            i += 1
            continue
        size = end - records[i]["seq"] + 1
        batch = records[i:i + size]
        if size < 2 or len(batch) != size or any(r.get("end") != end for r in batch):
            raw.problems.append(f"seq {records[i]['seq']}: a batch to {end} that is not whole")
        i += max(len(batch), 1)


def batches(records: list[dict[str, Any]]) -> Iterable[list[dict[str, Any]]]:
    """The records grouped into the batches they were appended in."""
    i = 0
    while i < len(records):
        end = records[i].get("end")
        size = 1 if end is None else max(end - records[i]["seq"] + 1, 1)
        yield records[i:i + size]
        i += size


@dataclass
class Audit:
    """What :func:`audit` found. ``ok`` when ``problems`` is empty."""

    records: int = 0
    torn_tail: int = 0
    acknowledged: int = 0
    problems: list[str] = field(default_factory=list)
    model: Model | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        verdict = "OK" if self.ok else f"{len(self.problems)} PROBLEM(S)"
        torn = f", a torn tail of {self.torn_tail} bytes (unacknowledged)" if self.torn_tail else ""
        return (f"verification {verdict}: {self.records} records re-read (seqs contiguous, checksums valid), "
                f"every transition replayed against the state table, {self.acknowledged} acknowledged commands "
                f"found in the log{torn}")


def audit(home: os.PathLike | str, project: str, journals: Iterable[Path] = ()) -> Audit:
    """Verify the log of ``project`` under ``home`` (or in the PostgreSQL store that ``home``
    names: ``postgresql://...``) and the runners' ``journals`` against it."""
    if str(home).startswith(("postgresql://", "postgres://")):
        raw = read_postgres_log(str(home), project)
    else:
        raw = read_raw_log(Path(home) / "projects" / project / "log")
    result = Audit(records=len(raw.records), torn_tail=raw.torn_tail, problems=list(raw.problems))
    model = result.model = Model()
    try:
        for batch in batches(raw.records):
            for record in batch:
                model.apply(record["seq"], record["type"], record["data"])
            model.settle()
    except Violation as exc:
        result.problems.append(f"invariant broken: {exc}")
    by_cmd: dict[str, list[dict[str, Any]]] = {}
    for record in raw.records:
        if record.get("cmd") is not None:
            by_cmd.setdefault(record["cmd"], []).append(record)
    for path in journals:
        for n, entry in enumerate(read_journal(path), 1):
            result.acknowledged += 1
            problem = _check_ack(entry, by_cmd.get(entry["cmd"], []))
            if problem:
                result.problems.append(f"{path.name} entry {n}: {problem}")
    return result


def read_journal(path: Path) -> list[dict[str, Any]]:
    """A runner's journal: one JSON object per line. A last line cut short by a kill is
    skipped: the command it would have recorded was never acknowledged to anyone."""
    if not path.exists():
        return []
    lines = path.read_bytes().split(b"\n")
    return [json.loads(line) for line in lines[:-1] if line]


def _check_ack(entry: dict[str, Any], records: list[dict[str, Any]]) -> str | None:
    if not records:
        return f"acknowledged command {entry['cmd']} ({entry.get('what', '?')}) is not in the log: LOST"
    for want in entry.get("expect", []):
        if not any(_matches(want, r) for r in records):
            got = [(r["type"], r["data"]) for r in records]
            return f"command {entry['cmd']} was acknowledged with {want}, the log has {got}"
    return None


def _matches(want: dict[str, Any], record: dict[str, Any]) -> bool:
    return record["type"] == want["type"] and all(record["data"].get(k) == v for k, v in want.items()
                                                  if k != "type")


def main(argv: list[str] | None = None) -> int:
    """``python -m stress.verify HOME|STORE_URL PROJECT [JOURNAL ...]``: print the audit; exit 1 on a problem."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m stress.verify", description=__doc__.splitlines()[0])
    parser.add_argument("home", help="the planner home (its files), or a postgresql:// store's URL")
    parser.add_argument("project")
    parser.add_argument("journals", nargs="*", type=Path, help="journals of acknowledged commands (planner work "
                                                                 "--journal-dir writes them)")
    args = parser.parse_args(argv)
    result = audit(args.home, args.project, args.journals)
    print(result.summary())
    for text in result.problems:
        print(f"  {text}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
