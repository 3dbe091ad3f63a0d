"""``as=Table`` responses: the columns ``kubectl get`` prints, per kind (k/k printers.go).

Columns with priority 1 are the ones ``-o wide`` adds. Cells are computed from the object's JSON
by pure functions; pods use ``dockyard.agent.pod_print`` (kubectl's printPod).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from dockyard.agent.pod_print import human_duration, kubectl_pod_row
from dockyard.model import selectors

JsonObject = dict[str, Any]
Column = tuple[str, str, int]  # name, type, priority
Cells = Callable[[Mapping[str, Any], datetime], list[Any]]

NONE = "<none>"


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def age(value: Any, now: datetime) -> str:
    moment = _parse_time(value)
    if moment is None:
        return "<unknown>"
    return human_duration((now - moment).total_seconds())


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("spec") or {}


def _status(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("status") or {}


def _created(obj: Mapping[str, Any], now: datetime) -> str:
    return age(_meta(obj).get("creationTimestamp"), now)


def _template_containers(obj: Mapping[str, Any]) -> tuple[str, str]:
    containers = ((_spec(obj).get("template") or {}).get("spec") or {}).get("containers") or []
    names = ",".join(str(c.get("name", "")) for c in containers) or NONE
    images = ",".join(str(c.get("image", "")) for c in containers) or NONE
    return names, images


def _selector_text(selector: Any, *, plain_map: bool = False) -> str:
    if not selector:
        return NONE
    try:
        parsed = (
            selectors.from_set(selector) if plain_map else selectors.from_label_selector(selector)
        )
    except selectors.SelectorError:
        return NONE
    return str(parsed) or NONE


def _pod(obj: Mapping[str, Any], now: datetime) -> list[Any]:
    row = kubectl_pod_row(obj, now=now)
    status, spec = _status(obj), _spec(obj)
    gates = spec.get("readinessGates") or []
    gate_text = NONE
    if gates:
        conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        ready = sum(1 for g in gates if conditions.get(g.get("conditionType")) == "True")
        gate_text = f"{ready}/{len(gates)}"
    return [
        row.name,
        row.ready,
        row.status,
        row.restarts,
        row.age,
        status.get("podIP") or NONE,
        spec.get("nodeName") or NONE,
        status.get("nominatedNodeName") or NONE,
        gate_text,
    ]


def _deployment(obj: Mapping[str, Any], now: datetime) -> list[Any]:
    spec, status = _spec(obj), _status(obj)
    names, images = _template_containers(obj)
    return [
        _meta(obj).get("name", ""),
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
        int(status.get("updatedReplicas", 0)),
        int(status.get("availableReplicas", 0)),
        _created(obj, now),
        names,
        images,
        _selector_text(spec.get("selector")),
    ]


def _replicas(obj: Mapping[str, Any], now: datetime) -> list[Any]:
    spec, status = _spec(obj), _status(obj)
    names, images = _template_containers(obj)
    plain = obj.get("kind") == "ReplicationController"
    return [
        _meta(obj).get("name", ""),
        int(spec.get("replicas", 1)),
        int(status.get("replicas", 0)),
        int(status.get("readyReplicas", 0)),
        _created(obj, now),
        names,
        images,
        _selector_text(spec.get("selector"), plain_map=plain),
    ]


def _daemon_set(obj: Mapping[str, Any], now: datetime) -> list[Any]:
    spec, status = _spec(obj), _status(obj)
    names, images = _template_containers(obj)
    node_selector = ((spec.get("template") or {}).get("spec") or {}).get("nodeSelector") or {}
    return [
        _meta(obj).get("name", ""),
        int(status.get("desiredNumberScheduled", 0)),
        int(status.get("currentNumberScheduled", 0)),
        int(status.get("numberReady", 0)),
        int(status.get("updatedNumberScheduled", 0)),
        int(status.get("numberAvailable", 0)),
        _selector_text(node_selector, plain_map=True),
        _created(obj, now),
        names,
        images,
        _selector_text(spec.get("selector")),
    ]


def _service_ports(ports: Sequence[Mapping[str, Any]]) -> str:
    shown = []
    for port in ports:
        protocol = port.get("protocol", "TCP")
        if port.get("nodePort"):
            shown.append(f"{port.get('port')}:{port['nodePort']}/{protocol}")
        else:
            shown.append(f"{port.get('port')}/{protocol}")
    return ",".join(shown) or NONE


def _external_ip(spec: Mapping[str, Any], status: Mapping[str, Any]) -> str:
    external = list(spec.get("externalIPs") or [])
    kind = spec.get("type", "ClusterIP")
    if kind == "LoadBalancer":
        ingress = (status.get("loadBalancer") or {}).get("ingress") or []
        ips = [
            i.get("ip") or i.get("hostname") for i in ingress if i.get("ip") or i.get("hostname")
        ]
        return ",".join(ips + external) or "<pending>"
    if kind == "ExternalName":
        return str(spec.get("externalName") or NONE)
    return ",".join(external) or NONE


def _service(obj: Mapping[str, Any], now: datetime) -> list[Any]:
    spec, status = _spec(obj), _status(obj)
    return [
        _meta(obj).get("name", ""),
        spec.get("type", "ClusterIP"),
        spec.get("clusterIP") or NONE,
        _external_ip(spec, status),
        _service_ports(spec.get("ports") or []),
        _created(obj, now),
        _selector_text(spec.get("selector"), plain_map=True),
    ]


def _node_status(obj: Mapping[str, Any]) -> str:
    conditions = _status(obj).get("conditions") or []
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    text = (
        "Unknown" if ready is None else ("Ready" if ready.get("status") == "True" else "NotReady")
    )
    if _spec(obj).get("unschedulable"):
        text += ",SchedulingDisabled"
    return text


def _node_roles(obj: Mapping[str, Any]) -> str:
    roles = set()
    for key, value in (_meta(obj).get("labels") or {}).items():
        if key.startswith("node-role.kubernetes.io/") and key.split("/", 1)[1]:
            roles.add(key.split("/", 1)[1])
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    return ",".join(sorted(roles)) or NONE


def _node(obj: Mapping[str, Any], now: datetime) -> list[Any]:
    status = _status(obj)
    info = status.get("nodeInfo") or {}
    addresses = status.get("addresses") or []

    def address(kind: str) -> str:
        return next((a["address"] for a in addresses if a.get("type") == kind), NONE)

    return [
        _meta(obj).get("name", ""),
        _node_status(obj),
        _node_roles(obj),
        _created(obj, now),
        info.get("kubeletVersion", ""),
        address("InternalIP"),
        address("ExternalIP"),
        info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


def _namespace(obj: Mapping[str, Any], now: datetime) -> list[Any]:
    return [_meta(obj).get("name", ""), _status(obj).get("phase", "Active"), _created(obj, now)]


def _event(obj: Mapping[str, Any], now: datetime) -> list[Any]:
    involved = obj.get("involvedObject") or {}
    last = obj.get("lastTimestamp") or obj.get("eventTime")
    first = obj.get("firstTimestamp") or last
    count = int(obj.get("count") or 1)
    last_seen = age(last, now)
    if count > 1:
        last_seen = f"{last_seen} (x{count} over {age(first, now)})"
    source = obj.get("source") or {}
    source_text = ", ".join(v for v in (source.get("component"), source.get("host")) if v)
    return [
        last_seen,
        obj.get("type", ""),
        obj.get("reason", ""),
        f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
        str(obj.get("message", "")).strip(),
        involved.get("fieldPath", ""),
        source_text,
        age(first, now),
        count,
        _meta(obj).get("name", ""),
    ]


def _generic(obj: Mapping[str, Any], now: datetime) -> list[Any]:
    return [_meta(obj).get("name", ""), _created(obj, now)]


_S, _I = "string", "integer"
_WORKLOAD_WIDE: list[Column] = [("Containers", _S, 1), ("Images", _S, 1), ("Selector", _S, 1)]
_PRINTERS: dict[str, tuple[list[Column], Cells]] = {
    "Pod": (
        [
            ("Name", _S, 0),
            ("Ready", _S, 0),
            ("Status", _S, 0),
            ("Restarts", _S, 0),
            ("Age", _S, 0),
            ("IP", _S, 1),
            ("Node", _S, 1),
            ("Nominated Node", _S, 1),
            ("Readiness Gates", _S, 1),
        ],
        _pod,
    ),
    "Deployment": (
        [
            ("Name", _S, 0),
            ("Ready", _S, 0),
            ("Up-to-date", _I, 0),
            ("Available", _I, 0),
            ("Age", _S, 0),
            *_WORKLOAD_WIDE,
        ],
        _deployment,
    ),
    "ReplicaSet": (
        [
            ("Name", _S, 0),
            ("Desired", _I, 0),
            ("Current", _I, 0),
            ("Ready", _I, 0),
            ("Age", _S, 0),
            *_WORKLOAD_WIDE,
        ],
        _replicas,
    ),
    "DaemonSet": (
        [
            ("Name", _S, 0),
            ("Desired", _I, 0),
            ("Current", _I, 0),
            ("Ready", _I, 0),
            ("Up-to-date", _I, 0),
            ("Available", _I, 0),
            ("Node Selector", _S, 0),
            ("Age", _S, 0),
            *_WORKLOAD_WIDE,
        ],
        _daemon_set,
    ),
    "Service": (
        [
            ("Name", _S, 0),
            ("Type", _S, 0),
            ("Cluster-IP", _S, 0),
            ("External-IP", _S, 0),
            ("Port(s)", _S, 0),
            ("Age", _S, 0),
            ("Selector", _S, 1),
        ],
        _service,
    ),
    "Node": (
        [
            ("Name", _S, 0),
            ("Status", _S, 0),
            ("Roles", _S, 0),
            ("Age", _S, 0),
            ("Version", _S, 0),
            ("Internal-IP", _S, 1),
            ("External-IP", _S, 1),
            ("OS-Image", _S, 1),
            ("Kernel-Version", _S, 1),
            ("Container-Runtime", _S, 1),
        ],
        _node,
    ),
    "Namespace": ([("Name", _S, 0), ("Status", _S, 0), ("Age", _S, 0)], _namespace),
    "Event": (
        [
            ("Last Seen", _S, 0),
            ("Type", _S, 0),
            ("Reason", _S, 0),
            ("Object", _S, 0),
            ("Message", _S, 0),
            ("Subobject", _S, 1),
            ("Source", _S, 1),
            ("First Seen", _S, 1),
            ("Count", _I, 1),
            ("Name", _S, 1),
        ],
        _event,
    ),
}
_PRINTERS["ReplicationController"] = _PRINTERS["ReplicaSet"]
_GENERIC: tuple[list[Column], Cells] = ([("Name", _S, 0), ("Age", _S, 0)], _generic)


def wants_table(accept: str) -> bool:
    return any("as=table" in part.replace(" ", "").lower() for part in accept.split(","))


def table_version(accept: str) -> str:
    for part in accept.split(","):
        compact = part.replace(" ", "").lower()
        if "as=table" in compact:
            return "meta.k8s.io/v1beta1" if "v=v1beta1" in compact else "meta.k8s.io/v1"
    return "meta.k8s.io/v1"


def _row_object(obj: Mapping[str, Any], include: str, api_version: str) -> JsonObject | None:
    if include == "None":
        return None
    if include == "Object":
        return dict(obj)
    return {"kind": "PartialObjectMetadata", "apiVersion": api_version, "metadata": _meta(obj)}


def table(
    kind: str,
    objects: Sequence[Mapping[str, Any]],
    *,
    resource_version: str = "",
    continue_token: str = "",
    include_object: str = "Metadata",
    api_version: str = "meta.k8s.io/v1",
    now: datetime | None = None,
) -> JsonObject:
    """A ``Table`` of ``objects`` (all of kind ``kind``), with every column and its priority."""
    now = now or datetime.now(UTC)
    columns, cells = _PRINTERS.get(kind, _GENERIC)
    metadata: JsonObject = {"resourceVersion": resource_version}
    if continue_token:
        metadata["continue"] = continue_token
    rows = []
    for obj in objects:
        row: JsonObject = {"cells": cells(obj, now)}
        included = _row_object(obj, include_object, api_version)
        if included is not None:
            row["object"] = included
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": api_version,
        "metadata": metadata,
        "columnDefinitions": [
            {
                "name": name,
                "type": kind_,
                "format": "name" if name == "Name" else "",
                "description": "",
                "priority": priority,
            }
            for name, kind_, priority in columns
        ],
        "rows": rows,
    }
