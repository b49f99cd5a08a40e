"""The MCP tools over streamable HTTP at ``/mcp/PROJECT``, inside a real ``planner serve --http``.

One server for the module (a real process: :func:`stress.serving.start_server` returns once it
listens), the official client (``streamable_http_client`` under ``mcp.Client``) with the home's
token, and plain HTTP for what a client never sends: no token, a foreign Host, a bad query.
"""

from __future__ import annotations

import asyncio
import http.client
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from planner.service.opening import open_service
from stress.serving import start_server
from tests.mcp.conftest import LISTS, PROJECT, Refused, make_project

SNAPSHOT = Path(__file__).with_name("tools.json")  # what a client sees of `planner mcp` on stdio (agent ann)
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                         "clientInfo": {"name": "test", "version": "0"}}}
OTHER = "q"  # a second project of the home
CLAIM = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "claim_task", "arguments": {}}}


class Served:
    """``planner serve --http 127.0.0.1:0`` on a home with project ``p`` (working mode, no tasks)."""

    def __init__(self, server: Any, home: Path):
        self.server, self.home = server, home
        self.url = server.url.rstrip("/")
        parts = urlsplit(self.url)
        self.host, self.port = parts.hostname, parts.port
        self.token = (home / "http.token").read_text().strip()

    def request(self, method: str, path: str, body: Any = None, token: bool = True,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        """(status, headers, body) of one plain HTTP request, as an MCP client would make it."""
        sent = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json",
                **({"Authorization": f"Bearer {self.token}"} if token else {}), **(headers or {})}
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            connection.request(method, path, body=None if body is None else json.dumps(body), headers=sent)
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
        finally:
            connection.close()

    def seq(self) -> int:
        with open_service(self.home, PROJECT) as service:
            return service.status()["seq"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from planner.service.service import Service

    home = tmp_path_factory.mktemp("mcp-http-home")
    make_project(home)
    Service.open(home, OTHER, create=True).close()
    server = start_server(home, http="127.0.0.1:0")
    try:
        yield Served(server, home)
    except BaseException:
        server.kill()
        raise
    server.stop()


async def _client(served: Served, query: str, stack: Any) -> Any:
    """An initialised ``mcp.Client`` on ``/mcp/p?QUERY`` with the token (entered on ``stack``)."""
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    http = await stack.enter_async_context(httpx2.AsyncClient(headers={"Authorization": f"Bearer {served.token}"}))
    transport = streamable_http_client(f"{served.url}/mcp/{PROJECT}?{query}", http_client=http)
    return await stack.enter_async_context(Client(transport))  # (mode auto: the probe falls back to initialize)


async def call(client: Any, tool: str, **arguments: Any) -> Any:
    result = await client.call_tool(tool, arguments)
    if result.is_error:
        raise Refused(result.content[0].text)
    return result.structured_content["result"] if tool in LISTS else result.structured_content


def _dump(items: list[Any]) -> list[dict[str, Any]]:
    return [i.model_dump(mode="json", by_alias=True, exclude_none=True) for i in items]


async def _what_a_client_sees(served: Served) -> dict[str, Any]:
    from contextlib import AsyncExitStack

    async with AsyncExitStack() as stack:
        client = await _client(served, "agent=ann", stack)
        other = await _client(served, "", stack)  # no agent given: one of its own
        return {"tools": _dump((await client.list_tools()).tools),
                "resources": _dump((await client.list_resources()).resources),
                "resource_templates": _dump((await client.list_resource_templates()).resource_templates),
                "prompts": _dump((await client.list_prompts()).prompts),
                "instructions": client.instructions, "server": client.server_info.name,
                "agents": [(await call(c, "status"))["agent"] for c in (client, other)]}


def test_the_same_tools_resources_prompt_and_instructions_as_over_stdio(served):
    seen = asyncio.run(_what_a_client_sees(served))
    agents = seen.pop("agents")
    assert seen == json.loads(SNAPSHOT.read_text())  # byte for byte what `planner mcp --agent ann` offers
    assert agents[0] == "ann" and agents[1].startswith("mcp-") and len(agents[1]) == len("mcp-") + 8


async def _work(served: Served) -> dict[str, Any]:
    from contextlib import AsyncExitStack

    with open_service(served.home, PROJECT) as service:
        first = service.add_task("Design the schema", capabilities=["sql"])["id"]
        second = service.add_task("Build it", depends_on=[first])["id"]
    seen: dict[str, Any] = {}
    async with AsyncExitStack() as stack:
        client = await _client(served, "agent=claude-1&capabilities=python,sql&capacity=2", stack)
        claimed = await call(client, "claim_task")
        seen["claimed"] = claimed["task"]["id"]
        await call(client, "checkpoint_task", task=first, notes="tables drafted", data={"branch": "schema"})
        await call(client, "complete_task", task=first)
        seen["next"] = (await call(client, "claim_task"))["task"]["id"]
        await call(client, "checkpoint_task", task=second, notes="half built")
        # the client goes away holding `second`: its session ends (DELETE), as stdin's end does on stdio
    with open_service(served.home, PROJECT) as service:
        seen["events"] = service.events()
        seen["second"] = service.show(second)
        seen["agent"] = service.agent("claude-1")
    seen["ids"] = (first, second)
    return seen


def test_claim_checkpoint_complete_over_http_and_the_end_of_the_session_deregisters(served):
    seen = asyncio.run(_work(served))
    first, second = seen["ids"]
    assert (seen["claimed"], seen["next"]) == (first, second)
    about = [e for e in seen["events"] if e["data"].get("id") == first]
    assert [e["type"] for e in about] == ["task.added", "task.state_changed", "task.assigned", "task.state_changed",
                                          "task.checkpointed", "task.state_changed", "lease.released"]
    assert about[2]["data"]["agent"] == "claude-1" and about[4]["data"]["data"] == {"branch": "schema"}
    assert about[5]["data"]["to_state"] == "completed" and about[5]["data"]["by"] == "claude-1"
    registered = [e["data"] for e in seen["events"] if e["type"] == "agent.registered"
                  and e["data"]["agent"] == "claude-1"]
    assert [(r["capabilities"], r["capacity"]) for r in registered] == [(["python", "sql"], 2)]
    # answered only once the agent was deregistered: what it held is pending again, checkpoint kept
    assert seen["events"][-1]["type"] == "agent.deregistered"
    assert seen["events"][-1]["data"] == {**seen["events"][-1]["data"], "agent": "claude-1",
                                          "reason": "MCP session ended"}
    assert seen["agent"]["active"] is False
    assert seen["second"]["state"] == "pending" and seen["second"]["checkpoint"]["notes"] == "half built"


def _session(served: Served) -> str:
    """A session opened with the token over plain HTTP: its id."""
    status, headers, _ = served.request("POST", f"/mcp/{PROJECT}?agent=raw", INITIALIZE)
    assert status == 200, status
    served.request("POST", f"/mcp/{PROJECT}", {"jsonrpc": "2.0", "method": "notifications/initialized"},
                   headers={"Mcp-Session-Id": headers["mcp-session-id"]})
    return headers["mcp-session-id"]


def _error(body: str) -> str:
    parsed = json.loads(body)
    return parsed["error"] if isinstance(parsed["error"], str) else parsed["error"]["message"]


def test_without_the_token_or_from_a_foreign_host_nothing_happens(served):
    with open_service(served.home, PROJECT) as service:
        service.add_task("Guarded", id="G1")
    before = served.seq()
    status, _, body = served.request("POST", f"/mcp/{PROJECT}?agent=eve", INITIALIZE, token=False)
    assert status == 401 and "token" in _error(body)
    session = _session(served)
    for token, headers in [(False, {}), (True, {"Host": "evil.example:80"}),
                           (False, {"Authorization": "Bearer not-the-token"})]:
        status, _, body = served.request("POST", f"/mcp/{PROJECT}", CLAIM, token=token,
                                         headers={"Mcp-Session-Id": session, **headers})
        assert (status, "Host" in _error(body)) == ((403, True) if "Host" in headers else (401, False)), body
    status, _, _ = served.request("GET", f"/mcp/{PROJECT}", headers={"Host": "evil.example", "Mcp-Session-Id": session})
    assert status == 403
    status, _, _ = served.request("DELETE", f"/mcp/{PROJECT}", token=False, headers={"Mcp-Session-Id": session})
    assert status == 401
    assert served.seq() == before  # no claim, no registration
    claim_g1 = {**CLAIM, "params": {"name": "claim_task", "arguments": {"task": "G1"}}}
    status, _, body = served.request("POST", f"/mcp/{PROJECT}", claim_g1, headers={"Mcp-Session-Id": session})
    assert status == 200 and "G1 is yours" in body  # the same request with the token: the session was intact
    status, _, _ = served.request("DELETE", f"/mcp/{PROJECT}", headers={"Mcp-Session-Id": session})
    assert status == 200
    with open_service(served.home, PROJECT) as service:
        assert service.show("G1")["state"] == "pending" and service.agent("raw")["active"] is False


@pytest.mark.parametrize(("method", "path", "headers", "status", "says"), [
    ("POST", "/mcp/nope?agent=a", {}, 404, "no project 'nope' in"),
    ("POST", "/mcp/p?agent=no%20spaces", {}, 400, "invalid agent"),
    ("POST", "/mcp/p?agent=a&capacity=lots", {}, 400, "invalid capacity 'lots'"),
    ("POST", "/mcp/p?agnet=a", {}, 400, "unknown parameter agnet: the MCP endpoint is /mcp/PROJECT?agent=NAME"),
    ("POST", "/mcp/", {}, 404, "name the project"),
    ("GET", "/mcp/p", {}, 400, "no Mcp-Session-Id header"),
    ("POST", "/mcp/p", {"Mcp-Session-Id": "0" * 32}, 404, "Session not found"),
    ("POST", "/mcp/p", {"MCP-Protocol-Version": "2026-07-28"}, 400, "protocol version 2026-07-28 is not served"),
])
def test_requests_refused_before_a_session_with_a_reason(served, method, path, headers, status, says):
    before = served.seq()
    got, _, body = served.request(method, path, INITIALIZE if method == "POST" else None, headers=headers)
    assert got == status and says in _error(body), (got, body)
    assert served.seq() == before


def test_a_session_id_is_good_on_its_project_only(served):
    session = _session(served)
    status, _, body = served.request("POST", f"/mcp/{OTHER}", CLAIM, headers={"Mcp-Session-Id": session})
    assert status == 404 and "Session not found" in _error(body)
    assert served.request("DELETE", f"/mcp/{PROJECT}", headers={"Mcp-Session-Id": session})[0] == 200


async def _stopped_while_connected(home: Path) -> tuple[float, str]:
    import time
    from contextlib import AsyncExitStack

    server = start_server(home, http="127.0.0.1:0")
    try:
        async with AsyncExitStack() as stack:
            client = await _client(Served(server, home), "agent=ann", stack)
            assert (await call(client, "claim_task", task="S1"))["claimed"]
            started = time.perf_counter()
            await asyncio.to_thread(server.stop)  # (the client's open stream must not hold the stop)
            return time.perf_counter() - started, "".join(server.lines)
    except BaseException:
        server.kill()
        raise


def test_a_server_stopping_ends_its_sessions_at_once_and_deregisters_their_agents(tmp_path):
    from planner.service.service import Service

    make_project(tmp_path)
    with Service.open(tmp_path, PROJECT) as service:
        service.add_task("Stopped", id="S1")
    took, said = asyncio.run(_stopped_while_connected(tmp_path))
    assert took < 2.5 and "Traceback" not in said and "ERROR" not in said, said  # (else uvicorn waits 3 s for
    # the client's stream, then cancels it with a traceback)
    with Service.open(tmp_path, PROJECT) as service:
        assert service.show("S1")["state"] == "pending" and service.agent("ann")["active"] is False
