"""ReplicaSet controller + scheduler + hollow nodes against a real PostgreSQL."""

from __future__ import annotations

from dockyard.store.events import EventStore
from tests.integration.controllers_harness import control_plane, replicaset, running, wait_for


def test_replicaset_scales_up_and_down(store: EventStore, database_url: str) -> None:
    with control_plane(store, database_url) as (cluster, _, _):
        cluster.create(replicaset("web", 5))
        wait_for(lambda: len(running(cluster.pods())) == 5, what="5 running pods")
        pods = cluster.pods()
        assert {p["spec"]["nodeName"] for p in pods} == {"node-0", "node-1", "node-2"}
        assert all(p["metadata"]["name"].startswith("web-") for p in pods)
        assert all(p["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet" for p in pods)
        wait_for(
            lambda: (
                (cluster.get("ReplicaSet", "web") or {}).get("status", {}).get("readyReplicas") == 5
            ),
            what="status readyReplicas 5",
        )
        cluster.patch("ReplicaSet", "web", lambda b: b["spec"].update(replicas=2))
        wait_for(lambda: len(cluster.pods(live=False)) == 2, what="scale down to 2")
        created = cluster.kube_events("SuccessfulCreate")
        deleted = cluster.kube_events("SuccessfulDelete")
        assert len(created) == 5 and len(deleted) == 3
        assert created[0]["metadata"]["actor"] == "system:controller:replicaset-controller"
        assert created[0]["metadata"]["source"] == "controller-manager"
        assert isinstance(created[0]["metadata"]["causation"], int)
        assert len(cluster.kube_events("Scheduled")) == 5
