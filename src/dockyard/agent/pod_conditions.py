"""Pod conditions as the kubelet computes them (status/generate.go; k8s-semantics.md §5):
PodScheduled, Initialized, ContainersReady, Ready, with their reasons, messages and transition
times. Pure functions over the status models of :mod:`dockyard.agent.status`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from dockyard.agent.runtime import parse_time
from dockyard.agent.status import (
    ContainerStatus,
    InitContainer,
    Terminated,
    any_regular_started,
    format_time,
    statuses_by_name,
    without_empty,
)

__all__ = ["PodCondition", "pod_conditions", "with_transition_times"]


@dataclass(frozen=True)
class PodCondition:
    type: str
    status: str  # "True" | "False" | "Unknown"
    reason: str = ""
    message: str = ""
    last_transition_time: datetime | None = None

    @classmethod
    def from_k8s(cls, data: Mapping[str, Any]) -> PodCondition:
        return cls(
            type=data["type"],
            status=data["status"],
            reason=data.get("reason", ""),
            message=data.get("message", ""),
            last_transition_time=parse_time(data.get("lastTransitionTime")),
        )

    def to_k8s(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "status": self.status,
            "lastProbeTime": None,
            "lastTransitionTime": format_time(self.last_transition_time),
            **without_empty({"reason": self.reason, "message": self.message}),
        }


def _condition(kind: str, reason: str, *groups: tuple[str, Sequence[str]]) -> PodCondition:
    """True, or False with ``reason`` and the kubelet's message naming the containers of each
    non-empty group, e.g. ``containers with unknown status: [a b], containers with unready
    status: [c]``."""
    message = ", ".join(
        f"containers with {what} status: [{' '.join(names)}]"  # Go's %s of a []string
        for what, names in groups
        if names
    )
    if message:
        return PodCondition(kind, "False", reason=reason, message=message)
    return PodCondition(kind, "True")


def _initialized(
    phase: str,
    containers: Sequence[str],
    statuses: Sequence[ContainerStatus],
    init_containers: Sequence[InitContainer],
    init_statuses: Sequence[ContainerStatus],
) -> PodCondition:
    if not init_containers:
        return PodCondition("Initialized", "True")
    found = statuses_by_name(init_statuses)
    unknown: list[str] = []
    incomplete: list[str] = []
    for init in init_containers:
        status = found.get(init.name)
        if status is None:
            unknown.append(init.name)
        elif init.restartable:
            if not status.started:
                incomplete.append(init.name)
        elif not (
            status.ready or (isinstance(status.state, Terminated) and status.state.exit_code == 0)
        ):
            incomplete.append(init.name)
    if phase == "Succeeded" and not unknown:
        return PodCondition("Initialized", "True", reason="PodCompleted")
    if any_regular_started(containers, statuses):
        return PodCondition("Initialized", "True")
    return _condition(
        "Initialized", "ContainersNotInitialized", ("unknown", unknown), ("incomplete", incomplete)
    )


def _containers_ready(
    phase: str,
    containers: Sequence[str],
    statuses: Sequence[ContainerStatus],
    init_containers: Sequence[InitContainer],
    init_statuses: Sequence[ContainerStatus],
) -> PodCondition:
    unknown: list[str] = []
    unready: list[str] = []
    init_found = statuses_by_name(init_statuses)
    for init in init_containers:
        if not init.restartable:
            continue
        status = init_found.get(init.name)
        if status is None:
            unknown.append(init.name)
        elif not status.ready:
            unready.append(init.name)
    found = statuses_by_name(statuses)
    for name in containers:
        status = found.get(name)
        if status is None:
            unknown.append(name)
        elif not status.ready:
            unready.append(name)
    if phase == "Succeeded" and not unknown:
        return PodCondition("ContainersReady", "False", reason="PodCompleted")
    if phase == "Failed":
        return PodCondition("ContainersReady", "False", reason="PodFailed")
    return _condition(
        "ContainersReady", "ContainersNotReady", ("unknown", unknown), ("unready", unready)
    )


def pod_conditions(
    *,
    phase: str,
    scheduled: bool,
    containers: Sequence[str],
    statuses: Sequence[ContainerStatus],
    init_containers: Sequence[InitContainer] = (),
    init_statuses: Sequence[ContainerStatus] = (),
    sandbox_ready: bool | None = None,
) -> list[PodCondition]:
    """The kubelet's conditions (status/generate.go), in the order ``kubectl describe`` shows.

    Readiness gates are not supported. ``sandbox_ready`` adds ``PodReadyToStartContainers``.
    Transition times are left empty: see :func:`with_transition_times`.
    """
    args = (phase, containers, statuses, init_containers, init_statuses)
    ready_containers = _containers_ready(*args)
    ready = PodCondition(
        "Ready", ready_containers.status, ready_containers.reason, ready_containers.message
    )
    out = []
    if sandbox_ready is not None:
        out.append(PodCondition("PodReadyToStartContainers", "True" if sandbox_ready else "False"))
    out += [
        _initialized(*args),
        ready,
        ready_containers,
        PodCondition("PodScheduled", "True" if scheduled else "False"),
    ]
    return out


def with_transition_times(
    new: Sequence[PodCondition], old: Sequence[PodCondition], *, now: datetime
) -> list[PodCondition]:
    """Keep ``lastTransitionTime`` of conditions whose status did not change, else ``now``."""
    previous = {c.type: c for c in old}
    out = []
    for condition in new:
        before = previous.get(condition.type)
        if before is not None and before.status == condition.status:
            out.append(replace(condition, last_transition_time=before.last_transition_time))
        else:
            out.append(replace(condition, last_transition_time=now))
    return out
