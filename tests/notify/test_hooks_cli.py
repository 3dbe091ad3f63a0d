"""postStart notify hooks and hook failures from the agent's events; the `dockyard alerts` CLI."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from dockyard.cli.main import main
from dockyard.notify.notifier import Notifier
from dockyard.store.event_types_agent import (
    FailedPostStartHook,
    HookFailedPayload,
    LifecycleHookNotify,
    LifecycleHookNotifyPayload,
    pod_runtime_stream,
)
from dockyard.store.events import EventStore, new_event
from dockyard.store.writer import ObjectWriter
from tests.notify.conftest import make_pod, make_route, make_sender, outbox, pump, set_status
from tests.notify.fake_slack import TOKEN, Action, FakeSlack


def _notify(store: EventStore, pod: dict, restart: int, **handler: object) -> None:
    meta = pod["metadata"]
    payload = LifecycleHookNotifyPayload(
        namespace=meta["namespace"],
        pod=meta["name"],
        podUID=meta["uid"],
        node="node-1",
        container="app",
        containerID=f"c{restart}",
        hook="postStart",
        restartCount=restart,
        previousExitCode=1 if restart else None,
        previousReason="Error" if restart else None,
        **handler,
    )
    store.append([new_event(LifecycleHookNotify, pod_runtime_stream(meta["uid"]), payload)])


def test_post_start_notify_posts_on_every_start(
    engine: Engine, store: EventStore, writer: ObjectWriter, slack: FakeSlack
) -> None:
    make_route(writer, "hooks", destination={"slack": {"channel": "#hooks"}})
    pod = make_pod(writer, "default", "web")
    notifier, sender = Notifier(engine, store), make_sender(engine, slack)
    for restart in range(3):
        _notify(
            store,
            pod,
            restart,
            route="hooks",
            template="{{pod}} started on {{node}} (restart {{restartCount}}, "
            "previous exit {{exitCode}} {{reason}})",
        )
    _notify(store, pod, 3, channel="CALERTS01")
    _notify(store, pod, 4, route="no-such-route")
    pump(notifier, sender, lambda: len(slack.roots()) == 4)
    texts = [m.text for m in slack.roots("CHOOKS001")]
    assert texts == [
        "web started on node-1 (restart 0, previous exit  )",
        "web started on node-1 (restart 1, previous exit 1 Error)",
        "web started on node-1 (restart 2, previous exit 1 Error)",
    ]
    assert "postStart: default/web" in slack.roots("CALERTS01")[0].text
    dead = [r for r in outbox(engine) if r["state"] == "dead"]
    assert len(dead) == 1 and "route_not_found" in dead[0]["last_error"]


def test_failed_post_start_hook_alert_shows_the_hook_output(
    engine: Engine, store: EventStore, writer: ObjectWriter, slack: FakeSlack
) -> None:
    make_route(writer, "r", reasons=["FailedPostStartHook", "Restarted"])
    pod = make_pod(writer, "default", "web")
    meta = pod["metadata"]
    payload = HookFailedPayload(
        namespace="default",
        pod="web",
        podUID=meta["uid"],
        node="node-1",
        container="app",
        containerID="c0",
        hook="postStart",
        handler="exec",
        message="exit code 3",
        output="migrating...\nERROR: db password=hunter2 rejected",
        restartCount=0,
    )
    store.append([new_event(FailedPostStartHook, pod_runtime_stream(meta["uid"]), payload)])
    # The restart that follows folds into the same alert (an update, not a second message).
    set_status(writer, pod, restart_count=1, exit_code=137, reason="Error", running=True)
    pump(
        Notifier(engine, store),
        make_sender(engine, slack),
        lambda: len(slack.roots()) == 1 and slack.roots()[0].updates >= 1,
    )
    blocks = str(slack.roots()[0].blocks)
    assert "ERROR: db" in blocks and "hunter2" not in blocks
    assert "FailedPostStartHook" in blocks and slack.replies(slack.roots()[0]) == []


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, database_url: str, slack: FakeSlack) -> None:
    monkeypatch.setenv("DOCKYARD_DATABASE_URL", database_url)
    monkeypatch.setenv("DOCKYARD_SLACK_TOKEN", TOKEN)
    monkeypatch.setenv("DOCKYARD_SLACK_API_URL", slack.url)
    monkeypatch.setenv("DOCKYARD_SLACK_TIMEOUT_SECONDS", "1")


def test_alerts_test_reports_what_slack_answered(
    cli_env: None, writer: ObjectWriter, slack: FakeSlack, capsys: pytest.CaptureFixture[str]
) -> None:
    make_route(writer, "ok-route")
    make_route(writer, "archived", destination={"slack": {"channel": "CCRASH001"}})
    assert main(["alerts", "test", "ok-route"]) == 0
    assert "ok: posted to channel CALERTS01" in capsys.readouterr().out
    slack.then("chat.postMessage", Action("error", 200, "is_archived"))
    assert main(["alerts", "test", "archived"]) == 1
    assert "is_archived" in capsys.readouterr().err
    assert main(["alerts", "test", "nope"]) == 1
    assert "no AlertRoute named 'nope'" in capsys.readouterr().err


def test_alerts_lists_deliveries_and_retries_dead_letters(
    cli_env: None,
    engine: Engine,
    store: EventStore,
    writer: ObjectWriter,
    slack: FakeSlack,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make_route(writer, "r")
    pod = make_pod(writer, "default", "p")
    set_status(writer, pod, restart_count=1, exit_code=1, reason="Error", running=True)
    slack.then("chat.postMessage", Action("error", 200, "not_in_channel"))
    pump(
        Notifier(engine, store),
        make_sender(engine, slack),
        lambda: all(r["state"] != "pending" for r in outbox(engine)),
    )
    assert main(["alerts"]) == 0
    out = capsys.readouterr().out
    assert "dead" in out and "not_in_channel" in out
    assert main(["alerts", "retry", "--all-dead"]) == 0
    assert "queued again" in capsys.readouterr().out
    pump(Notifier(engine, store), make_sender(engine, slack), lambda: len(slack.roots()) == 1)
