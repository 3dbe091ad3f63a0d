"""Container states, container statuses and the pod phase as the kubelet computes them: pure
functions over small typed values.

Sources (k8s-semantics.md §2): the dockershim's terminated reasons, kubelet_pods.go ``getPhase``
and ``convertToAPIContainerStatuses``. The conditions built on them are in pod_conditions.py,
kubectl's printing of a pod in pod_print.py.

The functions take typed dataclasses (:class:`ContainerStatus`, :class:`Terminated` ...). Each has
``from_k8s``/``to_k8s`` for the Kubernetes JSON shape (camelCase dicts as in the API).
Restartable init containers (sidecars, ``restartPolicy: Always`` on an init container) follow
the current kubelet rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dockyard.agent.runtime import ContainerInfo, parse_time

__all__ = [
    "ContainerStatus",
    "InitContainer",
    "Running",
    "State",
    "Terminated",
    "Waiting",
    "any_regular_started",
    "container_status",
    "default_waiting_reason",
    "format_time",
    "pod_phase",
    "state_from_runtime",
    "statuses_by_name",
    "terminated_reason",
    "without_empty",
]


def format_time(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with seconds, as Kubernetes serializes ``metav1.Time``."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- container state ------------------------------------------------------------------------


@dataclass(frozen=True)
class Waiting:
    reason: str = ""
    message: str = ""

    def to_k8s(self) -> dict[str, Any]:
        return {"waiting": without_empty({"reason": self.reason, "message": self.message})}


@dataclass(frozen=True)
class Running:
    started_at: datetime | None = None

    def to_k8s(self) -> dict[str, Any]:
        return {"running": without_empty({"startedAt": format_time(self.started_at)})}


@dataclass(frozen=True)
class Terminated:
    exit_code: int
    reason: str = ""
    message: str = ""
    signal: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    container_id: str = ""

    def to_k8s(self) -> dict[str, Any]:
        body = without_empty(
            {
                "reason": self.reason,
                "message": self.message,
                "signal": self.signal,
                "startedAt": format_time(self.started_at),
                "finishedAt": format_time(self.finished_at),
                "containerID": self.container_id,
            }
        )
        return {"terminated": {"exitCode": self.exit_code, **body}}


State = Waiting | Running | Terminated


def without_empty(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v not in (None, "", 0)}


def _state_from_k8s(data: Mapping[str, Any] | None) -> State | None:
    if not data:
        return None
    if data.get("waiting") is not None:
        w = data["waiting"]
        return Waiting(reason=w.get("reason", ""), message=w.get("message", ""))
    if data.get("running") is not None:
        return Running(started_at=parse_time(data["running"].get("startedAt")))
    if data.get("terminated") is not None:
        t = data["terminated"]
        return Terminated(
            exit_code=int(t.get("exitCode", 0)),
            reason=t.get("reason", ""),
            message=t.get("message", ""),
            signal=int(t.get("signal", 0)),
            started_at=parse_time(t.get("startedAt")),
            finished_at=parse_time(t.get("finishedAt")),
            container_id=t.get("containerID", ""),
        )
    return None


@dataclass(frozen=True)
class ContainerStatus:
    """``status.containerStatuses[]``; ``state`` ``None`` means no state reported."""

    name: str
    state: State | None = None
    last_state: Terminated | None = None
    ready: bool = False
    started: bool | None = None
    restart_count: int = 0
    image: str = ""
    image_id: str = ""
    container_id: str = ""

    @classmethod
    def from_k8s(cls, data: Mapping[str, Any]) -> ContainerStatus:
        last = _state_from_k8s(data.get("lastState"))
        return cls(
            name=data["name"],
            state=_state_from_k8s(data.get("state")),
            last_state=last if isinstance(last, Terminated) else None,
            ready=bool(data.get("ready", False)),
            started=data.get("started"),
            restart_count=int(data.get("restartCount", 0)),
            image=data.get("image", ""),
            image_id=data.get("imageID", ""),
            container_id=data.get("containerID", ""),
        )

    def to_k8s(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "state": self.state.to_k8s() if self.state else {},
            "lastState": self.last_state.to_k8s() if self.last_state else {},
            "ready": self.ready,
            "restartCount": self.restart_count,
            "image": self.image,
            "imageID": self.image_id,
        }
        if self.started is not None:
            out["started"] = self.started
        if self.container_id:
            out["containerID"] = self.container_id
        return out


def terminated_reason(*, exit_code: int, oom_killed: bool, started: bool) -> str | None:
    """The dockershim's reason for a stopped container; ``None`` if it is merely created.

    ``started`` is "FinishedAt is not zero". OOMKilled is checked first (exit 137 alone is
    not proof of OOM, docker-engine.md §4).
    """
    if started:
        if oom_killed:
            return "OOMKilled"
        return "Completed" if exit_code == 0 else "Error"
    if exit_code != 0:
        return "ContainerCannotRun"
    return None


def state_from_runtime(info: ContainerInfo) -> State:
    """Map one inspected container to its Kubernetes state."""
    if info.state == "running":
        return Running(started_at=info.started_at)
    if info.docker_status == "vanished":  # see agent/vanished.py: gone behind our back
        return Terminated(
            exit_code=info.exit_code,
            reason="ContainerStatusUnknown",
            message=info.error,
            started_at=info.started_at,
            finished_at=info.finished_at,
            container_id=f"docker://{info.id}",
        )
    reason = terminated_reason(
        exit_code=info.exit_code, oom_killed=info.oom_killed, started=info.finished_at is not None
    )
    if reason is None:
        return Waiting(reason="ContainerCreating")
    return Terminated(
        exit_code=info.exit_code,
        reason=reason,
        message=info.error,
        started_at=info.started_at,
        finished_at=info.finished_at,
        container_id=f"docker://{info.id}",
    )


def default_waiting_reason(*, has_init_containers: bool) -> str:
    return "PodInitializing" if has_init_containers else "ContainerCreating"


def container_status(
    name: str,
    instances: Sequence[ContainerInfo],
    *,
    image: str,
    ready: bool = False,
    started: bool | None = None,
    failed_sync: Waiting | None = None,
    has_init_containers: bool = False,
) -> ContainerStatus:
    """``convertToAPIContainerStatuses`` for one container.

    ``instances`` newest first (``runtime.instances_of``): the newest gives ``state`` and
    ``restartCount``, the next one ``lastState``. ``failed_sync`` is the reason cache entry of
    the last failed start (``CrashLoopBackOff``, ``ErrImagePull`` ...): it replaces a terminated
    state, which then moves to ``lastState``.
    """
    if not instances:
        waiting = failed_sync or Waiting(
            reason=default_waiting_reason(has_init_containers=has_init_containers)
        )
        return ContainerStatus(name=name, state=waiting, image=image, started=False)
    newest = instances[0]
    state = state_from_runtime(newest)
    last: Terminated | None = None
    if len(instances) > 1:
        previous = state_from_runtime(instances[1])
        last = previous if isinstance(previous, Terminated) else None
    if failed_sync is not None and not isinstance(state, Running):
        if isinstance(state, Terminated):
            last = state
        state = failed_sync
    running = isinstance(state, Running)
    return ContainerStatus(
        name=name,
        state=state,
        last_state=last,
        ready=ready and running,
        started=(started if started is not None else running) if running else False,
        restart_count=newest.identity.restart_count if newest.identity else 0,
        image=image,
        image_id=newest.image_id,
        container_id=f"docker://{newest.id}",
    )


# --- phase ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class InitContainer:
    name: str
    restartable: bool = False  # a sidecar: init container with restartPolicy Always


def statuses_by_name(statuses: Sequence[ContainerStatus]) -> dict[str, ContainerStatus]:
    return {s.name: s for s in statuses}


def any_regular_started(containers: Sequence[str], statuses: Sequence[ContainerStatus]) -> bool:
    found = statuses_by_name(statuses)
    return any(
        isinstance(found[name].state, Running | Terminated) for name in containers if name in found
    )


def pod_phase(
    *,
    restart_policy: str,
    containers: Sequence[str],
    statuses: Sequence[ContainerStatus],
    init_containers: Sequence[InitContainer] = (),
    init_statuses: Sequence[ContainerStatus] = (),
    pod_is_terminal: bool = False,
) -> str:
    """kubelet ``getPhase`` (k8s-semantics.md §2) for a non-static pod."""
    init_found = statuses_by_name(init_statuses)
    pending_init = pending_sidecars = failed_init = 0
    unknown = running = waiting = stopped = succeeded = 0
    for init in init_containers:
        status = init_found.get(init.name)
        state = status.state if status else None
        if init.restartable:
            if status is None:
                unknown += 1
            elif isinstance(state, Running):
                pending_sidecars += 0 if status.started else 1
                running += 1
            elif isinstance(state, Terminated) or status.last_state is not None:
                pass  # a stopped sidecar does not count
            elif isinstance(state, Waiting):
                pending_sidecars += 1
                waiting += 1
            else:
                pending_sidecars += 1
                unknown += 1
            continue
        if status is None or isinstance(state, Running) or state is None:
            pending_init += 1
        elif isinstance(state, Terminated):
            failed_init += state.exit_code != 0
        elif status.last_state is not None:
            failed_init += status.last_state.exit_code != 0
        else:
            pending_init += 1

    found = statuses_by_name(statuses)
    for name in containers:
        status = found.get(name)
        state = status.state if status else None
        if status is None or state is None:
            unknown += 1
        elif isinstance(state, Running):
            running += 1
        elif isinstance(state, Terminated):
            stopped += 1
            succeeded += state.exit_code == 0
        elif status.last_state is not None:
            stopped += 1
        else:
            waiting += 1

    if failed_init > 0 and restart_policy == "Never":
        return "Failed"
    started = any_regular_started(containers, statuses)
    if (pending_init > 0 and not started) or (pending_sidecars > 0 and not started) or waiting:
        return "Pending"
    if running > 0 and unknown == 0:
        return "Running"
    if running == 0 and stopped > 0 and unknown == 0:
        if pod_is_terminal:
            return "Succeeded" if stopped == succeeded else "Failed"
        if restart_policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if restart_policy == "Never":
            return "Failed"
        return "Running"
    return "Pending"
