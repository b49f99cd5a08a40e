"""``planner mcp`` as a coding agent meets it: the official MCP client (``mcp.ClientSession`` over
``stdio_client``) talking to ``python -m planner ... mcp`` as a real subprocess, on a temporary
home, embedded or through ``planner serve``."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "p"
LISTS = {"ready", "tree", "history"}  # the tools whose result is a list (sent as {"result": [...]})


class Refused(Exception):
    """A tool call answered with ``isError``: its text is the message."""


@pytest.fixture(params=["embedded", "served"])
def mode(request, tmp_path):
    """The test runs twice: on the files directly, and through ``planner serve`` (the MCP server's
    service is then a client of it, found by itself)."""
    if request.param == "served":
        from stress.serving import served

        make_project(tmp_path)  # (before the server: it opens the project on the first request)
        with served(tmp_path):
            yield "served"
    else:
        yield "embedded"


@pytest.fixture
def home(tmp_path, mode) -> Path:
    """A home with project ``p`` in working mode (no tasks yet)."""
    make_project(tmp_path)
    return tmp_path


def make_project(home: Path) -> None:
    from planner.service.service import Service

    if not (home / "projects" / PROJECT).exists():
        with Service.open(home, PROJECT, create=True) as s:
            s.set_mode("working")


def open_service(home: Path) -> Any:
    """The project's service, as the adapters open it (a client of the server when one serves it)."""
    from planner.service.opening import open_service

    return open_service(home, PROJECT)


@asynccontextmanager
async def mcp_client(home: Path, agent: str, *options: str) -> AsyncIterator[Any]:
    """An initialised ``ClientSession`` on ``planner --home HOME --project p mcp --agent AGENT *options``."""
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    args = ["-m", "planner", "--home", str(home), "--project", PROJECT, "mcp", "--agent", agent, *options]
    params = StdioServerParameters(command=sys.executable, args=args, env=dict(os.environ), cwd=str(ROOT))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


async def call(session: Any, tool: str, **arguments: Any) -> Any:
    """The tool's structured result (a list result unwrapped); :class:`Refused` for an ``isError`` answer."""
    result = await session.call_tool(tool, arguments)
    if result.is_error:
        raise Refused(result.content[0].text)
    content = result.structured_content
    return content["result"] if tool in LISTS else content


async def refused(session: Any, tool: str, **arguments: Any) -> str:
    """The message of a call that must be refused."""
    with pytest.raises(Refused) as caught:
        await call(session, tool, **arguments)
    return str(caught.value)
