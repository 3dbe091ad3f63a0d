"""Following the log: every event seen exactly once, in order, including late commits."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, text

from dockyard.store.events import EventStore, RecordedEvent
from dockyard.store.follower import LogFollower
from tests.integration.test_event_store import pod_event


def wait_until(condition: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.01)


class Collector:
    """Runs a LogFollower in a thread and keeps what it yields."""

    def __init__(self, store: EventStore, url: str, after: int = 0) -> None:
        self.events: list[RecordedEvent] = []
        self.follower = LogFollower(store, url, after=after, batch_size=7, poll_interval=1.0)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            for batch in self.follower.batches():
                self.events.extend(batch)
        except BaseException as exc:  # surfaced by stop()
            self.error = exc

    def positions(self) -> list[int]:
        return [e.position for e in self.events]

    def stop(self) -> None:
        self.follower.stop()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()
        if self.error is not None:
            raise self.error


@pytest.fixture
def collector(store: EventStore, database_url: str) -> Iterator[Collector]:
    c = Collector(store, database_url)
    c.thread.start()
    yield c
    c.stop()


def test_follower_catches_up_then_follows(store: EventStore, database_url: str) -> None:
    store.append([pod_event(f"s{i}") for i in range(20)])
    c = Collector(store, database_url, after=5)
    c.thread.start()
    try:
        wait_until(lambda: len(c.events) == 15, what="catch-up")
        store.append([pod_event("late")])
        wait_until(lambda: len(c.events) == 16, what="the new event")
        assert c.positions() == [e.position for e in store.read_all(after=5)]
    finally:
        c.stop()


def _waiting_for_append_lock(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            ).scalar_one()
        )


def test_follower_never_skips_an_event_that_commits_late(
    store: EventStore, engine: Engine, collector: Collector
) -> None:
    """The gap problem: a transaction holds position n open while later appends try to commit.

    The slow transaction appends first and stays open. Eight more appenders start; they must
    not commit ahead of it (if they did, a follower could see n+1.. before n and skip n).
    When the slow one commits, the follower sees every event, each once, in position order.
    """
    store.append([pod_event("before")])
    wait_until(lambda: len(collector.events) == 1, what="the first event")

    slow = engine.connect()
    slow_tx = slow.begin()
    (slow_event,) = store.append([pod_event("slow")], conn=slow)

    others: list[RecordedEvent] = []
    lock = threading.Lock()
    # One store per appender, as eight processes would have: appenders that share a store
    # share its group commit and queue in the process, not on the database's lock.
    stores = [EventStore(engine) for _ in range(8)]

    def append_other(i: int) -> None:
        recorded = stores[i].append([pod_event(f"other-{i}")])
        with lock:
            others.extend(recorded)

    threads = [threading.Thread(target=append_other, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    wait_until(lambda: _waiting_for_append_lock(engine) == 8, what="appenders to queue up")
    # Nothing behind the open transaction has committed, so the follower has nothing new.
    assert store.head_position() == collector.events[0].position
    assert collector.positions() == [collector.events[0].position]

    slow_tx.commit()
    slow.close()
    for t in threads:
        t.join(timeout=20)
    for each in stores:
        each.dispose()
    assert len(others) == 8
    # Commit order is position order: the slow event has the lowest position of the lot.
    assert all(o.position > slow_event.position for o in others)
    wait_until(lambda: len(collector.events) == 10, what="all ten events")
    assert collector.positions() == [e.position for e in store.read_all()]
    assert collector.events[1].stream_id == "slow"


def test_a_rolled_back_append_leaves_a_hole_that_nothing_waits_for(
    store: EventStore, engine: Engine, collector: Collector
) -> None:
    with engine.connect() as conn:
        tx = conn.begin()
        (burned,) = store.append([pod_event("rolled-back")], conn=conn)
        tx.rollback()
    (after,) = store.append([pod_event("after")])
    assert after.position > burned.position
    wait_until(lambda: len(collector.events) == 1, what="the event after the hole")
    assert collector.events[0].stream_id == "after"


def test_concurrent_appenders_on_many_streams_while_following(
    store: EventStore, collector: Collector
) -> None:
    rng = random.Random(7)
    plans = [[rng.randint(1, 5) for _ in range(25)] for _ in range(6)]

    def writer(w: int, sizes: list[int]) -> None:
        for n, size in enumerate(sizes):
            store.append([pod_event(f"w{w}-s{(n + k) % 9}") for k in range(size)])

    threads = [threading.Thread(target=writer, args=(w, p)) for w, p in enumerate(plans)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    total = sum(map(sum, plans))
    # A sentinel appended last: once the follower has it, anything it would wrongly repeat or
    # reorder is already in its list.
    store.append([pod_event("sentinel")])
    wait_until(lambda: any(e.stream_id == "sentinel" for e in collector.events), what="sentinel")
    log = store.read_all(limit=total + 10)
    assert len(log) == total + 1
    assert collector.positions() == [e.position for e in log]  # once each, in order
    for stream in {e.stream_id for e in log}:
        versions = [e.version for e in log if e.stream_id == stream]
        assert versions == list(range(1, len(versions) + 1))


def test_stop_ends_the_follower_promptly(store: EventStore, database_url: str) -> None:
    c = Collector(store, database_url)
    c.thread.start()
    wait_until(lambda: c.follower.position == 0 and c.thread.is_alive(), what="start")
    started = time.monotonic()
    c.stop()
    assert time.monotonic() - started < 5
