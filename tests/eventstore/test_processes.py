"""Real processes: 20 concurrent writers, and writers killed with SIGKILL."""

import os
import random
import signal
import time

import pytest

from eventstore import EventLog

from .conftest import parse_acks, writer

WRITERS = 20


def _check_acks_in_log(log, acks):
    """Every acknowledged append is in the log exactly once, at the seqs it was told."""
    by_key: dict[str, list[int]] = {}
    for record in log.read():
        by_key.setdefault(record.cmd, []).append(record.seq)
    for key, (first, last) in acks.items():
        assert by_key.get(key) == list(range(first, last + 1)), key


@pytest.mark.parametrize("mode", ["expected", "tx"])
def test_twenty_processes_append_concurrently(log_path, mode):
    EventLog.open(log_path, create=True).close()
    count = 15
    procs = [writer(log_path, "--mode", mode, "--count", str(count), "--worker", f"w{i}") for i in range(WRITERS)]
    acks = {}
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        acks.update(parse_acks(out))
    assert len(acks) == WRITERS * count
    with EventLog.open(log_path) as log:
        report = log.verify()
        assert report.ok and report.intact_through == WRITERS * count  # contiguous, all checksums valid
        _check_acks_in_log(log, acks)
        if mode == "tx":  # read-decide-append never decided on stale state: no lost update
            assert [r.data["n"] for r in log.read()] == list(range(1, WRITERS * count + 1))


def test_a_writer_killed_at_random_moments_never_loses_an_acknowledged_append(log_path):
    EventLog.open(log_path, create=True).close()
    rng = random.Random(int(os.environ.get("KILL_SEED", "20261128")))
    acks: dict[str, tuple[int, int]] = {}
    torn_tails_cut = 0
    for round_ in range(60):
        batch, pad = rng.choice([(1, 64), (8, 2000), (40, 3000)])
        proc = writer(log_path, "--mode", "tx", "--count", "0", "--worker", f"r{round_}",
                      "--batch", str(batch), "--pad", str(pad))
        wanted = rng.randint(1, 20)
        got = 0
        while got < wanted:  # wait for acknowledgements on the pipe, not with sleeps
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            got += line.startswith("ack ")
            acks.update(parse_acks(line))
        time.sleep(rng.random() * 0.003)  # jitter, so the kill lands anywhere in the write path
        proc.send_signal(signal.SIGKILL)
        rest, _ = proc.communicate(timeout=60)
        acks.update(parse_acks(rest))
        assert proc.returncode == -signal.SIGKILL
        with EventLog.open(log_path) as log:
            before = log.verify()
            assert before.ok or before.only_torn_tail, before.problems
            log.append([{"type": "probe", "data": {"round": round_}}], idempotency_key=f"probe-{round_}")
            torn_tails_cut += len(log.recovered)
            assert log.verify().ok
            _check_acks_in_log(log, acks)
            ns = [r.data["n"] for r in log.read() if r.type == "stress.appended" and r.data["part"] == 0]
            assert ns == list(range(1, len(ns) + 1))  # every transaction saw its predecessor
    assert len(acks) >= 60


TEARER = r"""
import os, signal, sys
from pathlib import Path
from eventstore import EventLog
log = EventLog.open(sys.argv[1])
with log.transaction() as tx:  # holds the append lock, like a writer mid-write
    segment = sorted((Path(sys.argv[1]) / "log").glob("*.jsonl"))[-1]
    fd = os.open(segment, os.O_WRONLY | os.O_APPEND)
    os.write(fd, b'{"seq":%d,"id":"half-written-by-%d' % (tx.last_seq + 1, os.getpid()))
    os.kill(os.getpid(), signal.SIGKILL)  # dies holding the lock, leaving a torn record
"""


def test_writers_killed_while_others_keep_appending_lose_nothing(log_path):
    """Live writers must cut a dead writer's torn tail themselves, mid-stream."""
    import subprocess
    import sys
    import threading

    EventLog.open(log_path, create=True).close()
    rng = random.Random(int(os.environ.get("KILL_SEED", "7")))
    acks: dict[str, tuple[int, int]] = {}
    guard = threading.Lock()

    def start(name: str):
        proc = writer(log_path, "--mode", "tx", "--count", "0", "--worker", name,
                      "--batch", str(rng.choice([1, 10, 40])), "--pad", str(rng.choice([64, 3000])))
        seen = threading.Semaphore(0)

        def drain():  # read every ack as it comes, so no writer ever stalls on its pipe
            for line in proc.stdout:
                with guard:
                    acks.update(parse_acks(line))
                seen.release()

        thread = threading.Thread(target=drain, daemon=True)
        thread.start()
        return proc, seen, thread

    live = [start(f"live{i}") for i in range(4)]
    tears = 0
    for round_ in range(20):
        if round_ % 2:  # a writer dies mid-write while holding the lock (deterministic torn tail)
            tearer = subprocess.run([sys.executable, "-c", TEARER, str(log_path)], capture_output=True)
            assert tearer.returncode == -signal.SIGKILL, tearer.stderr
            tears += 1
        index = rng.randrange(len(live))
        proc, seen, thread = live[index]
        for _ in range(rng.randint(1, 15)):  # wait for this writer's acks, not for time
            assert seen.acquire(timeout=60), proc.stderr.read()
        time.sleep(rng.random() * 0.003)  # jitter: land anywhere in its write path
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        thread.join(timeout=60)
        live[index] = start(f"r{round_}")
    for proc, _, thread in live:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        thread.join(timeout=60)
    with EventLog.open(log_path) as log:
        log.append([{"type": "probe", "data": {}}])
        assert log.verify().ok
        _check_acks_in_log(log, acks)
        ns = [r.data["n"] for r in log.read() if r.type == "stress.appended" and r.data["part"] == 0]
        assert ns == list(range(1, len(ns) + 1))  # no lost update across all the deaths
    kept = sorted((log_path / "quarantine").glob("*.bin"))
    half_written = [p for p in kept if b'"id":"half-written-by-' in p.read_bytes()]
    assert len(half_written) == tears  # every injected tear was cut once, and kept
    assert len(acks) >= 20
