"""What Slack can answer, and what the sender does: wait, look before re-posting, dead-letter."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from dockyard.notify.notifier import Notifier
from dockyard.store.events import EventStore
from dockyard.store.writer import ObjectWriter
from tests.notify.conftest import crash, make_pod, make_route, make_sender, outbox, pump
from tests.notify.fake_slack import Action, FakeSlack


def _one_crash(writer: ObjectWriter, **route: object) -> None:
    make_route(writer, "r", **route)
    pod = make_pod(writer, "default", "p")
    crash(writer, pod, 1)


def _settled(engine: Engine) -> bool:
    return all(r["state"] != "pending" for r in outbox(engine))


@pytest.mark.parametrize("error", ["ratelimited", "rate_limited"])
def test_429_waits_retry_after_then_posts_once(
    engine: Engine, store: EventStore, writer: ObjectWriter, slack: FakeSlack, error: str
) -> None:
    _one_crash(writer)
    slack.then("chat.postMessage", Action("error", 429, error, retry_after=1))
    pump(Notifier(engine, store), make_sender(engine, slack), lambda: _settled(engine))
    posts = [t for t, method, _ in slack.requests if method == "chat.postMessage"]
    assert len(posts) == 2 and posts[1] - posts[0] >= 1.0
    assert len(slack.roots()) == 1
    root_row = next(r for r in outbox(engine) if r["kind"] == "root")
    assert root_row["state"] == "sent" and root_row["ts"] == slack.roots()[0].ts


def test_500_without_delivery_is_posted_again_after_checking_history(
    engine: Engine, store: EventStore, writer: ObjectWriter, slack: FakeSlack
) -> None:
    _one_crash(writer)
    slack.then("chat.postMessage", Action("error", 500, "internal_error"))
    pump(Notifier(engine, store), make_sender(engine, slack), lambda: _settled(engine))
    methods = [method for _, method, _ in slack.requests]
    assert methods[:3] == ["chat.postMessage", "conversations.history", "chat.postMessage"]
    assert len(slack.roots()) == 1


def test_timeout_after_delivery_is_found_in_history_not_posted_twice(
    engine: Engine, store: EventStore, writer: ObjectWriter, slack: FakeSlack
) -> None:
    _one_crash(writer)
    slack.then("chat.postMessage", Action("timeout", deliver=True, seconds=2.5))
    pump(Notifier(engine, store), make_sender(engine, slack), lambda: _settled(engine))
    (root,) = slack.roots()
    row = next(r for r in outbox(engine) if r["kind"] == "root")
    assert row["state"] == "sent" and row["ts"] == root.ts
    assert [m for _, m, _ in slack.requests].count("chat.postMessage") == 1


def test_thread_reply_uncertain_outcome_checks_the_thread(
    engine: Engine, store: EventStore, writer: ObjectWriter, slack: FakeSlack
) -> None:
    make_route(writer, "r")
    pod = make_pod(writer, "default", "p")
    notifier, sender = Notifier(engine, store), make_sender(engine, slack)
    crash(writer, pod, 1)
    pump(notifier, sender, lambda: len(slack.roots()) == 1 and _settled(engine))
    slack.then("chat.postMessage", Action("error", 503, "service_unavailable"))
    slack.then("chat.postMessage", Action("timeout", deliver=True, seconds=2.5))
    crash(writer, pod, 2)
    pump(notifier, sender, lambda: _settled(engine))
    (root,) = slack.roots()
    assert len(slack.replies(root)) == 1
    assert "conversations.replies" in [m for _, m, _ in slack.requests]


@pytest.mark.parametrize(
    "error",
    [
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_auth",
        "token_revoked",
        "account_inactive",
        "invalid_blocks",
    ],
)
def test_permanent_errors_go_to_the_dead_letter(
    engine: Engine, store: EventStore, writer: ObjectWriter, slack: FakeSlack, error: str
) -> None:
    make_route(writer, "r")
    pod = make_pod(writer, "default", "p")
    crash(writer, pod, 1)
    crash(writer, pod, 2)
    slack.then("chat.postMessage", Action("error", 200, error), Action("error", 200, error))
    pump(Notifier(engine, store), make_sender(engine, slack), lambda: _settled(engine))
    rows = outbox(engine)
    root = next(r for r in rows if r["kind"] == "root")
    assert root["state"] == "dead" and root["last_error"] == error
    # Follow-ups of an undelivered root are dead letters too, saying why.
    assert {r["state"] for r in rows if r["kind"] != "root"} <= {"dead", "superseded"}
    with engine.connect() as conn:
        dead = conn.exec_driver_sql("SELECT last_error FROM alert_dead_letters").scalars().all()
    assert error in dead
    assert slack.roots() == []


def test_missing_token_is_a_dead_letter_with_the_reason(
    engine: Engine, store: EventStore, writer: ObjectWriter, slack: FakeSlack
) -> None:
    _one_crash(writer)
    pump(Notifier(engine, store), make_sender(engine, slack, token=None), lambda: _settled(engine))
    root = next(r for r in outbox(engine) if r["kind"] == "root")
    assert root["state"] == "dead" and "DOCKYARD_SLACK_TOKEN" in root["last_error"]


def test_webhook_destination_posts_and_skips_updates(
    engine: Engine, store: EventStore, writer: ObjectWriter, slack: FakeSlack
) -> None:
    make_route(writer, "hook", destination={"webhook": {"url": slack.webhook_url}})
    pod = make_pod(writer, "default", "p")
    crash(writer, pod, 1)
    slack.then("webhook", Action("error", 429, "rate_limited", retry_after=1))
    pump(Notifier(engine, store), make_sender(engine, slack), lambda: _settled(engine))
    assert len(slack.webhook_posts) == 1
    assert "p" in slack.webhook_posts[0]["text"]
    states = {(r["kind"], r["state"]) for r in outbox(engine)}
    assert ("root", "sent") in states and ("update", "superseded") in states
