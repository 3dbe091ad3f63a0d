"""Stored object bodies (plain JSON) to the planners' views, and condition/taint back to JSON.

Executors read objects from the cache as the API stores them; these functions are the only
place that knows both the JSON field names and the views' dataclasses. Missing fields take
Kubernetes' defaults, so an object written without defaulting still reads sensibly.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from dockyard.controllers.daemonset_plan import DaemonSetView
from dockyard.controllers.deployment_util import DeploymentStatus, DeploymentView
from dockyard.controllers.scheduler_plan import NodeView, pod_requests
from dockyard.controllers.views import (
    Condition,
    HostPort,
    LabelSelector,
    PodView,
    ReplicaSetStatus,
    ReplicaSetView,
    SelectorRequirement,
    Taint,
    Toleration,
)
from dockyard.model.quantity import QuantityError, cpu_millis, memory_bytes

Body = Mapping[str, Any]


def parse_time(text: Any) -> datetime | None:
    if not text or not isinstance(text, str):
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def format_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_utc() -> datetime:
    """Wall-clock time truncated to seconds, as API timestamps are (round trips stay equal)."""
    return datetime.now(UTC).replace(microsecond=0)


def meta(body: Body) -> Mapping[str, Any]:
    return body.get("metadata") or {}


def spec(body: Body) -> Mapping[str, Any]:
    return body.get("spec") or {}


def status(body: Body) -> Mapping[str, Any]:
    return body.get("status") or {}


def controller_owner(body: Body) -> Mapping[str, Any] | None:
    """The ownerReference with ``controller: true``, if any."""
    for ref in meta(body).get("ownerReferences") or ():
        if ref.get("controller"):
            return dict(ref)
    return None


def selector_of(raw: Any) -> LabelSelector | None:
    """``metav1.LabelSelector`` JSON; None (nil) when absent."""
    if raw is None:
        return None
    requirements = tuple(
        SelectorRequirement(
            str(e.get("key", "")), str(e.get("operator", "")), tuple(e.get("values") or ())
        )
        for e in raw.get("matchExpressions") or ()
    )
    return LabelSelector(dict(raw.get("matchLabels") or {}), requirements)


def selector_to_json(selector: LabelSelector) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if selector.match_labels:
        result["matchLabels"] = dict(selector.match_labels)
    if selector.match_expressions:
        result["matchExpressions"] = [
            {"key": r.key, "operator": r.operator, "values": list(r.values)}
            for r in selector.match_expressions
        ]
    return result


def conditions_of(raw: Any) -> tuple[Condition, ...]:
    return tuple(
        Condition(
            str(c.get("type", "")),
            str(c.get("status", "")),
            str(c.get("reason", "")),
            str(c.get("message", "")),
            parse_time(c.get("lastUpdateTime") or c.get("lastHeartbeatTime")),
            parse_time(c.get("lastTransitionTime")),
        )
        for c in raw or ()
    )


def condition_to_json(
    condition: Condition, *, update_field: str = "lastUpdateTime"
) -> dict[str, Any]:
    result: dict[str, Any] = {"type": condition.type, "status": condition.status}
    if condition.reason:
        result["reason"] = condition.reason
    if condition.message:
        result["message"] = condition.message
    if condition.last_update_time is not None and update_field:
        result[update_field] = format_time(condition.last_update_time)
    if condition.last_transition_time is not None:
        result["lastTransitionTime"] = format_time(condition.last_transition_time)
    return result


def tolerations_of(raw: Any) -> tuple[Toleration, ...]:
    return tuple(
        Toleration(
            str(t.get("key") or ""),
            str(t.get("operator") or "Equal"),
            str(t.get("value") or ""),
            str(t.get("effect") or ""),
            t.get("tolerationSeconds"),
        )
        for t in raw or ()
    )


def toleration_to_json(toleration: Toleration) -> dict[str, Any]:
    result: dict[str, Any] = {"operator": toleration.operator}
    for name, value in (
        ("key", toleration.key),
        ("value", toleration.value),
        ("effect", toleration.effect),
    ):
        if value:
            result[name] = value
    if toleration.toleration_seconds is not None:
        result["tolerationSeconds"] = toleration.toleration_seconds
    return result


def taints_of(raw: Any) -> tuple[Taint, ...]:
    return tuple(
        Taint(
            str(t.get("key", "")),
            str(t.get("effect", "")),
            str(t.get("value") or ""),
            parse_time(t.get("timeAdded")),
        )
        for t in raw or ()
    )


def taint_to_json(taint: Taint) -> dict[str, Any]:
    result: dict[str, Any] = {"key": taint.key, "effect": taint.effect}
    if taint.value:
        result["value"] = taint.value
    if taint.time_added is not None:
        result["timeAdded"] = format_time(taint.time_added)
    return result


def _quantity(value: Any, parse: Any) -> int:
    try:
        return int(parse(str(value))) if value not in (None, "") else 0
    except (QuantityError, ValueError):
        return 0


def _requests(container: Mapping[str, Any]) -> tuple[int, int]:
    requests = (container.get("resources") or {}).get("requests") or {}
    return _quantity(requests.get("cpu"), cpu_millis), _quantity(
        requests.get("memory"), memory_bytes
    )


def _affinity_node(pod_spec: Mapping[str, Any]) -> str:
    """The node a DaemonSet pins its pod to (``matchFields metadata.name In [node]``)."""
    required = ((pod_spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    for term in required.get("nodeSelectorTerms") or ():
        for field in term.get("matchFields") or ():
            if field.get("key") == "metadata.name" and field.get("operator") == "In":
                values = field.get("values") or []
                if len(values) == 1:
                    return str(values[0])
    return ""


def pod_view(body: Body) -> PodView:
    m, s, st = meta(body), spec(body), status(body)
    owner = controller_owner(body)
    ready_condition = next(
        (c for c in conditions_of(st.get("conditions")) if c.type == "Ready"), None
    )
    containers = list(s.get("containers") or ())
    cpu, memory = pod_requests(
        [_requests(c) for c in containers], [_requests(c) for c in s.get("initContainers") or ()]
    )
    ports = tuple(
        HostPort(int(p["hostPort"]), str(p.get("protocol") or "TCP"), str(p.get("hostIP") or ""))
        for c in containers
        for p in c.get("ports") or ()
        if p.get("hostPort")
    )
    restarts = max(
        (int(c.get("restartCount") or 0) for c in st.get("containerStatuses") or ()), default=0
    )
    try:
        cost = int(
            (m.get("annotations") or {}).get("controller.kubernetes.io/pod-deletion-cost", 0)
        )
    except ValueError:
        cost = 0
    return PodView(
        uid=str(m.get("uid", "")),
        name=str(m.get("name", "")),
        namespace=str(m.get("namespace") or "default"),
        labels=dict(m.get("labels") or {}),
        owner_uid=str(owner["uid"]) if owner else None,
        node_name=str(s.get("nodeName") or ""),
        phase=str(st.get("phase") or "Pending"),
        ready=ready_condition is not None and ready_condition.status == "True",
        ready_since=ready_condition.last_transition_time if ready_condition else None,
        created_at=parse_time(m.get("creationTimestamp")),
        deletion_timestamp=parse_time(m.get("deletionTimestamp")),
        restart_count=restarts,
        deletion_cost=cost,
        cpu_request_millis=cpu,
        memory_request_bytes=memory,
        node_selector=dict(s.get("nodeSelector") or {}),
        tolerations=tolerations_of(s.get("tolerations")),
        host_ports=ports,
        affinity_node=_affinity_node(s),
    )


def replicaset_view(body: Body) -> ReplicaSetView:
    m, s, st = meta(body), spec(body), status(body)
    kind = str(body.get("kind") or "ReplicaSet")
    owner = controller_owner(body)
    if kind == "ReplicationController":
        raw_selector = s.get("selector")
        template = s.get("template") or {}
        if raw_selector is None:  # RC defaults its selector to the template's labels
            raw_selector = dict((template.get("metadata") or {}).get("labels") or {})
        selector: LabelSelector | None = LabelSelector(dict(raw_selector or {}))
    else:
        selector = selector_of(s.get("selector"))
    replicas = s.get("replicas")
    return ReplicaSetView(
        uid=str(m.get("uid", "")),
        name=str(m.get("name", "")),
        namespace=str(m.get("namespace") or "default"),
        replicas=1 if replicas is None else int(replicas),
        selector=selector,
        template=dict(s.get("template") or {}),
        labels=dict(m.get("labels") or {}),
        annotations=dict(m.get("annotations") or {}),
        owner_uid=str(owner["uid"]) if owner else None,
        generation=int(m.get("generation") or 1),
        min_ready_seconds=int(s.get("minReadySeconds") or 0),
        created_at=parse_time(m.get("creationTimestamp")),
        deletion_timestamp=parse_time(m.get("deletionTimestamp")),
        kind=kind,
        status=ReplicaSetStatus(
            replicas=int(st.get("replicas") or 0),
            fully_labeled_replicas=int(st.get("fullyLabeledReplicas") or 0),
            ready_replicas=int(st.get("readyReplicas") or 0),
            available_replicas=int(st.get("availableReplicas") or 0),
            observed_generation=int(st.get("observedGeneration") or 0),
        ),
    )


def _int_or_percent(value: Any, default: int | str) -> int | str:
    if value is None:
        return default
    if isinstance(value, int):
        return value
    text = str(value)
    return int(text) if text.isdigit() else text


def deployment_view(body: Body) -> DeploymentView:
    m, s, st = meta(body), spec(body), status(body)
    strategy = s.get("strategy") or {}
    rolling = strategy.get("rollingUpdate") or {}
    replicas = s.get("replicas")
    selector = selector_of(s.get("selector")) or LabelSelector()
    collision = st.get("collisionCount")
    return DeploymentView(
        uid=str(m.get("uid", "")),
        name=str(m.get("name", "")),
        namespace=str(m.get("namespace") or "default"),
        replicas=1 if replicas is None else int(replicas),
        selector=selector,
        template=dict(s.get("template") or {}),
        strategy=str(strategy.get("type") or "RollingUpdate"),
        max_surge=_int_or_percent(rolling.get("maxSurge"), "25%"),
        max_unavailable=_int_or_percent(rolling.get("maxUnavailable"), "25%"),
        min_ready_seconds=int(s.get("minReadySeconds") or 0),
        revision_history_limit=s.get("revisionHistoryLimit", 10),
        progress_deadline_seconds=s.get("progressDeadlineSeconds", 600),
        paused=bool(s.get("paused")),
        generation=int(m.get("generation") or 1),
        annotations=dict(m.get("annotations") or {}),
        deletion_timestamp=parse_time(m.get("deletionTimestamp")),
        status=DeploymentStatus(
            observed_generation=int(st.get("observedGeneration") or 0),
            replicas=int(st.get("replicas") or 0),
            updated_replicas=int(st.get("updatedReplicas") or 0),
            ready_replicas=int(st.get("readyReplicas") or 0),
            available_replicas=int(st.get("availableReplicas") or 0),
            unavailable_replicas=int(st.get("unavailableReplicas") or 0),
            collision_count=int(collision) if collision is not None else None,
            conditions=conditions_of(st.get("conditions")),
        ),
    )


def deployment_status_to_json(value: DeploymentStatus) -> dict[str, Any]:
    result: dict[str, Any] = {
        "observedGeneration": value.observed_generation,
        "replicas": value.replicas,
        "updatedReplicas": value.updated_replicas,
        "readyReplicas": value.ready_replicas,
        "availableReplicas": value.available_replicas,
        "unavailableReplicas": value.unavailable_replicas,
        "conditions": [condition_to_json(c) for c in value.conditions],
    }
    if value.collision_count is not None:
        result["collisionCount"] = value.collision_count
    return result


def node_view(body: Body) -> NodeView:
    m, s, st = meta(body), spec(body), status(body)
    allocatable = st.get("allocatable") or st.get("capacity") or {}
    ready = next((c for c in conditions_of(st.get("conditions")) if c.type == "Ready"), None)
    pods = allocatable.get("pods")
    return NodeView(
        name=str(m.get("name", "")),
        labels=dict(m.get("labels") or {}),
        taints=taints_of(s.get("taints")),
        allocatable_cpu_millis=_quantity(allocatable.get("cpu"), cpu_millis),
        allocatable_memory_bytes=_quantity(allocatable.get("memory"), memory_bytes),
        allocatable_pods=int(pods) if pods not in (None, "") else 110,
        ready=ready.status if ready is not None else "Unknown",
        unschedulable=bool(s.get("unschedulable")),
    )


def daemonset_view(body: Body) -> DaemonSetView:
    m, s, st = meta(body), spec(body), status(body)
    template = dict(s.get("template") or {})
    pod_spec = template.get("spec") or {}
    strategy = s.get("updateStrategy") or {}
    collision = st.get("collisionCount")
    return DaemonSetView(
        uid=str(m.get("uid", "")),
        name=str(m.get("name", "")),
        namespace=str(m.get("namespace") or "default"),
        selector=selector_of(s.get("selector")) or LabelSelector(),
        template=template,
        node_selector=dict(pod_spec.get("nodeSelector") or {}),
        tolerations=tolerations_of(pod_spec.get("tolerations")),
        host_network=bool(pod_spec.get("hostNetwork")),
        node_name=str(pod_spec.get("nodeName") or ""),
        update_strategy=str(strategy.get("type") or "RollingUpdate"),
        max_unavailable=_int_or_percent(
            (strategy.get("rollingUpdate") or {}).get("maxUnavailable"), 1
        ),
        min_ready_seconds=int(s.get("minReadySeconds") or 0),
        generation=int(m.get("generation") or 1),
        collision_count=int(collision) if collision is not None else None,
    )


def owner_reference(body: Body, *, controller: bool = True) -> dict[str, Any]:
    """An ownerReference to ``body`` (``blockOwnerDeletion`` as controllers set it)."""
    m = meta(body)
    return {
        "apiVersion": str(body.get("apiVersion", "")),
        "kind": str(body.get("kind", "")),
        "name": str(m.get("name", "")),
        "uid": str(m.get("uid", "")),
        "controller": controller,
        "blockOwnerDeletion": True,
    }


def template_labels_of(body: Body) -> dict[str, str]:
    template = spec(body).get("template") or {}
    return dict((template.get("metadata") or {}).get("labels") or {})
