"""The pod's ``status`` as the agent writes it, from observed containers (pure).

Built with :mod:`dockyard.agent.status` (the kubelet's rules); this module only assembles the
Kubernetes JSON (phase, conditions, containerStatuses, podIP, hostIP, startTime) and decides
whether it changed enough to be written: transition times are carried over, so an unchanged
pod compares equal and nothing is written on a relist. :func:`unpublished_deaths` says which
container deaths no written status has shown yet: the worker writes those as terminated states
before a waiting reason (CrashLoopBackOff) or the next instance replaces them, as the kubelet
does by generating the status before it acts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from dockyard.agent.desired import DesiredPod
from dockyard.agent.pod_conditions import PodCondition, pod_conditions, with_transition_times
from dockyard.agent.runtime import ContainerInfo, instances_of
from dockyard.agent.status import (
    Running,
    Terminated,
    Waiting,
    container_status,
    format_time,
    pod_phase,
    state_from_runtime,
)

__all__ = ["compute_status", "status_changed", "unpublished_deaths"]

_TERMINAL = ("Succeeded", "Failed")


def compute_status(
    pod: DesiredPod,
    observed: Sequence[ContainerInfo],
    *,
    previous: Mapping[str, Any] | None,
    failed_sync: Mapping[str, Waiting],
    ready: Callable[[str], bool],
    started: Callable[[str], bool],
    host_ip: str,
    pod_ip: str,
    now: datetime | None = None,
    pod_is_terminal: bool = False,
) -> dict[str, Any]:
    """``pod_is_terminal``: the pod was deleted and its containers are stopped; since
    Kubernetes 1.27 it then gets Succeeded (every container exited 0) or Failed before the API
    object goes (k8s-semantics.md §2)."""
    now = now or datetime.now(UTC)
    previous = previous or {}
    statuses = []
    for container in pod.containers:
        found = instances_of(observed, pod_uid=pod.uid, container_name=container.name)
        newest = found[0] if found else None
        statuses.append(
            container_status(
                container.name,
                found,
                image=container.image,
                ready=ready(newest.id) if newest is not None else False,
                started=started(newest.id) if newest is not None else None,
                failed_sync=failed_sync.get(container.name),
            )
        )
    phase = pod_phase(
        restart_policy=pod.restart_policy,
        containers=[c.name for c in pod.containers],
        statuses=statuses,
        pod_is_terminal=pod_is_terminal,
    )
    if pod_is_terminal and phase not in _TERMINAL:
        phase = "Failed"  # stopped before every container ran to completion
    if previous.get("phase") in _TERMINAL:
        phase = previous["phase"]  # terminal phases are final (generateAPIPodStatus)
    conditions = pod_conditions(
        phase=phase,
        scheduled=True,
        containers=[c.name for c in pod.containers],
        statuses=statuses,
    )
    old = [PodCondition.from_k8s(c) for c in previous.get("conditions") or ()]
    conditions = with_transition_times(conditions, old, now=now)
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": [c.to_k8s() for c in conditions],
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}] if host_ip else [],
        "startTime": previous.get("startTime") or format_time(now),
        "containerStatuses": [s.to_k8s() for s in statuses],
    }
    if pod_ip:
        status["podIP"] = pod_ip
        status["podIPs"] = [{"ip": pod_ip}]
    elif previous.get("podIP") and any(isinstance(s.state, Running) for s in statuses):
        status["podIP"] = previous["podIP"]
        status["podIPs"] = previous.get("podIPs") or [{"ip": previous["podIP"]}]
    return status


def status_changed(previous: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    if not previous:
        return True
    return dict(previous) != dict(new)


def unpublished_deaths(
    pod: DesiredPod, observed: Sequence[ContainerInfo], previous: Mapping[str, Any] | None
) -> set[str]:
    """Containers whose newest instance has ended without any written status showing it.

    A death counts as shown once a status carried that instance as ``state.terminated`` or
    ``lastState.terminated`` (an agent restarted from the pod's stored status does not write
    it again). Without this, a container seen running that dies into its crash back-off goes
    from running straight to CrashLoopBackOff, and whoever watches statuses (the notifier)
    learns of the death only from a ``lastState`` or at the next restart.
    """
    shown = _shown_terminations((previous or {}).get("containerStatuses") or ())
    found: set[str] = set()
    for container in pod.containers:
        instances = instances_of(observed, pod_uid=pod.uid, container_name=container.name)
        if not instances:
            continue
        state = state_from_runtime(instances[0])
        if isinstance(state, Terminated) and state.container_id not in shown:
            found.add(container.name)
    return found


def _shown_terminations(statuses: Iterable[Mapping[str, Any]]) -> set[str]:
    shown: set[str] = set()
    for status in statuses:
        for field in ("state", "lastState"):
            terminated = (status.get(field) or {}).get("terminated") or {}
            if terminated.get("containerID"):
                shown.add(str(terminated["containerID"]))
    return shown
