"""Small read-only views the planners work on, and the predicates Kubernetes controllers share.

The planners do not take the API model (pydantic) objects: an executor projects each object into
one of these frozen dataclasses, so a planner sees only the fields it decides on and its tests
build inputs in one line. Field names follow the Kubernetes fields they stand for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

__all__ = [
    "Condition",
    "Event",
    "EventType",
    "HostPort",
    "LabelSelector",
    "PodView",
    "ReplicaSetStatus",
    "ReplicaSetView",
    "SelectorRequirement",
    "Taint",
    "Toleration",
    "find_untolerated_taint",
    "get_condition",
    "is_pod_active",
    "is_pod_available",
    "selector_matches",
    "set_condition",
    "template_labels",
]

EventType = Literal["Normal", "Warning"]


@dataclass(frozen=True)
class Taint:
    """``v1.Taint``: ``effect`` is ``NoSchedule``, ``PreferNoSchedule`` or ``NoExecute``."""

    key: str
    effect: str
    value: str = ""
    time_added: datetime | None = None


@dataclass(frozen=True)
class Toleration:
    """``v1.Toleration``; an empty ``operator`` means ``Equal`` as in the API."""

    key: str = ""
    operator: str = "Equal"
    value: str = ""
    effect: str = ""
    toleration_seconds: int | None = None

    def tolerates(self, taint: Taint) -> bool:
        """``Toleration.ToleratesTaint`` (k8s.io/api/core/v1/toleration.go)."""
        if self.effect and self.effect != taint.effect:
            return False
        if self.key and self.key != taint.key:
            return False
        if self.operator == "Exists":
            return True
        if self.operator in ("", "Equal"):
            return self.value == taint.value
        return False


def find_untolerated_taint(
    taints: Iterable[Taint], tolerations: Iterable[Toleration], effects: Iterable[str]
) -> Taint | None:
    """``v1helper.FindMatchingUntoleratedTaint`` restricted to the given effects."""
    wanted = set(effects)
    tolerations = tuple(tolerations)
    for taint in taints:
        if taint.effect not in wanted:
            continue
        if not any(toleration.tolerates(taint) for toleration in tolerations):
            return taint
    return None


@dataclass(frozen=True)
class SelectorRequirement:
    """One ``matchExpressions`` term: ``In``, ``NotIn``, ``Exists`` or ``DoesNotExist``."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator == "In":
            return present and labels[self.key] in self.values
        if self.operator == "NotIn":
            return not present or labels[self.key] not in self.values
        if self.operator == "Exists":
            return present
        if self.operator == "DoesNotExist":
            return not present
        raise ValueError(f"{self.operator!r} is not a valid pod selector operator")


@dataclass(frozen=True)
class LabelSelector:
    """``metav1.LabelSelector``: all terms ANDed; an empty selector matches everything.

    A ``None`` selector (the API's nil) matches nothing: see :func:`selector_matches`.
    ReplicationController's equality map is ``LabelSelector(match_labels=...)``.
    """

    match_labels: Mapping[str, str] = field(default_factory=dict)
    match_expressions: tuple[SelectorRequirement, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.match_labels and not self.match_expressions

    def matches(self, labels: Mapping[str, str]) -> bool:
        if any(labels.get(key) != value for key, value in self.match_labels.items()):
            return False
        return all(requirement.matches(labels) for requirement in self.match_expressions)

    def with_label(self, key: str, value: str) -> LabelSelector:
        """``labelsutil.CloneSelectorAndAddLabel``."""
        return replace(self, match_labels={**self.match_labels, key: value})


def selector_matches(selector: LabelSelector | None, labels: Mapping[str, str]) -> bool:
    """``LabelSelectorAsSelector(sel).Matches(labels)``: nil matches nothing."""
    return selector is not None and selector.matches(labels)


@dataclass(frozen=True)
class HostPort:
    """A container port with a ``hostPort``; an empty ``host_ip`` means ``0.0.0.0``."""

    port: int
    protocol: str = "TCP"
    host_ip: str = ""


@dataclass(frozen=True)
class PodView:
    """What the controllers and the scheduler read of a pod.

    ``owner_uid`` is the uid of the controller ownerReference (``controller: true``), if any.
    ``ready_since`` is the ``lastTransitionTime`` of the ``Ready`` condition.
    ``restart_count`` is the highest container ``restartCount``. ``affinity_node`` is the node a
    DaemonSet pod is pinned to by ``matchFields metadata.name`` before it is bound.
    Requests are the pod's effective requests (see ``scheduler_plan.pod_requests``).
    """

    uid: str
    name: str
    namespace: str = "default"
    labels: Mapping[str, str] = field(default_factory=dict)
    owner_uid: str | None = None
    node_name: str = ""
    phase: str = "Pending"
    ready: bool = False
    ready_since: datetime | None = None
    created_at: datetime | None = None
    deletion_timestamp: datetime | None = None
    restart_count: int = 0
    deletion_cost: int = 0
    cpu_request_millis: int = 0
    memory_request_bytes: int = 0
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Toleration, ...] = ()
    host_ports: tuple[HostPort, ...] = ()
    affinity_node: str = ""

    @property
    def target_node(self) -> str:
        """``util.GetTargetNodeName``: the bound node, else the node affinity pins it to."""
        return self.node_name or self.affinity_node


