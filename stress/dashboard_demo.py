"""A dashboard to look at: a small platform project worked on by a few agents, served with ``--http``.

``python -m stress.dashboard_demo [--home DIR] [--shots DIR] [--pace SECONDS] [--keep]``

Builds ``fixtures/complex_microservices_platform.json`` in a home (a temporary one unless
``--home``), starts ``planner serve --http 127.0.0.1:0`` on it, and has four agents claim,
checkpoint and complete tasks through the server, ``--pace`` seconds apart (so that the
completions chart has a shape). With ``--shots DIR`` it then opens the project's page in
headless Chromium (:mod:`stress.browser`) and writes ``dashboard-project.png`` (the page live,
a task selected) and ``dashboard-timetravel.png`` (the same page travelled back to the middle
of the work) into DIR: ``--shots docs`` makes the README's pictures. With ``--keep`` it leaves
the server running and prints the URL (Ctrl-C stops it).

A demonstration, not a test: it sleeps between steps on purpose.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from stress.serving import REPO, open_client, start_server

PROJECT = "platform"
AGENTS = {"ada-ai": ["python", "security"], "bo-ai": ["python"], "cy-ai": ["typescript", "devops"],
          "dee": ["devops", "security", "typescript"]}
NOTES = ["schema drafted, migrations next", "happy path passes; edge cases left", "reviewed with the team",
         "load test at 2k rps looks fine", "waiting for the staging credentials", "first draft pushed"]


def build(home: Path) -> None:
    """The project, imported and switched to working (embedded: no server yet)."""
    from planner.plans.importing import read_plan
    from planner.service.service import Service

    with Service.open(home, PROJECT, create=True, archive_every=0, archive_interval=0) as s:
        s.import_plan(read_plan(REPO / "fixtures" / "complex_microservices_platform.json"))
        s.set_mode("working")


def work(service: Any, steps: int, pace: float, rng: random.Random, held: dict[str, tuple[str, int]],
         failed: set[str]) -> None:
    """``steps`` moves of the agents: claim, note, complete (the PayPal integration fails once)."""
    for _ in range(steps):
        agent = rng.choice(sorted(AGENTS))
        service.heartbeat(agent)
        if agent in held:
            task, token = held.pop(agent)
            fails = task == "payments-paypal" and task not in failed
            failed.add(task)
            service.set_state(task, "failed" if fails else "completed", by=agent, token=token,
                              reason="the sandbox refused the API key" if fails else None)
            if fails:
                service.set_state(task, "pending", by=agent, reason="new sandbox key")
        else:
            lease = service.claim(agent, ttl=3600)
            if lease is not None:
                service.set_state(lease["task"], "in_progress", by=agent, token=lease["token"])
                service.checkpoint(lease["task"], notes=rng.choice(NOTES), by=agent, token=lease["token"])
                held[agent] = (lease["task"], lease["token"])
        time.sleep(pace)


def shots(url: str, out: Path, middle: int) -> list[Path]:
    """The two pictures of the module docstring."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    from stress.browser import chromium

    out.mkdir(parents=True, exist_ok=True)
    driver = chromium(1440, 1480)
    try:
        driver.get(f"{url}projects/{PROJECT}")
        wait = WebDriverWait(driver, 30)
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true")
        wait.until(lambda d: d.find_element(By.ID, "conn").get_attribute("data-state") == "live")
        row = driver.find_element(By.CSS_SELECTOR, '#tree .row[data-task-id="payments-core"]')
        row.click()
        wait.until(lambda d: d.find_element(By.ID, "detail").get_attribute("data-task-id") == "payments-core")
        project = out / "dashboard-project.png"
        driver.save_screenshot(str(project))
        box = driver.find_element(By.ID, "travel-seq")
        box.send_keys(str(middle), Keys.ENTER)
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-view-seq") == str(middle))
        travelled = out / "dashboard-timetravel.png"
        driver.save_screenshot(str(travelled))
        return [project, travelled]
    finally:
        driver.quit()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stress.dashboard_demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, help="build the demo here (default: a temporary directory)")
    parser.add_argument("--shots", type=Path, metavar="DIR", help="write the two screenshots here")
    parser.add_argument("--pace", type=float, default=0.25, help="seconds between two moves (default 0.25)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="leave the server running (Ctrl-C stops it)")
    args = parser.parse_args(argv)
    home = args.home or Path(tempfile.mkdtemp(prefix="dashboard-demo-"))
    build(home)
    server = start_server(home, http="127.0.0.1:0")
    try:
        rng, held, failed = random.Random(args.seed), {}, set()
        with open_client(home, PROJECT) as service:
            for agent, caps in AGENTS.items():
                service.register_agent(agent, capabilities=caps, capacity=1, kind="human" if agent == "dee" else "ai")
            work(service, 12, args.pace, rng, held, failed)
            middle = service.status()["seq"]
            work(service, 11, args.pace, rng, held, failed)
            for agent in sorted(set(AGENTS) - set(held)):  # (the agents at work when the pictures are taken)
                lease = service.claim(agent, ttl=3600)
                if lease is not None:
                    service.set_state(lease["task"], "in_progress", by=agent, token=lease["token"])
                    service.checkpoint(lease["task"], notes=rng.choice(NOTES), by=agent, token=lease["token"])
        print(f"dashboard at {server.url}projects/{PROJECT} (home {home}; time travel to seq {middle} for the middle)")
        if args.shots is not None:
            for path in shots(server.url, args.shots, middle):
                print(f"wrote {path}")
        if args.keep:
            try:
                server.wait(timeout=None)
            except KeyboardInterrupt:
                pass
    finally:
        if server.proc.poll() is None:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
