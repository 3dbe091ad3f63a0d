"""Container facts to record: the difference between what the log holds and what runs.

The agent remembers, per container id, the last state it recorded (``created``, ``running``,
``exited``). :func:`container_transitions` compares that with a fresh relist and returns the
events that bring the log up to date, in order (created before started before exited), so a
transition missed while the agent was down (or between two event-stream hints) is recorded
the next time it looks. :func:`recorded_states` rebuilds the memory from the log after a
restart. Pure functions; the worker appends.

A second ``ContainerExited`` for the same container id is a correction and supersedes the
first: an exit recorded as Error whose ``oom`` event came late (agent/oom.py) is recorded again
as OOMKilled. Readers of the log take the latest exit per container id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dockyard.agent.backoff import ContainerRun, crash_loop_key
from dockyard.agent.runtime import ContainerInfo, RuntimeEvent, parse_time
from dockyard.agent.status import format_time, terminated_reason
from dockyard.store.catalogue import EventType
from dockyard.store.event_types_agent import (
    ContainerCreated,
    ContainerEvent,
    ContainerExited,
    ContainerExitedPayload,
    ContainerStarted,
)
from dockyard.store.events import RecordedEvent

__all__ = [
    "PodRef",
    "RecordedContainer",
    "Transition",
    "container_transitions",
    "crash_loop_runs",
    "death_from_event",
    "recorded_states",
]


@dataclass(frozen=True)
class PodRef:
    namespace: str
    name: str
    uid: str
    node: str


@dataclass(frozen=True)
class RecordedContainer:
    state: str  # created | running | exited
    container: str
    restart_count: int
    started_at: str | None = None
    spec_hash: str = ""
    oom_killed: bool = False  # an exited container recorded as OOMKilled


@dataclass(frozen=True)
class Transition:
    event_type: EventType[Any]
    payload: ContainerEvent


def _base(pod: PodRef, info: ContainerInfo) -> dict[str, object]:
    identity = info.identity
    assert identity is not None
    return {
        "namespace": pod.namespace,
        "pod": pod.name,
        "pod_uid": pod.uid,
        "node": pod.node,
        "container": identity.container_name,
        "container_id": info.id,
        "image": info.image,
        "restart_count": identity.restart_count,
        "spec_hash": identity.spec_hash,
        "started_at": format_time(info.started_at),
    }


def _exited(pod: PodRef, info: ContainerInfo) -> ContainerExitedPayload:
    started = info.finished_at is not None
    reason = terminated_reason(
        exit_code=info.exit_code, oom_killed=info.oom_killed, started=started
    ) or ("Completed" if info.exit_code == 0 else "Error")
    return ContainerExitedPayload(
        **_base(pod, info),
        exit_code=info.exit_code,
        signal=info.exit_code - 128 if 128 < info.exit_code < 160 else 0,
        reason=reason,
        message=info.error,
        oom_killed=info.oom_killed,
        finished_at=format_time(info.finished_at),
    )


def death_from_event(
    event: RuntimeEvent, exit_code: int, started_at: str | None, memory_limit_bytes: int
) -> ContainerInfo:
    """A running container's death as its ``die`` event tells it (exit code and time), to
    record before the relist's inspect, which waits for the engine's cleanup. OOMKilled is not
    in the event: the worker sets it from the ``oom`` events it has seen (agent/oom.py)."""
    return ContainerInfo(
        id=event.container_id,
        name=event.attributes.get("name", ""),
        labels=event.attributes,
        identity=event.identity,
        state="exited",
        exit_code=exit_code,
        oom_killed=False,
        started_at=parse_time(started_at),
        finished_at=datetime.fromtimestamp(event.time_nano / 1e9, UTC),
        created_at=None,
        error="",
        image=event.attributes.get("image", ""),
        image_id="",
        ip="",
        docker_status="exited",
        memory_limit_bytes=memory_limit_bytes,
    )


def container_transitions(
    pod: PodRef,
    recorded: Mapping[str, RecordedContainer],
    observed: Sequence[ContainerInfo],
    *,
    removed_by_agent: Iterable[str] = (),
    complete: bool = True,
) -> list[Transition]:
    """``complete=False`` when ``observed`` is a partial look (one inspected container after a
    Docker event): then a recorded container missing from it has not vanished."""
    out: list[Transition] = []
    seen: set[str] = set()
    for info in observed:
        identity = info.identity
        if identity is None or identity.sandbox or identity.pod_uid != pod.uid:
            continue
        seen.add(info.id)
        before = recorded.get(info.id)
        state = before.state if before else None
        if info.state == "created" and state is None:
            out.append(Transition(ContainerCreated, ContainerEvent(**_base(pod, info))))
            continue
        if state is None:
            out.append(Transition(ContainerCreated, ContainerEvent(**_base(pod, info))))
        ran = info.state == "running" or info.started_at is not None
        if state in (None, "created") and ran:
            out.append(Transition(ContainerStarted, ContainerEvent(**_base(pod, info))))
        if info.state == "exited" and state != "exited":
            out.append(Transition(ContainerExited, _exited(pod, info)))
        elif state == "exited" and info.oom_killed and before and not before.oom_killed:
            # The OOM kill became known after the exit was recorded: record it again, right.
            out.append(Transition(ContainerExited, _exited(pod, info)))
    if not complete:
        return out
    removed = set(removed_by_agent)
    for container_id, before in recorded.items():
        if container_id in seen or container_id in removed or before.state == "exited":
            continue
        # Vanished while created or running (removed behind the agent's back): Kubernetes
        # reports ContainerStatusUnknown with exit code 137.
        out.append(
            Transition(
                ContainerExited,
                ContainerExitedPayload(
                    namespace=pod.namespace,
                    pod=pod.name,
                    pod_uid=pod.uid,
                    node=pod.node,
                    container=before.container,
                    container_id=container_id,
                    image="",
                    restart_count=before.restart_count,
                    exit_code=137,
                    signal=0,
                    reason="ContainerStatusUnknown",
                    message="The container could not be located when the pod was terminated",
                ),
            )
        )
    return out


_STATE_OF = {
    "ContainerCreated": "created",
    "ContainerStarted": "running",
    "ContainerExited": "exited",
}


def recorded_states(events: Iterable[RecordedEvent]) -> dict[str, RecordedContainer]:
    """The last recorded state of every container, from a pod's runtime stream."""
    states: dict[str, RecordedContainer] = {}
    for event in events:
        state = _STATE_OF.get(event.type)
        if state is None:
            continue
        data = event.data
        states[str(data["containerID"])] = RecordedContainer(
            state=state,
            container=str(data["container"]),
            restart_count=int(data["restartCount"]),
            started_at=data.get("startedAt"),
            spec_hash=str(data.get("specHash") or ""),
            oom_killed=state == "exited" and bool(data.get("oomKilled")),
        )
    return states


def crash_loop_runs(
    events: Iterable[RecordedEvent], *, pod_name: str, namespace: str, pod_uid: str
) -> dict[str, list[ContainerRun]]:
    """Runs (start, finish) per crash-loop key, to rebuild back-off state after a restart.

    A corrected exit (same container id) is the same run, counted once."""
    runs: dict[str, list[ContainerRun]] = {}
    counted: set[str] = set()
    for event in events:
        if event.type != "ContainerExited":
            continue
        data = event.data
        if data.get("containerID") in counted:
            continue
        counted.add(str(data.get("containerID")))
        started, finished = data.get("startedAt"), data.get("finishedAt")
        if not started or not finished:
            continue
        start_time, finish_time = parse_time(started), parse_time(finished)
        if start_time is None or finish_time is None:
            continue
        key = crash_loop_key(
            pod_name=pod_name,
            namespace=namespace,
            pod_uid=pod_uid,
            container_name=str(data["container"]),
            spec_hash=str(data.get("specHash") or ""),
        )
        runs.setdefault(key, []).append(
            ContainerRun(started_at=start_time.timestamp(), finished_at=finish_time.timestamp())
        )
    return runs
