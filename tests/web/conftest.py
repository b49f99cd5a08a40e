"""The dashboard's fixtures: a home with a small project, ``planner serve --http`` on it, a browser.

The server is a real ``planner serve --http 127.0.0.1:0`` process (:func:`stress.serving.start_server`
returns once it said it listens; the port is read from its start line). The browser is the
system's headless Chromium (:mod:`stress.browser`); where there is none, the browser tests are
skipped with a reason that says how to install one, except in CI (``CI=true``), where a missing
browser fails them.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from planner.service.service import Service
from stress import browser
from stress.serving import start_server

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "p"


def make_project(home: Path) -> int:
    """Leaves t1..t6 (t1 completed, t2 failed, t3 in progress, t4 leased to an agent), and a container
    ``epic`` of e1 <- e2 (e2 depends on e1). Returns the last seq."""
    with Service.open(home, PROJECT, create=True, archive_every=0, archive_interval=0) as s:
        for i in range(1, 7):
            s.add_task(f"task {i}", id=f"t{i}", effort=float(i))
        s.add_task("an epic", id="epic")
        s.add_task("first step", id="e1", parent="epic", effort=2)
        s.add_task("second step", id="e2", parent="epic", depends_on=["e1"], effort=3)
        s.set_mode("working")
        s.set_state("t1", "in_progress")
        s.set_state("t1", "completed")
        s.set_state("t2", "in_progress")
        s.set_state("t2", "failed", reason="broken")
        s.set_state("t3", "in_progress")
        s.register_agent("agent-1", capabilities=["python"], capacity=2)
        lease = s.claim("agent-1", task="t4", ttl=600)
        s.checkpoint("t4", notes="half way there", token=lease["token"], by="agent-1")
        return s.seq


def cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "planner", "--home", str(home), "--project", PROJECT, *args],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


class Dashboard:
    """A running ``planner serve --http``: its URL, token, and plain HTTP calls to it."""

    def __init__(self, server: Any, home: Path):
        self.server, self.home = server, home
        self.url = server.url
        parts = urlsplit(self.url)
        self.host, self.port = parts.hostname, parts.port
        self.token = (home / "http.token").read_text().strip()

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
                token: bool = False) -> tuple[int, Any]:
        """(status, decoded JSON body) of one request; ``token``: with the right token."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            sent = dict(headers or {})
            if token:
                sent["X-Planner-Token"] = self.token
            data = None if body is None else json.dumps(body).encode()
            if data is not None:
                sent.setdefault("Content-Type", "application/json")
            connection.request(method, path, body=data, headers=sent)
            response = connection.getresponse()
            raw = response.read()
            kind = response.getheader("content-type") or ""
            return response.status, json.loads(raw) if kind.startswith("application/json") else raw.decode()
        finally:
            connection.close()

    def get(self, path: str, **kwargs: Any) -> Any:
        status, body = self.request("GET", path, **kwargs)
        assert status == 200, (path, status, body)
        return body


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A home with the project of :func:`make_project`, served with the dashboard (per test module)."""
    home = tmp_path_factory.mktemp("web-home")
    make_project(home)
    server = start_server(home, http="127.0.0.1:0")
    try:
        yield Dashboard(server, home)
    except BaseException:
        server.kill()
        raise
    server.stop()


@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium for the session's browser tests."""
    reason = browser.missing()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs a browser for the dashboard's tests: {reason}")
        pytest.skip(reason)
    driver = browser.chromium()
    try:
        yield driver
    finally:
        driver.quit()
