"""Plan analysis against a brute-force model of the leaf-level "waits on" relation."""

import hypothesis.strategies as st
from hypothesis import given, settings

from planner.domain.events import DependencyAdded, TaskAdded, TaskStateChanged
from projections.analysis import Structure, analyze, cycles
from projections.dependencies import DependencyIndex
from projections.graph import TaskGraph


# -- the model: the semantics, stated on leaves, computed the slow way ------------------
def model(parent: dict, edges: set, effort: dict):
    """Leaf relation waits[a] = leaves a waits on (transitively), straight from the definition."""
    children = {t: [c for c, p in parent.items() if p == t] for t in parent}
    leaves = [t for t in parent if not children[t]]

    def line(t):
        out = [t]
        while parent[out[-1]] is not None:
            out.append(parent[out[-1]])
        return out

    def under(t):
        return [t] if not children[t] else [leaf for c in children[t] for leaf in under(c)]

    direct = {a: {b for b in leaves for x in line(a) for y in line(b) if (x, y) in edges} for a in leaves}
    waits = {a: set(direct[a]) for a in leaves}
    changed = True
    while changed:
        changed = False
        for a in leaves:
            more = set().union(*(waits[b] for b in waits[a])) - waits[a] if waits[a] else set()
            if more:
                waits[a] |= more
                changed = True
    followers = {b: {a for a in leaves if b in waits[a]} for b in leaves}
    chain = {}  # longest effort chain starting at a leaf (the leaf included)

    def longest(b):
        if b not in chain:
            chain[b] = effort[b] + max((longest(a) for a in followers[b]), default=0.0)
        return chain[b]

    for b in leaves:
        longest(b)
    depth = {}

    def level(a):
        if a not in depth:
            depth[a] = max((level(b) + 1 for b in waits[a]), default=0)
        return depth[a]

    for a in leaves:
        level(a)

    def dependents(t):
        first = {leaf for (x, y) in edges if y in line(t) for leaf in under(x)}
        return first | {a for a in leaves for b in first if b in waits[a]}

    return leaves, under, chain, depth, waits, {t: len(dependents(t)) for t in parent}


@st.composite
def structures(draw):
    """A random valid tree with dependencies (kept acyclic by the planner's own index)."""
    count = draw(st.integers(1, 12))
    parent, index = {}, DependencyIndex()
    for i in range(count):
        task = f"t{i:02d}"
        up = draw(st.sampled_from([None, *sorted(parent)]))
        parent[task] = up
        index.add_task(task, up)
    edges = set()
    for _ in range(draw(st.integers(0, 2 * count))):
        a = draw(st.sampled_from(sorted(parent)))
        b = draw(st.sampled_from(sorted(parent)))
        if index.cycle_for(a, b) is None and b not in index.depends_on[a]:
            index.add_edge(a, b)
            edges.add((a, b))
    effort = {t: draw(st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0])) for t in parent}
    return parent, edges, effort


def depends_on(parent, edges):
    out = {t: set() for t in parent}
    for a, b in edges:
        out[a].add(b)
    return out


@settings(max_examples=300, deadline=None)
@given(structures())
def test_weights_levels_critical_path_and_dependents_match_the_model(case):
    parent, edges, effort = case
    leaves, under, chain, depth, waits, dependents = model(parent, edges, effort)
    s = Structure(parent, depends_on(parent, edges), effort)
    assert s.order is not None
    weights = s.weights()
    for t in parent:  # a leaf: its chain; a container: the best chain that starts under it
        assert weights[t] == max(chain[leaf] for leaf in under(t))
    assert s.levels() == depth
    path, total = s.critical_path()
    assert total == max(chain.values())
    assert sum(effort[t] for t in path) == total
    assert all(t in leaves for t in path)
    for before, after in zip(path, path[1:], strict=False):  # each waits on the one before it
        assert before in waits[after]
    assert s.transitive_dependents() == dependents
    assert cycles(parent, depends_on(parent, edges)) == []


