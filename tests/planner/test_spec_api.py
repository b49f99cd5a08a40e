"""The spec's API, used as its BENCH-001 snippet uses it."""

import asyncio
from pathlib import Path

from fixtures.generators import BenchmarkDataGenerator, generate_complex_project
from planner import SuperPlanner
from projections.analysis import Structure

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def test_load_project_as_the_spec_snippet_does():
    async def scenario(task_count):
        project = generate_complex_project(task_count=task_count, max_depth=5, dependency_density=0.3)
        planner = SuperPlanner()
        await planner.load_project(project)
        try:
            p = planner.planner
            assert len(p.tasks()) == task_count and planner.report["dropped"] == []
            edges = sum(len(t["dependencies"]) for t in project.tasks)
            assert sum(len(p.graph.index.depends_on[t]) for t in p.tasks()) == edges
            assert Structure.of_graph(p.graph).order is not None  # acyclic, as the generator promises
            assert p.ready() == p.graph.ready_ids() and p.ready()  # something can start
        finally:
            home = planner.home
            planner.close()
        assert not home.exists()  # the temporary home is removed

    for count in (10, 50, 100):
        asyncio.run(scenario(count))


def test_load_project_takes_fixture_files_dicts_and_generated_projects(tmp_path):
    async def scenario():
        async with SuperPlanner(tmp_path, durability="none") as sp:
            report = await sp.load_project(FIXTURES / "simple_web_app.json")
            assert report["expected_outcomes"]["mismatched"] == []
            assert sp.planner.project == "simple-web-app"
            big = BenchmarkDataGenerator.generate_large_project(300, "extreme")
            await sp.load_project(big.to_dict(), name="extreme")
            assert len(sp.planner.tasks()) == 300
        assert (tmp_path / "projects" / "extreme").is_dir()  # a home that was given is kept

    asyncio.run(scenario())
