"""Node lifecycle as a pure planner: Ready from lease age, NoExecute taints, taint eviction.

Mirrors pkg/controller/nodelifecycle (``tryUpdateNodeHealth``, ``doNoExecuteTaintingPass``) and
the taint-eviction controller (pkg/controller/tainteviction): a node whose lease was not renewed
for the grace period (``--node-monitor-grace-period``, 50 s from 1.32; 60 s
``--node-startup-grace-period`` for a node that never renewed) turns Ready ``Unknown``
(``NodeStatusUnknown``, ``Kubelet stopped posting node status.``) and gets the
``node.kubernetes.io/unreachable:NoExecute`` taint; a node whose kubelet reports not ready gets
``node.kubernetes.io/not-ready:NoExecute``. Pods that do not tolerate the taint are evicted at
once; those that do, after their ``tolerationSeconds`` counted from the taint's ``timeAdded``.

Only changes are planned: a renewal of a fresh lease yields an empty plan, so the log records
transitions, never heartbeats. ``next_check_at`` tells the executor when to look again.
A pod without a not-ready/unreachable ``NoExecute`` toleration is treated as having the 300 s
ones the DefaultTolerationSeconds admission plugin adds to every pod.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from dockyard.controllers.views import Condition, Event, PodView, Taint, Toleration

__all__ = [
    "DEFAULT_TOLERATION_SECONDS",
    "NODE_MONITOR_GRACE_PERIOD",
    "NODE_STARTUP_GRACE_PERIOD",
    "NOT_READY_TAINT_KEY",
    "UNREACHABLE_TAINT_KEY",
    "EvictPod",
    "NodeHealthView",
    "NodeLifecyclePlan",
    "NodeUpdate",
    "add_default_tolerations",
    "plan_node_lifecycle",
]

NODE_MONITOR_GRACE_PERIOD = timedelta(seconds=50)
NODE_STARTUP_GRACE_PERIOD = timedelta(seconds=60)
DEFAULT_TOLERATION_SECONDS = 300
NOT_READY_TAINT_KEY = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT_KEY = "node.kubernetes.io/unreachable"


@dataclass(frozen=True)
class NodeHealthView:
    """A node's health inputs: its lease, what its kubelet last reported, its current state."""

    name: str
    created_at: datetime
    lease_renew_time: datetime | None = None
    kubelet_ready: bool = True
    ready: Condition | None = None
    taints: tuple[Taint, ...] = ()


@dataclass(frozen=True)
class NodeUpdate:
    """New Ready condition and taints of a node that changed, with its transition event."""

    name: str
    ready: Condition
    taints: tuple[Taint, ...]
    event: Event | None


@dataclass(frozen=True)
class EvictPod:
    """Delete a pod from a tainted node (``TaintManagerEviction``)."""

    pod: PodView
    event: Event


@dataclass(frozen=True)
class NodeLifecyclePlan:
    updates: tuple[NodeUpdate, ...]
    evictions: tuple[EvictPod, ...]
    next_check_at: datetime | None


def add_default_tolerations(tolerations: Iterable[Toleration]) -> tuple[Toleration, ...]:
    """The DefaultTolerationSeconds admission plugin: 300 s for not-ready and unreachable."""
    result = list(tolerations)
    for key in (NOT_READY_TAINT_KEY, UNREACHABLE_TAINT_KEY):
        probe = Taint(key, "NoExecute")
        if not any(t.tolerates(probe) for t in result):
            result.append(Toleration(key, "Exists", "", "NoExecute", DEFAULT_TOLERATION_SECONDS))
    return tuple(result)


def _desired_ready(
    node: NodeHealthView, now: datetime, grace: timedelta, startup_grace: timedelta
) -> Condition:
    previous = node.ready
    if node.lease_renew_time is None:
        fresh = now <= node.created_at + startup_grace
        silent_reason = ("NodeStatusNeverUpdated", "Kubelet never posted node status.")
    else:
        fresh = now <= node.lease_renew_time + grace
        silent_reason = ("NodeStatusUnknown", "Kubelet stopped posting node status.")
    if not fresh:
        status, (reason, message) = "Unknown", silent_reason
    elif node.kubelet_ready:
        status, reason, message = "True", "KubeletReady", "kubelet is posting ready status"
    else:
        status, reason, message = "False", "KubeletNotReady", "kubelet is not ready"
    if previous is not None and previous.status == status:
        return previous
    return Condition("Ready", status, reason, message, now, now)


