"""DaemonSet sync as a pure planner: one pod per eligible node, rolled by template hash.

Mirrors pkg/controller/daemon: ``NodeShouldRunDaemonPod`` (node name, nodeSelector, taints with
the DaemonSet's automatic tolerations; an untolerated ``NoSchedule`` taint stops new pods but
keeps running ones, an untolerated ``NoExecute`` one removes them), ``manage``/
``podsShouldBeOnNode`` (create missing pods, delete failed and surplus pods, the oldest pod
stays) and ``rollingUpdate`` with ``maxSurge`` 0 (update.go): delete unavailable old pods at
once, available ones while fewer than ``maxUnavailable`` (rounded up, at least 1) are down.
As with expectations in Kubernetes, the rolling update waits while a sync creates or deletes.
Pods carry the template hash in ``controller-revision-hash``; failed-pod back-off is not modelled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dockyard.controllers.deployment_util import IntOrPercent, scaled_value
from dockyard.controllers.names import pod_template_hash
from dockyard.controllers.replicaset_plan import slow_start_batches
from dockyard.controllers.scheduler_plan import NodeView
from dockyard.controllers.views import (
    Event,
    LabelSelector,
    PodView,
    Toleration,
    find_untolerated_taint,
    is_pod_available,
    selector_matches,
)

__all__ = [
    "CONTROLLER_REVISION_HASH_LABEL",
    "CreateDaemonPod",
    "DaemonSetPlan",
    "DaemonSetStatus",
    "DaemonSetView",
    "daemon_pod_tolerations",
    "node_should_run_daemon_pod",
    "plan_daemonset",
]

CONTROLLER_REVISION_HASH_LABEL = "controller-revision-hash"
BURST_REPLICAS = 250


@dataclass(frozen=True)
class DaemonSetView:
    """A DaemonSet; ``node_selector``/``tolerations``/``host_network``/``node_name`` are the
    template's ``spec`` fields, ``template`` the whole PodTemplateSpec (hashed)."""

    uid: str
    name: str
    namespace: str = "default"
    selector: LabelSelector = field(default_factory=LabelSelector)
    template: Mapping[str, Any] = field(default_factory=dict)
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Toleration, ...] = ()
    host_network: bool = False
    node_name: str = ""
    update_strategy: str = "RollingUpdate"
    max_unavailable: IntOrPercent = 1
    min_ready_seconds: int = 0
    generation: int = 1
    collision_count: int | None = None


@dataclass(frozen=True)
class DaemonSetStatus:
    desired_number_scheduled: int = 0
    current_number_scheduled: int = 0
    number_misscheduled: int = 0
    number_ready: int = 0
    updated_number_scheduled: int = 0
    number_available: int = 0
    number_unavailable: int = 0
    observed_generation: int = 0


@dataclass(frozen=True)
class CreateDaemonPod:
    """Create a pod from the template pinned to ``node_name`` (``matchFields metadata.name``),
    labelled ``controller-revision-hash=<revision_hash>``, with :func:`daemon_pod_tolerations`."""

    node_name: str
    generate_name: str
    revision_hash: str


@dataclass(frozen=True)
class DaemonSetPlan:
    """Create ``create`` in ``batches``, delete ``delete``; ``events`` for failed pods."""

    create: tuple[CreateDaemonPod, ...]
    batches: tuple[int, ...]
    delete: tuple[PodView, ...]
    status: DaemonSetStatus
    events: tuple[Event, ...]


def daemon_pod_tolerations(
    tolerations: Iterable[Toleration], *, host_network: bool = False
) -> tuple[Toleration, ...]:
    """``AddOrUpdateDaemonPodTolerations``: the template's plus the automatic ones."""
    automatic = [
        Toleration("node.kubernetes.io/not-ready", "Exists", effect="NoExecute"),
        Toleration("node.kubernetes.io/unreachable", "Exists", effect="NoExecute"),
        Toleration("node.kubernetes.io/disk-pressure", "Exists", effect="NoSchedule"),
        Toleration("node.kubernetes.io/memory-pressure", "Exists", effect="NoSchedule"),
        Toleration("node.kubernetes.io/pid-pressure", "Exists", effect="NoSchedule"),
        Toleration("node.kubernetes.io/unschedulable", "Exists", effect="NoSchedule"),
    ]
    if host_network:
        automatic.append(
            Toleration("node.kubernetes.io/network-unavailable", "Exists", effect="NoSchedule")
        )
    result = list(tolerations)
    for toleration in automatic:
        if not any((t.key, t.effect) == (toleration.key, toleration.effect) for t in result):
            result.append(toleration)
    return tuple(result)


def node_should_run_daemon_pod(ds: DaemonSetView, node: NodeView) -> tuple[bool, bool]:
    """``NodeShouldRunDaemonPod``: ``(should run, should continue running)``."""
    if ds.node_name and ds.node_name != node.name:
        return False, False
    if any(node.labels.get(key) != value for key, value in ds.node_selector.items()):
        return False, False
    tolerations = daemon_pod_tolerations(ds.tolerations, host_network=ds.host_network)
    if find_untolerated_taint(node.taints, tolerations, ["NoSchedule", "NoExecute"]) is None:
        return True, True
    return False, find_untolerated_taint(node.taints, tolerations, ["NoExecute"]) is None


