"""Episodes end to end: pods crash in the log, the notifier and sender talk to a fake Slack."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from dockyard.notify.notifier import Notifier
from dockyard.store.events import EventStore
from dockyard.store.writer import ObjectWriter
from tests.notify.conftest import (
    change_image,
    crash,
    make_deployment,
    make_pod,
    make_route,
    make_sender,
    outbox,
    pump,
)
from tests.notify.fake_slack import FakeSlack


class Clock:
    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def test_crash_episode_is_one_thread_updated_in_place_then_resolved(
    engine: Engine, store: EventStore, writer: ObjectWriter, slack: FakeSlack
) -> None:
    make_route(
        writer, "prod-restarts", namespaces=["prod"], resolveAfterSeconds=60, mentions=["here"]
    )
    deployment, rs = make_deployment(writer, "prod", "web")
    change_image(writer, deployment, "busybox:2")
    pod = make_pod(writer, "prod", "web-abc-1", owner=rs, labels={"app": "web"})
    clock = Clock()
    notifier = Notifier(engine, store, clock=clock)
    sender = make_sender(engine, slack)

    crash(writer, pod, 1, exit_code=137, reason="OOMKilled")
    pump(notifier, sender, lambda: len(slack.roots()) == 1 and slack.roots()[0].updates >= 1)
    (root,) = slack.roots()
    assert root.channel == "CALERTS01"
    assert "<!here>" in root.text
    blocks = str(root.blocks)
    for expected in (
        "prod",
        "web-abc-1",
        "Deployment/web",
        "node-1",
        "exit 137 OOMKilled",
        "CrashLoopBackOff",
        "alice@example.com",
        "busybox:1 → busybox:2",
    ):
        assert expected in blocks, expected
    assert slack.replies(root) == []  # the CrashLoopBackOff of restart 1 updated, not replied

    crash(writer, pod, 2)
    pump(notifier, sender, lambda: len(slack.replies(root)) == 1)
    crash(writer, pod, 3)
    pump(notifier, sender, lambda: len(slack.replies(root)) == 2)
    assert len(slack.roots()) == 1
    assert [
        ("restartCount 2" in r.text, "restartCount 3" in r.text) for r in slack.replies(root)
    ] == [(True, False), (False, True)]
    pump(notifier, sender, lambda: "restartCount 3" in str(slack.roots()[0].blocks))

    clock.offset = timedelta(seconds=61)
    assert notifier.resolve_due() == 1
    pump(notifier, sender, lambda: len(slack.replies(root)) == 3)
    assert "Resolved" in slack.roots()[0].text
    assert "Resolved" in slack.replies(root)[-1].text
    assert {row["state"] for row in outbox(engine)} <= {"sent", "superseded"}

    # The next failure opens a new episode: a new thread.
    crash(writer, pod, 4)
    pump(notifier, sender, lambda: len(slack.roots()) == 2)
    keys = slack.all_keys()
    assert len(keys) == len(set(keys))


def test_hundred_pods_of_one_deployment_are_one_episode(
    engine: Engine, store: EventStore, writer: ObjectWriter
) -> None:
    # Slack's own limit, a little looser than our pacing (request arrival jitters).
    slack = FakeSlack(enforce_rate=0.9)
    try:
        make_route(writer, "all")
        _deployment, rs = make_deployment(writer, "prod", "api")
        pods = [make_pod(writer, "prod", f"api-abc-{n}", owner=rs) for n in range(100)]
        notifier = Notifier(engine, store)
        sender = make_sender(engine, slack, interval=1.0)
        for pod in pods:
            crash(writer, pod, 1)
        start = time.monotonic()
        pump(
            notifier,
            sender,
            lambda: (
                all(r["state"] in ("sent", "superseded") for r in outbox(engine))
                and len(slack.roots()) == 1
            ),
            timeout=60,
        )
        (root,) = slack.roots()
        replies = slack.replies(root)
        # 99 later pods in merged replies, at most 20 per message.
        assert 5 <= len(replies) <= 15, len(replies)
        told = sum(r.text.count("restartCount 1") for r in replies)
        assert told == 99
        assert "+99 more" in str(root.blocks)
        assert slack.rate_limited == 0, "the sender's pacing should avoid 429s"
        assert time.monotonic() - start < 50
    finally:
        slack.close()


def test_notifier_down_while_pods_restart_misses_nothing(
    engine: Engine, store: EventStore, writer: ObjectWriter, slack: FakeSlack
) -> None:
    make_route(writer, "r")
    pod = make_pod(writer, "default", "lonely")
    notifier = Notifier(engine, store)
    notifier.catch_up()
    crash(writer, pod, 1)
    before = notifier.position()
    # "Down": nobody consumes while three more restarts happen.
    for n in (2, 3, 4):
        crash(writer, pod, n)
    assert notifier.position() == before
    restarted = Notifier(engine, store)  # a new process, same checkpoint
    sender = make_sender(engine, slack)
    pump(
        restarted,
        sender,
        lambda: len(slack.roots()) == 1 and len(slack.replies(slack.roots()[0])) >= 1,
    )
    # The restarts that piled up while it was down arrive as one merged reply.
    (reply,) = slack.replies(slack.roots()[0])
    assert all(f"restartCount {n}" in reply.text for n in (2, 3, 4))
    # Catching up again changes nothing.
    assert restarted.catch_up() == 0
    assert len(outbox(engine)) == len({r["dedup_key"] for r in outbox(engine)})
