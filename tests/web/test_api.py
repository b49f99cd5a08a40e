"""The JSON API and the live stream of ``planner serve --http``, over real HTTP (no browser)."""

from __future__ import annotations

import http.client
import json
import socket

import pytest

from planner.web.api import OPERATIONS
from tests.web.conftest import PROJECT, cli

P = f"/api/projects/{PROJECT}"


def test_reads_mirror_the_service(served):
    status = served.get(f"{P}/status")
    assert status == json.loads(cli(served.home, "--json", "status").stdout)
    assert [p["name"] for p in served.get("/api/projects")] == [PROJECT]
    assert served.get(f"{P}/ready") == json.loads(cli(served.home, "--json", "ready").stdout)
    top = served.get(f"{P}/tree?depth=1")
    assert [n["id"] for n in top] == ["t1", "t2", "t3", "t4", "t5", "t6", "epic"]
    assert top[-1]["hidden_children"] == 2
    assert served.get(f"{P}/tasks/e2")["depends_on"] == ["e1"]
    assert served.get(f"{P}/states?ids=t1,t3,nope") == {
        "t1": {"state": "completed", "done": True, "ready": False},
        "t3": {"state": "in_progress", "done": False, "ready": False}}
    agent = served.get(f"{P}/agents")[0]
    assert agent["id"] == "agent-1" and agent["leases"][0]["task"] == "t4"
    assert agent["leases"][0]["notes"] == "half way there" and agent["heard_ago"] >= 0
    assert [e["seq"] for e in served.get(f"{P}/events?last=3")] == [status["seq"] - 2, status["seq"] - 1, status["seq"]]
    assert len(served.get(f"{P}/completions")["times"]) == 1


def test_time_travel_answers_for_the_past(served):
    assert served.get(f"{P}/status?at=1")["tasks"] == 0
    past = served.get(f"{P}/states?ids=t1&at=12")
    assert past == {"t1": {"state": "pending", "done": False, "ready": True}}
    history = served.get(f"{P}/tasks/t1/history?at=12")
    assert history and all(e["seq"] <= 12 for e in history)


def test_the_graph_of_a_subtree_has_levels_and_its_critical_path(served):
    graph = served.get(f"{P}/graph?root=epic")
    assert {n["id"]: n["level"] for n in graph["nodes"]} == {"e1": 0, "e2": 1}
    assert graph["edges"] == [["e1", "e2"]] and graph["critical_path"] == ["e1", "e2"]
    assert graph["critical_effort"] == 5.0


@pytest.mark.parametrize(("path", "status", "words"), [
    ("/api/projects/nope/status", 404, "no project 'nope'"),
    (f"{P}/tasks/nope", 404, "unknown task 'nope'"),
    (f"{P}/status?at=99999", 400, "beyond the end of the log"),
    (f"{P}/status?at=yesterday", 400, "neither a seq nor an ISO 8601 time"),
    (f"{P}/ready?limit=many", 400, "limit (query) must be a whole number"),
    (f"{P}/tree?root=nope", 404, "unknown task"),
    (f"{P}/states", 400, "ids is missing"),
    ("/api/nothing", 404, "no such route"),
    ("/api/projects/bad..name!/status", 400, "is not a project name"),
])
def test_bad_input_is_one_clear_line(served, path, status, words):
    got, body = served.request("GET", path)
    assert got == status and words in body["error"] and "\n" not in body["error"], body


def test_writes_need_the_token(served):
    status, body = served.request("POST", f"{P}/mode", {"mode": "planning"})
    assert status == 401 and "token" in body["error"]
    status, body = served.request("POST", f"{P}/mode", {"mode": "planning"}, headers={"X-Planner-Token": "wrong"})
    assert status == 401
    status, body = served.request("POST", f"{P}/tasks", {"title": "sneaky"},
                                  headers={"Authorization": f"Bearer {served.token}", "Origin": "http://evil.example"})
    assert status == 403 and "another origin" in body["error"]
    assert "sneaky" not in json.dumps(served.get(f"{P}/tree"))


def test_writes_with_the_token(served):
    status, added = served.request("POST", f"{P}/tasks", {"title": "from the web", "depends_on": ["t6"],
                                                          "command_id": "web-1"}, token=True)
    assert status == 200
    again = served.request("POST", f"{P}/tasks", {"title": "from the web", "depends_on": ["t6"],
                                                  "command_id": "web-1"}, token=True)
    assert again == (200, added)  # the same command id is applied once
    assert served.get(f"{P}/tasks/{added['id']}")["depends_on"] == ["t6"]
    assert served.request("POST", f"{P}/tasks/t5/cancel", token=True)[1]["state"] == "cancelled"
    assert served.request("POST", f"{P}/tasks/t2/retry", token=True)[1]["state"] == "pending"
    released = served.request("POST", f"{P}/tasks/t4/release", {"reason": "operator"}, token=True)[1]
    assert released["state"] == "pending" and released["lease"] is None
    status, body = served.request("POST", f"{P}/tasks/t4/release", token=True)
    assert status == 400 and "not leased" in body["error"]
    status, body = served.request("POST", f"{P}/tasks/t1/cancel", token=True)
    assert status == 400 and "completed" in body["error"]
    status, body = served.request("POST", f"{P}/tasks", {"title": "x", "colour": "red"}, token=True)
    assert status == 400 and "unknown field colour" in body["error"]
    status, body = served.request("POST", f"{P}/mode", {"mode": "sleeping"}, token=True)
    assert status == 400 and "mode" in body["error"]


