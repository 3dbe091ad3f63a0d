"""A death told as Error that the agent later corrects to OOMKilled (its ``oom`` event came after
``die``): the episode that told it says so once (a thread reply and the root updated in place),
a route for OOMKilled only hears it then, and nothing else changes anything."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, inspect

from dockyard.notify.facts import Mark, pod_facts
from dockyard.notify.matching import CORRECTION, REPLY, ROOT, UPDATE, step
from dockyard.notify.notifier import Notifier
from dockyard.store import migrations
from dockyard.store.db import make_engine
from dockyard.store.events import EventStore
from dockyard.store.writer import ObjectWriter
from tests.notify.conftest import crash, make_pod, make_route, make_sender, outbox, pump, set_status
from tests.notify.fake_slack import Action, FakeSlack, Message
from tests.notify.test_crash_safety import NotifierProcess, _wait

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _status(
    restarts: int, reason: str, *, state: str = "back-off", exit_code: int = 137
) -> dict[str, Any]:
    """Instance ``restarts`` ended (``reason``), in CrashLoopBackOff; or instance ``restarts``
    running after the death of the one before (``state="running"``)."""
    ended = {"exitCode": exit_code, "reason": reason}
    now = {"waiting": {"reason": "CrashLoopBackOff"}} if state == "back-off" else {"running": {}}
    container = {"name": "app", "restartCount": restarts, "state": now}
    container["lastState"] = {"terminated": ended}
    return {
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
        "spec": {"nodeName": "n1"},
        "status": {"containerStatuses": [container]},
    }


def late_oom(writer: ObjectWriter, pod: dict[str, Any], restart_count: int) -> None:
    """The agent's correction: the instance behind restart ``restart_count`` was OOM-killed."""
    set_status(
        writer,
        pod,
        restart_count=restart_count - 1,
        exit_code=137,
        reason="OOMKilled",
        waiting="CrashLoopBackOff",
    )


# -- pure -------------------------------------------------------------------------------------


def test_a_later_oom_killed_for_the_told_restart_is_one_correction() -> None:
    facts, marks = pod_facts(_status(0, "Error"), {}, observed_at=NOW, position=1)
    assert [(f.reasons, f.restart_count, f.corrects) for f in facts] == [
        (frozenset({"Restarted", "Error", "CrashLoopBackOff"}), 1, None)
    ]
    assert marks["app"] == Mark(1, "CrashLoopBackOff", "Error")
    facts, marks = pod_facts(_status(0, "OOMKilled"), marks, observed_at=NOW, position=2)
    assert [(f.reasons, f.restart_count, f.corrects, f.exit_code) for f in facts] == [
        (frozenset({"Restarted", "OOMKilled"}), 1, "Error", 137)
    ]
    assert marks["app"] == Mark(1, "CrashLoopBackOff", "OOMKilled")
    # The corrected status again, an agent flipping back, the restart announced: no news.
    for position, pod in enumerate(
        (_status(0, "OOMKilled"), _status(0, "Error"), _status(1, "OOMKilled", state="running")),
        3,
    ):
        facts, marks = pod_facts(pod, marks, observed_at=NOW, position=position)
        assert facts == [], pod
    assert marks["app"].death_reason == "OOMKilled"


def test_only_a_late_reason_for_a_told_reason_corrects() -> None:
    cases = [
        (Mark(1, "CrashLoopBackOff", "Error"), _status(0, "Error")),  # unchanged
        (Mark(1, "CrashLoopBackOff", None), _status(0, "OOMKilled")),  # told before 0006: unknown
        # An instance older than the one told (the status is behind the mark):
        (Mark(2, "CrashLoopBackOff", "Error"), _status(0, "OOMKilled")),
        (Mark(1, "CrashLoopBackOff", "OOMKilled"), _status(0, "Error")),  # not a late reason
    ]
    for mark, pod in cases:
        facts, marks = pod_facts(pod, {"app": mark}, observed_at=NOW, position=1)
        assert facts == [], (mark, pod)
        assert marks["app"].death_reason == mark.death_reason


