"""DaemonSet planner (controllers/daemonset_plan.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from dockyard.controllers.daemonset_plan import (
    CONTROLLER_REVISION_HASH_LABEL,
    DaemonSetView,
    daemon_pod_tolerations,
    node_should_run_daemon_pod,
    plan_daemonset,
)
from dockyard.controllers.names import pod_template_hash
from dockyard.controllers.scheduler_plan import NodeView
from dockyard.controllers.views import LabelSelector, PodView, Taint, Toleration

NOW = datetime(2025, 1, 1, tzinfo=UTC)
TEMPLATE = {"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [{"image": "a:1"}]}}
DS = DaemonSetView(
    uid="ds-1",
    name="agent",
    selector=LabelSelector(match_labels={"app": "agent"}),
    template=TEMPLATE,
)
HASH = pod_template_hash(TEMPLATE)


def daemon_pod(node: str, *, hash_value: str = HASH, **kwargs: object) -> PodView:
    fields: dict[str, object] = {
        "uid": f"uid-{node}-{hash_value}",
        "name": f"agent-{node}",
        "labels": {"app": "agent", CONTROLLER_REVISION_HASH_LABEL: hash_value},
        "owner_uid": "ds-1",
        "node_name": node,
        "phase": "Running",
        "ready": True,
        "ready_since": NOW - timedelta(minutes=5),
        "created_at": NOW - timedelta(minutes=10),
    }
    fields.update(kwargs)
    return PodView(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("the_node", "ds", "expected"),
    [
        (NodeView("n"), DS, (True, True)),
        (
            NodeView("n", labels={"role": "edge"}),
            replace(DS, node_selector={"role": "edge"}),
            (True, True),
        ),
        (NodeView("n"), replace(DS, node_selector={"role": "edge"}), (False, False)),
        (NodeView("n"), replace(DS, node_name="other"), (False, False)),
        (NodeView("n", taints=(Taint("gpu", "NoSchedule"),)), DS, (False, True)),
        (NodeView("n", taints=(Taint("gpu", "NoExecute"),)), DS, (False, False)),
        (
            NodeView("n", taints=(Taint("node.kubernetes.io/unreachable", "NoExecute"),)),
            DS,
            (True, True),
        ),
        (
            NodeView(
                "n",
                unschedulable=True,
                taints=(Taint("node.kubernetes.io/unschedulable", "NoSchedule"),),
            ),
            DS,
            (True, True),
        ),
        (
            NodeView("n", taints=(Taint("node.kubernetes.io/network-unavailable", "NoSchedule"),)),
            DS,
            (False, True),
        ),
        (
            NodeView("n", taints=(Taint("node.kubernetes.io/network-unavailable", "NoSchedule"),)),
            replace(DS, host_network=True),
            (True, True),
        ),
        (
            NodeView("n", taints=(Taint("gpu", "NoSchedule"),)),
            replace(DS, tolerations=(Toleration("gpu", "Exists"),)),
            (True, True),
        ),
    ],
)
def test_node_eligibility(
    the_node: NodeView, ds: DaemonSetView, expected: tuple[bool, bool]
) -> None:
    assert node_should_run_daemon_pod(ds, the_node) == expected


def test_automatic_tolerations_never_evict_on_not_ready_or_unreachable() -> None:
    tolerations = daemon_pod_tolerations(())
    keys = {(t.key, t.effect, t.toleration_seconds) for t in tolerations}
    assert ("node.kubernetes.io/not-ready", "NoExecute", None) in keys
    assert ("node.kubernetes.io/unreachable", "NoExecute", None) in keys
    assert len(daemon_pod_tolerations((), host_network=True)) == len(tolerations) + 1


def test_one_pod_per_eligible_node_and_removal_from_ineligible_ones() -> None:
    nodes = [
        NodeView("a"),
        NodeView("b"),
        NodeView("c", taints=(Taint("gpu", "NoExecute"),)),
        NodeView("d", taints=(Taint("gpu", "NoSchedule"),)),
    ]
    pods = [
        daemon_pod("a"),
        daemon_pod("a", uid="dup", created_at=NOW - timedelta(minutes=1)),
        daemon_pod("c"),
        daemon_pod("d"),
        daemon_pod("gone-node"),
    ]
    plan = plan_daemonset(DS, nodes, pods, NOW)
    assert [c.node_name for c in plan.create] == ["b"]
    assert plan.create[0].revision_hash == HASH and plan.create[0].generate_name == "agent-"
    assert sorted(p.uid for p in plan.delete) == sorted(
        ["dup", f"uid-c-{HASH}", f"uid-gone-node-{HASH}"]
    )
    assert plan.status.desired_number_scheduled == 2
    assert plan.status.current_number_scheduled == 1
    assert plan.status.number_misscheduled == 2
    assert plan.status.number_unavailable == 1


def test_failed_daemon_pods_are_replaced_with_a_warning() -> None:
    failed = daemon_pod("a", phase="Failed", ready=False)
    plan = plan_daemonset(DS, [NodeView("a")], [failed], NOW)
    assert plan.delete == (failed,)
    assert [c.node_name for c in plan.create] == ["a"]
    assert [(e.type, e.reason, e.message) for e in plan.events] == [
        (
            "Warning",
            "FailedDaemonPod",
            "Found failed daemon pod default/agent-a on node a, will try to kill it",
        )
    ]


def test_rolling_update_replaces_one_pod_at_a_time() -> None:
    new_template = {**TEMPLATE, "spec": {"containers": [{"image": "a:2"}]}}
    ds = replace(DS, template=new_template, generation=2)
    new_hash = pod_template_hash(new_template)
    nodes = [NodeView(n) for n in "abcd"]
    pods = {n: daemon_pod(n, hash_value="old") for n in "abcd"}
    now = NOW
    for _ in range(40):
        plan = plan_daemonset(ds, nodes, pods.values(), now)
        assert len(plan.delete) <= 1
        for victim in plan.delete:
            del pods[victim.node_name]
        for create in plan.create:
            pods[create.node_name] = daemon_pod(
                create.node_name,
                hash_value=create.revision_hash,
                ready=False,
                ready_since=None,
                created_at=now,
            )
        now += timedelta(seconds=1)
        for name, p in pods.items():
            if not p.ready:
                pods[name] = replace(p, ready=True, ready_since=now)
        unavailable = len(nodes) - sum(1 for p in pods.values() if p.ready)
        assert unavailable <= 1
        updated = [p for p in pods.values() if p.labels[CONTROLLER_REVISION_HASH_LABEL] == new_hash]
        if len(updated) == len(nodes):
            break
    final = plan_daemonset(ds, nodes, pods.values(), now)
    assert final.status.updated_number_scheduled == 4
    assert final.status.number_available == 4
    assert final.create == () and final.delete == ()


def test_unavailable_old_pods_are_replaced_at_once_and_on_delete_waits() -> None:
    nodes = [NodeView(n) for n in "abc"]
    pods = [daemon_pod(n, hash_value="old", ready=n != "a") for n in "abc"]
    plan = plan_daemonset(replace(DS, max_unavailable="100%"), nodes, pods, NOW)
    assert {p.node_name for p in plan.delete} == {"a", "b", "c"}
    plan = plan_daemonset(DS, nodes, pods, NOW)
    assert [p.node_name for p in plan.delete] == ["a"]
    plan = plan_daemonset(replace(DS, update_strategy="OnDelete"), nodes, pods, NOW)
    assert plan.delete == ()
