"""A control plane on a test database: controller manager + hollow nodes + helpers."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from dockyard.controllers.hollow import HollowNodes
from dockyard.controllers.manager import ControllerManager
from dockyard.settings import Settings
from dockyard.store.events import EventStore
from dockyard.store.writer import Actor, ObjectKey, ObjectWriter

T = TypeVar("T")
USER = Actor(name="tester", source="test")


def fast_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "controller_resync_seconds": 2.0,
        "controller_backoff_cap_seconds": 1.0,
        "node_monitor_grace_seconds": 2.0,
        "node_startup_grace_seconds": 3.0,
        "node_monitor_period_seconds": 0.5,
        "pod_eviction_toleration_seconds": 2,
        "leader_retry_seconds": 0.3,
        "poll_interval_seconds": 0.2,
    }
    values.update(overrides)
    return Settings(**values)


def wait_for(check: Callable[[], T], *, timeout: float = 20.0, what: str = "condition") -> T:
    """Poll ``check`` until it returns something truthy; fail with ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    last: T = check()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what} (last: {last!r})")
        time.sleep(0.05)
        last = check()
    return last


class Cluster:
    def __init__(self, store: EventStore, database_url: str, settings: Settings) -> None:
        self.store, self.url, self.settings = store, database_url, settings
        self.writer = ObjectWriter(store)

    # -- objects ----------------------------------------------------------------------------

    def create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return self.writer.create(body, actor=USER)

    def get(self, kind: str, name: str, namespace: str = "default") -> dict[str, Any] | None:
        stored = self.writer.get(ObjectKey(kind, namespace, name))
        return stored.body if stored else None

    def patch(
        self,
        kind: str,
        name: str,
        change: Callable[[dict[str, Any]], None],
        namespace: str = "default",
    ) -> None:
        for _ in range(20):
            stored = self.writer.get(ObjectKey(kind, namespace, name))
            assert stored is not None
            body = copy.deepcopy(stored.body)
            change(body)
            try:
                self.writer.update(body, actor=USER)
                return
            except Exception:  # a controller wrote in between: read again
                time.sleep(0.05)
        raise AssertionError(f"could not update {kind} {name}")

    def list(self, kind: str, namespace: str | None = "default") -> list[dict[str, Any]]:
        sql = "SELECT body FROM objects WHERE kind = %s"
        params: tuple[Any, ...] = (kind,)
        if namespace is not None:
            sql += " AND namespace = %s"
            params = (kind, namespace)
        with self.store.engine.connect() as conn:
            return [r[0] for r in conn.exec_driver_sql(sql + " ORDER BY name", params).all()]

    def pods(self, namespace: str = "default", *, live: bool = True) -> list[dict[str, Any]]:
        pods = self.list("Pod", namespace)
        if live:
            pods = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        return pods

    def kube_events(self, reason: str | None = None) -> list[dict[str, Any]]:
        events = self.store.read_all(after=0, limit=100_000, types=["KubeEventRecorded"])
        return [
            {**e.data, "metadata": e.metadata}
            for e in events
            if reason is None or e.data["reason"] == reason
        ]


@contextmanager
def control_plane(
    store: EventStore, database_url: str, *, nodes: int = 3, **overrides: Any
) -> Iterator[tuple[Cluster, ControllerManager, HollowNodes]]:
    settings = fast_settings(database_url, **overrides)
    hollow = HollowNodes(
        store, database_url, [f"node-{i}" for i in range(nodes)], renew_interval=0.3
    )
    hollow.start()
    manager = ControllerManager(store, database_url, settings, identity="cp-1").start()
    try:
        assert manager.elector.wait_until_leading(10)
        yield Cluster(store, database_url, settings), manager, hollow
    finally:
        manager.stop()
        hollow.stop()


def deployment(
    name: str, replicas: int, *, image: str = "busybox:1", **spec: Any
) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "main", "image": image}]},
            },
            **spec,
        },
    }


def replicaset(
    name: str, replicas: int, *, labels: Mapping[str, str] | None = None
) -> dict[str, Any]:
    labels = dict(labels or {"app": name})
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "main", "image": "busybox:1"}]},
            },
        },
    }


def running(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in pods if (p.get("status") or {}).get("phase") == "Running"]
