"""Pod status as the kubelet and kubectl compute it: pure functions over small typed values.

Sources (k8s-semantics.md §2, §5, §12): the dockershim's terminated reasons, kubelet_pods.go
``getPhase`` and ``convertToAPIContainerStatuses``, status/generate.go for the conditions,
printers.go ``printPod`` for kubectl's STATUS/READY/RESTARTS and apimachinery's
``duration.HumanDuration``.

The functions take typed dataclasses (:class:`ContainerStatus`, :class:`PodView` ...). Each has
``from_k8s``/``to_k8s`` for the Kubernetes JSON shape (camelCase dicts as in the API), so
callers holding pod JSON use :func:`kubectl_pod_row` or ``PodView.from_k8s(pod)`` directly.
Restartable init containers (sidecars, ``restartPolicy: Always`` on an init container) follow
the current kubelet rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from dockyard.agent.runtime import ContainerInfo, parse_time

__all__ = [
    "ContainerStatus",
    "InitContainer",
    "PodCondition",
    "PodRow",
    "PodView",
    "Running",
    "State",
    "Terminated",
    "Waiting",
    "container_status",
    "default_waiting_reason",
    "format_time",
    "human_duration",
    "kubectl_pod_row",
    "pod_conditions",
    "pod_phase",
    "print_pod",
    "short_human_duration",
    "state_from_runtime",
    "terminated_reason",
    "with_transition_times",
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
        return {"waiting": _compact({"reason": self.reason, "message": self.message})}


@dataclass(frozen=True)
class Running:
    started_at: datetime | None = None

    def to_k8s(self) -> dict[str, Any]:
        return {"running": _compact({"startedAt": format_time(self.started_at)})}


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
        body = _compact(
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


def _compact(values: Mapping[str, Any]) -> dict[str, Any]:
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


def _by_name(statuses: Sequence[ContainerStatus]) -> dict[str, ContainerStatus]:
    return {s.name: s for s in statuses}


def _any_regular_started(containers: Sequence[str], statuses: Sequence[ContainerStatus]) -> bool:
    found = _by_name(statuses)
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
    init_found = _by_name(init_statuses)
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

    found = _by_name(statuses)
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
    started = _any_regular_started(containers, statuses)
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


# --- conditions -----------------------------------------------------------------------------


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
            **_compact({"reason": self.reason, "message": self.message}),
        }


def _go_list(names: Sequence[str]) -> str:
    return "[" + " ".join(names) + "]"  # Go's %s of a []string


def _initialized(
    phase: str,
    containers: Sequence[str],
    statuses: Sequence[ContainerStatus],
    init_containers: Sequence[InitContainer],
    init_statuses: Sequence[ContainerStatus],
) -> PodCondition:
    if not init_containers:
        return PodCondition("Initialized", "True")
    found = _by_name(init_statuses)
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
    if _any_regular_started(containers, statuses):
        return PodCondition("Initialized", "True")
    messages = []
    if unknown:
        messages.append(f"containers with unknown status: {_go_list(unknown)}")
    if incomplete:
        messages.append(f"containers with incomplete status: {_go_list(incomplete)}")
    if messages:
        return PodCondition(
            "Initialized", "False", reason="ContainersNotInitialized", message=", ".join(messages)
        )
    return PodCondition("Initialized", "True")


def _containers_ready(
    phase: str,
    containers: Sequence[str],
    statuses: Sequence[ContainerStatus],
    init_containers: Sequence[InitContainer],
    init_statuses: Sequence[ContainerStatus],
) -> PodCondition:
    unknown: list[str] = []
    unready: list[str] = []
    init_found = _by_name(init_statuses)
    for init in init_containers:
        if not init.restartable:
            continue
        status = init_found.get(init.name)
        if status is None:
            unknown.append(init.name)
        elif not status.ready:
            unready.append(init.name)
    found = _by_name(statuses)
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
    messages = []
    if unknown:
        messages.append(f"containers with unknown status: {_go_list(unknown)}")
    if unready:
        messages.append(f"containers with unready status: {_go_list(unready)}")
    if messages:
        return PodCondition(
            "ContainersReady", "False", reason="ContainersNotReady", message=", ".join(messages)
        )
    return PodCondition("ContainersReady", "True")


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


# --- kubectl --------------------------------------------------------------------------------


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
