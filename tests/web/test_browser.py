"""The dashboard in a real headless Chromium: it loads cleanly, agrees with ``planner status``, follows
appends by another process live, travels in time, needs the token to write, and reconnects to a
restarted server by itself. Waits are WebDriverWait conditions, never sleeps. The main views are
saved as screenshots (in the test's temporary directory)."""

from __future__ import annotations

import json

import pytest

from stress.browser import console_errors
from stress.serving import start_server
from tests.web.conftest import PROJECT, Dashboard, cli, make_project

pytest.importorskip("selenium")
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

LOAD_S = 30.0  # a first load on a busy machine (the page itself takes well under a second)


def body(driver):
    return driver.find_element(By.TAG_NAME, "body")


def open_page(driver, url: str) -> None:
    console_errors(driver)  # (drop what earlier pages logged)
    driver.get(url)
    WebDriverWait(driver, LOAD_S).until(lambda d: body(d).get_attribute("data-ready") == "true")
    WebDriverWait(driver, LOAD_S).until(lambda d: d.find_element(By.ID, "conn").get_attribute("data-state") == "live")


def row_state(driver, task: str) -> str | None:
    """The ``data-state`` of the task's row in the tree, or None when it is not drawn (read in one step:
    a row may be drawn again between finding it and reading it)."""
    return driver.execute_script(
        "const row = document.querySelector(`#tree .row[data-task-id=\"${arguments[0]}\"]`);"
        "return row ? row.dataset.state : null;", task)


def test_the_home_page_lists_the_projects(served, chromium):
    open_page(chromium, served.url)
    status = json.loads(cli(served.home, "--json", "status").stdout)
    WebDriverWait(chromium, LOAD_S, ignored_exceptions=(StaleElementReferenceException,)).until(  # (live: redrawn)
        lambda d: f"seq {status['seq']}" in d.find_element(By.CSS_SELECTOR, f'[data-project="{PROJECT}"]').text)
    assert console_errors(chromium) == []


def test_the_page_loads_cleanly_and_agrees_with_planner_status(served, chromium, tmp_path):
    open_page(chromium, f"{served.url}projects/{PROJECT}")
    assert console_errors(chromium) == []
    status = json.loads(cli(served.home, "--json", "status").stdout)
    shown = {e.get_attribute("data-state"): int(e.get_attribute("data-count"))
             for e in chromium.find_elements(By.CSS_SELECTOR, "#progress-counts [data-state]")}
    assert shown == status["leaves_by_state"]
    assert body(chromium).get_attribute("data-view-seq") == str(status["seq"])
    tree = json.loads(cli(served.home, "--json", "tree").stdout)
    for node in tree:
        assert row_state(chromium, node["id"]) == node["state"]
    agent = chromium.find_element(By.CSS_SELECTOR, '[data-agent-id="agent-1"]')
    lease = agent.find_element(By.CSS_SELECTOR, '[data-task-id="t4"]')
    assert "half way there" in lease.text and lease.get_attribute("data-state") == "assigned"
    assert {e.get_attribute("data-task-id") for e in chromium.find_elements(By.CSS_SELECTOR, "#ready [data-task-id]")} \
        == {t["id"] for t in json.loads(cli(served.home, "--json", "ready").stdout)}
    assert row_state(chromium, "e2") == "pending"  # a small project opens in full
    chromium.find_element(By.CSS_SELECTOR, '#tree .row[data-task-id="epic"] .tog').click()
    WebDriverWait(chromium, LOAD_S).until(lambda d: row_state(d, "e2") is None)  # collapsed
    chromium.find_element(By.CSS_SELECTOR, '#tree .row[data-task-id="epic"] .tog').click()
    WebDriverWait(chromium, LOAD_S).until(lambda d: row_state(d, "e2") == "pending")
    assert chromium.find_elements(By.CSS_SELECTOR, '#graph .gnode[data-task-id="e2"]')  # the first subtree's graph
    chromium.save_screenshot(str(tmp_path / "project.png"))
    assert (tmp_path / "project.png").stat().st_size > 10_000