def _desired_taints(node: NodeHealthView, ready: Condition, now: datetime) -> tuple[Taint, ...]:
    wanted = {"False": NOT_READY_TAINT_KEY, "Unknown": UNREACHABLE_TAINT_KEY}.get(ready.status)
    managed = (NOT_READY_TAINT_KEY, UNREACHABLE_TAINT_KEY)
    kept = tuple(
        t for t in node.taints if t.effect != "NoExecute" or t.key not in managed or t.key == wanted
    )
    if wanted is None or any(t.key == wanted and t.effect == "NoExecute" for t in kept):
        return kept
    return (*kept, Taint(wanted, "NoExecute", time_added=now))


def _eviction_time(pod: PodView, taints: Sequence[Taint], now: datetime) -> datetime | None:
    """When the pod must go because of the node's NoExecute taints (None: never)."""
    tolerations = add_default_tolerations(pod.tolerations)
    due: datetime | None = None
    for taint in taints:
        if taint.effect != "NoExecute":
            continue
        matching = [t for t in tolerations if t.tolerates(taint)]
        if not matching:
            return now
        bounded = [t.toleration_seconds for t in matching if t.toleration_seconds is not None]
        if not bounded:
            continue  # tolerated forever
        # getMinTolerationTime: the shortest matching toleration wins; <= 0 means at once.
        start = taint.time_added or now
        at = start + timedelta(seconds=max(min(bounded), 0))
        due = at if due is None or at < due else due
    return due


def plan_node_lifecycle(
    nodes: Iterable[NodeHealthView],
    pods: Iterable[PodView],
    now: datetime,
    *,
    grace_period: timedelta = NODE_MONITOR_GRACE_PERIOD,
    startup_grace_period: timedelta = NODE_STARTUP_GRACE_PERIOD,
) -> NodeLifecyclePlan:
    """One monitor pass over all nodes and the pods bound to them."""
    pods_by_node: dict[str, list[PodView]] = {}
    for pod in pods:
        if pod.node_name and pod.deletion_timestamp is None:
            pods_by_node.setdefault(pod.node_name, []).append(pod)
    updates: list[NodeUpdate] = []
    evictions: list[EvictPod] = []
    checks: list[datetime] = []
    for node in sorted(nodes, key=lambda n: n.name):
        if node.lease_renew_time is None and now <= node.created_at + startup_grace_period:
            # Registered but not heard from yet: leave it alone until the startup grace ends.
            checks.append(node.created_at + startup_grace_period)
            continue
        ready = _desired_ready(node, now, grace_period, startup_grace_period)
        taints = _desired_taints(node, ready, now)
        if ready != node.ready or taints != node.taints:
            event = None
            if node.ready is None or ready.status != node.ready.status:
                word = "NodeReady" if ready.status == "True" else "NodeNotReady"
                event = Event(
                    word, f"Node {node.name} status is now: {word}", "Normal", "Node", node.name
                )
            updates.append(NodeUpdate(node.name, ready, taints, event))
        if node.lease_renew_time is not None and ready.status != "Unknown":
            checks.append(node.lease_renew_time + grace_period)
        for pod in sorted(pods_by_node.get(node.name, []), key=lambda p: (p.namespace, p.name)):
            due = _eviction_time(pod, taints, now)
            if due is None:
                continue
            if due <= now:
                message = f"Marking for deletion Pod {pod.namespace}/{pod.name}"
                event = Event(
                    "TaintManagerEviction", message, "Normal", "Pod", pod.name, pod.namespace
                )
                evictions.append(EvictPod(pod, event))
            else:
                checks.append(due)
    return NodeLifecyclePlan(tuple(updates), tuple(evictions), min(checks, default=None))
