"""`dockyard notifier` killed with SIGKILL at every step of a delivery, then restarted:
every alert reaches Slack exactly once (dedup key in message metadata + history check)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from dockyard.store.writer import ObjectWriter
from tests.notify.conftest import crash, make_pod, make_route, outbox
from tests.notify.fake_slack import TOKEN, Action, FakeSlack


class NotifierProcess:
    def __init__(self, database_url: str, slack: FakeSlack, log: Path, interval: float) -> None:
        self.env = {
            **os.environ,
            "DOCKYARD_DATABASE_URL": database_url,
            "DOCKYARD_SLACK_TOKEN": TOKEN,
            "DOCKYARD_SLACK_API_URL": slack.url,
            "DOCKYARD_SLACK_TIMEOUT_SECONDS": "1",
            "DOCKYARD_NOTIFY_CHANNEL_INTERVAL_SECONDS": str(interval),
            "DOCKYARD_NOTIFY_SENDER_CONCURRENCY": "1",
            "DOCKYARD_POLL_INTERVAL_SECONDS": "0.2",
        }
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "dockyard.cli.main", "notifier"],
                env=self.env,
                stdout=out,
                stderr=out,
            )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def notifier_process(
    database_url: str, slack: FakeSlack, tmp_path: Path
) -> Iterator[NotifierProcess]:
    process = NotifierProcess(database_url, slack, tmp_path / "notifier.log", 0.0)
    yield process
    process.stop()
    assert TOKEN not in (tmp_path / "notifier.log").read_text(), "the token reached a log line"


def _wait(predicate: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached before the deadline")
        time.sleep(0.05)


def _delivered_once(engine: Engine, slack: FakeSlack) -> None:
    _wait(lambda: all(r["state"] in ("sent", "superseded") for r in outbox(engine)))
    rows = outbox(engine)
    counts = Counter(slack.all_keys())
    posted = [r["dedup_key"] for r in rows if r["kind"] in ("root", "reply", "message")]
    assert posted and all(counts[key] == 1 for key in posted), counts
    assert len(slack.roots()) == 1


@pytest.mark.parametrize(
    "delivered", [False, True], ids=["before-post", "after-post-before-record"]
)
def test_sigkill_mid_post_then_restart_delivers_exactly_once(
    engine: Engine,
    writer: ObjectWriter,
    slack: FakeSlack,
    notifier_process: NotifierProcess,
    delivered: bool,
) -> None:
    make_route(writer, "r")
    pod = make_pod(writer, "default", "p")
    slack.then("chat.postMessage", Action("hold", deliver=delivered))
    notifier_process.start()
    crash(writer, pod, 1)
    assert slack.held.wait(30), "the notifier never posted"
    notifier_process.kill()
    slack.release.set()
    assert len(slack.roots()) == (1 if delivered else 0)
    crash(writer, pod, 2)  # more happens while it is down
    notifier_process.start()
    _delivered_once(engine, slack)
    (root,) = slack.roots()
    _wait(lambda: len(slack.replies(root)) == 1)


def test_sigkill_during_retry_after_wait_then_restart_delivers_exactly_once(
    engine: Engine, writer: ObjectWriter, slack: FakeSlack, notifier_process: NotifierProcess
) -> None:
    make_route(writer, "r")
    pod = make_pod(writer, "default", "p")
    slack.then("chat.postMessage", Action("error", 429, "ratelimited", retry_after=2))
    notifier_process.start()
    crash(writer, pod, 1)
    _wait(lambda: slack.rate_limited == 1)
    notifier_process.kill()
    notifier_process.start()
    _delivered_once(engine, slack)
    posts = [t for t, method, _ in slack.requests if method == "chat.postMessage"]
    assert posts[1] - posts[0] >= 2.0, "Retry-After was not honoured across the restart"


def test_sigkill_while_waiting_for_the_channel_slot_then_restart_delivers_exactly_once(
    database_url: str, engine: Engine, writer: ObjectWriter, slack: FakeSlack, tmp_path: Path
) -> None:
    process = NotifierProcess(database_url, slack, tmp_path / "n.log", interval=3.0)
    try:
        make_route(writer, "r")
        pod = make_pod(writer, "default", "p")
        process.start()
        crash(writer, pod, 1)
        _wait(lambda: len(slack.roots()) == 1)
        crash(writer, pod, 2)  # its reply must wait ~3 s for the channel's next slot
        time.sleep(0.5)  # (a kill at an arbitrary moment of that wait)
        process.kill()
        process.start()
        (root,) = slack.roots()
        _wait(lambda: len(slack.replies(root)) == 1)
        _delivered_once(engine, slack)
    finally:
        process.stop()
