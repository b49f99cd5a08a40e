"""The whole system under random commands, against a plain model (:mod:`stress.model`).

Every step goes through the public :class:`planner.Planner` API. For each
command the model says what the engine must write: first the expiries it owes
(a controllable clock decides), then the command's own events, or a refusal
that writes nothing of its own. The records are read back from the raw files
(:mod:`stress.verify`, not the engine's reader), compared with the prediction
and folded into the model, which checks each one. After every step: I1 (seqs,
checksums), I3 (leases), I4 (incremental == replay == recomputed, the ready
queue included), I5 (legal transitions, no start before dependencies), I6
(acyclic), and the engine's state equal to the model's.

Also among the steps: snapshots, close and reopen, reopening with every
snapshot deleted (I7: derived data rebuilt from the log), and a torn tail (the
bytes of an append that never finished) that the next writer must cut.

A dependency added to a task that has already started is allowed (work
discovered late); so "no task starts before its dependencies are done" is
checked when it starts (I5), not as a property of every later state.

Many more examples: ``pytest tests/system --hypothesis-profile=long``.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, event, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from eventstore import EventLog
from eventstore.restore import restore
from planner import DomainError, Planner
from planner.domain.events import parse_event
from projections.graph import TaskGraph
from stress.model import COMPLETED, FAILED, LEGAL, PENDING, STARTED, Model, MTask, engine_view
from stress.verify import batches, read_raw_log
from tests import pg_server

REFUSE = "refuse"
PRIORITIES = ["low", "medium", "high", "critical"]
RANK = {p: i for i, p in enumerate(PRIORITIES)}
STATES = ["pending", "assigned", "in_progress", "blocked", "completed", "failed", "cancelled"]
TTL, ATTEMPTS = 60.0, 2
AGENTS = ["a0", "a1", "a2"]


def changed(task: str, before: str, after: str) -> dict[str, Any]:
    return {"type": "task.state_changed", "id": task, "from_state": before, "to_state": after}


def grant(m: Model, task: str, agent: str, token: int) -> list[dict[str, Any]]:
    return [changed(task, PENDING, "assigned"),
            {"type": "task.assigned", "id": task, "agent": agent, "token": token,
             "attempt": m.attempts.get(task, 0) + 1}]


def matches(batch: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    """The batch is the expected events, in order, with (at least) the fields given. Fields are
    read through the event models, as records leave out the ones at their defaults."""
    got = [(r["type"], r["data"]) for r in batch]
    assert len(batch) == len(expected), (got, expected)
    for record, want in zip(batch, expected, strict=True):
        assert record["type"] == want["type"], (got, expected)
        event = parse_event(record["type"], record["data"])
        for k, v in want.items():
            value = getattr(event, k)
            assert (list(value) if isinstance(value, tuple) else value) == v, (k, got, expected)


class WholeSystem(RuleBasedStateMachine):
    """See the module docstring."""

    @initialize(data=st.data(), n=st.integers(2, 6))
    def start(self, data, n) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="planner-system-"))
        self.now = 1_800_000_000.0
        self.model = Model()
        self.seen = 0  # records folded into the model so far
        self.counter = 0
        self.planner = self.open(create=True)
        for batch in self.fold([]):
            self.apply(batch)
        self.command(lambda: self.planner.set_mode("working"), lambda m: [{"type": "project.mode_changed"}])
        self.register("a0", 2, False)
        for _ in range(n):
            self.add(data, data.draw(st.sampled_from(PRIORITIES)), 1.0, False, 1)

    def open(self, create: bool = False) -> Planner:
        return Planner.open(self.home, "p", create=create, durability="none", lease_ttl=TTL,
                            max_attempts=ATTEMPTS, clock=lambda: self.now)

    def teardown(self) -> None:
        self.planner.close()
        shutil.rmtree(self.home, ignore_errors=True)

    @property
    def project_dir(self) -> Path:
        return self.home / "projects" / "p"

    #: steps of the ``disk`` rule that only a file store has (a variant on another store reopens instead)
    file_only: frozenset[str] = frozenset()

    def raw_records(self) -> list[dict[str, Any]]:
        """Every record as stored (``seq``, ``type``, ``data``, ``end``), read past the engine's reader;
        I1 checked on the way."""
        raw = read_raw_log(self.project_dir / "log")
        assert not raw.problems, raw.problems
        return raw.records

    def drop_snapshots(self) -> None:
        shutil.rmtree(self.project_dir / "snapshots", ignore_errors=True)

    # -- the core: a command against the model's prediction ------------------------------
    def apply(self, batch: list[dict[str, Any]]) -> None:
        for record in batch:
            self.model.apply(record["seq"], record["type"], record["data"])
        self.model.settle()

    def fold(self, owed: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        """The batches written since the last call, read from the raw files. The first must
        be the expiries owed (if any): matched and folded here. Returns the rest."""
        records = self.raw_records()
        new = list(batches(records[self.seen:]))
        self.seen = len(records)
        if owed:
            assert new, f"the engine wrote no expiries; the model expected {owed}"
            expired = self.take_expiries(new, len(owed))
            matches(expired, owed)
            self.apply(expired)
        return new

    def take_expiries(self, new: list[list[dict[str, Any]]], count: int) -> list[dict[str, Any]]:
        """The records of the owed expiries, taken from the front of ``new``: a batch of their own."""
        return new.pop(0)

    def owed(self) -> list[dict[str, Any]]:
        """What the engine must write before any command at ``now``: each run-out lease
        expired, its task back to pending, or failed once it has had all its attempts."""
        out = []
        for task in self.model.due(self.now):
            lease, state = self.model.leases[task], self.model.tasks[task].state
            target = FAILED if lease.attempt >= self.model.max_attempts else PENDING
            out.append({"type": "lease.expired", "id": task, "token": lease.token, "agent": lease.agent})
            if state != target:
                out.append(changed(task, state, target))
        if out:
            event("leases expired")
        return out

    def command(self, action, predict) -> None:
        """Run ``action``. ``predict(model)``, asked once the expiries are folded, returns
        REFUSE, the events expected, or a function that checks the batch written."""
        owed = self.owed()
        try:
            action()
            refused = None
        except DomainError as exc:
            refused = exc
        new = self.fold(owed)
        expected = predict(self.model)
        event(f"{sys._getframe(1).f_code.co_name.replace('transition_with', 'transition')}: {'refused' if expected == REFUSE else 'accepted'}")
        if expected == REFUSE:
            assert refused is not None, f"the engine accepted what the model refuses; it wrote {new}"
            assert not new, f"a refusal wrote {new}"
            return
        assert refused is None, f"the engine refused what the model accepts ({expected}): {refused}"
        assert len(new) <= 1, new
        batch = new[0] if new else []
        if callable(expected):
            expected(batch)
        else:
            matches(batch, expected)
        self.apply(batch)

    # -- helpers over the model ------------------------------------------------------------
    @property
    def ids(self) -> list[str]:
        return sorted(self.model.tasks)

    def can_contain(self, parent: str) -> bool:
        node = self.model.tasks[parent]
        return node.state in (PENDING, COMPLETED) or bool(self.model.children(parent))

    def token_refused(self, task: str, token: int | None) -> bool:
        """Fencing: a leased task needs exactly its lease's token; an unleased one none."""
        lease = self.model.leases.get(task)
        return (token is not None) if lease is None else token != lease.token

    def ending(self, m: Model, task: str, fail: bool, ended: dict[str, Any]) -> list[dict[str, Any]] | str:
        """A lease ending: ``ended`` then the task back to pending (failed, if ``fail`` and out of
        attempts), unless it is there already; REFUSE if the table has no such move."""
        lease, state = m.leases[task], m.tasks[task].state
        target = FAILED if fail and lease.attempt >= m.max_attempts else PENDING
        if state == target:
            return [ended]
        if target not in LEGAL[state]:
            return REFUSE
        return [ended, changed(task, state, target)]

    # -- tasks -----------------------------------------------------------------------------
    @rule(data=st.data(), priority=st.sampled_from(PRIORITIES), effort=st.sampled_from([0.0, 1.0, 2.5, 8.0]),
          gpu=st.booleans(), reuse=st.integers(0, 9))
    def add(self, data, priority, effort, gpu, reuse) -> None:
        ids = self.ids
        parent = data.draw(st.sampled_from([None, *ids]))
        deps = data.draw(st.lists(st.sampled_from(ids), max_size=2)) if ids else []
        self.counter += 1
        task = data.draw(st.sampled_from(ids)) if reuse == 0 and ids else f"t{self.counter}"  # a duplicate, sometimes

        def predict(m: Model):
            if task in m.tasks or (parent is not None and not self.can_contain(parent)):
                return REFUSE
            if m.depth(parent) + 1 > m.max_depth:
                return REFUSE
            m.tasks[task] = MTask(parent)  # tried in place, then taken out again
            try:
                cycle = any(m.would_cycle(task, d) for d in deps)
            finally:
                del m.tasks[task]
            if cycle:
                return REFUSE
            return [{"type": "task.added", "id": task, "parent": parent, "priority": priority, "effort": effort},
                    *({"type": "dependency.added", "task": task, "depends_on": d} for d in dict.fromkeys(deps))]

        self.command(lambda: self.planner.add_task("t", id=task, parent=parent, depends_on=deps, priority=priority,
                                                   effort=effort, capabilities=("gpu",) if gpu else ()), predict)

    @precondition(lambda self: self.model.tasks)
    @rule(data=st.data(), priority=st.sampled_from(["low", "high"]), effort=st.sampled_from([0.5, 3.0, 13.0]))
    def edit(self, data, priority, effort) -> None:  # changes ready keys without a state change
        task = data.draw(st.sampled_from(self.ids))
        self.command(lambda: self.planner.edit_task(task, priority=priority, effort=effort),
                     lambda m: REFUSE if m.children(task)  # a container's effort is its leaves'
                     else [{"type": "task.edited", "id": task, "priority": priority, "effort": effort}])

    @precondition(lambda self: self.model.tasks)
    @rule(data=st.data())
    def depend(self, data) -> None:
        a, b = data.draw(st.sampled_from(self.ids)), data.draw(st.sampled_from(self.ids))

        def predict(m: Model):
            if b in m.tasks[a].deps:
                return []  # there already
            if m.would_cycle(a, b):  # (a == b, an ancestor or descendant, or a real cycle)
                return REFUSE
            return [{"type": "dependency.added", "task": a, "depends_on": b}]

        self.command(lambda: self.planner.add_dependency(a, b), predict)

    @precondition(lambda self: any(n.deps for n in self.model.tasks.values()))
    @rule(data=st.data())
    def undepend(self, data) -> None:
        a, b = data.draw(st.sampled_from(sorted((t, d) for t, n in self.model.tasks.items() for d in n.deps)))
        self.command(lambda: self.planner.remove_dependency(a, b),
                     lambda m: [{"type": "dependency.removed", "task": a, "depends_on": b}])

    @precondition(lambda self: len(self.model.tasks) >= 2)
    @rule(data=st.data())
    def move(self, data) -> None:
        task = data.draw(st.sampled_from(self.ids))
        parent = data.draw(st.sampled_from([None, *self.ids]))

        def predict(m: Model):
            if parent is not None and not self.can_contain(parent):
                return REFUSE
            if m.tasks[task].parent == parent:
                return []
            if parent is not None and task in m.line(parent):
                return REFUSE
            if m.would_cycle(move=(task, parent)) or m.depth(parent) + m.height(task) > m.max_depth:
                return REFUSE
            return [{"type": "task.moved", "id": task, "parent": parent}]

        self.command(lambda: self.planner.move_task(task, parent), predict)

    @precondition(lambda self: self.model.tasks)
    @rule(data=st.data(), to=st.sampled_from(STATES), token=st.sampled_from(["none", "live", "stale"]))
    def transition(self, data, to, token) -> None:
        """Any task to any state, with no token, the live one, or an old one."""
        task = data.draw(st.sampled_from(self.ids))
        lease = self.model.leases.get(task)
        self.transition_with(task, to, None if token == "none" else (lease.token if lease else 1) - (token == "stale"))

    def transition_with(self, task: str, to: str, given: int | None) -> None:
        def predict(m: Model):
            if self.token_refused(task, given):
                return REFUSE
            state, lease = m.tasks[task].state, m.leases.get(task)
            if lease is not None and to in (COMPLETED, "cancelled"):
                if to not in LEGAL[state]:
                    return REFUSE
                return [changed(task, state, to), {"type": "lease.released", "id": task, "token": lease.token}]
            if lease is not None and to in (FAILED, PENDING):
                return self.ending(m, task, to == FAILED, {"type": "lease.released", "id": task,
                                                           "token": lease.token})
            if m.children(task):
                return REFUSE  # a container's state rolls up
            if state == to:
                return []
            if to not in LEGAL[state] or (to in STARTED and not m.can_start(task)):
                return REFUSE
            return [changed(task, state, to)]

        self.command(lambda: self.planner.transition(task, to, token=given), predict)

    @precondition(lambda self: self.model.leases)
    @rule(data=st.data(), to=st.sampled_from(["in_progress", "in_progress", "completed", "failed", "blocked",
                                              "pending"]))
    def work(self, data, to) -> None:
        """The holder of a lease moves its task on, with its token."""
        task = data.draw(st.sampled_from(sorted(self.model.leases)))
        self.transition_with(task, to, self.model.leases[task].token)

    @precondition(lambda self: self.model.tasks)
    @rule(data=st.data(), with_token=st.booleans())
    def checkpoint(self, data, with_token) -> None:
        task = data.draw(st.sampled_from(self.ids))
        lease = self.model.leases.get(task)
        token = lease.token if lease and with_token else None
        self.counter += 1
        notes = f"step {self.counter}"

        def predict(m: Model):
            if self.token_refused(task, token) or m.children(task):
                return REFUSE
            return [{"type": "task.checkpointed", "id": task, "notes": notes}]

        self.command(lambda: self.planner.checkpoint(task, notes=notes, token=token), predict)

    # -- the project ---------------------------------------------------------------------
    @rule(mode=st.sampled_from(["planning", "working", "working"]))
    def mode(self, mode) -> None:
        self.command(lambda: self.planner.set_mode(mode),
                     lambda m: [] if m.mode == mode else [{"type": "project.mode_changed", "mode": mode}])

    @rule(what=st.sampled_from(["snapshot", "reopen", "reopen without snapshots", "tear the tail", "archive",
                                "damage and restore"]), cut=st.integers(1, 60), data=st.data())
    def disk(self, what, cut, data) -> None:
        """A snapshot (the next open starts from it); close and reopen; reopen with every
        snapshot deleted (I7: derived data, rebuilt from the log alone); a writer that died
        mid-append, leaving part of a record and no newline: never acknowledged, so the next
        writer cuts it into quarantine and goes on; a git archive commit; or a bit flipped in an
        archived record, then ``restore`` (I7: the log rebuilt from the archive plus the intact
        tail after it): nothing acknowledged may be missing."""
        if what in self.file_only:
            what = "reopen"
        event(f"disk: {what}")
        if what == "snapshot":
            self.planner.snapshot()
            return
        if what == "archive" or (what == "damage and restore" and not self.archived_seq()):
            self.planner.archive(force=True)
            if what == "archive":
                return
        self.planner.close()
        if what == "reopen without snapshots":
            self.drop_snapshots()
        elif what == "damage and restore":
            self.flip_a_bit_of(data.draw(st.integers(1, self.archived_seq())), data.draw(st.integers(0, 10_000)))
            restore(self.project_dir)
        elif what == "tear the tail":
            segment = max((self.project_dir / "log").glob("*.jsonl"))
            whole = b'{"seq":999999,"id":"x","type":"task.added","ts":"2026-11-28T00:00:00.000000Z","cmd":null,'
            with open(segment, "ab") as f:
                f.write(whole[:cut])
        self.planner = self.open()

    def archived_seq(self) -> int:
        from eventstore.archive import Archive

        with EventLog.open(self.project_dir, durability="none") as log:
            return Archive(log).archived_seq()

    def flip_a_bit_of(self, seq: int, where: int) -> None:
        """Flip one bit inside record ``seq`` (damage the engine must not repair by itself)."""
        for segment in sorted((self.project_dir / "log").glob("*.jsonl")):
            data = bytearray(segment.read_bytes())
            offset = 0
            for line in bytes(data).split(b"\n")[:-1]:
                if line.startswith(b'{"seq":%d,' % seq):
                    data[offset + where % len(line)] ^= 0x04
                    segment.write_bytes(bytes(data))
                    return
                offset += len(line) + 1
        raise AssertionError(f"record {seq} not found")

    # -- agents and leases -----------------------------------------------------------------
    def register(self, agent: str, capacity: int, gpu: bool) -> None:
        caps = ["gpu"] if gpu else []

        def predict(m: Model):
            known = m.agents.get(agent)
            if known is not None and len(known.held) > capacity:
                return REFUSE
            if (known is not None and known.active and known.capacity == capacity
                    and known.capabilities == frozenset(caps)):
                return []
            return [{"type": "agent.registered", "agent": agent, "capacity": capacity, "capabilities": caps}]

        self.command(lambda: self.planner.register_agent(agent, capabilities=caps, capacity=capacity), predict)

    @rule(what=st.sampled_from(["register", "deregister", "heartbeat"]), agent=st.sampled_from(AGENTS),
          capacity=st.integers(1, 2), gpu=st.booleans())
    def agent_admin(self, what, agent, capacity, gpu) -> None:
        {"register": lambda: self.register(agent, capacity, gpu), "deregister": lambda: self.deregister(agent),
         "heartbeat": lambda: self.heartbeat(agent)}[what]()

    def deregister(self, agent: str) -> None:
        def predict(m: Model):
            known = m.agents.get(agent)
            if known is None or not known.active:
                return REFUSE
            out: list[dict[str, Any]] = []
            for task in sorted(known.held):
                ended = self.ending(m, task, False, {"type": "lease.released", "id": task,
                                                      "token": m.leases[task].token})
                out += ended
            return [*out, {"type": "agent.deregistered", "agent": agent}]

        self.command(lambda: self.planner.deregister_agent(agent), predict)

    def heartbeat(self, agent: str) -> None:
        def predict(m: Model):
            known = m.agents.get(agent)
            if known is None or not known.active:
                return REFUSE
            return self.heartbeat_events(m, agent)

        self.command(lambda: self.planner.heartbeat(agent), predict)

    def heartbeat_events(self, m: Model, agent: str) -> list[dict[str, Any]]:
        """Written at most once per half TTL."""
        heard = self.now - m.agents[agent].last_seen < m.lease_ttl / 2
        return [] if heard else [{"type": "agent.heartbeat", "agent": agent}]

    def claimable(self, m: Model, agent: str) -> str | None:
        """None when ``agent`` may claim now, else why not (a refusal)."""
        known = m.agents.get(agent)
        if m.mode != "working" or known is None or not known.active:
            return REFUSE
        return REFUSE if len(known.held) >= known.capacity else None

    @rule(agent=st.sampled_from(AGENTS))
    def claim_best(self, agent) -> None:
        def predict(m: Model):
            if self.claimable(m, agent):
                return REFUSE
            fitting = [t for t in m.ready() if m.fits(agent, t)]
            if not fitting:
                return []
            top = max(RANK[m.tasks[t].priority] for t in fitting)

            def check(batch: list[dict[str, Any]]) -> None:
                assert batch, f"nothing claimed while {fitting} were ready for {agent}"
                task = batch[0]["data"]["id"]
                assert task in fitting and RANK[m.tasks[task].priority] == top, (task, fitting)
                matches(batch, grant(m, task, agent, m.last_token + 1))
            return check

        self.command(lambda: self.planner.claim(agent), predict)

    @precondition(lambda self: self.model.tasks)
    @rule(data=st.data(), agent=st.sampled_from(AGENTS))
    def claim_named(self, data, agent) -> None:
        task = data.draw(st.sampled_from(self.ids))

        def predict(m: Model):
            if self.claimable(m, agent) or not m.is_ready(task) or not m.fits(agent, task):
                return REFUSE
            return grant(m, task, agent, m.last_token + 1)

        self.command(lambda: self.planner.claim(agent, task), predict)

    @rule()
    def assign(self) -> None:
        def predict(m: Model):
            if m.mode != "working":
                return REFUSE
            free = {a: x.capacity - len(x.held) for a, x in m.agents.items() if x.active}
            ready = m.ready()

            def check(batch: list[dict[str, Any]]) -> None:
                assert len(batch) % 2 == 0, batch
                granted, token = set(), m.last_token
                for i in range(0, len(batch), 2):
                    task, agent = batch[i + 1]["data"]["id"], batch[i + 1]["data"]["agent"]
                    token += 1
                    assert task in ready and task not in granted and m.fits(agent, task), (task, ready)
                    assert free[agent] > 0, f"{agent} given more than its capacity"
                    free[agent] -= 1
                    granted.add(task)
                    matches(batch[i:i + 2], grant(m, task, agent, token))
                left = [(t, a) for t in ready if t not in granted for a in free if free[a] > 0 and m.fits(a, t)]
                assert not left, f"a free slot and a ready task that fits it were left: {left}"
            return check

        self.command(lambda: self.planner.assign(), predict)

    @precondition(lambda self: self.model.leases)
    @rule(data=st.data(), stale=st.booleans(), release=st.booleans())
    def renew_or_release(self, data, stale, release) -> None:
        """The holder renews or gives back its lease (or presents an old token: refused)."""
        task = data.draw(st.sampled_from(sorted(self.model.leases)))
        token = self.model.leases[task].token - stale

        def predict(m: Model):
            lease = m.leases.get(task)
            if lease is None or token != lease.token:
                return REFUSE
            if release:
                return self.ending(m, task, False, {"type": "lease.released", "id": task, "token": token})
            if self.now - lease.renewed_at < m.lease_ttl / 2 and lease.expires_at - self.now > m.lease_ttl / 2:
                return self.heartbeat_events(m, lease.agent)  # renewed recently: only a heartbeat, if due
            return [{"type": "lease.renewed", "id": task, "token": token, "expires_at": self.now + m.lease_ttl}]

        self.command(lambda: self.planner.release(task, token) if release else self.planner.renew(task, token),
                     predict)

    @rule(seconds=st.sampled_from([1.0, 20.0, 31.0, 61.0]), reap=st.booleans())
    def time_passes(self, seconds, reap) -> None:
        """The clock moves on; the expiries are written by ``reap``, or else by the next command."""
        self.now += seconds
        if reap:
            self.command(lambda: self.planner.reap(), lambda m: [])

    # -- invariants, after every step -----------------------------------------------------
    @invariant()
    def the_engine_agrees_with_the_model(self) -> None:
        self.planner.refresh()
        ready_keys_match_their_tasks(self.planner.graph)  # (first: before a weight refresh re-sorts them)
        assert engine_view(self.planner.graph) == self.model.view()

    @invariant()
    def i1_i4_i5_replayed_from_the_raw_log(self) -> None:
        """I1 from the raw bytes; I4 replay == incremental == recomputed; I5 event by event."""
        replay, audit = TaskGraph(), Model()
        for batch in batches(self.raw_records()):
            for record in batch:
                replay.apply(record["seq"], parse_event(record["type"], record["data"]))
                audit.apply(record["seq"], record["type"], record["data"])
            audit.settle()
        live = self.planner.graph
        assert live.derived() == replay.derived() == live.recompute()

    @invariant()
    def i3_one_live_lease_per_task_held_by_its_agent(self) -> None:
        board = self.planner.graph.agents
        tokens = [lease.token for lease in board.leases.values()]
        assert len(set(tokens)) == len(tokens) and all(t <= board.last_token for t in tokens)
        for task, lease in board.leases.items():
            assert task in board.agents[lease.agent].held
        for agent in board.agents.values():
            assert all(board.leases[t].agent == agent.id for t in agent.held)
            assert len(agent.held) <= agent.capacity

    @invariant()
    def i6_acyclic(self) -> None:
        assert self.planner.graph.index.find_cycle() is None
        assert not self.model.has_cycle()