def test_an_episode_takes_the_correction_once_and_drops_the_reason_taken_back() -> None:
    marks: dict[str, Mark] = {}
    (told,), marks = pod_facts(_status(0, "Error"), marks, observed_at=NOW, position=1)
    (corrected,), marks = pod_facts(_status(0, "OOMKilled"), marks, observed_at=NOW, position=2)
    opened = step(None, told)
    assert opened.actions == (ROOT,)
    result = step(opened.summary, corrected)
    assert result.actions == (CORRECTION, UPDATE)
    summary = result.summary
    assert summary["reasons"] == ["CrashLoopBackOff", "OOMKilled", "Restarted"]
    assert summary["restarts"] == 1 and summary["seen"] == opened.summary["seen"]
    for end in ("first", "last"):
        assert summary[end]["terminatedReason"] == "OOMKilled", end
        assert summary[end]["corrects"] == "Error"
    assert step(summary, corrected).actions == ()  # told already
    # A route that never told the restart hears the corrected one as a restart.
    assert step(None, corrected).actions == (ROOT,)
    assert step(step(None, told).summary, corrected).actions == (CORRECTION, UPDATE)


def test_a_reason_other_restarts_died_of_stays_in_the_episode() -> None:
    marks: dict[str, Mark] = {}
    summary: dict[str, Any] | None = None
    for position, pod in enumerate((_status(0, "Error"), _status(1, "Error")), 1):
        (fact,), marks = pod_facts(pod, marks, observed_at=NOW, position=position)
        result = step(summary, fact)
        summary = result.summary
    assert result.actions == (REPLY, UPDATE)
    (corrected,), _ = pod_facts(_status(1, "OOMKilled"), marks, observed_at=NOW, position=3)
    assert corrected.restart_count == 2
    result = step(summary, corrected)
    assert result.actions == (CORRECTION, UPDATE)
    assert {"Error", "OOMKilled"} <= set(result.summary["reasons"])  # restart 1 was an Error
    assert result.summary["first"]["terminatedReason"] == "Error"
    assert result.summary["last"]["terminatedReason"] == "OOMKilled"


# -- end to end, against the fake Slack -------------------------------------------------------


def _all_delivered(engine: Engine) -> bool:
    return all(r["state"] in ("sent", "superseded") for r in outbox(engine))


def _header(message: Message) -> str:
    return str(message.blocks[0]["text"]["text"])


def test_a_late_oom_kill_corrects_the_thread_once_and_nothing_repeats_it(
    engine: Engine, store: EventStore, writer: ObjectWriter, slack: FakeSlack
) -> None:
    make_route(writer, "all")
    pod = make_pod(writer, "default", "hog")
    notifier = Notifier(engine, store)
    sender = make_sender(engine, slack)
    crash(writer, pod, 1, exit_code=137, reason="Error")
    pump(notifier, sender, lambda: len(slack.roots()) == 1 and _all_delivered(engine))
    (root,) = slack.roots()
    assert "exit 137 Error" in str(root.blocks)
    updates = root.updates

    late_oom(writer, pod, 1)
    pump(notifier, sender, lambda: len(slack.replies(root)) == 1 and root.updates > updates)
    pump(notifier, sender, lambda: _all_delivered(engine))
    (reply,) = slack.replies(root)
    assert "Correction: hog/app restartCount 1 was OOMKilled (exit 137), not Error" in reply.text
    assert "exit 137 OOMKilled" in str(root.blocks)
    assert "Error" not in _header(root) and "OOMKilled" in _header(root)
    assert len(slack.roots()) == 1
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM notify_episodes").scalar_one() == 1

    # The agent publishes the corrected instance again and then its restart; a new notifier
    # process starts from the checkpoint: nothing of it is news.
    rows = len(outbox(engine))
    late_oom(writer, pod, 1)
    set_status(writer, pod, restart_count=1, exit_code=137, reason="OOMKilled", running=True)
    notifier.catch_up()
    assert Notifier(engine, store).catch_up() == 0
    while sender.run_once():
        pass
    assert len(outbox(engine)) == rows
    assert len(slack.replies(root)) == 1 and len(slack.roots()) == 1
    keys = slack.all_keys()
    assert len(keys) == len(set(keys))


