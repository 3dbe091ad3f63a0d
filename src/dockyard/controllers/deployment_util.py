"""Deployment arithmetic: pkg/controller/deployment/util/deployment_util.go as pure functions.

Fenceposts (maxSurge rounds up, maxUnavailable rounds down, both 0 → unavailable 1), the new
ReplicaSet's next size, proportional scaling (``GetProportion``), revisions, template equality
ignoring ``pod-template-hash``, ReplicaSet orderings and the status (``calculateStatus``).
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dockyard.controllers.views import (
    Condition,
    LabelSelector,
    ReplicaSetView,
    set_condition,
)

__all__ = [
    "DEFAULT_DEPLOYMENT_UNIQUE_LABEL_KEY",
    "DESIRED_REPLICAS_ANNOTATION",
    "MAX_REPLICAS_ANNOTATION",
    "REVISION_ANNOTATION",
    "REVISION_HISTORY_ANNOTATION",
    "DeploymentStatus",
    "DeploymentView",
    "IntOrPercent",
    "calculate_status",
    "equal_ignore_hash",
    "get_proportion",
    "is_saturated",
    "max_revision",
    "max_surge",
    "max_unavailable",
    "new_rs_new_replicas",
    "resolve_fenceposts",
    "revision",
    "scaled_value",
    "sorted_by_creation",
    "sorted_by_revision",
    "sorted_by_size",
    "template_without_hash",
]

IntOrPercent = int | str

DEFAULT_DEPLOYMENT_UNIQUE_LABEL_KEY = "pod-template-hash"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
REVISION_HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS_ANNOTATION = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS_ANNOTATION = "deployment.kubernetes.io/max-replicas"
# annotationsToSkip: never copied between a Deployment and its ReplicaSets.
ANNOTATIONS_TO_SKIP = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION_ANNOTATION,
        REVISION_HISTORY_ANNOTATION,
        DESIRED_REPLICAS_ANNOTATION,
        MAX_REPLICAS_ANNOTATION,
        "deprecated.deployment.rollback.to",
    }
)


@dataclass(frozen=True)
class DeploymentStatus:
    """``DeploymentStatus``; ``conditions`` keep Kubernetes' order (new ones appended)."""

    observed_generation: int = 0
    replicas: int = 0
    updated_replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    unavailable_replicas: int = 0
    collision_count: int | None = None
    conditions: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class DeploymentView:
    """A Deployment as the controller reads it (defaults are apps/v1 ``SetDefaults_Deployment``).

    ``template`` is the PodTemplateSpec as a plain mapping. ``strategy`` is ``RollingUpdate``
    or ``Recreate``. ``None`` for ``revision_history_limit`` / ``progress_deadline_seconds``
    means unset (keep everything / no deadline).
    """

    uid: str
    name: str
    namespace: str = "default"
    replicas: int = 1
    selector: LabelSelector = field(default_factory=LabelSelector)
    template: Mapping[str, Any] = field(default_factory=dict)
    strategy: str = "RollingUpdate"
    max_surge: IntOrPercent = "25%"
    max_unavailable: IntOrPercent = "25%"
    min_ready_seconds: int = 0
    revision_history_limit: int | None = 10
    progress_deadline_seconds: int | None = 600
    paused: bool = False
    generation: int = 1
    annotations: Mapping[str, str] = field(default_factory=dict)
    deletion_timestamp: datetime | None = None
    status: DeploymentStatus = field(default_factory=DeploymentStatus)

    @property
    def is_rolling_update(self) -> bool:
        return self.strategy == "RollingUpdate"

    @property
    def has_progress_deadline(self) -> bool:
        """``HasProgressDeadline``: set and not MaxInt32."""
        return self.progress_deadline_seconds not in (None, 2**31 - 1)


