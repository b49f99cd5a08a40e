"""What a client sees of ``planner mcp`` before any work: the tools with their schemas (a snapshot),
the resources, the prompt, the instructions; and the refusals that come before the protocol starts.

The snapshot is ``tests/mcp/tools.json``, compared exactly. After a deliberate change, regenerate
it with ``PLANNER_UPDATE_SNAPSHOT=1 pytest tests/mcp`` and review the diff.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.mcp.conftest import PROJECT, ROOT, call, make_project, mcp_client

SNAPSHOT = Path(__file__).with_name("tools.json")
TOOLS = ["status", "ready", "show_task", "tree", "history", "analyze", "add_task", "add_dependency",
         "remove_dependency", "edit_task", "claim_task", "renew_lease", "checkpoint_task", "complete_task",
         "fail_task", "release_task"]


async def _what_a_client_sees(home: Path) -> tuple[dict, dict]:
    async with mcp_client(home, "ann") as client:
        tools = (await client.list_tools()).tools
        resources = (await client.list_resources()).resources
        templates = (await client.list_resource_templates()).resource_templates
        prompts = (await client.get_prompt("work-next-task", {"task": "T1"}), (await client.list_prompts()).prompts)
        seen = {
            "tools": [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools],
            "resources": [r.model_dump(mode="json", by_alias=True, exclude_none=True) for r in resources],
            "resource_templates": [r.model_dump(mode="json", by_alias=True, exclude_none=True) for r in templates],
            "prompts": [p.model_dump(mode="json", by_alias=True, exclude_none=True) for p in prompts[1]],
            "instructions": client.instructions,
            "server": client.server_info.name,
        }
        design = await call(client, "add_task", title="Design the schema", priority="high")
        await call(client, "add_task", title="Build it", depends_on=[design["id"]])
        overview = (await client.read_resource(f"planner://{PROJECT}/overview")).contents[0]
        task = (await client.read_resource(f"planner://{PROJECT}/tasks/{design['id']}")).contents[0]
        with pytest.raises(Exception) as unknown:  # an invalid-params error, with the CLI's message
            await client.read_resource(f"planner://{PROJECT}/tasks/nope")
        read = {"overview": (overview.mime_type, overview.text), "task": (task.mime_type, json.loads(task.text)),
                "shown": await call(client, "show_task", task=design["id"]), "unknown": str(unknown.value),
                "prompt": prompts[0].messages[0].content.text}
    return seen, read


def test_the_tools_resources_and_prompt_as_a_client_sees_them(tmp_path):
    make_project(tmp_path)
    seen, read = asyncio.run(_what_a_client_sees(tmp_path))
    assert [t["name"] for t in seen["tools"]] == TOOLS
    for tool in seen["tools"]:
        assert tool["description"] and tool["inputSchema"]["type"] == "object", tool["name"]
        assert tool["inputSchema"]["additionalProperties"] is False, tool["name"]  # unknown arguments are errors
    if os.environ.get("PLANNER_UPDATE_SNAPSHOT"):
        SNAPSHOT.write_text(json.dumps(seen, indent=2, sort_keys=True) + "\n")
    assert json.loads(SNAPSHOT.read_text()) == json.loads(json.dumps(seen)), \
        "the tools changed: if on purpose, regenerate tests/mcp/tools.json with PLANNER_UPDATE_SNAPSHOT=1"

    mime, text = read["overview"]
    assert mime == "text/markdown" and text.startswith(f"# {PROJECT}: overview")
    assert "0 of 2 leaf tasks completed" in text and "`T1` Design the schema (high" in text
    assert "## Agents" in text and "## Blockers" in text
    assert read["task"] == ("application/json", read["shown"])
    assert "unknown task 'nope': `planner tree` lists the ids" in read["unknown"]
    assert "call claim_task with task='T1'" in read["prompt"] and "checkpoint_task" in read["prompt"]


def _planner(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "planner", "--home", str(home), *args], capture_output=True,
                          text=True, timeout=120, cwd=ROOT, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize(("args", "start", "about"), [
    (["--project", "nope", "mcp"], "planner: no project 'nope' in {home}: create it with `planner init`", "nope"),
    (["--project", PROJECT, "mcp", "--agent", "two words"], "planner: invalid ", "agent"),
    (["--project", PROJECT, "mcp", "--capacity", "0"], "planner: invalid ", "capacity"),
])
def test_a_bad_start_is_refused_in_one_line_before_the_protocol(tmp_path, args, start, about):
    make_project(tmp_path)
    result = _planner(tmp_path, *args)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith(start.format(home=tmp_path)) and about in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