def test_a_host_that_is_not_the_dashboard_is_refused(served):
    for host in ("evil.example", f"evil.example:{served.port}", f"127.0.0.1:{served.port + 1}"):
        status, body = served.request("GET", f"{P}/status", headers={"Host": host})
        assert status == 403 and "DNS rebinding" in body["error"], host
    status, _ = served.request("GET", f"{P}/status", headers={"Host": f"localhost:{served.port}"})
    assert status == 200


def test_the_openapi_description_lists_every_route(served):
    doc = served.get("/api/openapi.json")
    assert doc["openapi"].startswith("3.1")
    listed = {(path, method.upper()) for path, item in doc["paths"].items() for method in item}
    assert listed == {("/api" + op.path, op.method) for op in OPERATIONS}
    status = doc["paths"]["/api/projects/{project}/status"]["get"]["responses"]["200"]
    assert status["content"]["application/json"]["schema"]["$ref"].endswith("/Status")
    assert "Status" in doc["components"]["schemas"]
    assert doc["paths"]["/api/projects/{project}/mode"]["post"]["security"]


def test_pages_and_assets_are_served_with_a_strict_policy(served):
    connection = http.client.HTTPConnection(served.host, served.port, timeout=30)
    for path, kind in (("/", "text/html"), (f"/projects/{PROJECT}", "text/html"), ("/static/project.js", "javascript"),
                       ("/static/style.css", "text/css"), ("/static/favicon.svg", "image/svg")):
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        assert response.status == 200 and kind in response.getheader("content-type"), path
        assert "script-src 'self'" in response.getheader("content-security-policy")
    connection.request("GET", "/projects/nope")
    response = connection.getresponse()
    assert response.status == 404 and "no project 'nope'" in response.read().decode()
    connection.close()


class Stream:
    """A raw reader of one event stream (bounded by the socket's timeout: no test hangs)."""

    def __init__(self, served, path: str, headers: dict[str, str] | None = None):
        self.connection = http.client.HTTPConnection(served.host, served.port, timeout=30)
        self.connection.request("GET", path, headers=headers or {})
        self.response = self.connection.getresponse()
        assert self.response.status == 200
        assert self.response.getheader("content-type").startswith("text/event-stream")

    def next(self) -> dict:
        fields: dict = {}
        while True:
            line = self.response.readline().decode()
            if not line:
                raise EOFError("the stream ended")
            if line == "\n":
                if "event" in fields:
                    return fields
                continue
            key, _, value = line.rstrip("\n").partition(": ")
            if key:  # (": ping" comments have no key)
                fields[key] = json.loads(value) if key == "data" else value

    def close(self) -> None:
        self.connection.close()


def test_the_stream_catches_up_then_follows_appends_by_other_processes(served):
    seq = served.get(f"{P}/status")["seq"]
    stream = Stream(served, f"{P}/stream", headers={"Last-Event-ID": str(seq - 2)})
    try:
        first = stream.next()
        assert first["event"] == "update" and first["id"] == str(seq)
        assert [e["seq"] for e in first["data"]["events"]] == [seq - 1, seq]  # what it missed, from the log
        assert first["data"]["summary"]["status"]["seq"] == seq
        done = cli(served.home, "--no-server", "add", "written beside the server", "--id", "beside")
        assert done.returncode == 0, done.stderr
        message = stream.next()
        while not any(e["data"].get("id") == "beside" for e in message["data"]["events"]):
            message = stream.next()
        assert message["event"] == "update" and int(message["id"]) > seq
        assert message["data"]["summary"]["status"]["tasks"] == served.get(f"{P}/status")["tasks"]
    finally:
        stream.close()


def test_a_stream_for_an_unknown_project_is_refused(served):
    status, body = served.request("GET", "/api/projects/nope/stream")
    assert status == 404 and "no project" in body["error"]
    status, body = served.request("GET", f"{P}/stream?after=soon")
    assert status == 400 and "after" in body["error"]


def test_a_taken_port_is_a_clear_error(served, tmp_path):
    from tests.web.conftest import make_project

    make_project(tmp_path)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = cli(tmp_path, "serve", "--http", f"127.0.0.1:{port}")
    assert result.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert not (tmp_path / "server.json").exists()  # it cleaned up after itself