def test_another_process_completes_a_task_and_the_page_shows_it_within_a_second(served, chromium, tmp_path):
    open_page(chromium, f"{served.url}projects/{PROJECT}")
    before = json.loads(cli(served.home, "--json", "status").stdout)["seq"]
    assert row_state(chromium, "t3") == "in_progress"
    done = cli(served.home, "--no-server", "set", "t3", "completed")
    assert done.returncode == 0, done.stderr
    try:
        WebDriverWait(chromium, 1.0, poll_frequency=0.02).until(lambda d: row_state(d, "t3") == "completed")
    except TimeoutException:
        pytest.fail(f"t3 shows {row_state(chromium, 't3')!r} a second after another process completed it "
                    f"(connection: {chromium.find_element(By.ID, 'conn').get_attribute('data-state')}; "
                    f"console: {console_errors(chromium)})")

    # time travel: the seq before the change shows the task as it was
    box = chromium.find_element(By.ID, "travel-seq")
    box.send_keys(str(before), Keys.ENTER)
    WebDriverWait(chromium, LOAD_S).until(lambda d: body(d).get_attribute("data-view-seq") == str(before)
                                          and body(d).get_attribute("data-live") == "false")
    assert row_state(chromium, "t3") == "in_progress"
    assert "as at seq" in chromium.find_element(By.ID, "travel-note").text
    chromium.save_screenshot(str(tmp_path / "timetravel.png"))
    chromium.find_element(By.ID, "travel-live").click()
    WebDriverWait(chromium, LOAD_S).until(lambda d: body(d).get_attribute("data-live") == "true"
                                          and row_state(d, "t3") == "completed")
    assert console_errors(chromium) == []


def test_writes_from_the_page_need_the_token(served, chromium):
    open_page(chromium, f"{served.url}projects/{PROJECT}")
    switch = chromium.find_element(By.ID, "mode-switch")
    assert not switch.is_enabled()  # read-only without the token
    refused = chromium.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f"fetch('/api/projects/{PROJECT}/mode', {{method: 'POST', headers: {{'Content-Type': 'application/json'}},"
        " body: JSON.stringify({mode: 'planning'})}).then(async (r) => done([r.status, await r.json()]));")
    assert refused[0] == 401 and "token" in refused[1]["error"]
    open_page(chromium, f"{served.url}projects/{PROJECT}#token={served.token}")
    mode = chromium.find_element(By.ID, "mode").text
    switch = chromium.find_element(By.ID, "mode-switch")
    assert switch.is_enabled()
    switch.click()
    WebDriverWait(chromium, LOAD_S).until(lambda d: d.find_element(By.ID, "mode").text not in ("", mode))
    assert json.loads(cli(served.home, "--json", "status").stdout)["mode"] != mode
    chromium.execute_script("localStorage.clear()")


def test_the_page_reconnects_to_a_restarted_server_and_catches_up(chromium, tmp_path):
    make_project(tmp_path)
    server = start_server(tmp_path, http="127.0.0.1:0")
    try:
        dashboard = Dashboard(server, tmp_path)
        open_page(chromium, f"{dashboard.url}projects/{PROJECT}")
        server.stop()
        WebDriverWait(chromium, LOAD_S).until(lambda d: d.find_element(By.ID, "conn").get_attribute("data-state") != "live")
        done = cli(tmp_path, "--no-server", "set", "t3", "completed")  # while no server runs
        assert done.returncode == 0, done.stderr
        server = start_server(tmp_path, http=f"127.0.0.1:{dashboard.port}")
        WebDriverWait(chromium, LOAD_S).until(lambda d: row_state(d, "t3") == "completed")
        assert chromium.find_element(By.ID, "conn").get_attribute("data-state") == "live"
    finally:
        if server.proc.poll() is None:
            server.stop()
