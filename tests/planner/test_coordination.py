"""AgentCoordinator (BENCH-002's API) and the multi-agent fixtures: the spec's snippet, COORD-003,
determinism, and the planner's rules holding through the hand-out."""

import asyncio

import pytest

from fixtures.agents import (
    AGENT_PROFILES,
    assert_load_balanced,
    create_test_agents,
    generate_multi_agent_project,
    load_of,
)
from planner import AgentCoordinator, Planner
from planner.spec.coordination import AgentShare


async def _spec_snippet(agent_count: int, home=None):
    """BENCH-002's benchmark body, as written (plus closing the coordinator)."""
    project = generate_multi_agent_project(agent_count=agent_count, tasks_per_agent=10)
    agents = create_test_agents(agent_count)
    coordinator = AgentCoordinator(home)
    try:
        await coordinator.register_agents(agents)
        assignments = await coordinator.assign_all_tasks(project.tasks)
        assert_load_balanced(assignments, tolerance=0.15)
        return project, agents, assignments, _log_order(coordinator.planner)
    finally:
        coordinator.close()


def _log_order(planner: Planner) -> dict[str, dict[str, int]]:
    """Per task, the seq of its grant and of its completion in the log."""
    seen: dict[str, dict[str, int]] = {}
    for record in planner.log.read():
        if record.type == "task.assigned":
            assert "assigned" not in seen.setdefault(record.data["id"], {}), f"{record.data['id']} granted twice"
            seen[record.data["id"]]["assigned"] = record.seq
        elif record.type == "task.state_changed" and record.data["to_state"] == "completed":
            seen.setdefault(record.data["id"], {})["completed"] = record.seq
    return seen


@pytest.mark.parametrize("agent_count", [2, 5, 10, 15, 20])
def test_spec_snippet_assigns_every_task_once_within_15_percent(agent_count):
    project, agents, assignments, order = asyncio.run(_spec_snippet(agent_count))
    leaves = [t["id"] for t in project.tasks if t["parent_id"] is not None]
    assert len(leaves) == 10 * agent_count
    given = [task for share in assignments.values() for task in share.tasks]
    assert sorted(given) == sorted(leaves)  # every leaf, each exactly once
    assert assignments.unassigned == [] and assignments.tasks == len(leaves)
    assert set(assignments) == {a.id for a in agents}
    by_id = {t["id"]: t for t in project.tasks}
    caps = {a.id: set(a.capabilities) for a in agents}
    for agent, share in assignments.items():
        assert share.effort == pytest.approx(sum(by_id[t]["estimated_effort"] for t in share.tasks))
        assert all(set(by_id[t]["capabilities_required"]) <= caps[agent] for t in share.tasks)
    for task in leaves:  # granted only once what it waits on was completed; completed itself
        assert order[task]["assigned"] < order[task]["completed"]
        for dep in by_id[task]["dependencies"]:
            assert order[dep]["completed"] < order[task]["assigned"], (task, dep)
    assert assignments.first_assignment_s is not None and assignments.batches == len(assignments.batch_seconds)


def test_a_batch_respects_capacity_and_takes_the_highest_priorities_first(tmp_path):
    project = generate_multi_agent_project(agent_count=10, tasks_per_agent=10)
    agents = create_test_agents(10)

    async def first_batch():
        async with AgentCoordinator(tmp_path) as coordinator:
            await coordinator.register_agents(agents)
            await coordinator.add_tasks(project.tasks)
            ready = coordinator.planner.ready_tasks()
            return ready, await coordinator.assign_batch()

    ready, batch = asyncio.run(first_batch())
    assert all(len(share.tasks) <= 1 for share in batch.values())  # capacity 1
    assert batch.tasks > len(agents) // 2 and batch.batches == 1
    rank = {"critical": 3, "high": 2, "medium": 1, "low": 0}
    chosen = {t for share in batch.values() for t in share.tasks}
    worst_chosen = min(rank[t["priority"]] for t in ready if t["id"] in chosen)
    assert all(rank[t["priority"]] <= worst_chosen for t in ready if t["id"] not in chosen)


def test_coord_003_fifty_tasks_eight_agents_of_capacity_three(tmp_path):
    """COORD-003: 50 tasks, 8 agents x capacity 3: one batch, highest priority first, balanced."""
    efforts = [1, 2, 3, 5, 8]
    tasks = [{"id": f"t{i:02d}", "name": f"task {i}", "estimated_effort": efforts[i % 5],
              "priority": ["low", "medium", "high", "critical"][i % 4]} for i in range(50)]
    agents = create_test_agents(8, capabilities=[()], capacity=3)

    async def scenario():
        async with AgentCoordinator(tmp_path) as coordinator:
            await coordinator.register_agents(agents)
            await coordinator.add_tasks(tasks)
            batch = await coordinator.assign_batch()
            return batch, coordinator.planner.agents(), await coordinator.assign_batch()

    batch, board, again = asyncio.run(scenario())
    assert batch.tasks == 24 and batch.batches == 1
    assert all(len(share.tasks) == 3 for share in batch.values())  # capacity used, never exceeded
    assert all(len(a["leases"]) == 3 for a in board)
    assert_load_balanced(batch, tolerance=0.15)
    chosen = {t for share in batch.values() for t in share.tasks}
    assert {f"t{i:02d}" for i in range(50) if i % 4 == 3} <= chosen  # all 13 critical ones first
    assert again.tasks == 0 and again.batches == 0  # everyone is full


