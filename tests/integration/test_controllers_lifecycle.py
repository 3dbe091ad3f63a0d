"""Node loss and eviction, namespace deletion, garbage collection, DaemonSets, RCs."""

from __future__ import annotations

from typing import Any

from dockyard.controllers.namespace import namespace_is_terminating
from dockyard.store.events import EventStore
from dockyard.store.writer import ObjectKey
from tests.integration.controllers_harness import (
    USER,
    control_plane,
    deployment,
    replicaset,
    running,
    wait_for,
)


def _ready(node: dict[str, Any] | None) -> str:
    for condition in ((node or {}).get("status") or {}).get("conditions") or ():
        if condition["type"] == "Ready":
            return str(condition["status"])
    return ""


def test_node_loss_marks_unknown_once_and_evicts_pods(store: EventStore, database_url: str) -> None:
    with control_plane(store, database_url) as (cluster, _, hollow):
        cluster.create(replicaset("web", 6))
        wait_for(lambda: len(running(cluster.pods())) == 6, what="6 running")
        lost = {p["metadata"]["name"] for p in cluster.pods() if p["spec"]["nodeName"] == "node-0"}
        assert lost
        hollow.kill("node-0")
        wait_for(lambda: _ready(cluster.get("Node", "node-0", "")) == "Unknown", what="Unknown")
        node = cluster.get("Node", "node-0", "") or {}
        assert {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}.items() <= node[
            "spec"
        ]["taints"][0].items()
        # Toleration (2 s in tests) runs out: the pods are replaced on the other nodes.
        wait_for(
            lambda: (
                len(running(cluster.pods())) == 6
                and all(p["spec"]["nodeName"] != "node-0" for p in cluster.pods(live=False))
            ),
            timeout=30,
            what="pods recreated elsewhere",
        )
        assert not lost & {p["metadata"]["name"] for p in cluster.pods()}
        not_ready = [
            e
            for e in cluster.kube_events("NodeNotReady")
            if e["involved_object"]["name"] == "node-0"
        ]
        assert len(not_ready) == 1, "one event per transition, not per check"
        assert cluster.kube_events("TaintManagerEviction")
        assert _ready(cluster.get("Node", "node-1", "")) == "True"


def test_namespace_deletion_empties_then_removes_it(store: EventStore, database_url: str) -> None:
    with control_plane(store, database_url) as (cluster, _, _):
        cluster.create(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}, "spec": {}}
        )
        body = deployment("web", 3)
        body["metadata"]["namespace"] = "team"
        cluster.create(body)
        wait_for(lambda: len(running(cluster.pods("team"))) == 3, what="pods in team")
        cluster.writer.delete(ObjectKey("Namespace", "", "team"), actor=USER, graceful=True)
        with store.engine.connect() as conn:
            assert namespace_is_terminating(conn, "team")
            assert not namespace_is_terminating(conn, "default")
        wait_for(lambda: cluster.get("Namespace", "team", "") is None, what="namespace gone")
        assert cluster.list("Pod", "team") == [] and cluster.list("Deployment", "team") == []
        assert cluster.list("ReplicaSet", "team") == []


def _delete_with(cluster: Any, kind: str, name: str, finalizer: str | None) -> None:
    if finalizer is not None:
        cluster.patch(kind, name, lambda b: b["metadata"].update(finalizers=[finalizer]))
        cluster.writer.delete(ObjectKey(kind, "default", name), actor=USER, graceful=True)
    else:
        cluster.writer.delete(ObjectKey(kind, "default", name), actor=USER)


def test_garbage_collection_background_foreground_orphan(
    store: EventStore, database_url: str
) -> None:
    with control_plane(store, database_url) as (cluster, _, _):
        for name in ("bg", "fg", "orphan"):
            cluster.create(replicaset(name, 2))
        wait_for(lambda: len(running(cluster.pods())) == 6, what="6 pods")

        def pods_of(name: str) -> list[dict[str, Any]]:
            return [p for p in cluster.list("Pod") if p["metadata"]["name"].startswith(name + "-")]

        _delete_with(cluster, "ReplicaSet", "bg", None)
        wait_for(lambda: not pods_of("bg"), what="background: dependents deleted")

        _delete_with(cluster, "ReplicaSet", "fg", "foregroundDeletion")
        wait_for(lambda: cluster.get("ReplicaSet", "fg") is None, what="foreground: owner gone")
        assert not pods_of("fg"), "the owner goes only after its dependents"

        _delete_with(cluster, "ReplicaSet", "orphan", "orphan")
        wait_for(lambda: cluster.get("ReplicaSet", "orphan") is None, what="orphan: owner gone")
        survivors = pods_of("orphan")
        assert len(survivors) == 2
        assert all(not p["metadata"].get("ownerReferences") for p in survivors)


def test_daemonset_follows_nodes(store: EventStore, database_url: str) -> None:
    with control_plane(store, database_url) as (cluster, _, _):
        labels = {"app": "agent"}
        cluster.create(
            {
                "apiVersion": "apps/v1",
                "kind": "DaemonSet",
                "metadata": {"name": "agent", "namespace": "default"},
                "spec": {
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {"containers": [{"name": "a", "image": "busybox:1"}]},
                    },
                },
            }
        )
        wait_for(lambda: len(running(cluster.pods())) == 3, what="one pod per node")
        assert sorted(p["spec"]["nodeName"] for p in cluster.pods()) == [
            "node-0",
            "node-1",
            "node-2",
        ]
        status = wait_for(
            lambda: (
                (cluster.get("DaemonSet", "agent") or {}).get("status", {}).get("numberReady") == 3
                and cluster.get("DaemonSet", "agent")
            ),
            what="status",
        )
        assert status["status"]["desiredNumberScheduled"] == 3


def test_replication_controller_uses_equality_selector(
    store: EventStore, database_url: str
) -> None:
    with control_plane(store, database_url) as (cluster, _, _):
        cluster.create(
            {
                "apiVersion": "v1",
                "kind": "ReplicationController",
                "metadata": {"name": "rc", "namespace": "default"},
                "spec": {
                    "replicas": 3,
                    "template": {
                        "metadata": {"labels": {"app": "rc"}},
                        "spec": {"containers": [{"name": "a", "image": "busybox:1"}]},
                    },
                },
            }
        )
        wait_for(lambda: len(running(cluster.pods())) == 3, what="3 pods")
        events = cluster.kube_events("SuccessfulCreate")
        assert events[0]["source"] == "replication-controller"


def test_replicaset_bad_specs(store: EventStore, database_url: str) -> None:
    with control_plane(store, database_url) as (cluster, _, _):
        cluster.create(replicaset("mismatch", 2, labels={"app": "other"}))
        body = replicaset("negative", 1)
        body["spec"]["replicas"] = -3
        cluster.create(body)
        for name, text in (("mismatch", "does not match template"), ("negative", "-3")):
            condition = wait_for(
                lambda name=name: [
                    c
                    for c in ((cluster.get("ReplicaSet", name) or {}).get("status") or {}).get(
                        "conditions"
                    )
                    or ()
                    if c["type"] == "ReplicaFailure"
                ],
                what=f"{name} condition",
            )[0]
            assert text in condition["message"]
        assert cluster.pods() == []
        cluster.patch("ReplicaSet", "negative", lambda b: b["spec"].update(replicas=1))
        wait_for(lambda: len(running(cluster.pods())) == 1, what="fixed spec converges")