def is_pod_active(pod: PodView) -> bool:
    """``controller.IsPodActive``: not Succeeded/Failed and not being deleted."""
    return pod.phase not in ("Succeeded", "Failed") and pod.deletion_timestamp is None


def is_pod_available(pod: PodView, min_ready_seconds: int, now: datetime) -> bool:
    """``podutil.IsPodAvailable``: Ready, and Ready for more than minReadySeconds.

    Kubernetes uses a strict ``Before``: a pod Ready exactly minReadySeconds ago is not yet
    available.
    """
    if not pod.ready:
        return False
    if min_ready_seconds == 0:
        return True
    if pod.ready_since is None:
        return False
    return pod.ready_since + timedelta(seconds=min_ready_seconds) < now


def template_labels(template: Mapping[str, Any]) -> Mapping[str, str]:
    """``template.metadata.labels`` of a PodTemplateSpec given as a plain mapping."""
    metadata = template.get("metadata") or {}
    labels = metadata.get("labels") or {}
    return {str(key): str(value) for key, value in labels.items()}


@dataclass(frozen=True)
class ReplicaSetStatus:
    """``ReplicaSetStatus`` (conditions left to the executor's create/delete errors)."""

    replicas: int = 0
    fully_labeled_replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    observed_generation: int = 0


@dataclass(frozen=True)
class ReplicaSetView:
    """A ReplicaSet (or ReplicationController, ``kind``) as the controllers read it.

    ``template`` is the PodTemplateSpec as a plain mapping (``{"metadata": ..., "spec": ...}``).
    """

    uid: str
    name: str
    namespace: str = "default"
    replicas: int = 1
    selector: LabelSelector | None = field(default_factory=LabelSelector)
    template: Mapping[str, Any] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    owner_uid: str | None = None
    generation: int = 1
    min_ready_seconds: int = 0
    created_at: datetime | None = None
    deletion_timestamp: datetime | None = None
    kind: str = "ReplicaSet"
    status: ReplicaSetStatus = field(default_factory=ReplicaSetStatus)

    @property
    def template_labels(self) -> Mapping[str, str]:
        return template_labels(self.template)


@dataclass(frozen=True)
class Condition:
    """A status condition (Deployment, Node, Pod): ``status`` is "True"/"False"/"Unknown"."""

    type: str
    status: str
    reason: str = ""
    message: str = ""
    last_update_time: datetime | None = None
    last_transition_time: datetime | None = None


def get_condition(conditions: Iterable[Condition], condition_type: str) -> Condition | None:
    for condition in conditions:
        if condition.type == condition_type:
            return condition
    return None


def set_condition(conditions: tuple[Condition, ...], condition: Condition) -> tuple[Condition, ...]:
    """``SetDeploymentCondition``: same status and reason → unchanged; same status → keep the
    old ``lastTransitionTime``; the new condition goes last, as Kubernetes appends it."""
    current = get_condition(conditions, condition.type)
    if current is not None and (current.status, current.reason) == (
        condition.status,
        condition.reason,
    ):
        return conditions
    if current is not None and current.status == condition.status:
        condition = replace(condition, last_transition_time=current.last_transition_time)
    kept = tuple(c for c in conditions if c.type != condition.type)
    return (*kept, condition)


@dataclass(frozen=True)
class Event:
    """An event to record (``reason``, ``message``, ``type``) on the involved object."""

    reason: str
    message: str
    type: EventType = "Normal"
    involved_kind: str = ""
    involved_name: str = ""
    involved_namespace: str = ""