def _oldest_first(pods: Iterable[PodView]) -> list[PodView]:
    return sorted(pods, key=lambda p: (p.created_at is None, p.created_at or datetime.min, p.name))


def plan_daemonset(
    ds: DaemonSetView, nodes: Sequence[NodeView], pods: Iterable[PodView], now: datetime
) -> DaemonSetPlan:
    """One ``syncDaemonSet``. ``pods`` may include any pods; this DaemonSet's count."""
    revision_hash = pod_template_hash(ds.template, ds.collision_count)
    owned = [p for p in pods if p.owner_uid == ds.uid and selector_matches(ds.selector, p.labels)]
    by_node: dict[str, list[PodView]] = {}
    for pod in owned:
        by_node.setdefault(pod.target_node, []).append(pod)
    creates: list[CreateDaemonPod] = []
    deletes: list[PodView] = []
    events: list[Event] = []
    eligible: list[str] = []
    status = _Counts()
    node_names = {node.name for node in nodes}
    for node in sorted(nodes, key=lambda n: n.name):
        should_run, should_continue = node_should_run_daemon_pod(ds, node)
        node_pods = by_node.get(node.name, [])
        running = [p for p in node_pods if p.deletion_timestamp is None and p.phase != "Failed"]
        status.observe(should_run, running, revision_hash, ds.min_ready_seconds, now)
        if should_run:
            eligible.append(node.name)
            for failed in (
                p for p in node_pods if p.phase == "Failed" and p.deletion_timestamp is None
            ):
                message = (
                    f"Found failed daemon pod {failed.namespace}/{failed.name} on node "
                    f"{node.name}, will try to kill it"
                )
                events.append(
                    Event("FailedDaemonPod", message, "Warning", "DaemonSet", ds.name, ds.namespace)
                )
                deletes.append(failed)
            if not running:
                creates.append(CreateDaemonPod(node.name, f"{ds.name}-", revision_hash))
            else:
                deletes.extend(_oldest_first(running)[1:])
        elif not should_continue:
            deletes.extend(p for p in node_pods if p.deletion_timestamp is None)
    # Pods pinned to nodes that no longer exist (PodGC removes bound ones; these never bound).
    for name, node_pods in sorted(by_node.items()):
        if name not in node_names:
            deletes.extend(p for p in node_pods if p.deletion_timestamp is None)
    creates = creates[:BURST_REPLICAS]
    deletes = deletes[:BURST_REPLICAS]
    if not creates and not deletes and ds.update_strategy == "RollingUpdate":
        deletes = _rolling_update(ds, eligible, by_node, revision_hash, now)
    return DaemonSetPlan(
        tuple(creates),
        tuple(slow_start_batches(len(creates))),
        tuple(deletes),
        status.result(ds.generation),
        tuple(events),
    )


def _rolling_update(
    ds: DaemonSetView,
    eligible: Sequence[str],
    by_node: Mapping[str, Sequence[PodView]],
    revision_hash: str,
    now: datetime,
) -> list[PodView]:
    """``rollingUpdate`` with maxSurge 0: which old pods to delete this sync."""
    max_unavailable = scaled_value(ds.max_unavailable, len(eligible), round_up=True)
    if eligible and max_unavailable == 0:
        max_unavailable = 1
    unavailable = 0
    replace_now: list[PodView] = []
    candidates: list[PodView] = []
    for node_name in eligible:
        running = [p for p in by_node.get(node_name, ()) if p.deletion_timestamp is None]
        new = [p for p in running if p.labels.get(CONTROLLER_REVISION_HASH_LABEL) == revision_hash]
        old = [p for p in running if p not in new]
        if len(new) > 1 or len(old) > 1 or (new and old) or not running:
            unavailable += 1  # left to manage()
        elif new:
            if not is_pod_available(new[0], ds.min_ready_seconds, now):
                unavailable += 1
        elif not is_pod_available(old[0], ds.min_ready_seconds, now):
            replace_now.append(old[0])
            unavailable += 1
        elif unavailable < max_unavailable:
            candidates.append(old[0])
    remaining = max(max_unavailable - unavailable, 0)
    return [*replace_now, *candidates[:remaining]]


@dataclass
class _Counts:
    desired: int = 0
    current: int = 0
    misscheduled: int = 0
    ready: int = 0
    updated: int = 0
    available: int = 0

    def observe(
        self,
        should_run: bool,
        running: Sequence[PodView],
        revision_hash: str,
        min_ready: int,
        now: datetime,
    ) -> None:
        """``updateDaemonSetStatus`` for one node."""
        if not should_run:
            self.misscheduled += 1 if running else 0
            return
        self.desired += 1
        if not running:
            return
        self.current += 1
        pod = _oldest_first(running)[0]
        self.ready += 1 if pod.ready else 0
        self.available += 1 if is_pod_available(pod, min_ready, now) else 0
        self.updated += 1 if pod.labels.get(CONTROLLER_REVISION_HASH_LABEL) == revision_hash else 0

    def result(self, generation: int) -> DaemonSetStatus:
        return DaemonSetStatus(
            desired_number_scheduled=self.desired,
            current_number_scheduled=self.current,
            number_misscheduled=self.misscheduled,
            number_ready=self.ready,
            updated_number_scheduled=self.updated,
            number_available=self.available,
            number_unavailable=self.desired - self.available,
            observed_generation=generation,
        )