def ready_keys_match_their_tasks(graph: TaskGraph) -> None:
    """Before anything refreshes the weights: a key that disagreed with its task could never
    be found again to be discarded."""
    for key in graph.ready:
        assert key == graph.tasks[key[-1]].ready_key()
    assert {key[-1] for key in graph.ready} == {t for t, n in graph.tasks.items() if graph.is_ready(n)}


# examples and steps come from the profile (tests/conftest.py: the default, or "long")
WholeSystem.TestCase.settings = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
TestWholeSystem = WholeSystem.TestCase


class GroupCommitted(Planner):
    """A planner that decides every command as the server does: through :meth:`Planner.execute_group`
    (expiries and the command in one batch, one flush), refusals raised as the engine raises them."""

    def execute(self, command: Any) -> list[Any]:
        result = self.execute_group([command])[0]
        if isinstance(result, BaseException):
            raise result
        return result


class ServedWholeSystem(WholeSystem):
    """The same machine and predictions on the server's decision path (group commit), where the
    expiries owed and the command's events are one batch (one transaction): the owed expiries
    must open it, and the rest of it is the command's."""

    def open(self, create: bool = False) -> Planner:
        return GroupCommitted.open(self.home, "p", create=create, durability="none", lease_ttl=TTL,
                                   max_attempts=ATTEMPTS, clock=lambda: self.now)

    def take_expiries(self, new: list[list[dict[str, Any]]], count: int) -> list[dict[str, Any]]:
        first = new.pop(0)
        if first[count:]:
            new.insert(0, first[count:])  # the command's own events
        return first[:count]


ServedWholeSystem.TestCase.settings = WholeSystem.TestCase.settings
TestServedWholeSystem = ServedWholeSystem.TestCase


class PostgresWholeSystem(WholeSystem):
    """The same machine on a fresh PostgreSQL store (a schema of the session's throwaway server):
    the records are read back with plain SQL, and the steps only files have (a torn tail, the git
    archive, restore) become a reopen. Fewer examples: each step costs a few round trips more."""

    file_only = frozenset({"tear the tail", "archive", "damage and restore"})

    def open(self, create: bool = False) -> Planner:
        if not hasattr(self, "store"):
            self.store = pg_server.store_name()
        return Planner.open(None, "p", store=self.store, create=create, durability="none", lease_ttl=TTL,
                            max_attempts=ATTEMPTS, clock=lambda: self.now)

    def raw_records(self) -> list[dict[str, Any]]:
        return pg_server.raw_records(self.store, "p")

    def drop_snapshots(self) -> None:
        pg_server.drop_snapshots(self.store, "p")


PostgresWholeSystem.TestCase.settings = settings(
    WholeSystem.TestCase.settings, max_examples=max(1, settings.default.max_examples // 4))
TestPostgresWholeSystem = PostgresWholeSystem.TestCase