def test_same_inputs_give_the_same_assignments():
    def run():
        _, _, assignments, _ = asyncio.run(_spec_snippet(15))
        return ({agent: (share.tasks, share.effort) for agent, share in assignments.items()}, assignments.batches)

    assert run() == run()


def test_tasks_nobody_can_do_are_left_unassigned_with_what_waits_on_them(tmp_path):
    tasks = [
        {"id": "a", "name": "a", "estimated_effort": 2, "capabilities_required": ["python"]},
        {"id": "b", "name": "b", "estimated_effort": 2, "capabilities_required": ["cobol"]},
        {"id": "c", "name": "c", "estimated_effort": 1, "dependencies": ["b"]},
        {"id": "d", "name": "d", "estimated_effort": 1, "dependencies": ["a"]},
    ]

    async def scenario():
        async with AgentCoordinator(tmp_path) as coordinator:
            ids = await coordinator.register_agents([{"id": "x", "capabilities": ["python"]},
                                                     {"id": "y", "capabilities": ["python"], "capacity": 2}])
            return ids, await coordinator.assign_all_tasks(tasks)

    ids, assignments = asyncio.run(scenario())
    assert ids == ["x", "y"]
    assert sorted(t for share in assignments.values() for t in share.tasks) == ["a", "d"]
    assert assignments.unassigned == ["b", "c"]


def test_assign_all_tasks_imports_only_what_is_missing_and_can_run_again(tmp_path):
    project = generate_multi_agent_project(agent_count=2, tasks_per_agent=5)

    async def scenario():
        async with AgentCoordinator(tmp_path) as coordinator:
            await coordinator.register_agents(create_test_agents(2))
            assert await coordinator.add_tasks(project) is not None  # a TestProject works too
            first = await coordinator.assign_all_tasks(project.tasks)  # nothing new to import
            second = await coordinator.assign_all_tasks(project.to_dict())
            return first, second

    first, second = asyncio.run(scenario())
    assert first.tasks == 10 and second.tasks == 0 and second.unassigned == []
    assert all(share.tasks == [] for share in second.values())


def test_the_temporary_home_is_removed_and_a_given_home_is_kept(tmp_path):
    async def use(coordinator):
        async with coordinator:
            await coordinator.register_agents(create_test_agents(1))
        return coordinator.home

    temporary = asyncio.run(use(AgentCoordinator()))
    assert not temporary.exists()
    kept = asyncio.run(use(AgentCoordinator(tmp_path / "home", project="p")))
    with Planner.open(kept, "p") as p:
        assert [a["id"] for a in p.agents()] == ["agent-01"]


# -- the fixtures ------------------------------------------------------------------------------
def test_test_agents_are_deterministic_and_every_generated_task_has_someone_able():
    assert create_test_agents(12) == create_test_agents(12)
    assert [a.id for a in create_test_agents(3)] == ["agent-01", "agent-02", "agent-03"]
    assert create_test_agents(120)[-1].id == "agent-120"
    for n in (1, 2, 5, 20):
        agents = create_test_agents(n, capacity=2)
        assert all(a.capacity == 2 and a.kind == "ai" for a in agents)
        project = generate_multi_agent_project(n, 10, seed=3)
        for task in project.tasks:
            assert any(set(task["capabilities_required"]) <= set(a.capabilities) for a in agents), task["id"]
    assert create_test_agents(7, capabilities=[("go",), ()])[2].capabilities == ("go",)
    assert {c for p in AGENT_PROFILES for c in p} == {"python", "typescript", "devops", "security"}
    with pytest.raises(ValueError):
        create_test_agents(-1)


def test_multi_agent_projects_are_seeded_sized_and_import_cleanly(tmp_path):
    from planner.plans.importing import import_plan, read_fixture

    a, b = generate_multi_agent_project(7, 9, seed=1), generate_multi_agent_project(7, 9, seed=1)
    assert a.to_json() == b.to_json()
    assert a.to_json() != generate_multi_agent_project(7, 9, seed=2).to_json()
    leaves = [t for t in a.tasks if t["parent_id"] is not None]
    assert len(leaves) == 63 and a.expected_outcomes["leaves"] == 63
    assert sum(1 for t in leaves if t["dependencies"]) > 63 * 0.7  # features are chained
    assert len({t["priority"] for t in leaves}) >= 3 and len({t["estimated_effort"] for t in leaves}) >= 4
    with Planner.open(tmp_path, "p", create=True) as p:
        report = import_plan(p, read_fixture(a.to_dict(), "a"))
        assert report["imported"] == len(a.tasks) and report["dropped"] == []
        assert report["expected_outcomes"]["mismatched"] == []
    assert generate_multi_agent_project(0, 10).tasks == []


def test_assert_load_balanced_names_the_agents_out_of_bounds():
    assert assert_load_balanced({"a": 10, "b": 11, "c": 9}, tolerance=0.15)["b"] == pytest.approx(0.1)
    with pytest.raises(AssertionError, match=r"mean effort 8\.333.*c: 5 \(-40\.0%\)"):
        assert_load_balanced({"a": AgentShare(["t1"], 10), "b": {"effort": 10}, "c": 5}, tolerance=0.15)
    with pytest.raises(AssertionError, match="no effort"):
        assert_load_balanced({"a": 0, "b": 0})
    assert load_of({"a": AgentShare(["t"], 2.5)}) == {"a": 2.5}
