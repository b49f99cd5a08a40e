"""The task graph's incremental state always equals a recomputation from scratch."""

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from planner.domain.events import (
    DependencyAdded,
    DependencyRemoved,
    ProjectCreated,
    TaskAdded,
    TaskEdited,
    TaskMoved,
    TaskState,
    TaskStateChanged,
)
from projections.graph import TaskGraph


def build(*events):
    graph = TaskGraph()
    for seq, event in enumerate(events, 1):
        graph.apply(seq, event)
    return graph


def done(task):
    return TaskStateChanged(id=task, from_state="pending", to_state="completed")


def test_ready_follows_dependencies_and_priority():
    g = build(
        ProjectCreated(name="p"),
        TaskAdded(id="db", title="schema"),
        TaskAdded(id="api", title="api", priority="high"),
        TaskAdded(id="docs", title="docs", priority="low"),
        DependencyAdded(task="api", depends_on="db"),
    )
    assert g.ready_ids() == ["db", "docs"]
    g.apply(6, done("db"))
    assert g.ready_ids() == ["api", "docs"]  # high priority first
    assert g.counts[TaskState.COMPLETED] == 1


def test_depending_on_a_container_waits_for_all_of_it_and_containers_hold_back_their_tasks():
    g = build(
        TaskAdded(id="backend", title="b"), TaskAdded(id="b1", title="b1", parent="backend"),
        TaskAdded(id="b2", title="b2", parent="backend"),
        TaskAdded(id="frontend", title="f"), TaskAdded(id="f1", title="f1", parent="frontend"),
        DependencyAdded(task="frontend", depends_on="backend"),
    )
    assert g.ready_ids() == ["b1", "b2"]  # containers are never ready; f1 is held by frontend
    g.apply(7, done("b1"))
    assert g.ready_ids() == ["b2"]
    g.apply(8, done("b2"))
    assert g.tasks["backend"].done and g.ready_ids() == ["f1"]


def test_a_completed_leaf_that_gains_a_child_is_no_longer_done():
    g = build(TaskAdded(id="a", title="a"), TaskAdded(id="z", title="z"),
              DependencyAdded(task="z", depends_on="a"), done("a"))
    assert g.ready_ids() == ["z"]
    g.apply(5, TaskAdded(id="a1", title="more work", parent="a"))
    assert g.ready_ids() == ["a1"] and not g.tasks["a"].done


class GraphMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.graph = TaskGraph()
        self.seq = 0

    def apply(self, event):
        self.seq += 1
        self.graph.apply(self.seq, event)

    @property
    def ids(self):
        return sorted(self.graph.tasks)

    @rule(data=st.data(), priority=st.sampled_from(["low", "medium", "high", "critical"]))
    def add(self, data, priority):
        parent = data.draw(st.sampled_from([None, *self.ids]))
        self.apply(TaskAdded(id=f"t{len(self.ids)}", title="t", parent=parent, priority=priority))

    @precondition(lambda self: len(self.graph.tasks) >= 2)
    @rule(data=st.data())
    def depend(self, data):
        a, b = data.draw(st.sampled_from(self.ids)), data.draw(st.sampled_from(self.ids))
        if b not in self.graph.index.depends_on[a] and self.graph.index.cycle_for(a, b) is None:
            self.apply(DependencyAdded(task=a, depends_on=b))

    @precondition(lambda self: any(self.graph.index.depends_on.values()))
    @rule(data=st.data())
    def undepend(self, data):
        edges = sorted((a, b) for a, bs in self.graph.index.depends_on.items() for b in bs)
        a, b = data.draw(st.sampled_from(edges))
        self.apply(DependencyRemoved(task=a, depends_on=b))

    @precondition(lambda self: self.graph.tasks)
    @rule(data=st.data(), to=st.sampled_from(list(TaskState)))
    def change_state(self, data, to):
        task = data.draw(st.sampled_from(self.ids))
        self.apply(TaskStateChanged(id=task, from_state=self.graph.tasks[task].state, to_state=to))

    @precondition(lambda self: self.graph.tasks)
    @rule(data=st.data(), priority=st.sampled_from(["low", "medium", "high", "critical"]))
    def edit(self, data, priority):
        self.apply(TaskEdited(id=data.draw(st.sampled_from(self.ids)), priority=priority))

    @precondition(lambda self: len(self.graph.tasks) >= 2)
    @rule(data=st.data())
    def move(self, data):
        task = data.draw(st.sampled_from(self.ids))
        parent = data.draw(st.sampled_from([None, *self.ids]))
        if self.graph.index.move_cycle(task, parent) is None:
            self.apply(TaskMoved(id=task, parent=parent))

    @invariant()
    def incremental_equals_recomputed(self):
        assert self.graph.derived() == self.graph.recompute()


GraphMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestGraphMachine = GraphMachine.TestCase