def scaled_value(value: IntOrPercent, total: int, *, round_up: bool) -> int:
    """``intstr.GetScaledValueFromIntOrPercent``: an int as is, ``"N%"`` of ``total`` rounded."""
    if isinstance(value, int):
        return value
    if not value.endswith("%"):
        raise ValueError("invalid type: string is not a percentage")
    try:
        percent = int(value[:-1])
    except ValueError:
        raise ValueError(f"invalid value for IntOrString: invalid value {value!r}") from None
    # Exact integer arithmetic; equals Go's float64 ceil/floor for any realistic size.
    if round_up:
        return -((-percent * total) // 100)
    return (percent * total) // 100


def resolve_fenceposts(
    max_surge_value: IntOrPercent | None, max_unavailable_value: IntOrPercent | None, desired: int
) -> tuple[int, int]:
    """``ResolveFenceposts``: ``(surge, unavailable)``; both 0 → unavailable 1 (quota-safe)."""
    surge = scaled_value(max_surge_value or 0, desired, round_up=True)
    unavailable = scaled_value(max_unavailable_value or 0, desired, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def max_surge(d: DeploymentView) -> int:
    """``MaxSurge``: 0 unless RollingUpdate."""
    if not d.is_rolling_update:
        return 0
    return resolve_fenceposts(d.max_surge, d.max_unavailable, d.replicas)[0]


def max_unavailable(d: DeploymentView) -> int:
    """``MaxUnavailable``: 0 unless RollingUpdate with replicas; never above replicas."""
    if not d.is_rolling_update or d.replicas == 0:
        return 0
    return min(resolve_fenceposts(d.max_surge, d.max_unavailable, d.replicas)[1], d.replicas)


def revision(rs: ReplicaSetView) -> int | None:
    """``Revision``: the revision annotation, 0 when absent, None when unparsable."""
    text = rs.annotations.get(REVISION_ANNOTATION)
    if text is None:
        return 0
    try:
        return int(text)
    except ValueError:
        return None


def max_revision(replicasets: Iterable[ReplicaSetView]) -> int:
    """``MaxRevision``: unparsable revisions are skipped."""
    return max((r for r in map(revision, replicasets) if r is not None), default=0)


def _creation_key(rs: ReplicaSetView) -> tuple[float, str]:
    created = rs.created_at.timestamp() if rs.created_at is not None else float("-inf")
    return (created, rs.name)


def sorted_by_creation(replicasets: Iterable[ReplicaSetView]) -> list[ReplicaSetView]:
    """``ReplicaSetsByCreationTimestamp``: oldest first, ties by name."""
    return sorted(replicasets, key=_creation_key)


def sorted_by_revision(replicasets: Iterable[ReplicaSetView]) -> list[ReplicaSetView]:
    """``ReplicaSetsByRevision``: lowest revision first; unknown or equal → by creation."""

    def compare(a: ReplicaSetView, b: ReplicaSetView) -> int:
        ra, rb = revision(a), revision(b)
        if ra is None or rb is None or ra == rb:
            ka, kb = _creation_key(a), _creation_key(b)
            return -1 if ka < kb else (1 if kb < ka else 0)
        return -1 if ra < rb else 1

    return sorted(replicasets, key=functools.cmp_to_key(compare))


def sorted_by_size(
    replicasets: Iterable[ReplicaSetView], *, newer_first: bool
) -> list[ReplicaSetView]:
    """``ReplicaSetsBySizeNewer`` / ``ReplicaSetsBySizeOlder``: largest first, then by age."""
    by_age = sorted_by_creation(replicasets)
    if newer_first:
        by_age.reverse()
    return sorted(by_age, key=lambda rs: -rs.replicas)


def template_without_hash(template: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of a PodTemplateSpec without the ``pod-template-hash`` label."""
    copied: dict[str, Any] = copy.deepcopy(dict(template))
    metadata = dict(copied.get("metadata") or {})
    labels = dict(metadata.get("labels") or {})
    labels.pop(DEFAULT_DEPLOYMENT_UNIQUE_LABEL_KEY, None)
    if labels:
        metadata["labels"] = labels
    else:
        metadata.pop("labels", None)
    if metadata:
        copied["metadata"] = metadata
    else:
        copied.pop("metadata", None)
    return copied


def equal_ignore_hash(template1: Mapping[str, Any], template2: Mapping[str, Any]) -> bool:
    """``EqualIgnoreHash``: equal PodTemplateSpecs once ``pod-template-hash`` is removed."""
    return template_without_hash(template1) == template_without_hash(template2)


def new_rs_new_replicas(
    d: DeploymentView, all_rss: Sequence[ReplicaSetView], new_rs: ReplicaSetView
) -> int:
    """``NewRSNewReplicas``: the new ReplicaSet's next size within ``replicas + maxSurge``."""
    if not d.is_rolling_update:
        return d.replicas
    surge = scaled_value(d.max_surge or 0, d.replicas, round_up=True)
    current = sum(rs.replicas for rs in all_rss)
    max_total = d.replicas + surge
    if current >= max_total:
        return new_rs.replicas
    return new_rs.replicas + min(max_total - current, d.replicas - new_rs.replicas)


def is_saturated(d: DeploymentView, rs: ReplicaSetView | None) -> bool:
    """``IsSaturated``: the new RS has, believes in and makes available all replicas."""
    if rs is None:
        return False
    try:
        desired = int(rs.annotations.get(DESIRED_REPLICAS_ANNOTATION, ""))
    except ValueError:
        return False
    return rs.replicas == d.replicas == desired and rs.status.available_replicas == d.replicas


def _replica_set_fraction(rs: ReplicaSetView, d: DeploymentView) -> int:
    """``getReplicaSetFraction``: the RS's share of the deployment's new size, minus its size."""
    if d.replicas == 0:
        return -rs.replicas
    deployment_replicas = d.replicas + max_surge(d)
    try:
        annotated = int(rs.annotations[MAX_REPLICAS_ANNOTATION])
    except (KeyError, ValueError):
        annotated = d.status.replicas
    if annotated <= 0:
        # Go divides by zero here; a zero share leaves the whole change to the largest RS.
        return 0
    # integer.RoundToInt32 = math.Round: halves away from zero (all values here are >= 0).
    new_size = math.floor(rs.replicas * deployment_replicas / annotated + 0.5)
    return new_size - rs.replicas


def get_proportion(rs: ReplicaSetView, d: DeploymentView, to_add: int, added: int) -> int:
    """``GetProportion``: how many replicas this RS gains (or loses) in a proportional scale."""
    if rs.replicas == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = _replica_set_fraction(rs, d)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def calculate_status(
    all_rss: Sequence[ReplicaSetView],
    new_rs: ReplicaSetView | None,
    d: DeploymentView,
    now: datetime,
) -> DeploymentStatus:
    """``calculateStatus`` (sync.go), with the ``Available`` condition set."""
    available = sum(rs.status.available_replicas for rs in all_rss)
    total = sum(rs.replicas for rs in all_rss)
    conditions = d.status.conditions
    if available >= d.replicas - max_unavailable(d):
        condition = Condition(
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
            now,
            now,
        )
    else:
        condition = Condition(
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
            now,
            now,
        )
    return DeploymentStatus(
        observed_generation=d.generation,
        replicas=sum(rs.status.replicas for rs in all_rss),
        updated_replicas=new_rs.status.replicas if new_rs is not None else 0,
        ready_replicas=sum(rs.status.ready_replicas for rs in all_rss),
        available_replicas=available,
        unavailable_replicas=max(total - available, 0),
        collision_count=d.status.collision_count,
        conditions=set_condition(conditions, condition),
    )
