"""Breaking tasks down with a decomposer program, and Markdown outlines, end to end."""

import json
import shlex
import subprocess
import sys

import pytest

from planner import Planner
from planner.domain.errors import InvalidPlanError
from planner.plans.decompose import DecomposerError
from planner.plans.planning import context_for, decompose

EXAMPLE = f"{shlex.quote(sys.executable)} -m planner.plans.example_decomposer"


@pytest.fixture
def planner(tmp_path):
    with Planner.open(tmp_path, "p", create=True, durability="none") as p:
        yield p


def test_decompose_two_levels_deep_appends_checked_batches(planner):
    planner.add_task("Web app", id="web")
    planner.add_task("Checkout", id="checkout", parent="web", effort=10, capabilities=["python"])
    context = context_for(planner, "checkout")
    assert context["ancestors"] == [{"id": "web", "title": "Web app"}] and context["depth"] == 2
    added = decompose(planner, "checkout", EXAMPLE, depth=2)
    assert added[:3] == ["checkout.design", "checkout.implement", "checkout.test"]
    assert len(added) == 3  # "Design X" and the like are not split further by the example
    assert planner.task("checkout.implement")["depends_on"] == ["checkout.design"]
    assert planner.task("checkout.test")["effort"] == pytest.approx(3.0)
    assert planner.ready() == ["checkout.design"]
    imported = [r.data for r in planner.log.read() if r.type == "project.imported"]
    assert imported == [{"v": 1, "source": "plan checkout", "tasks": 3}]


def script(code):
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"


def test_output_that_does_not_fit_the_project_writes_nothing(planner):
    planner.add_task("A", id="a")
    planner.add_task("B", id="b", depends_on=["a"])
    before = planner.log.last_seq
    # a subtask of a that waits on b, which waits on a: a cycle through the container
    cyclic = script('import json; print(json.dumps([{"id": "x", "title": "X", "depends_on": ["b"]}]))')
    with pytest.raises(InvalidPlanError, match="closes the cycle a.x -> b -> a"):
        decompose(planner, "a", cyclic)
    unknown = script('import json; print(json.dumps([{"title": "Y", "depends_on": ["ghost"]}]))')
    with pytest.raises(InvalidPlanError, match="'ghost' is not a known task"):
        decompose(planner, "a", unknown)
    with pytest.raises(DecomposerError, match="not JSON|JSON"):
        decompose(planner, "a", script("print('hello')"))
    assert planner.log.last_seq == before


def test_cli_plan_and_markdown_import(tmp_path):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "planner", "--home", str(tmp_path), *args],
                              capture_output=True, text=True, timeout=120)

    outline = tmp_path / "plan.md"
    outline.write_text("# Shop\n- Backend {#be}\n  - Models {#models effort=3 priority=high caps=python}\n"
                       "  - Routes {effort=5 after=models}\n- UI {after=be}\n")
    done = cli("--json", "import", str(outline), "--create")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["imported"] == 5
    tree = json.loads(cli("--json", "tree").stdout)
    assert [c["id"] for c in tree[0]["children"]] == ["be", "ui"]
    assert json.loads(cli("--json", "show", "routes").stdout)["depends_on"] == ["models"]
    planned = cli("--json", "plan", "routes", "--exec", EXAMPLE)
    assert planned.returncode == 0, planned.stderr
    assert json.loads(planned.stdout)["added"] == ["routes.design", "routes.implement", "routes.test"]
    failed = cli("plan", "models", "--exec", script("import sys; sys.exit(3)"))
    assert failed.returncode == 2 and "exited with code 3" in failed.stderr

    bad = tmp_path / "bad.md"
    bad.write_text("- A {effort=lots}\n- B {#b}\n- C {#b}\n")
    refused = cli("--project", "other", "import", str(bad), "--create")
    assert refused.returncode == 2 and "bad.md:1" in refused.stderr and "bad.md:3" in refused.stderr