def test_the_ready_queue_puts_the_longer_remaining_chain_first():
    g = TaskGraph()
    events = [TaskAdded(id="quick", title="q", effort=5), TaskAdded(id="root", title="r", effort=1),
              TaskAdded(id="mid", title="m", effort=3), TaskAdded(id="end", title="e", effort=4),
              DependencyAdded(task="mid", depends_on="root"), DependencyAdded(task="end", depends_on="mid")]
    for seq, e in enumerate(events, 1):
        g.apply(seq, e)
    # same priority: root (1 + 3 + 4 = 8 ahead of the project's end) before quick (5), though added later
    assert g.ready_ids() == ["root", "quick"]
    assert g.tasks["root"].weight == 8 and g.tasks["quick"].weight == 5
    g.apply(7, TaskAdded(id="urgent", title="u", priority="high", effort=0.5))
    assert g.ready_ids() == ["urgent", "root", "quick"]  # priority still comes first
    assert g.derived() == g.recompute()


def test_analysis_of_a_small_plan():
    g = TaskGraph()
    events = [
        TaskAdded(id="api", title="api"), TaskAdded(id="models", title="m", parent="api", effort=3,
                                                   capabilities=("python",)),
        TaskAdded(id="routes", title="r", parent="api", effort=5, capabilities=("python",)),
        TaskAdded(id="ui", title="ui", effort=4, capabilities=("typescript",)),
        TaskAdded(id="deploy", title="d", effort=1),
        DependencyAdded(task="routes", depends_on="models"), DependencyAdded(task="ui", depends_on="api"),
        DependencyAdded(task="deploy", depends_on="ui"),
        TaskStateChanged(id="models", from_state="pending", to_state="in_progress"),
        TaskStateChanged(id="models", from_state="in_progress", to_state="completed"),
    ]
    for seq, e in enumerate(events, 1):
        g.apply(seq, e)
    a = analyze(g)
    assert a.critical_path == ["models", "routes", "ui", "deploy"] and a.critical_path_effort == 13
    assert a.levels == [["models"], ["routes"], ["ui"], ["deploy"]]
    assert a.bottlenecks[:2] == [{"id": "api", "dependents": 2}, {"id": "models", "dependents": 3}][::-1]
    assert a.total_effort == 13 and a.remaining_effort == 10 and a.max_depth == 2 and a.leaves == 4
    assert a.capabilities == {"python": 2, "typescript": 1}


def test_cycles_in_imported_data_are_reported_with_their_edges():
    parent = {"a": None, "a1": "a", "b": None, "c": None}
    deps = {"a1": {"b"}, "b": {"c"}, "c": {"a"}}  # c waits on all of a, a1 waits on b: a cycle
    found = cycles(parent, deps)
    assert found == [{"tasks": ["a", "a1", "b", "c"], "edges": [["a1", "b"], ["b", "c"], ["c", "a"]]}]
    assert Structure(parent, deps, dict.fromkeys(parent, 1.0)).order is None


@settings(max_examples=200, deadline=None)
@given(structures(), st.data())
def test_any_cycle_is_found_and_removing_its_edges_breaks_it(case, data):
    parent, edges, _ = case
    a = data.draw(st.sampled_from(sorted(parent)))
    b = data.draw(st.sampled_from(sorted(parent)))
    index = DependencyIndex()
    order = []  # parents first
    while len(order) < len(parent):
        order += [t for t in sorted(parent) if t not in order and (parent[t] is None or parent[t] in order)]
    for t in order:
        index.add_task(t, parent[t])
    for x, y in edges | {(a, b)}:
        index.add_edge(x, y)
    deps = depends_on(parent, edges | {(a, b)})
    found = cycles(parent, deps)
    assert bool(found) == (index.find_cycle() is not None)
    cut = {tuple(e) for c in found for e in c["edges"]}
    assert cycles(parent, depends_on(parent, (edges | {(a, b)}) - cut)) == []
