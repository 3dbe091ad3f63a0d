"""Containers that vanished behind the agent's back (``docker rm -f``), as Kubernetes shows them.

The kubelet reports a container that was recorded but is no longer known to the runtime as
terminated with reason ``ContainerStatusUnknown`` and exit code 137, and its replacement gets
restartCount + 1 (k8s-semantics.md §2), unless the pod is being deleted. The agent does the
same by standing in a synthetic exited :class:`ContainerInfo` for each vanished instance: the
planner then applies the restart policy and back-off to it like to any exit, and the status
shows it as ``state`` (no replacement yet) or ``lastState``. Pure; the worker keeps the result
between passes so the synthetic ``finishedAt`` (when the agent noticed) stays put.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from dockyard.agent.facts import PodRef, RecordedContainer
from dockyard.agent.runtime import ContainerIdentity, ContainerInfo, parse_time

__all__ = ["VANISHED_MESSAGE", "VANISHED_STATUS", "vanished_instances"]

# ``docker_status`` of a synthetic instance: no engine reports it.
VANISHED_STATUS = "vanished"
# kubelet_pods.go convertToAPIContainerStatuses, for a container missing from the runtime.
VANISHED_MESSAGE = (
    "The container could not be located when the pod was deleted.  The container used to be Running"
)
VANISHED_EXIT_CODE = 137


def vanished_instances(
    pod: PodRef,
    *,
    deleting: bool,
    recorded: Mapping[str, RecordedContainer],
    observed: Sequence[ContainerInfo],
    removed_by_agent: Iterable[str],
    known: Mapping[str, ContainerInfo],
    now: datetime,
) -> dict[str, ContainerInfo]:
    """Synthetic instances (by container id) of the recorded containers a complete relist no
    longer shows and the agent did not remove; ``known`` is the previous pass's result."""
    if deleting:
        return {}
    present = {c.id for c in observed}
    removed = set(removed_by_agent)
    out: dict[str, ContainerInfo] = {}
    for container_id, before in recorded.items():
        if container_id in present or container_id in removed or before.state == "created":
            continue
        out[container_id] = known.get(container_id) or _synthetic(pod, container_id, before, now)
    return out


def _synthetic(
    pod: PodRef, container_id: str, before: RecordedContainer, now: datetime
) -> ContainerInfo:
    identity = ContainerIdentity(
        pod_uid=pod.uid,
        namespace=pod.namespace,
        pod_name=pod.name,
        container_name=before.container,
        spec_hash=before.spec_hash,
        restart_count=before.restart_count,
        sandbox=False,
    )
    return ContainerInfo(
        id=container_id,
        name="",
        labels={},
        identity=identity,
        state="exited",
        exit_code=VANISHED_EXIT_CODE,
        oom_killed=False,
        started_at=parse_time(before.started_at),
        finished_at=now,
        created_at=parse_time(before.started_at) or now,
        error=VANISHED_MESSAGE,
        image="",
        image_id="",
        ip="",
        docker_status=VANISHED_STATUS,
    )
