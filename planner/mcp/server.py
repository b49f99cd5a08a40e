"""The MCP server object of one :class:`~planner.mcp.session.AgentSession`, for any transport.

:func:`build_server` returns an ``mcp.server.mcpserver.MCPServer`` (the SDK's high-level
server, v2) with the tools of :class:`~planner.mcp.tools.PlannerTools`, two resources, the
``work-next-task`` prompt and the server's instructions. :mod:`planner.mcp.stdio` runs it
on stdin/stdout; :mod:`planner.mcp.http` builds one per MCP session over HTTP.

* tools: the input schemas are strict (an unknown argument is a schema error, not silently
  dropped: a misspelt ``depends_on`` must not add a task without its dependencies); queries
  carry the read-only hint;
* ``planner://{project}/overview``: Markdown (:mod:`planner.mcp.overview`);
* ``planner://{project}/tasks/{id}``: one task as JSON (the ``show_task`` result); an
  unknown id is an invalid-params error with the CLI's message.
"""

from __future__ import annotations

import functools
import inspect
from typing import Annotated, Any

import orjson
from pydantic import ConfigDict, Field

from planner.mcp import guide
from planner.mcp.overview import overview
from planner.mcp.refusals import refusal
from planner.mcp.session import AgentSession
from planner.mcp.tools import QUERIES, PlannerTools

SERVER_NAME = "superplanner"


def build_server(session: AgentSession) -> Any:
    """The ``MCPServer`` of ``session`` (see the module docstring). Builds the tools' schemas: ~60 ms of CPU."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ResourceNotFoundError

    project, agent = session.project, session.agent
    tools = PlannerTools(session)
    server = MCPServer(SERVER_NAME, instructions=guide.instructions(project, agent), version=_version(),
                       tools=[_tool(getattr(tools, name), name) for name in PlannerTools.NAMES],
                       log_level="WARNING")  # (refusals are answers, not news for the log)

    @server.resource(f"planner://{project}/overview", name="overview", mime_type="text/markdown",
                     description="The project at a glance: progress, ready work, agents and their leases, blockers.")
    def project_overview() -> str:
        return overview(session.service)

    @server.resource(f"planner://{project}/tasks/{{id}}", name="task", mime_type="application/json",
                     description="One task in full, as show_task returns it.")
    def task(id: str) -> str:  # noqa: A002 - the URI's name
        try:
            return orjson.dumps(session.service.show(id), default=str).decode()
        except Exception as exc:
            message = refusal(exc)
            if message is None:
                raise
            raise ResourceNotFoundError(message) from None

    @server.prompt(name="work-next-task", title="Work on the next task",
                   description="Walks you through one task: claim, resume from a checkpoint, checkpoint, complete.")
    def work_next_task(task: Annotated[str | None, Field(description="a task to claim (default: the best ready "
                                                                  "one you can do)")] = None) -> str:
        return guide.work_next_task(project, agent, task)

    return server


def _tool(method: Any, name: str) -> Any:
    """The SDK's Tool for one method of PlannerTools, its input schema closed to unknown arguments."""
    from mcp.server.mcpserver.tools import Tool
    from mcp.types import ToolAnnotations

    read_only = name in QUERIES
    description = " ".join(inspect.getdoc(method).split())  # one paragraph, without the source's indentation
    tool = Tool.from_function(method, name=name, description=description, annotations=ToolAnnotations(
        read_only_hint=read_only, destructive_hint=False if not read_only else None, open_world_hint=False))
    loose = tool.fn_metadata.arg_model
    strict = type(loose.__name__, (loose,), {"model_config": ConfigDict(extra="forbid"), "__module__": __name__})
    tool.fn_metadata.arg_model = strict
    tool.parameters = strict.model_json_schema(by_alias=True)
    tool.fn = _compact(method, wrap=tool.fn_metadata.wrap_output)
    return tool


def _compact(method: Any, wrap: bool) -> Any:
    """``method``, its result sent as one block of compact JSON text beside the structured content
    (the SDK would send indented JSON, a block per list item: a task is 30% more characters so)."""
    from mcp.types import CallToolResult, TextContent

    @functools.wraps(method)
    def call(**arguments: Any) -> Any:
        result = method(**arguments)
        if isinstance(result, CallToolResult):  # a refusal
            return result
        text = orjson.dumps(result, default=str).decode()
        return CallToolResult(content=[TextContent(type="text", text=text)],
                              structured_content={"result": result} if wrap else result)

    return call


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("superplanner")
    except PackageNotFoundError:  # (run from a checkout that was not installed)
        return "0"
