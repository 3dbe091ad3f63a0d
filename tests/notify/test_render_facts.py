"""Facts from Pod status and agent events; messages within Slack's limits (pure)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from dockyard.notify.facts import Mark, agent_fact, node_facts, pod_facts
from dockyard.notify.matching import REPLY, ROOT, UPDATE, fact_record, step
from dockyard.notify.owner_change import spec_changes
from dockyard.notify.render import (
    BLOCKS_BUDGET,
    HEADER_LIMIT,
    SECTION_LIMIT,
    merge_replies,
    render_reply,
    render_root,
)
from dockyard.store.events import RecordedEvent

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _pod(
    restarts: int, *, waiting: str | None = None, exit_code: int = 1, reason: str = "Error"
) -> dict[str, Any]:
    status: dict[str, Any] = {"name": "app", "restartCount": restarts, "state": {}}
    if waiting:
        status["state"] = {"waiting": {"reason": waiting}}
    if restarts:
        status["lastState"] = {"terminated": {"exitCode": exit_code, "reason": reason}}
    return {
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "ns", "uid": "u1", "labels": {"a": "b"}},
        "spec": {"nodeName": "n1"},
        "status": {"containerStatuses": [status]},
    }


def test_pod_status_facts_against_marks() -> None:
    facts, marks = pod_facts(_pod(0), {}, observed_at=NOW, position=1)
    assert facts == [] and marks["app"] == Mark(0, None)
    facts, marks = pod_facts(
        _pod(1, exit_code=137, reason="OOMKilled"), marks, observed_at=NOW, position=2
    )
    assert [f.reasons for f in facts] == [frozenset({"Restarted", "OOMKilled"})]
    assert facts[0].exit_code == 137 and facts[0].node == "n1"
    # Waiting without a lastState (nothing to say how it ended): the wait alone is news.
    waiting = _pod(1, waiting="CrashLoopBackOff")
    del waiting["status"]["containerStatuses"][0]["lastState"]
    facts, marks = pod_facts(waiting, marks, observed_at=NOW, position=3)
    assert [(f.reasons, f.restart_count) for f in facts] == [(frozenset({"CrashLoopBackOff"}), 1)]
    facts, marks = pod_facts(waiting, marks, observed_at=NOW, position=4)
    assert facts == []  # the same wait again is not news
    facts, _ = pod_facts(
        _pod(2, exit_code=0, reason="Completed"), marks, observed_at=NOW, position=5
    )
    assert [f.reasons for f in facts] == [frozenset({"Restarted"})]


def _running(restarts: int) -> dict[str, Any]:
    pod = _pod(restarts, exit_code=3)
    pod["status"]["containerStatuses"][0]["state"] = {"running": {}}
    return pod


def _back_off(restarts: int) -> dict[str, Any]:
    """CrashLoopBackOff after instance ``restarts`` died: its end is in lastState."""
    pod = _pod(restarts, waiting="CrashLoopBackOff")
    pod["status"]["containerStatuses"][0]["lastState"] = {
        "terminated": {"exitCode": 3, "reason": "Error"}
    }
    return pod


def test_crash_loop_back_off_with_an_untold_death_is_that_death() -> None:
    """running -> CrashLoopBackOff with no terminated status in between (a status missed, or
    an agent that writes none) is the death itself: the restart it causes, at once."""
    marks = {"app": Mark(1, None)}  # restart 1 told, instance 1 seen running
    facts, marks = pod_facts(_back_off(1), marks, observed_at=NOW, position=1)
    assert [(f.reasons, f.restart_count, f.exit_code) for f in facts] == [
        (frozenset({"Restarted", "Error", "CrashLoopBackOff"}), 2, 3)
    ]
    assert marks["app"] == Mark(2, "CrashLoopBackOff", "Error")
    facts, marks = pod_facts(_back_off(1), marks, observed_at=NOW, position=2)
    assert facts == []  # the same status again
    facts, marks = pod_facts(_running(2), marks, observed_at=NOW, position=3)
    assert facts == []  # the restart it announced: already told
    # Instance 2 dies into CrashLoopBackOff again: restart 3 is news.
    facts, _ = pod_facts(_back_off(2), marks, observed_at=NOW, position=4)
    assert [f.restart_count for f in facts] == [3] and "Restarted" in facts[0].reasons
    # Deleting or never restarting: a CrashLoopBackOff with a lastState is no new restart.
    deleting = _back_off(2)
    deleting["metadata"]["deletionTimestamp"] = "2026-11-26T12:00:00Z"
    facts, _ = pod_facts(deleting, {"app": Mark(2, None)}, observed_at=NOW, position=5)
    assert [f.reasons for f in facts] == [frozenset({"CrashLoopBackOff"})]


def _episode_replies(statuses: list[dict[str, Any]]) -> tuple[list[tuple[str, ...]], list[int]]:
    """Fold statuses through marks and one episode: the actions and the restarts replied."""
    marks: dict[str, Mark] = {}
    summary: dict[str, Any] | None = None
    actions: list[tuple[str, ...]] = []
    replied: list[int] = []
    for position, pod in enumerate(statuses, 1):
        facts, marks = pod_facts(pod, marks, observed_at=NOW, position=position)
        for fact in facts:
            result = step(summary, fact)
            summary = result.summary
            actions.append(result.actions)
            if ROOT in result.actions or REPLY in result.actions:
                replied.append(fact.restart_count)
    return actions, replied


def test_a_missed_terminated_status_changes_neither_the_alerts_nor_their_number() -> None:
    """With or without the terminated status before each CrashLoopBackOff, every death is
    told once (the root or one reply, numbered by its restart) and as early as it is seen."""
    with_terminated: list[dict[str, Any]] = [_running(0)]
    without: list[dict[str, Any]] = [_running(0)]
    for n in range(4):
        with_terminated += [_died(n, 3), _back_off(n), _running(n + 1)]
        without += [_back_off(n), _running(n + 1)]
    for statuses in (with_terminated, without):
        actions, replied = _episode_replies(statuses)
        assert replied == [1, 2, 3, 4], replied
        assert actions.count((ROOT,)) == 1 and actions[0] == (ROOT,)
        assert actions.count((REPLY, UPDATE)) == 3
    # In both, each death is told by the first status that shows it.
    first_of = {n: 1 + 3 * n for n in range(4)}
    for n, position in first_of.items():
        facts, _ = pod_facts(
            with_terminated[position], {"app": Mark(n, None)}, observed_at=NOW, position=1
        )
        assert facts and facts[0].restart_count == n + 1


def _died(
    restarts: int, exit_code: int, *, policy: str = "Always", deleting: bool = False
) -> dict[str, Any]:
    pod = _pod(restarts)
    pod["spec"]["restartPolicy"] = policy
    if deleting:
        pod["metadata"]["deletionTimestamp"] = "2026-11-26T12:00:00Z"
    ended = {"exitCode": exit_code, "reason": "Error" if exit_code else "Completed"}
    pod["status"]["containerStatuses"][0]["state"] = {"terminated": ended}
    return pod


def test_a_death_that_will_restart_is_the_restart_fact_before_the_back_off() -> None:
    marks = {"app": Mark(1, None)}
    facts, marks = pod_facts(_died(1, 3), marks, observed_at=NOW, position=1)
    assert [(f.reasons, f.restart_count, f.exit_code) for f in facts] == [
        (frozenset({"Restarted", "Error"}), 2, 3)
    ]
    assert marks["app"] == Mark(2, None, "Error")
    # The restart it announced shows up after the back-off: already told, not news again.
    facts, marks = pod_facts(_pod(2, exit_code=3), marks, observed_at=NOW, position=2)
    assert facts == []
    facts, _ = pod_facts(_died(2, 3), marks, observed_at=NOW, position=3)
    assert [f.restart_count for f in facts] == [3]


def test_a_death_that_is_not_restarted_is_no_restart() -> None:
    for pod in (
        _died(0, 0, policy="OnFailure"),
        _died(0, 1, policy="Never"),
        _died(0, 137, deleting=True),  # killed because the pod is being deleted
    ):
        facts, _ = pod_facts(pod, {"app": Mark(0, None)}, observed_at=NOW, position=1)
        assert facts == [], pod
    init = _died(0, 0)
    status = init["status"]
    status["initContainerStatuses"] = status.pop("containerStatuses")
    assert pod_facts(init, {}, observed_at=NOW, position=1)[0] == []  # init done, not restarted


def test_node_not_ready_once_per_outage() -> None:
    def node(status: str) -> dict[str, Any]:
        return {
            "metadata": {"name": "n1"},
            "status": {"conditions": [{"type": "Ready", "status": status}]},
        }

    facts, mark = node_facts(node("Unknown"), None, observed_at=NOW, position=1)
    assert [f.reasons for f in facts] == [frozenset({"NodeNotReady"})]
    facts, mark = node_facts(node("Unknown"), mark, observed_at=NOW, position=2)
    assert facts == []
    facts, mark = node_facts(node("True"), mark, observed_at=NOW, position=3)
    facts, mark = node_facts(node("False"), mark, observed_at=NOW, position=4)
    assert len(facts) == 1


def _event(type_: str, data: dict[str, Any]) -> RecordedEvent:
    return RecordedEvent(7, uuid.uuid4(), "pod-runtime:u1", 1, type_, 1, data, {}, NOW)


def test_agent_hook_failure_merges_with_the_restart_it_causes() -> None:
    base = {
        "namespace": "ns",
        "pod": "p",
        "podUID": "u1",
        "node": "n1",
        "container": "app",
        "containerID": "c",
    }
    fact = agent_fact(
        _event(
            "FailedPostStartHook",
            {
                **base,
                "hook": "postStart",
                "handler": "exec",
                "message": "exit 3",
                "output": "line1\nboom",
                "restartCount": 1,
            },
        ),
        {"app": Mark(1, None)},
    )
    assert fact is not None and fact.reasons == {"FailedPostStartHook"}
    assert fact.restart_count == 2 and fact.log_tail == ("line1", "boom")
    restart, _ = pod_facts(_pod(2), {"app": Mark(1, None)}, observed_at=NOW, position=9)
    opened = step(None, fact)
    merged = step(opened.summary, restart[0])
    assert opened.actions == (ROOT,) and merged.actions == (UPDATE,)
    assert set(merged.summary["reasons"]) >= {"FailedPostStartHook", "Restarted", "Error"}
    readiness = _event("ContainerUnhealthy", {**base, "probe": "Readiness", "reason": "Unhealthy"})
    assert agent_fact(readiness, {}) is None


def test_episode_steps_root_then_reply_and_update() -> None:
    marks: dict[str, Mark] = {}
    facts1, marks = pod_facts(_pod(1), marks, observed_at=NOW, position=1)
    facts2, marks = pod_facts(_pod(2), marks, observed_at=NOW, position=2)
    first = step(None, facts1[0])
    second = step(first.summary, facts2[0])
    again = step(second.summary, facts2[0])
    assert (first.actions, second.actions, again.actions) == ((ROOT,), (REPLY, UPDATE), ())
    assert second.summary["restarts"] == 2


def _sizes(message: dict[str, Any]) -> None:
    blocks = message["blocks"]
    assert len(json.dumps(blocks)) <= BLOCKS_BUDGET and len(blocks) <= 50
    assert message["text"]
    for block in blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= HEADER_LIMIT
        if "text" in block and block["type"] == "section":
            assert len(block["text"]["text"]) <= SECTION_LIMIT
        for field in block.get("fields", []):
            assert len(field["text"]) <= 2000
        assert len(block.get("fields", [])) <= 10


def test_huge_inputs_stay_within_slack_limits_and_secrets_are_redacted() -> None:
    facts, _ = pod_facts(_pod(1), {}, observed_at=NOW, position=1)
    fact = facts[0]
    summary = step(None, fact).summary
    summary["first"]["logTail"] = [f"line {n} " + "x" * 500 for n in range(200)] + [
        "token=xoxb-1234-abcd password=hunter2 card=4111"
    ]
    summary["last"]["message"] = "m" * 10_000
    summary["ownerName"] = "o" * 300
    summary["pods"] = {f"p{n}": 1 for n in range(100)}
    summary["ownerChange"] = {
        "kind": "Deployment",
        "actor": "alice",
        "verb": "apply",
        "at": NOW.isoformat(),
        "changes": ["c" * 5000],
    }
    summary["delivery"] = {}
    message = render_root(
        summary,
        route="r",
        template="{{pod}} " * 2000,
        mentions=["here"],
        redact_patterns=[r"card=\d+"],
    )
    _sizes(message)
    text = json.dumps(message)
    assert "xoxb-1234" not in text and "hunter2" not in text and "4111" not in text
    assert "+99 more" in text
    replies = [render_reply(fact_record(fact)) for _ in range(60)]
    _sizes(merge_replies(replies))


def test_owner_change_names_the_changed_fields() -> None:
    before = {"template": {"spec": {"containers": [{"image": "a:1", "name": "x"}]}}}
    after = {"template": {"spec": {"containers": [{"image": "a:2", "name": "x"}]}}, "replicas": 3}
    assert spec_changes(before, after) == [
        "spec.replicas set to 3",
        "spec.template.spec.containers[0].image: a:1 → a:2",
    ]
