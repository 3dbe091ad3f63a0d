"""Slack alerts from a real node agent on a real Docker engine, delivered to a fake Slack.

The agent runs pods in-process (tests/docker/agent_support.py) with a short crash back-off
cap; the NotifierService follows the same log and posts through slack-sdk to the fake Web API
(tests/notify/fake_slack.py). Nothing here writes a Pod status by hand: every alert comes from
what the agent saw Docker do.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

import dockyard.notify  # noqa: F401  (registers AlertRoute)
from dockyard.notify.service import NotifierService
from dockyard.settings import Settings
from dockyard.store.event_types_agent import LifecycleHookNotify
from dockyard.store.events import EventStore
from dockyard.store.writer import ObjectKey
from tests.docker.agent_support import ADMIN, AgentHarness, container, harness, wait_for
from tests.notify.conftest import make_route
from tests.notify.docker_events import ContainerEvents
from tests.notify.fake_slack import TOKEN, FakeSlack, Message

RESTART_CAP = 1.0  # seconds between restarts of a crash-looping container (kubelet: 300 s)
RESOLVE_AFTER = 4  # stable this long (seconds) -> resolved; longer than RESTART_CAP + start


@pytest.fixture
def h(store: EventStore) -> Iterator[AgentHarness]:
    yield from harness(store, max_container_restart_period=RESTART_CAP)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    yield fake
    fake.close()


@pytest.fixture
def notifier(
    engine: Engine, store: EventStore, database_url: str, slack: FakeSlack
) -> Iterator[NotifierService]:
    settings = Settings(
        database_url=database_url,
        slack_token=TOKEN,  # type: ignore[arg-type]
        slack_api_url=slack.url,
        slack_timeout_seconds=2.0,
        poll_interval_seconds=0.5,
        notify_channel_interval_seconds=0.0,
    )
    service = NotifierService(engine, store, database_url, settings)
    service.start()
    yield service
    service.stop()


def _snapshot(slack: FakeSlack, channel: str) -> tuple[list[Message], dict[str, list[Message]]]:
    """Roots of a channel and each root's replies, read under the fake's lock."""
    with slack.lock:
        roots = [m for m in slack.messages if m.channel == channel and m.thread_ts is None]
        replies = {root.ts: [m for m in slack.messages if m.thread_ts == root.ts] for root in roots}
    return roots, replies


def _restart_of(text: str) -> int:
    found = re.search(r"restartCount (\d+)", text)
    assert found is not None, text
    return int(found.group(1))


def _delete_pod(h: AgentHarness, name: str) -> None:
    h.writer.delete(ObjectKey("Pod", h.namespace, name), actor=ADMIN, graceful=True)
    wait_for(lambda: h.pod(name) is None, timeout=30, what=f"pod {name} removed")


def test_crash_loop_is_one_root_updated_in_place_with_thread_replies_then_resolved(
    h: AgentHarness, slack: FakeSlack, notifier: NotifierService
) -> None:
    make_route(
        h.writer,
        f"{h.namespace}-restarts",
        namespaces=[h.namespace],
        resolveAfterSeconds=RESOLVE_AFTER,
        destination={"slack": {"channel": "#crash"}},
    )
    h.start_agent()
    h.create_pod("crasher", [container("app", "sh", "-c", "exit 3")], restartPolicy="Always")

    def thread_with_replies() -> tuple[Message, list[Message]] | None:
        roots, replies = _snapshot(slack, "CCRASH001")
        if len(roots) == 1 and len(replies[roots[0].ts]) >= 2:
            return roots[0], replies[roots[0].ts]
        return None

    wait_for(thread_with_replies, timeout=40, what="a root and two thread replies")
    _delete_pod(h, "crasher")
    h.stop_agent()

    def resolved() -> Message | None:
        # The resolved root update and the resolved thread reply are two outbox rows.
        roots, replies = _snapshot(slack, "CCRASH001")
        if not roots or "Resolved" not in roots[0].text:
            return None
        thread = replies[roots[0].ts]
        return roots[0] if thread and "Resolved" in thread[-1].text else None

    root = wait_for(resolved, timeout=RESOLVE_AFTER + 20, what="the root marked resolved")
    roots, replies = _snapshot(slack, "CCRASH001")
    assert len(roots) == 1, [r.text for r in roots]  # one episode: no second root
    assert root.updates >= 2  # restart count / state updated in place, then resolved
    blocks = str(root.blocks)
    for expected in (h.namespace, "crasher", "app", h.node, "exit 3"):
        assert expected in blocks, expected
    thread = replies[root.ts]
    assert "Resolved" in thread[-1].text
    restarts = [_restart_of(m.text) for m in thread[:-1]]
    # One reply per later restart of the episode, in order, none twice.
    assert restarts == sorted(set(restarts)), restarts
    assert restarts[0] >= 2 and len(restarts) >= 2, restarts


def test_poststart_notify_posts_once_per_container_start(
    h: AgentHarness, slack: FakeSlack, notifier: NotifierService, request: pytest.FixtureRequest
) -> None:
    template = (
        "{{pod}}/{{container}} started on {{node}} "
        "(restart {{restartCount}}, previous exit {{exitCode}} {{reason}})"
    )
    hook: dict[str, Any] = {"postStart": {"notify": {"channel": "#hooks", "template": template}}}
    docker_events = ContainerEvents(h.namespace, "app")
    request.addfinalizer(docker_events.close)
    h.start_agent()
    uid = h.create_pod(
        "flaky",
        [container("app", "sh", "-c", "sleep 0.3; exit 3", lifecycle=hook)],
        restartPolicy="Always",
    )

    def hook_messages() -> list[Message]:
        with slack.lock:
            return [m for m in slack.messages if m.channel == "CHOOKS001"]

    wait_for(lambda: len(hook_messages()) >= 3, timeout=40, what="three postStart notifications")
    _delete_pod(h, "flaky")
    h.stop_agent()

    fired = len(h.events(uid, LifecycleHookNotify.name))
    wait_for(lambda: len(hook_messages()) == fired, timeout=10, what="every notify delivered")
    with contextlib.suppress(AssertionError):  # the engine's stream may lag a little
        wait_for(lambda: len(docker_events.times("start")) >= fired, timeout=5)
    starts = docker_events.times("start")
    messages = hook_messages()
    assert len(messages) == len(starts) == fired, (len(messages), len(starts), fired)
    pattern = re.compile(
        rf"^flaky/app started on {h.node} \(restart (\d+), previous exit (\S*) ?(.*)\)$"
    )
    seen: list[int] = []
    for message in messages:
        match = pattern.match(message.text)
        assert match is not None, message.text
        restart, exit_code, reason = int(match.group(1)), match.group(2), match.group(3)
        seen.append(restart)
        if restart > 0:  # a restart knows how the previous container ended
            assert (exit_code, reason) == ("3", "Error"), message.text
        assert message.thread_ts is None
    assert sorted(seen) == list(range(len(messages))), seen


def test_each_death_reaches_slack_before_the_back_off_ends(
    store: EventStore, slack: FakeSlack, notifier: NotifierService, request: pytest.FixtureRequest
) -> None:
    """A container seen running (``sleep 0.3``) that dies into its crash back-off: the alert
    for that death is in Slack before the next instance starts, not one back-off later (the
    agent used to go from running straight to CrashLoopBackOff, so the death was only told
    when restartCount went up at the next start)."""
    backoff = 3.0
    slow = AgentHarness(store, max_container_restart_period=backoff)
    request.addfinalizer(slow.cleanup)
    make_route(slow.writer, f"{slow.namespace}-r", namespaces=[slow.namespace],
               destination={"slack": {"channel": "#crash"}})  # fmt: skip
    docker_events = ContainerEvents(slow.namespace, "app")
    request.addfinalizer(docker_events.close)
    slow.start_agent()
    slow.create_pod("flaky", [container("app", "sh", "-c", "sleep 0.3; exit 3")])
    deaths = 3  # the first restart is immediate, the next ones wait the back-off

    def started_after_last_death() -> bool:
        return len(docker_events.times("start")) > deaths

    wait_for(started_after_last_death, timeout=40, what=f"{deaths} deaths and restarts")
    slow.stop_agent()
    wait_for(lambda: _restarts_told(slack) >= set(range(1, deaths + 1)), timeout=20,
             what="every death told")  # fmt: skip
    offset = time.time() - time.monotonic()
    died, starts = docker_events.times("die"), docker_events.times("start")
    with slack.lock:
        told = {}
        for message in slack.messages:
            k = 1 if message.thread_ts is None else _restart_of(message.text)
            told.setdefault(k, message.received + offset)
    for k in range(2, deaths + 1):
        # Death k is instance k-1's; instance k starts a back-off later.
        assert died[k - 1] < told[k] < starts[k], (k, died[k - 1], told[k], starts[k])


def _restarts_told(slack: FakeSlack) -> set[int]:
    with slack.lock:
        return {1 if m.thread_ts is None else _restart_of(m.text) for m in slack.messages}
