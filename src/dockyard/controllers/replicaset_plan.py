"""ReplicaSet / ReplicationController sync as a pure planner.

Mirrors pkg/controller/replicaset/replica_set.go ``syncReplicaSet`` + ``manageReplicas`` and
pkg/controller/controller_utils.go (``ClaimPods``, ``FilterActivePods``, ``ActivePodsWithRanks``,
``getPodsRankedByRelatedPodsOnSameNode``): claim pods (adopt matching orphans, release owned pods
that stopped matching), then create or delete the difference to ``spec.replicas``, at most
``burst`` (500) per sync, creates in slow-start batches 1, 2, 4 … . The status is computed from
the claimed pods, as ``calculateStatus`` does, before the planned actions take effect.

ReplicationController uses the same code with an equality selector
(``LabelSelector(match_labels=...)``) and ``kind="ReplicationController"``.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from dockyard.controllers.views import (
    Event,
    PodView,
    ReplicaSetStatus,
    ReplicaSetView,
    is_pod_active,
    is_pod_available,
    selector_matches,
)

__all__ = [
    "BURST_REPLICAS",
    "CreatePods",
    "ReplicaSetPlan",
    "claim_pods",
    "deleted_pod_event",
    "created_pod_event",
    "plan_replicaset",
    "rank_pods_for_deletion",
    "replicaset_status",
    "slow_start_batches",
]

BURST_REPLICAS = 500
SLOW_START_INITIAL_BATCH_SIZE = 1

# podPhaseToOrdinal: terminal phases never reach the ranking (only active pods are ranked).
_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


@dataclass(frozen=True)
class CreatePods:
    """Create ``count`` pods from the template, named ``generate_name`` + 5 random characters,
    in ``batches`` (stop at the first batch with an error, as ``slowStartBatch`` does)."""

    count: int
    generate_name: str
    batches: tuple[int, ...]


@dataclass(frozen=True)
class ReplicaSetPlan:
    """What one sync decided. Execute in order: adopt, release, create, delete, status.

    ``events`` holds the ``SuccessfulDelete`` events; ``SuccessfulCreate`` needs the generated
    name, so the executor records it with :func:`created_pod_event` after each create.
    """

    adopt: tuple[PodView, ...]
    release: tuple[PodView, ...]
    create: CreatePods | None
    delete: tuple[PodView, ...]
    status: ReplicaSetStatus
    events: tuple[Event, ...]

    @property
    def is_noop(self) -> bool:
        return not (self.adopt or self.release or self.create or self.delete)


def slow_start_batches(count: int, initial: int = SLOW_START_INITIAL_BATCH_SIZE) -> list[int]:
    """``slowStartBatch`` batch sizes: ``initial``, then doubling, the last one cut to fit."""
    batches: list[int] = []
    remaining = count
    size = min(remaining, initial)
    while size > 0:
        batches.append(size)
        remaining -= size
        size = min(2 * size, remaining)
    return batches


def claim_pods(
    rs: ReplicaSetView, pods: Iterable[PodView]
) -> tuple[list[PodView], list[PodView], list[PodView]]:
    """``PodControllerRefManager.ClaimPods`` over the active pods of the namespace.

    Returns ``(claimed, to_adopt, to_release)``; ``claimed`` includes the adopted pods.
    A ReplicaSet being deleted adopts and releases nothing.
    """
    claimed: list[PodView] = []
    adopt: list[PodView] = []
    release: list[PodView] = []
    deleting = rs.deletion_timestamp is not None
    for pod in pods:
        if pod.namespace != rs.namespace or not is_pod_active(pod):
            continue
        matches = selector_matches(rs.selector, pod.labels)
        if pod.owner_uid is not None:
            if pod.owner_uid != rs.uid:
                continue  # owned by another controller
            if matches:
                claimed.append(pod)
            elif not deleting:
                release.append(pod)
            continue
        if deleting or not matches:
            continue
        adopt.append(pod)
        claimed.append(pod)
    return claimed, adopt, release


def _after_or_zero(t1: datetime | None, t2: datetime | None) -> bool:
    """``afterOrZero``: a zero (unknown) time counts as the newest."""
    if t1 is None or t2 is None:
        return t1 is None
    return t1 > t2


def _log2_rank(t: datetime, now: datetime) -> int:
    """``floor(log2(now - t))`` in nanoseconds, -1 when t is not in the past."""
    delta_ns = round((now - t).total_seconds() * 1e9)
    return int(math.log2(delta_ns)) if delta_ns > 0 else -1


def _compare_times(
    t1: datetime | None, t2: datetime | None, a: PodView, b: PodView, now: datetime | None
) -> bool:
    """Rule 6/8 of ``ActivePodsWithRanks.Less`` with LogarithmicScaleDown (GA)."""
    if now is None or t1 is None or t2 is None:
        return _after_or_zero(t1, t2)
    diff = _log2_rank(t1, now) - _log2_rank(t2, now)
    if diff == 0:
        return a.uid < b.uid
    return diff < 0


def _less(
    a: PodView, b: PodView, rank_a: int, rank_b: int, now: datetime | None, logarithmic: bool
) -> bool:
    """``ActivePodsWithRanks.Less``: True if ``a`` should be deleted before ``b``."""
    if a.node_name != b.node_name and (not a.node_name or not b.node_name):
        return not a.node_name
    phase_a, phase_b = _PHASE_ORDINAL.get(a.phase, 0), _PHASE_ORDINAL.get(b.phase, 0)
    if phase_a != phase_b:
        return phase_a < phase_b
    if a.ready != b.ready:
        return not a.ready
    if a.deletion_cost != b.deletion_cost:
        return a.deletion_cost < b.deletion_cost
    if rank_a != rank_b:
        return rank_a > rank_b
    if a.ready and b.ready and a.ready_since != b.ready_since:
        if logarithmic:
            return _compare_times(a.ready_since, b.ready_since, a, b, now)
        return _after_or_zero(a.ready_since, b.ready_since)
    if a.restart_count != b.restart_count:
        return a.restart_count > b.restart_count
    if a.created_at != b.created_at:
        if logarithmic:
            return _compare_times(a.created_at, b.created_at, a, b, now)
        return _after_or_zero(a.created_at, b.created_at)
    return False


def rank_pods_for_deletion(
    pods: Sequence[PodView],
    related_pods: Iterable[PodView] | None = None,
    *,
    now: datetime | None = None,
    logarithmic_scale_down: bool = True,
) -> list[PodView]:
    """``pods`` sorted so the best pods to delete come first (``getPodsToDelete``).

    Each pod's rank is the number of active ``related_pods`` (default: ``pods``) on its node,
    so pods on crowded nodes go first. With ``logarithmic_scale_down`` (on since 1.22, GA),
    ready and creation times compare in ``floor(log2(age))`` buckets, ties broken by UID.
    """
    related = list(pods if related_pods is None else related_pods)
    on_node = Counter(pod.node_name for pod in related if is_pod_active(pod))
    ranks = {pod.uid: on_node[pod.node_name] for pod in pods}

    def compare(a: PodView, b: PodView) -> int:
        if _less(a, b, ranks[a.uid], ranks[b.uid], now, logarithmic_scale_down):
            return -1
        if _less(b, a, ranks[b.uid], ranks[a.uid], now, logarithmic_scale_down):
            return 1
        return 0

    return sorted(pods, key=functools.cmp_to_key(compare))


def replicaset_status(
    rs: ReplicaSetView, pods: Iterable[PodView], now: datetime
) -> ReplicaSetStatus:
    """``calculateStatus`` over the pods this ReplicaSet claims (see :func:`claim_pods`)."""
    claimed, _, _ = claim_pods(rs, pods)
    return _status_of(rs, claimed, now)


def _status_of(rs: ReplicaSetView, claimed: Sequence[PodView], now: datetime) -> ReplicaSetStatus:
    template_labels = rs.template_labels
    fully_labeled = sum(
        1
        for pod in claimed
        if all(pod.labels.get(key) == value for key, value in template_labels.items())
    )
    return ReplicaSetStatus(
        replicas=len(claimed),
        fully_labeled_replicas=fully_labeled,
        ready_replicas=sum(1 for pod in claimed if pod.ready),
        available_replicas=sum(
            1 for pod in claimed if is_pod_available(pod, rs.min_ready_seconds, now)
        ),
        observed_generation=rs.generation,
    )


def created_pod_event(rs: ReplicaSetView, pod_name: str) -> Event:
    """``SuccessfulCreate`` on the ReplicaSet (``PodControlInterface.CreatePods``)."""
    return Event(
        "SuccessfulCreate", f"Created pod: {pod_name}", "Normal", rs.kind, rs.name, rs.namespace
    )


def deleted_pod_event(rs: ReplicaSetView, pod_name: str) -> Event:
    """``SuccessfulDelete`` on the ReplicaSet (``PodControlInterface.DeletePod``)."""
    return Event(
        "SuccessfulDelete", f"Deleted pod: {pod_name}", "Normal", rs.kind, rs.name, rs.namespace
    )


def plan_replicaset(
    rs: ReplicaSetView,
    pods: Iterable[PodView],
    now: datetime,
    *,
    burst: int = BURST_REPLICAS,
    related_pods: Iterable[PodView] | None = None,
) -> ReplicaSetPlan:
    """One ``syncReplicaSet``: claim, then ``manageReplicas``, then the status.

    ``pods`` are the pods of the namespace (any owner); ``related_pods`` are the pods of
    sibling ReplicaSets of the same Deployment, used only to rank deletions by co-location.
    """
    claimed, adopt, release = claim_pods(rs, pods)
    status = _status_of(rs, claimed, now)
    create: CreatePods | None = None
    delete: tuple[PodView, ...] = ()
    if rs.deletion_timestamp is None:
        diff = len(claimed) - rs.replicas
        if diff < 0:
            count = min(-diff, burst)
            create = CreatePods(count, f"{rs.name}-", tuple(slow_start_batches(count)))
        elif diff > 0:
            count = min(diff, burst)
            ranked: Sequence[PodView] = claimed
            if count < len(claimed):
                # Deduplicated by UID: the siblings' pods may include this ReplicaSet's own.
                related = {pod.uid: pod for pod in [*claimed, *(related_pods or ())]}
                ranked = rank_pods_for_deletion(claimed, related.values(), now=now)
            delete = tuple(ranked[:count])
    events = tuple(deleted_pod_event(rs, pod.name) for pod in delete)
    return ReplicaSetPlan(tuple(adopt), tuple(release), create, delete, status, events)