def test_a_route_for_oom_kills_only_alerts_when_the_correction_arrives(
    engine: Engine, store: EventStore, writer: ObjectWriter, slack: FakeSlack
) -> None:
    make_route(writer, "errors", reasons=["Error"], destination={"slack": {"channel": "CALERTS01"}})
    make_route(
        writer, "ooms", reasons=["OOMKilled"], destination={"slack": {"channel": "CCRASH001"}}
    )
    pod = make_pod(writer, "default", "hog")
    notifier = Notifier(engine, store)
    sender = make_sender(engine, slack)
    crash(writer, pod, 1, exit_code=137, reason="Error")
    pump(notifier, sender, lambda: len(slack.roots("CALERTS01")) == 1 and _all_delivered(engine))
    assert slack.roots("CCRASH001") == []

    late_oom(writer, pod, 1)
    pump(notifier, sender, lambda: len(slack.roots("CCRASH001")) == 1 and _all_delivered(engine))
    (oom_root,) = slack.roots("CCRASH001")
    assert "exit 137 OOMKilled" in str(oom_root.blocks) and "Error" not in _header(oom_root)
    assert slack.replies(oom_root) == []  # the restart's first telling there: a root, no reply
    # The Error route told it as an Error: it hears the correction in its own thread.
    (error_root,) = slack.roots("CALERTS01")
    (reply,) = slack.replies(error_root)
    assert "was OOMKilled (exit 137), not Error" in reply.text
    assert "OOMKilled" in _header(error_root)


def test_an_unchanged_reason_changes_nothing(
    engine: Engine, store: EventStore, writer: ObjectWriter, slack: FakeSlack
) -> None:
    make_route(writer, "all")
    error_pod = make_pod(writer, "default", "failing")
    oom_pod = make_pod(writer, "default", "hog")
    notifier = Notifier(engine, store)
    sender = make_sender(engine, slack)
    crash(writer, error_pod, 1, exit_code=137, reason="Error")
    crash(writer, oom_pod, 1, exit_code=137, reason="OOMKilled")  # known in time: no correction
    pump(
        notifier,
        sender,
        lambda: len(slack.roots()) == 2 and _all_delivered(engine),
    )
    rows, messages = len(outbox(engine)), len(slack.messages)
    for pod, reason in ((error_pod, "Error"), (oom_pod, "OOMKilled")):
        set_status(
            writer, pod, restart_count=0, exit_code=137, reason=reason, waiting="CrashLoopBackOff"
        )
        set_status(writer, pod, restart_count=1, exit_code=137, reason=reason, running=True)
    notifier.catch_up()
    while sender.run_once():
        pass
    assert len(outbox(engine)) == rows and len(slack.messages) == messages
    assert not any("Correction" in m.text for m in slack.messages)
    with engine.connect() as conn:
        told = (
            conn.exec_driver_sql(
                "SELECT death_reason FROM notify_marks WHERE container = 'app' ORDER BY 1"
            )
            .scalars()
            .all()
        )
    assert told == ["Error", "OOMKilled"]


def test_notifier_killed_while_posting_the_correction_tells_it_once(
    database_url: str, engine: Engine, writer: ObjectWriter, slack: FakeSlack, tmp_path: Path
) -> None:
    process = NotifierProcess(database_url, slack, tmp_path / "n.log", interval=0.0)
    try:
        make_route(writer, "r")
        pod = make_pod(writer, "default", "hog")
        process.start()
        crash(writer, pod, 1, exit_code=137, reason="Error")
        _wait(lambda: len(slack.roots()) == 1 and _all_delivered(engine))
        (root,) = slack.roots()
        # The correction reaches Slack, and the notifier dies before recording it.
        slack.then("chat.postMessage", Action("hold", deliver=True))
        late_oom(writer, pod, 1)
        assert slack.held.wait(30), "the correction was never posted"
        process.kill()
        slack.release.set()
        process.start()
        _wait(lambda: _all_delivered(engine) and "OOMKilled" in _header(root))
        # The agent publishes the corrected status again after the restart.
        late_oom(writer, pod, 1)
        head = EventStore(engine).head_position()
        _wait(lambda: Notifier(engine, EventStore(engine)).position() >= head)
        _wait(lambda: _all_delivered(engine))
    finally:
        process.stop()
    corrections = [m for m in slack.replies(root) if "Correction" in m.text]
    assert len(corrections) == 1
    assert len(slack.roots()) == 1 and "OOMKilled" in _header(root)
    keys = slack.all_keys()
    assert len(keys) == len(set(keys))


def test_notify_reason_migration_downgrades_and_upgrades(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    try:
        migrations.upgrade(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO notify_marks (subject, container, restart_count, death_reason) "
                "VALUES ('u1', 'app', 1, 'OOMKilled')"
            )
        migrations.downgrade(engine, "0005_write_path")
        columns = {c["name"] for c in inspect(engine).get_columns("notify_marks")}
        assert "death_reason" not in columns
        migrations.upgrade(engine)
        with engine.connect() as conn:
            row = conn.exec_driver_sql("SELECT restart_count, death_reason FROM notify_marks").one()
        assert tuple(row) == (1, None)  # kept; the reason told is unknown again
    finally:
        engine.dispose()
