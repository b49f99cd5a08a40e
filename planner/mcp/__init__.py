"""``planner mcp``: the plan as MCP tools for coding agents (the official ``mcp`` SDK, v2).

The layer just above the service: each tool is one translation to and from
:mod:`planner.service` (the same results, refusals and one-line messages as the CLI).

* :mod:`~planner.mcp.session`: :class:`~planner.mcp.session.AgentSession`, one agent's
  view of a project (registers on its first claim, keeps its leases' tokens); no MCP in it;
* :mod:`~planner.mcp.tools`: the tools, their arguments' schemas and the descriptions a
  language model reads;
* :mod:`~planner.mcp.server`: :func:`~planner.mcp.server.build_server`, the MCP server
  object (tools, resources, the ``work-next-task`` prompt, instructions), for any transport;
* :mod:`~planner.mcp.stdio`: ``planner mcp``, that server on stdin/stdout;
* :mod:`~planner.mcp.http`: :func:`asgi_app`, the same tools as streamable HTTP at
  ``/mcp/PROJECT`` inside ``planner serve --http`` (one agent session per MCP session);
* :mod:`~planner.mcp.overview` and :mod:`~planner.mcp.guide`: the Markdown overview resource, the
  instructions and the prompt's text.

The SDK is imported only by ``server``, ``stdio`` and ``http`` (half a second of imports that no
other command pays). ``docs/mcp.md`` is the reference.
"""

from __future__ import annotations

import importlib
from typing import Any


def asgi_app(services: Any) -> Any:
    """The ASGI app that ``planner serve --http`` mounts at ``/mcp`` (:func:`planner.mcp.http.asgi_app`):
    ``services`` gives each project's hot service (``services.service(project)``)."""
    # (imported on call, so that importing this package stays cheap; by name, because the layer check
    # reads `from planner.mcp import guide` in server.py as an edge to this package: a cycle on paper)
    return importlib.import_module("planner.mcp.http").asgi_app(services)
