"""20 agent processes claiming from one project at once: no task is ever held twice (I3)."""

import subprocess
import sys

from planner import Planner
from planner.domain.events import parse_event


def test_twenty_processes_claiming_at_once_never_double_assign(tmp_path):
    with Planner.open(tmp_path, "p", create=True) as p:
        for i in range(120):
            p.add_task(f"task {i}", id=f"t{i:03d}", depends_on=[f"t{i - 10:03d}"] if i >= 10 and i % 3 == 0 else [])
        p.set_mode("working")
    procs = [subprocess.Popen([sys.executable, "-m", "stress.claim_worker", str(tmp_path), "p", "--agent", f"a{n}"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in range(20)]
    claimed, done = [], []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        claimed += [tuple(line.split()[1:]) for line in out.splitlines() if line.startswith("claimed ")]
        done += [tuple(line.split()[1:]) for line in out.splitlines() if line.startswith("done ")]
    # through the API: every task completed exactly once, by the one agent that held it
    assert sorted(t for t, _ in claimed) == [f"t{i:03d}" for i in range(120)]
    assert len({token for _, token in claimed}) == 120 and sorted(done) == sorted(claimed)
    # by re-reading the log: at every seq, a task is assigned only when it holds no lease
    with Planner.open(tmp_path, "p") as p:
        live: dict[str, int] = {}
        tokens = []
        for record in p.log.read():
            event = parse_event(record.type, record.data)
            if event.type == "task.assigned":
                assert event.id not in live, f"{event.id} assigned twice at seq {record.seq}"
                live[event.id] = event.token
                tokens.append(event.token)
            elif event.type in ("lease.released", "lease.expired"):
                assert live.pop(event.id) == event.token
        assert tokens == sorted(tokens) and not live  # fencing tokens only ever increase
        assert p.stats()["leaves_by_state"] == {"completed": 120}
        assert {a["id"] for a in p.agents()} == {f"a{n}" for n in range(20)}
