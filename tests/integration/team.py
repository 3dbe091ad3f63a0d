"""Objects of the namespace "team", shared by the sync and async write-path tests."""

from __future__ import annotations

from typing import Any

from dockyard.store.append_errors import RequiredObject
from dockyard.store.writer import Actor

BOB = Actor("bob", source="test")
NS = RequiredObject("Namespace", "", "team")


def pod(name: str, namespace: str = "team", **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"containers": [{"name": "app", "image": "busybox:latest"}]},
    }


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
