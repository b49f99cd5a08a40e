"""follow(): records as they are appended, by this or another process."""

import threading

from eventstore import EventLog

from .conftest import ev, parse_acks, writer


def test_follow_yields_existing_then_new_records_from_another_process(log_path):
    with EventLog.open(log_path, create=True) as log:
        log.append([ev(i=0)])
        follower = log.follow(1, timeout=30)
        assert next(follower).seq == 1
        proc = writer(log_path, "--mode", "plain", "--count", "20", "--worker", "w")
        seen = [next(follower).seq for _ in range(20)]
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert seen == list(range(2, 22))
        assert len(parse_acks(out)) == 20
        follower.close()


def test_follow_from_the_middle_and_across_segments(log_path):
    with EventLog.open(log_path, create=True, segment_bytes=2048, durability="none") as log:
        for i in range(50):
            log.append([ev(i=i, pad="x" * 40)])
        assert [r.seq for r in log.follow(45, timeout=0.05)] == [45, 46, 47, 48, 49, 50]


def test_follow_ends_after_an_idle_timeout(log):
    assert list(log.follow(1, timeout=0.05)) == []


def test_follow_stops_on_the_stop_event(log):
    stop, seen_both = threading.Event(), threading.Event()
    results = []

    def consume():
        for record in log.follow(1, stop_event=stop):
            results.append(record.data["i"])
            if len(results) == 2:
                seen_both.set()

    thread = threading.Thread(target=consume)
    thread.start()
    log.append([ev(i=1)])
    log.append([ev(i=2)])
    assert seen_both.wait(30)
    stop.set()  # the follower is now waiting with no timeout: only the event can end it
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert results == [1, 2]
