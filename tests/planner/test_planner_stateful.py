"""The Planner under random commands: invariants I4, I5, I6 and the ready queue, after every step."""

import shutil
import tempfile
from pathlib import Path

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from planner import DomainError, Planner
from planner.events import TaskState, parse_event
from planner.states import DONE, TRANSITIONS
from projections.graph import TaskGraph

STATES = list(TaskState)


class PlannerMachine(RuleBasedStateMachine):
    @initialize()
    def start(self):
        self.home = Path(tempfile.mkdtemp(prefix="planner-stateful-"))
        self.now = 1_800_000_000.0
        self.planner = Planner.open(self.home, "p", create=True, durability="none", lease_ttl=60, max_attempts=2,
                                    clock=lambda: self.now)
        self.planner.set_mode("working")
        self.planner.register_agent("a0", capacity=2)
        self.refusals = 0

    def teardown(self):
        self.planner.close()
        shutil.rmtree(self.home, ignore_errors=True)

    @property
    def ids(self):
        return sorted(self.planner.graph.tasks)

    def attempt(self, action):
        """Run a command; a refusal must write nothing of its own (expiries it noticed first may be)."""
        before = self.planner.log.last_seq
        try:
            action()
        except DomainError:
            self.refusals += 1
            for record in self.planner.log.read(before + 1):
                assert record.type == "lease.expired" or (
                    record.type == "task.state_changed" and record.data["reason"].startswith("lease expired")), record

    @rule(data=st.data(), priority=st.sampled_from(["low", "medium", "high", "critical"]),
          effort=st.sampled_from([0.0, 1.0, 2.5, 8.0]))
    def add(self, data, priority, effort):
        parent = data.draw(st.sampled_from([None, *self.ids]))
        deps = data.draw(st.lists(st.sampled_from(self.ids), max_size=2)) if self.ids else []
        self.attempt(lambda: self.planner.add_task("t", parent=parent, depends_on=deps, priority=priority,
                                                   effort=effort))

    @precondition(lambda self: self.planner.graph.tasks)
    @rule(data=st.data(), priority=st.sampled_from(["low", "high"]), effort=st.sampled_from([0.5, 3.0, 13.0]))
    def edit(self, data, priority, effort):  # the events that change ready keys without a state change
        task = data.draw(st.sampled_from(self.ids))
        self.attempt(lambda: self.planner.edit_task(task, priority=priority, effort=effort))

    @precondition(lambda self: len(self.planner.graph.tasks) >= 2)
    @rule(data=st.data())
    def depend(self, data):
        a, b = data.draw(st.sampled_from(self.ids)), data.draw(st.sampled_from(self.ids))
        self.attempt(lambda: self.planner.add_dependency(a, b))

    @precondition(lambda self: any(self.planner.graph.index.depends_on.values()))
    @rule(data=st.data())
    def undepend(self, data):
        edges = sorted((a, b) for a, bs in self.planner.graph.index.depends_on.items() for b in bs)
        a, b = data.draw(st.sampled_from(edges))
        self.attempt(lambda: self.planner.remove_dependency(a, b))

    @precondition(lambda self: self.planner.graph.tasks)
    @rule(data=st.data(), to=st.sampled_from(STATES))
    def transition(self, data, to):
        task = data.draw(st.sampled_from(self.ids))
        self.attempt(lambda: self.planner.transition(task, to))

    @precondition(lambda self: len(self.planner.graph.tasks) >= 2)
    @rule(data=st.data())
    def move(self, data):
        task = data.draw(st.sampled_from(self.ids))
        parent = data.draw(st.sampled_from([None, *self.ids]))
        self.attempt(lambda: self.planner.move_task(task, parent))

    @rule()
    def snapshot(self):
        self.planner.snapshot()  # the next reopen starts from it

    @rule()
    def reopen(self):
        self.planner.close()
        self.planner = Planner.open(self.home, "p", durability="none", clock=lambda: self.now)

    # -- agents and leases ---------------------------------------------------------
    @rule(mode=st.sampled_from(["planning", "working", "working"]))
    def mode(self, mode):
        self.planner.set_mode(mode)

    @rule(agent=st.sampled_from(["a0", "a1", "a2"]), capacity=st.integers(1, 2))
    def register(self, agent, capacity):
        self.planner.register_agent(agent, capacity=capacity)

    @precondition(lambda self: self.planner.graph.agents.agents)
    @rule(data=st.data())
    def claim(self, data):
        agent = data.draw(st.sampled_from(sorted(self.planner.graph.agents.agents)))
        self.attempt(lambda: self.planner.claim(agent))

    @precondition(lambda self: self.planner.graph.agents.leases)
    @rule(data=st.data(), to=st.sampled_from(["in_progress", "completed", "failed", "pending", "blocked"]),
          stale=st.booleans())
    def work(self, data, to, stale):
        """The holder moves its task on (or presents an old token, which must change nothing)."""
        task = data.draw(st.sampled_from(sorted(self.planner.graph.agents.leases)))
        token = self.planner.graph.agents.leases[task].token - (1 if stale else 0)
        self.attempt(lambda: self.planner.transition(task, to, token=token))

    @precondition(lambda self: self.planner.graph.agents.leases)
    @rule(data=st.data())
    def renew_or_release(self, data):
        task = data.draw(st.sampled_from(sorted(self.planner.graph.agents.leases)))
        lease = self.planner.graph.agents.leases[task]
        if data.draw(st.booleans()):
            self.attempt(lambda: self.planner.renew(task, lease.token))
        else:
            self.attempt(lambda: self.planner.release(task, lease.token))

    @rule(seconds=st.sampled_from([1.0, 20.0, 31.0, 61.0]), reap=st.booleans())
    def time_passes(self, seconds, reap):
        """The clock moves on; the expiries are written by `reap`, or else by the next command."""
        self.now += seconds
        if reap:
            self.planner.reap()

    @invariant()
    def i3_one_live_lease_per_task_held_by_its_agent(self):
        board = self.planner.graph.agents
        tokens = [lease.token for lease in board.leases.values()]
        assert len(set(tokens)) == len(tokens) and all(t <= board.last_token for t in tokens)
        for task, lease in board.leases.items():
            assert task in board.agents[lease.agent].held
            assert self.planner.graph.tasks[task].state in (TaskState.ASSIGNED, TaskState.IN_PROGRESS,
                                                             TaskState.BLOCKED)
        for agent in board.agents.values():
            assert all(board.leases[t].agent == agent.id for t in agent.held)
            assert len(agent.held) <= agent.capacity

    def ready_keys_match_their_tasks_even_with_weights_stale(self):
        """Checked before anything refreshes the weights (so first in the invariant below): a
        key that disagreed with its task could never be found again to be discarded."""
        graph = self.planner.graph
        for key in graph.ready:
            assert key == graph.tasks[key[-1]].ready_key()
        ready = {t for t, n in graph.tasks.items() if graph.is_ready(n)}
        assert {key[-1] for key in graph.ready} == ready

    @invariant()
    def i4_incremental_equals_replay_and_recomputation(self):
        self.ready_keys_match_their_tasks_even_with_weights_stale()
        replay = TaskGraph()
        for record in self.planner.log.read():
            replay.apply(record.seq, parse_event(record.type, record.data))
        live = self.planner.graph
        assert live.derived() == replay.derived() == live.recompute()  # includes the ready queue

    @invariant()
    def i5_only_legal_transitions_and_no_start_before_dependencies(self):
        graph = TaskGraph()
        for record in self.planner.log.read():
            event = parse_event(record.type, record.data)
            if event.type == "task.state_changed":
                node = graph.tasks[event.id]
                assert node.state == event.from_state and event.to_state in TRANSITIONS[event.from_state]
                assert not graph.index.children[event.id]  # containers are never set
                if event.to_state in (TaskState.ASSIGNED, TaskState.IN_PROGRESS):
                    waits = [d for t in graph.index.line(event.id) for d in graph.index.depends_on[t]]
                    assert all(graph.tasks[d].done for d in waits), (event, waits)
            graph.apply(record.seq, event)

    @invariant()
    def i6_acyclic(self):
        assert self.planner.graph.index.find_cycle() is None

    @invariant()
    def done_means_completed_all_the_way_down(self):
        graph = self.planner.graph
        for task, node in graph.tasks.items():
            leaves = [t for t in graph.tasks if task in graph.index.line(t) and not graph.index.children[t]]
            assert node.done == all(graph.tasks[t].state in DONE for t in leaves)


PlannerMachine.TestCase.settings = settings(
    max_examples=80, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow],
)
TestPlannerMachine = PlannerMachine.TestCase
