"""How the node agent reaches the control plane: a small Protocol and its store-backed form.

The agent needs six things from the control plane: the pods bound to its node, registering its
Node, renewing its lease, appending what it observed, writing pod status, and removing a pod
whose containers are gone. :class:`StoreControlPlane` does them directly against PostgreSQL;
an HTTP implementation (so an agent on another host needs no database credentials) can take
its place without the agent changing.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from dockyard.store.events import EventStore, NewEvent, RecordedEvent
from dockyard.store.writer import Actor, NotFound, ObjectKey, ObjectWriter

__all__ = ["ControlPlaneClient", "StoreControlPlane", "node_actor"]

JsonObject = dict[str, Any]


def node_actor(node: str) -> Actor:
    return Actor(name=f"system:node:{node}", groups=("system:nodes",), source="agent")


class ControlPlaneClient(Protocol):
    def pods_for_node(self, node: str) -> list[JsonObject]:
        """Every Pod object whose ``spec.nodeName`` is ``node`` (terminating ones included)."""
        ...

    def pod_versions(self, node: str) -> dict[str, str]:
        """``{uid: resourceVersion}`` of the pods bound to ``node``: a cheap poll."""
        ...

    def pods_by_uid(self, uids: Sequence[str]) -> list[JsonObject]: ...

    def register_node(self, node: str, *, labels: Mapping[str, str], status: JsonObject) -> bool:
        """Create the Node object, or refresh its status; True when it was created."""
        ...

    def renew_lease(self, node: str, *, holder: str, duration_seconds: int) -> None: ...

    def append(self, events: Sequence[NewEvent]) -> list[RecordedEvent]: ...

    def read_stream(self, stream_id: str) -> list[RecordedEvent]: ...

    def update_pod_status(self, pod: Mapping[str, Any], status: JsonObject) -> JsonObject | None:
        """Write ``status`` through the status subresource; None if the pod is gone."""
        ...

    def remove_pod(self, namespace: str, name: str, uid: str) -> bool:
        """Delete the pod object for good (its containers are gone); False if already gone."""
        ...


class StoreControlPlane:
    """:class:`ControlPlaneClient` straight on the event store (same host or same database)."""

    def __init__(self, store: EventStore, node: str) -> None:
        self.store = store
        self.writer = ObjectWriter(store)
        self.actor = node_actor(node)

    def pods_for_node(self, node: str) -> list[JsonObject]:
        with self.store.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT body, resource_version FROM objects "
                "WHERE kind = 'Pod' AND spec->>'nodeName' = %s",
                (node,),
            ).all()
        pods = []
        for body, resource_version in rows:
            pod = dict(body)
            pod.setdefault("metadata", {})["resourceVersion"] = str(resource_version)
            pods.append(pod)
        return pods

    def pod_versions(self, node: str) -> dict[str, str]:
        with self.store.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT uid::text, resource_version FROM objects "
                "WHERE kind = 'Pod' AND spec->>'nodeName' = %s",
                (node,),
            ).all()
        return {str(uid): str(version) for uid, version in rows}

    def pods_by_uid(self, uids: Sequence[str]) -> list[JsonObject]:
        if not uids:
            return []
        with self.store.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT body, resource_version FROM objects "
                "WHERE kind = 'Pod' AND uid::text = ANY(%s)",
                (list(uids),),
            ).all()
        pods = []
        for body, resource_version in rows:
            pod = dict(body)
            pod.setdefault("metadata", {})["resourceVersion"] = str(resource_version)
            pods.append(pod)
        return pods

    def register_node(self, node: str, *, labels: Mapping[str, str], status: JsonObject) -> bool:
        key = ObjectKey("Node", "", node)
        current = self.writer.get(key)
        if current is None:
            body: JsonObject = {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": node, "labels": dict(labels)},
                "spec": {},
            }
            self.writer.create(body, actor=self.actor)
            created = True
        else:
            created = False
        current = self.writer.get(key)
        assert current is not None
        updated = copy.deepcopy(current.body)
        updated["status"] = status
        updated["metadata"].pop("resourceVersion", None)
        self.writer.update(updated, actor=self.actor, status_only=True)
        return created

    def renew_lease(self, node: str, *, holder: str, duration_seconds: int) -> None:
        with self.store.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO node_leases (node_name, holder, renewed_at, duration_seconds) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (node_name) DO UPDATE SET "
                "holder = EXCLUDED.holder, renewed_at = EXCLUDED.renewed_at, "
                "duration_seconds = EXCLUDED.duration_seconds",
                (node, holder, datetime.now(UTC), duration_seconds),
            )

    def append(self, events: Sequence[NewEvent]) -> list[RecordedEvent]:
        if not events:
            return []
        return self.store.append(events)

    def read_stream(self, stream_id: str) -> list[RecordedEvent]:
        return list(self.store.read_stream(stream_id))

    def update_pod_status(self, pod: Mapping[str, Any], status: JsonObject) -> JsonObject | None:
        body = copy.deepcopy(dict(pod))
        body["status"] = status
        body["metadata"].pop("resourceVersion", None)
        try:
            return self.writer.update(body, actor=self.actor, status_only=True)
        except NotFound:
            return None

    def remove_pod(self, namespace: str, name: str, uid: str) -> bool:
        key = ObjectKey("Pod", namespace, name)
        current = self.writer.get(key)
        if current is None or current.uid != uid:
            return False  # gone, or a new pod of that name took its place
        try:
            self.writer.delete(key, actor=self.actor)
        except NotFound:
            return False
        return True
