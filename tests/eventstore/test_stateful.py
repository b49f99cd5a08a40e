"""A Hypothesis state machine: the log always reads back the model's acknowledged prefix."""

import os
import shutil
import tempfile
from pathlib import Path

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from eventstore import ConcurrencyConflict, CorruptLogError, EventLog

events = st.lists(
    st.fixed_dictionaries({
        "type": st.sampled_from(["a", "b", "task.added"]),
        "data": st.dictionaries(st.text(max_size=5), st.one_of(st.integers(-(2**63), 2**64 - 1), st.text(max_size=20), st.none()), max_size=3),
    }),
    min_size=1, max_size=3,
)
def _lines(raw: bytes) -> list[bytes]:
    """Split on newlines only (bytes.splitlines would also split on a stray \\r)."""
    return [part + b"\n" for part in raw.split(b"\n")[:-1]]


keys = st.one_of(st.none(), st.sampled_from(["k1", "k2", "k3", "k4", "k5"]))


class LogMachine(RuleBasedStateMachine):
    """Model: the list of acknowledged (type, data, key) records, seq = index + 1."""

    @initialize()
    def start(self):
        self.dir = Path(tempfile.mkdtemp(prefix="eventstore-stateful-"))
        self.log = EventLog.open(self.dir / "log", create=True, durability="none")
        self.model: list[tuple[str, dict, str | None]] = []
        self.batch_of: list[int] = []  # for each record, the index of its batch's first record

    def teardown(self):
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def segment(self) -> Path:
        (seg,) = (self.dir / "log" / "log").glob("*.jsonl")
        return seg

    def _key_range(self, key):
        seqs = [i + 1 for i, (_, _, k) in enumerate(self.model) if k == key]
        return (seqs[0], seqs[-1]) if seqs else None

    def _expect(self, batch, key, expected, do_append):
        known = self._key_range(key) if key else None
        if known:
            result = do_append()
            assert (result.first_seq, result.last_seq, result.duplicate) == (*known, True)
            return
        if expected is not None and expected != len(self.model):
            try:
                do_append()
            except ConcurrencyConflict as conflict:
                assert conflict.actual_seq == len(self.model)
                return
            raise AssertionError("a wrong expected_seq was accepted")
        result = do_append()
        assert (result.first_seq, result.last_seq) == (len(self.model) + 1, len(self.model) + len(batch))
        self.batch_of += [len(self.model)] * len(batch)
        self.model += [(e["type"], e["data"], key) for e in batch]

    @rule(batch=events, key=keys, off=st.sampled_from([None, 0, -1, 1]))
    def append(self, batch, key, off):
        expected = None if off is None else len(self.model) + off
        self._expect(batch, key, expected, lambda: self.log.append(batch, expected_seq=expected, idempotency_key=key))

    @rule(batch=events, key=keys)
    def transaction(self, batch, key):
        def go():
            with self.log.transaction() as tx:
                assert tx.last_seq == len(self.model)
                return tx.append(batch, idempotency_key=key)
        self._expect(batch, key, None, go)

    @rule()
    def reopen(self):
        self.log.close()
        self.log = EventLog.open(self.dir / "log", durability="none")

    @rule(data=st.data())
    def torn_write(self, data):
        """A writer died mid-write: a partial record or junk after the end."""
        junk = data.draw(st.one_of(
            st.binary(min_size=1, max_size=200).filter(lambda b: b"\n" not in b),
            st.just(b'{"seq":999,"id":"x","type":"a","ts":"'),
            st.just(b"\x00" * 64),
        ))
        with open(self.segment, "ab") as f:
            f.write(junk)

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def truncate_inside_the_last_record(self, data):
        """Damage that destroys the newest record: its whole batch is lost (all or nothing)."""
        raw = self.segment.read_bytes()
        lines = _lines(raw)[: len(self.model)]
        start = sum(map(len, lines[:-1]))
        cut = data.draw(st.integers(start, start + len(lines[-1]) - 1))
        self.segment.write_bytes(raw[:cut])
        self._forget_from(self.batch_of[-1])
        self.reopen()  # the handle had read past the cut; a real crash would restart it too

    @precondition(lambda self: len(self.model) >= 2)
    @rule(data=st.data())
    def damage_a_middle_record(self, data):
        raw = bytearray(self.segment.read_bytes())
        lines = _lines(bytes(raw))[: len(self.model)]
        victim = data.draw(st.integers(0, len(self.model) - 2))
        kept = self.batch_of[victim]  # readers stop at the start of the damaged batch
        start = sum(map(len, lines[:victim]))
        pos = data.draw(st.integers(start, start + len(lines[victim]) - 2))
        raw[pos] ^= data.draw(st.sampled_from([0x01, 0x20, 0x80]))
        self.segment.write_bytes(bytes(raw))
        with EventLog.open(self.dir / "log", durability="none") as fresh:
            got = []
            try:
                for record in fresh.read():
                    got.append(record.seq)
                raise AssertionError("damage in the middle was not reported")
            except CorruptLogError as err:
                assert err.seq == victim + 1
            assert got == list(range(1, kept + 1))
            report = fresh.verify()
            assert report.problems and report.problems[0].seq == victim + 1
            assert report.intact_through == kept
            try:
                fresh.append([{"type": "a", "data": {}}])
                raise AssertionError("an append went through a damaged log")
            except CorruptLogError:
                pass
            repaired = fresh.repair()
            assert repaired.kept_through == kept
        self._forget_from(kept)
        self.reopen()

    def _forget_from(self, index: int) -> None:
        del self.model[index:]
        del self.batch_of[index:]

    @invariant()
    def reads_back_the_acknowledged_prefix(self):
        if not hasattr(self, "log"):
            return
        records = list(self.log.read())
        assert [r.seq for r in records] == list(range(1, len(self.model) + 1))
        assert [(r.type, r.data, r.cmd) for r in records] == self.model
        assert self.log.last_seq == len(self.model)


LogMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("EVENTSTORE_STATEFUL_EXAMPLES", "200")),
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLogMachine = LogMachine.TestCase
