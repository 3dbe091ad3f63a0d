"""kubectl's view of a pod (printers.go ``printPod``; k8s-semantics.md §12): the NAME, READY,
STATUS, RESTARTS (``3 (2m ago)``) and AGE columns, and apimachinery's ``duration.HumanDuration``
and ``ShortHumanDuration``. Pure functions over the status models of :mod:`dockyard.agent.status`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dockyard.agent.pod_conditions import PodCondition
from dockyard.agent.runtime import parse_time
from dockyard.agent.status import ContainerStatus, InitContainer, Running, Terminated, Waiting

__all__ = [
    "PodRow",
    "PodView",
    "human_duration",
    "kubectl_pod_row",
    "print_pod",
    "short_human_duration",
]


@dataclass(frozen=True)
class PodView:
    """What ``printPod`` reads from a pod."""

    name: str
    phase: str = "Pending"
    reason: str = ""
    containers: tuple[str, ...] = ()
    init_containers: tuple[InitContainer, ...] = ()
    statuses: tuple[ContainerStatus, ...] = ()
    init_statuses: tuple[ContainerStatus, ...] = ()
    conditions: tuple[PodCondition, ...] = ()
    creation_timestamp: datetime | None = None
    deletion_timestamp: datetime | None = None

    @classmethod
    def from_k8s(cls, pod: Mapping[str, Any]) -> PodView:
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        status = pod.get("status") or {}
        return cls(
            name=meta.get("name", ""),
            phase=status.get("phase", "Pending"),
            reason=status.get("reason", ""),
            containers=tuple(c["name"] for c in spec.get("containers") or ()),
            init_containers=tuple(
                InitContainer(c["name"], restartable=c.get("restartPolicy") == "Always")
                for c in spec.get("initContainers") or ()
            ),
            statuses=tuple(
                ContainerStatus.from_k8s(s) for s in status.get("containerStatuses") or ()
            ),
            init_statuses=tuple(
                ContainerStatus.from_k8s(s) for s in status.get("initContainerStatuses") or ()
            ),
            conditions=tuple(PodCondition.from_k8s(c) for c in status.get("conditions") or ()),
            creation_timestamp=parse_time(meta.get("creationTimestamp")),
            deletion_timestamp=parse_time(meta.get("deletionTimestamp")),
        )


@dataclass(frozen=True)
class PodRow:
    """The default ``kubectl get pods`` columns."""

    name: str
    ready: str
    status: str
    restarts: str
    age: str


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _since(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "<unknown>"
    return human_duration((now - moment).total_seconds())


def _terminated_label(state: Terminated, prefix: str = "") -> str:
    if state.reason:
        return prefix + state.reason
    if state.signal:
        return f"{prefix}Signal:{state.signal}"
    return f"{prefix}ExitCode:{state.exit_code}"


def print_pod(pod: PodView, *, now: datetime) -> PodRow:
    """kubectl ``printPod``: NAME, READY, STATUS, RESTARTS (``N (2m ago)``), AGE."""
    restarts = sidecar_restarts = ready_count = 0
    total = len(pod.containers) + sum(1 for c in pod.init_containers if c.restartable)
    last_restart: datetime | None = None
    last_sidecar_restart: datetime | None = None
    reason = pod.reason or pod.phase
    for condition in pod.conditions:
        if condition.type == "PodScheduled" and condition.reason == "SchedulingGated":
            reason = "SchedulingGated"

    restartable = {c.name for c in pod.init_containers if c.restartable}
    initializing = False
    for index, status in enumerate(pod.init_statuses):
        restarts += status.restart_count
        finished = status.last_state.finished_at if status.last_state else None
        last_restart = _later(last_restart, finished)
        if status.name in restartable:
            sidecar_restarts += status.restart_count
            last_sidecar_restart = _later(last_sidecar_restart, finished)
        state = status.state
        if isinstance(state, Terminated) and state.exit_code == 0:
            continue
        if status.name in restartable and status.started:
            ready_count += status.ready
            continue
        initializing = True
        if isinstance(state, Terminated):
            reason = _terminated_label(state, "Init:")
        elif isinstance(state, Waiting) and state.reason and state.reason != "PodInitializing":
            reason = "Init:" + state.reason
        else:
            reason = f"Init:{index}/{len(pod.init_containers)}"
        break

    initialized = any(c.type == "Initialized" and c.status == "True" for c in pod.conditions)
    if not initializing or initialized:
        restarts, last_restart = sidecar_restarts, last_sidecar_restart
        has_running = False
        for status in reversed(pod.statuses):
            restarts += status.restart_count
            if status.last_state is not None:
                last_restart = _later(last_restart, status.last_state.finished_at)
            state = status.state
            if isinstance(state, Waiting) and state.reason:
                reason = state.reason
            elif isinstance(state, Terminated):
                reason = _terminated_label(state)
            elif status.ready and isinstance(state, Running):
                has_running = True
                ready_count += 1
        if reason == "Completed" and has_running:
            pod_ready = any(c.type == "Ready" and c.status == "True" for c in pod.conditions)
            reason = "Running" if pod_ready else "NotReady"

    if pod.deletion_timestamp is not None and pod.reason == "NodeLost":
        reason = "Unknown"
    elif pod.deletion_timestamp is not None and pod.phase not in ("Succeeded", "Failed"):
        reason = "Terminating"

    restarts_text = str(restarts)
    if restarts != 0 and last_restart is not None:
        restarts_text = f"{restarts} ({_since(last_restart, now)} ago)"
    return PodRow(
        name=pod.name,
        ready=f"{ready_count}/{total}",
        status=reason,
        restarts=restarts_text,
        age=_since(pod.creation_timestamp, now),
    )


def kubectl_pod_row(pod: Mapping[str, Any], *, now: datetime) -> PodRow:
    """:func:`print_pod` over a pod in its Kubernetes JSON shape."""
    return print_pod(PodView.from_k8s(pod), now=now)


def human_duration(seconds: float) -> str:
    """apimachinery ``duration.HumanDuration`` (AGE, RESTARTS): ``45s``, ``5m``, ``3h``, ``2d``,
    with a second unit where it adds precision (``2m5s``, ``4h30m``, ``3d4h``, ``2y5d``)."""
    whole = int(seconds)  # Go's int() truncates toward zero
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 60 * 2:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        rest = whole % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if rest == 0 else f"{years}y{rest}d"
    return f"{hours // 24 // 365}y"


def short_human_duration(seconds: float) -> str:
    """apimachinery ``duration.ShortHumanDuration``: one unit only."""
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 60:
        return f"{whole}s"
    if whole // 60 < 60:
        return f"{whole // 60}m"
    hours = whole // 3600
    if hours < 24:
        return f"{hours}h"
    if hours < 24 * 365:
        return f"{hours // 24}d"
    return f"{hours // 24 // 365}y"
