"""Node lifecycle planner (controllers/node_lifecycle_plan.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dockyard.controllers.node_lifecycle_plan import (
    NodeHealthView,
    add_default_tolerations,
    plan_node_lifecycle,
)
from dockyard.controllers.views import Condition, PodView, Taint, Toleration

T0 = datetime(2025, 1, 1, tzinfo=UTC)
S = timedelta(seconds=1)
READY = Condition("Ready", "True", "KubeletReady", "kubelet is posting ready status", T0, T0)
UNREACHABLE = Taint("node.kubernetes.io/unreachable", "NoExecute", time_added=T0 + 51 * S)


def node(**kwargs: object) -> NodeHealthView:
    fields: dict[str, object] = {
        "name": "n1",
        "created_at": T0 - timedelta(hours=1),
        "lease_renew_time": T0,
        "ready": READY,
    }
    fields.update(kwargs)
    return NodeHealthView(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seconds_since_renew", "status"),
    [(0, "True"), (10, "True"), (50, "True"), (51, "Unknown"), (400, "Unknown")],
)
def test_ready_turns_unknown_after_the_grace_period(seconds_since_renew: int, status: str) -> None:
    plan = plan_node_lifecycle([node()], [], T0 + seconds_since_renew * S)
    if status == "True":
        assert plan.updates == ()
        assert plan.next_check_at == T0 + 50 * S
        return
    (update,) = plan.updates
    assert (update.ready.status, update.ready.reason, update.ready.message) == (
        "Unknown",
        "NodeStatusUnknown",
        "Kubelet stopped posting node status.",
    )
    assert [(t.key, t.effect) for t in update.taints] == [
        ("node.kubernetes.io/unreachable", "NoExecute")
    ]
    assert update.event is not None
    assert (update.event.reason, update.event.message) == (
        "NodeNotReady",
        "Node n1 status is now: NodeNotReady",
    )


def test_heartbeats_and_unchanged_state_plan_nothing() -> None:
    for renew in range(0, 100, 10):
        plan = plan_node_lifecycle(
            [node(lease_renew_time=T0 + renew * S)], [], T0 + (renew + 5) * S
        )
        assert plan.updates == () and plan.evictions == ()
    stale = node(
        ready=Condition("Ready", "Unknown", "NodeStatusUnknown", "x", T0, T0), taints=(UNREACHABLE,)
    )
    assert plan_node_lifecycle([stale], [], T0 + 200 * S).updates == ()


def test_recovery_removes_the_taint_with_one_event() -> None:
    stale = node(
        ready=Condition("Ready", "Unknown", "NodeStatusUnknown", "x", T0, T0),
        taints=(UNREACHABLE, Taint("keep", "NoSchedule")),
        lease_renew_time=T0 + 100 * S,
    )
    (update,) = plan_node_lifecycle([stale], [], T0 + 101 * S).updates
    assert update.ready.status == "True" and update.ready.last_transition_time == T0 + 101 * S
    assert update.taints == (Taint("keep", "NoSchedule"),)
    assert update.event is not None and update.event.reason == "NodeReady"


def test_kubelet_not_ready_gets_the_not_ready_taint() -> None:
    (update,) = plan_node_lifecycle([node(kubelet_ready=False)], [], T0 + S).updates
    assert update.ready.status == "False"
    assert [t.key for t in update.taints] == ["node.kubernetes.io/not-ready"]


def test_new_node_without_lease_waits_for_the_startup_grace() -> None:
    fresh = node(created_at=T0, lease_renew_time=None, ready=None)
    plan = plan_node_lifecycle([fresh], [], T0 + 30 * S)
    assert plan.updates == () and plan.next_check_at == T0 + 60 * S
    (update,) = plan_node_lifecycle([fresh], [], T0 + 61 * S).updates
    assert (update.ready.reason, update.ready.message) == (
        "NodeStatusNeverUpdated",
        "Kubelet never posted node status.",
    )


def pod(name: str, *tolerations: Toleration) -> PodView:
    return PodView(uid=name, name=name, node_name="n1", phase="Running", tolerations=tolerations)


@pytest.mark.parametrize(
    ("the_pod", "evict_after"),
    [
        (pod("default"), 300),
        (
            pod(
                "short",
                Toleration(
                    "node.kubernetes.io/unreachable",
                    "Exists",
                    effect="NoExecute",
                    toleration_seconds=30,
                ),
            ),
            30,
        ),
        (
            pod(
                "forever",
                Toleration("node.kubernetes.io/unreachable", "Exists", effect="NoExecute"),
            ),
            None,
        ),
        (pod("all", Toleration(operator="Exists")), None),
        (
            pod(
                "zero",
                Toleration(
                    "node.kubernetes.io/unreachable",
                    "Exists",
                    effect="NoExecute",
                    toleration_seconds=0,
                ),
            ),
            0,
        ),
    ],
)
def test_eviction_after_toleration_seconds(the_pod: PodView, evict_after: int | None) -> None:
    tainted = node(
        ready=Condition("Ready", "Unknown", "NodeStatusUnknown", "x", T0, T0), taints=(UNREACHABLE,)
    )
    added = UNREACHABLE.time_added
    assert added is not None
    for offset in (0, 29, 31, 299, 301, 10_000):
        plan = plan_node_lifecycle([tainted], [the_pod], added + offset * S)
        due = evict_after is not None and offset >= evict_after
        assert bool(plan.evictions) is due, offset
        if due:
            (eviction,) = plan.evictions
            assert eviction.event.reason == "TaintManagerEviction"
            assert eviction.event.message == f"Marking for deletion Pod default/{the_pod.name}"


def test_untolerated_no_execute_taint_evicts_at_once() -> None:
    tainted = node(taints=(Taint("maintenance", "NoExecute", time_added=T0),))
    plan = plan_node_lifecycle([tainted], [pod("p")], T0 + S)
    assert [e.pod.name for e in plan.evictions] == ["p"]


def test_default_tolerations_are_added_once() -> None:
    added = add_default_tolerations(())
    assert {(t.key, t.toleration_seconds) for t in added} == {
        ("node.kubernetes.io/not-ready", 300),
        ("node.kubernetes.io/unreachable", 300),
    }
    assert add_default_tolerations(added) == added
