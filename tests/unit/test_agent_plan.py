"""The pod planner, the fact recorder and probe thresholds: pure functions, virtual time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from dockyard.agent.backoff import Backoff, BackoffPolicy
from dockyard.agent.desired import DesiredPod, desired_pod
from dockyard.agent.facts import PodRef, RecordedContainer, container_transitions
from dockyard.agent.plan import compute_pod_actions, should_restart
from dockyard.agent.probes import ProbeCounter, probe_spec, record_result
from dockyard.agent.runtime import (
    LABEL_CONTAINER_HASH,
    LABEL_CONTAINER_NAME,
    LABEL_MANAGED,
    LABEL_POD_NAME,
    LABEL_POD_NAMESPACE,
    LABEL_POD_UID,
    LABEL_RESTART_COUNT,
    LABEL_SANDBOX,
    ContainerInfo,
    ContainerState,
    identity_from_labels,
)

UID = "uid-1"
T0 = 1_000_000.0


def pod(restart_policy: str = "Always", deleting: bool = False, **container: Any) -> DesiredPod:
    body: dict[str, Any] = {
        "metadata": {"uid": UID, "namespace": "ns", "name": "web"},
        "spec": {
            "restartPolicy": restart_policy,
            "terminationGracePeriodSeconds": 5,
            "containers": [{"name": "app", "image": "busybox:latest", **container}],
        },
    }
    if deleting:
        body["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return desired_pod(body)


def _time(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def info(
    cid: str,
    state: ContainerState,
    *,
    count: int = 0,
    exit_code: int = 0,
    sandbox: bool = False,
    spec_hash: str | None = None,
    started: float | None = T0,
    finished: float | None = None,
) -> ContainerInfo:
    labels = {
        LABEL_MANAGED: "true",
        LABEL_POD_UID: UID,
        LABEL_POD_NAMESPACE: "ns",
        LABEL_POD_NAME: "web",
        LABEL_RESTART_COUNT: str(count),
    }
    if sandbox:
        labels[LABEL_SANDBOX] = "true"
    else:
        labels[LABEL_CONTAINER_NAME] = "app"
        labels[LABEL_CONTAINER_HASH] = (
            spec_hash if spec_hash is not None else pod().containers[0].spec_hash
        )
    return ContainerInfo(
        id=cid, name=cid, labels=labels, identity=identity_from_labels(labels), state=state,
        exit_code=exit_code, oom_killed=False, started_at=_time(started),
        finished_at=_time(finished), created_at=_time(T0 + count), error="", image="busybox",
        image_id="sha", ip="172.17.0.9", docker_status=state,
    )  # fmt: skip


SANDBOX = info("sb", "running", sandbox=True)


def plan_for(p: DesiredPod, observed: list[ContainerInfo], now: float, crash: Backoff | None = None,
             **kw: Any) -> Any:  # fmt: skip
    return compute_pod_actions(
        p, observed, now=now, crash_backoff=crash or Backoff(BackoffPolicy.crash_loop()),
        image_backoff=Backoff(BackoffPolicy.image_pull()), **kw,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("policy", "exit_code", "restart"),
    [("Always", 0, True), ("Always", 1, True), ("OnFailure", 0, False), ("OnFailure", 2, True),
     ("Never", 0, False), ("Never", 137, False)],
)  # fmt: skip
def test_should_restart(policy: str, exit_code: int, restart: bool) -> None:
    assert should_restart(policy, exit_code) is restart


def test_no_sandbox_creates_one_first() -> None:
    plan = plan_for(pod(), [], T0)
    assert plan.create_sandbox and plan.sandbox_attempt == 0 and not plan.start


def test_first_start_then_crash_loop_numbers() -> None:
    """First restart at once, then 10 s, 20 s, 40 s ... capped at 300 s."""
    crash = Backoff(BackoffPolicy.crash_loop())
    p = pod()
    plan = plan_for(p, [SANDBOX], T0, crash)
    assert [s.restart_count for s in plan.start] == [0]
    now, count, waits = T0, 0, []
    for _ in range(8):
        died = now + 1  # each instance runs one second
        exited = info(f"c{count}", "exited", count=count, exit_code=1, started=now, finished=died)
        plan = plan_for(p, [SANDBOX, exited], died, crash)
        if plan.start:
            waits.append(0.0)
        else:
            assert plan.waiting["app"].reason == "CrashLoopBackOff"
            retry = plan.next_sync_at
            assert retry is not None
            waits.append(retry - died)
            plan = plan_for(p, [SANDBOX, exited], retry, crash)
            msg = crash_msg = plan.waiting.get("app")
            assert msg is None, crash_msg
        (start,) = plan.start
        assert start.restart_count == count + 1
        crash.next(start.backoff_key or "", start.exited_at or 0, died + waits[-1])
        now = died + waits[-1]
        count += 1
    assert waits == [0.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0]


def test_crash_loop_message() -> None:
    crash = Backoff(BackoffPolicy.crash_loop(2.0))
    p = pod()
    exited = info("c0", "exited", exit_code=1, finished=T0 + 1)
    (start,) = plan_for(p, [SANDBOX, exited], T0 + 1, crash).start
    crash.next(start.backoff_key or "", T0 + 1, T0 + 1)
    again = info("c1", "exited", count=1, exit_code=1, started=T0 + 1, finished=T0 + 2)
    plan = plan_for(p, [SANDBOX, exited, again], T0 + 2, crash)
    assert plan.waiting["app"].message == (
        "back-off 2s restarting failed container=app pod=web_ns(uid-1)"
    )
    assert plan.next_sync_at == T0 + 4


def test_completed_under_on_failure_is_done_and_loses_its_sandbox() -> None:
    exited = info("c0", "exited", exit_code=0, finished=T0 + 1)
    plan = plan_for(pod("OnFailure"), [SANDBOX, exited], T0 + 2)
    assert not plan.start and plan.remove_sandboxes == ["sb"]


def test_created_but_never_started_is_replaced_under_the_same_count() -> None:
    stale = info("c3", "created", count=3, started=None)
    plan = plan_for(pod(), [SANDBOX, stale], T0)
    assert plan.remove == ["c3"] and [s.restart_count for s in plan.start] == [3]


def test_spec_change_and_liveness_kill_the_running_instance() -> None:
    old = info("c0", "running", spec_hash="other")
    plan = plan_for(pod(), [SANDBOX, old], T0)
    assert [k.container_id for k in plan.kill] == ["c0"] and not plan.start
    live = info("c0", "running")
    plan = plan_for(pod(), [SANDBOX, live], T0, unhealthy={"c0": "liveness probe"})
    assert plan.kill[0].reason == "Unhealthy"
    assert not plan_for(pod(), [SANDBOX, live], T0).kill


def test_restart_count_survives_a_removed_instance() -> None:
    plan = plan_for(pod(), [SANDBOX], T0, known_restart_counts={"app": 4})
    assert [s.restart_count for s in plan.start] == [5]


def test_deletion_kills_with_pre_stop_then_removes_then_completes() -> None:
    hook = {"preStop": {"exec": {"command": ["true"]}}}
    p = pod(deleting=True, lifecycle=hook)
    plan = plan_for(p, [SANDBOX, info("c0", "running")], T0)
    (kill,) = plan.kill
    assert kill.pre_stop == hook["preStop"] and kill.grace_seconds == 5
    assert not plan.remove_sandboxes  # the sandbox outlives the app containers
    plan = plan_for(p, [SANDBOX, info("c0", "exited", finished=T0)], T0)
    assert plan.remove == ["c0"] and plan.remove_sandboxes == ["sb"]
    assert not plan.teardown_complete
    assert plan_for(p, [], T0).teardown_complete


def test_only_two_instances_are_kept() -> None:
    instances = [info(f"c{i}", "exited", count=i, exit_code=1, started=T0 + i,
                      finished=T0 + i + 0.5) for i in range(4)]  # fmt: skip
    plan = plan_for(pod("Never"), [SANDBOX, *instances], T0 + 10)
    assert sorted(plan.remove) == ["c0", "c1"]


def test_transitions_record_each_fact_once() -> None:
    ref = PodRef("ns", "web", UID, "node-a")
    running = info("c0", "running")
    first = container_transitions(ref, {}, [SANDBOX, running])
    assert [t.event_type.name for t in first] == ["ContainerCreated", "ContainerStarted"]
    recorded = {"c0": RecordedContainer("running", "app", 0)}
    assert container_transitions(ref, recorded, [running]) == []
    died = info("c0", "exited", exit_code=137, finished=T0 + 3)
    (exited,) = container_transitions(ref, recorded, [died])
    assert exited.payload.model_dump(by_alias=True)["exitCode"] == 137
    assert exited.payload.model_dump(by_alias=True)["reason"] == "Error"
    assert exited.payload.model_dump(by_alias=True)["signal"] == 9
    (vanished,) = container_transitions(ref, recorded, [])
    assert vanished.payload.model_dump(by_alias=True)["reason"] == "ContainerStatusUnknown"
    assert container_transitions(ref, recorded, [], removed_by_agent={"c0"}) == []


def test_probe_thresholds_report_only_transitions() -> None:
    spec = probe_spec("Liveness", {"exec": {"command": ["true"]}, "failureThreshold": 2})
    assert (spec.period, spec.timeout, spec.success_threshold) == (10, 1, 1)
    counter = ProbeCounter()
    counter, changed = record_result(counter, True, spec)
    assert changed is True
    counter, changed = record_result(counter, False, spec)
    assert changed is None
    counter, changed = record_result(counter, False, spec)
    assert changed is False
    counter, changed = record_result(counter, False, spec)
    assert changed is None
