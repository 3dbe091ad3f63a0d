"""Short descriptions for ``kubectl explain``: of types (by Kubernetes short name) and fields.

A field's text is looked up on its model class (and the classes it inherits from) in
openapi_text_fields.py, then by its wire name in ``COMMON`` for the names every kind shares.
A type's text is ``TYPES[short name]``, else the model's own docstring. tests/api/test_openapi.py
checks that every field of every served kind ends up with one, so a new field cannot ship bare.
"""

from __future__ import annotations

import inspect

from pydantic import BaseModel

from dockyard.server.openapi_text_fields import FIELDS

COMMON: dict[str, str] = {
    "apiVersion": "APIVersion defines the versioned schema of this representation of an object.",
    "kind": "Kind is a string value representing the REST resource this object represents.",
    "metadata": "Standard object's metadata: name, namespace, labels, annotations, owners.",
    "listMetadata": "Standard list metadata.",
    "spec": "The desired state, as written by the user.",
    "status": "The most recently observed state. Populated by the system; read-only.",
    "name": "Name of the referent, unique within its scope.",
    "namespace": "Namespace of the referent.",
    "uid": "UID of the referent, set by the system.",
    "resourceVersion": "The log position of the referent's last change.",
    "type": "Type of the condition or item.",
    "reason": "A one-word CamelCase reason for the last transition.",
    "message": "A human-readable message with details about the last transition.",
    "lastTransitionTime": "Last time the condition went from one status to another.",
    "lastUpdateTime": "The last time this condition was updated.",
    "lastProbeTime": "Last time the condition was probed.",
    "lastHeartbeatTime": "Last time the node reported this condition.",
    "conditions": "The latest observations of the object's state.",
    "replicas": "Number of desired pods (spec) or of existing pods (status).",
    "readyReplicas": "Number of pods with a Ready condition.",
    "availableReplicas": "Number of pods ready for at least minReadySeconds.",
    "updatedReplicas": "Number of pods running the current pod template.",
    "unavailableReplicas": "Number of pods still needed for 100% availability.",
    "fullyLabeledReplicas": "Number of pods whose labels match the pod template's labels.",
    "terminatingReplicas": "Number of pods being deleted (with a deletionTimestamp).",
    "observedGeneration": "The metadata.generation the controller last acted on.",
    "collisionCount": "Count of hash collisions, used to name new revisions.",
    "selector": "A label query over pods; must match the pod template's labels.",
    "template": "The pod template: the pods the controller creates from it.",
    "minReadySeconds": "Seconds a new pod must be ready, without crashing, to count as available.",
    "revisionHistoryLimit": "How many old revisions to keep to allow rollback. Defaults to 10.",
    "key": "The key.",
    "value": "The value.",
    "values": "An array of string values, used by the In and NotIn operators.",
    "operator": "The operator relating key and values: In, NotIn, Exists, DoesNotExist.",
    "optional": "Whether the referent may be missing.",
    "host": "Host name or IP to connect to; defaults to the pod IP.",
    "port": "Port number (or, where allowed, port name) to connect to.",
    "ip": "IP address.",
    "items": "Which keys to project as files, and where; all keys when empty.",
    "defaultMode": "Mode bits (octal) of the created files. Defaults to 0644.",
    "readOnly": "Mount read-only when true.",
    "exec": "Run a command in the container.",
    "httpGet": "Send an HTTP GET request.",
    "tcpSocket": "Open a TCP connection.",
    "maxSurge": "Pods that may be created above the desired count during an update (or %).",
    "maxUnavailable": "Pods that may be unavailable during an update (number or %).",
    "rollingUpdate": "Rolling update parameters; only when type is RollingUpdate.",
    "finalizers": "Must be empty before the object is deleted from storage.",
    "containerID": "Container ID as <type>://<id>.",
    "startedAt": "Time at which the container started.",
    "protocol": "Protocol: TCP, UDP or SCTP. Defaults to TCP.",
    "timeoutSeconds": "Seconds after which the operation times out.",
    "labelSelector": "A label query; unset selects every pod.",
    "dryRun": "When All, the request is validated but nothing is persisted.",
}
TYPES: dict[str, str] = {
    "Time": "Time is an RFC 3339 date-time in UTC, e.g. 2006-01-02T15:04:05Z.",
    "IntOrString": "An int or a string (for example a port number or name, or 25%).",
    "Quantity": "A fixed-point number with a suffix, e.g. 500m, 128Mi, 1.",
    "Pod": "Pod is a collection of containers that run together on a node.",
    "PodSpec": "PodSpec is a description of a pod.",
    "PodStatus": "PodStatus is the observed state of a pod, reported by the node agent.",
    "PodTemplateSpec": "PodTemplateSpec describes the pods a controller creates.",
    "Container": "A single application container that you want to run within a pod.",
    "ObjectMeta": "ObjectMeta is metadata that all persisted resources must have.",
    "ListMeta": "ListMeta describes a list: its resourceVersion and continue token.",
    "Deployment": "Deployment enables declarative updates for Pods and ReplicaSets.",
    "DeploymentSpec": "DeploymentSpec is the desired behavior of a Deployment.",
    "DeploymentStrategy": "DeploymentStrategy: how to replace existing pods with new ones.",
    "ReplicaSet": "ReplicaSet ensures that a specified number of pod replicas are running.",
    "DaemonSet": "DaemonSet runs one copy of a pod on every eligible node.",
    "ReplicationController": "ReplicationController keeps a number of pod replicas running.",
    "Namespace": "Namespace provides a scope for names.",
    "Node": "Node is a worker in Dockyard: a machine running the node agent and Docker.",
    "Service": "Service is a named abstraction of software service: a port and a pod selector.",
    "AlertRoute": "AlertRoute sends alerts about pod and node failures to a Slack channel "
    "or a webhook.",
    "AlertRouteSpec": "Which failures an AlertRoute matches, and where they go.",
    "Destination": "Where alerts go: exactly one of slack or webhook.",
    "QuietHours": "Alerts in [start, end) local time are held until end, not dropped.",
    "Event": "Event is a report of an event somewhere in the cluster.",
    "ObjectReference": "ObjectReference identifies an object.",
    "Status": "Status is the result of an operation that does not return an object.",
    "DeleteOptions": "DeleteOptions may be provided when deleting an API object.",
    "Patch": "Patch is the body of a PATCH request (JSON, merge or strategic merge patch).",
    "Scale": "Scale represents a scaling request for a resource.",
    "LabelSelector": "A label query over objects. Empty selects everything; unset selects nothing.",
    "Condition": "Condition is one aspect of the current state of an object.",
}


def type_description(short_name: str, model: type[BaseModel] | None = None) -> str:
    if short_name in TYPES:
        return TYPES[short_name]
    doc = model.__dict__.get("__doc__") if model is not None else None
    if doc:
        return inspect.cleandoc(doc).split("\n\n")[0].replace("\n", " ")
    return _spaced(short_name) + "."


def field_description(owner: type[BaseModel], wire: str) -> str:
    for cls in owner.__mro__:
        text = FIELDS.get(cls.__name__, {}).get(wire)
        if text:
            return text
    return COMMON.get(wire, "")


def _spaced(name: str) -> str:
    """``HTTPGetAction`` -> ``HTTP get action``: a readable default for a plain value type."""
    words: list[str] = []
    for index, char in enumerate(name):
        starts_word = (
            char.isupper()
            and index
            and (
                not name[index - 1].isupper()
                or (index + 1 < len(name) and name[index + 1].islower())
            )
        )
        if starts_word:
            words.append(" ")
        words.append(char)
    parts = "".join(words).split(" ")
    text = " ".join(w if w.isupper() and len(w) > 1 else w.lower() for w in parts)
    return text[0].upper() + text[1:]
