"""Deletion through the API: graceful pods, Terminating namespaces, and the propagation
policies' contract with the garbage collector (run in-process here, on the same database)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest

from dockyard.controllers.context import ControllerContext
from dockyard.controllers.garbage_collector import GarbageCollector
from dockyard.controllers.runtime import ControllerRuntime, ObjectCache
from dockyard.store.writer import ObjectWriter
from tests.api.conftest import ApiServer
from tests.integration.controllers_harness import fast_settings

T = TypeVar("T")
PODS = "/api/v1/namespaces/default/pods"
RS = "/apis/apps/v1/namespaces/default/replicasets"


def wait_for(check: Callable[[], T], *, timeout: float = 15.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return value


def pod(name: str, *, node: str = "", owner: dict[str, Any] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {"app": "web"}}
    if owner is not None:
        meta["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"],
                "controller": True,
            }
        ]
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox:latest"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def replicaset(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "busybox:latest"}]},
            },
        },
    }


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_graceful_pod_deletion_records_the_grace_period(api: ApiServer) -> None:
    with api.client() as c:
        created(c.post(PODS, json=pod("bound", node="n1")))
        response = c.delete(f"{PODS}/bound", params={"gracePeriodSeconds": "7"})
        assert response.status_code == 202, response.text
        meta = c.get(f"{PODS}/bound").json()["metadata"]
        assert meta["deletionTimestamp"] and meta["deletionGracePeriodSeconds"] == 7
        # A shorter grace period shortens the deletion in progress; a longer one does not.
        c.request("DELETE", f"{PODS}/bound", json={"gracePeriodSeconds": 3})
        assert c.get(f"{PODS}/bound").json()["metadata"]["deletionGracePeriodSeconds"] == 3
        c.delete(f"{PODS}/bound", params={"gracePeriodSeconds": "20"})
        assert c.get(f"{PODS}/bound").json()["metadata"]["deletionGracePeriodSeconds"] == 3
        # gracePeriodSeconds=0 deletes at once, even a pod already terminating.
        assert c.delete(f"{PODS}/bound", params={"gracePeriodSeconds": "0"}).status_code == 200
        assert c.get(f"{PODS}/bound").status_code == 404
        # Without a grace period: the pod's terminationGracePeriodSeconds (default 30).
        created(c.post(PODS, json=pod("default-grace", node="n1")))
        assert c.delete(f"{PODS}/default-grace").status_code == 202
        meta = c.get(f"{PODS}/default-grace").json()["metadata"]
        assert meta["deletionGracePeriodSeconds"] == 30
        # An unbound pod has nothing to stop: deleted at once.
        created(c.post(PODS, json=pod("unbound")))
        assert c.delete(f"{PODS}/unbound").status_code == 200
        assert c.get(f"{PODS}/unbound").status_code == 404


def test_terminating_namespace_refuses_new_content(api: ApiServer) -> None:
    with api.client() as c:
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doomed"}}
        created(c.post("/api/v1/namespaces", json=namespace))
        ns_pods = "/api/v1/namespaces/doomed/pods"
        created(c.post(ns_pods, json=pod("before")))
        assert c.delete("/api/v1/namespaces/doomed").status_code == 202
        state = c.get("/api/v1/namespaces/doomed").json()
        assert state["status"]["phase"] == "Terminating"
        assert state["metadata"]["deletionTimestamp"]
        before = api.ctx.store.head_position()
        response = c.post(ns_pods, json=pod("after"))
        assert response.status_code == 403, response.text
        body = response.json()
        assert body["reason"] == "Forbidden"
        assert body["message"].endswith(
            "unable to create new content in namespace doomed because it is being terminated"
        )
        assert api.ctx.store.head_position() == before  # nothing written
        # Existing content stays readable (the namespace controller removes it).
        assert c.get(f"{ns_pods}/before").status_code == 200


@pytest.fixture
def collector(api: ApiServer) -> Iterator[ControllerRuntime]:
    """The garbage collector alone, following the log of the API server's database."""
    settings = fast_settings(api.ctx.database_url)
    cache = ObjectCache()
    cache.load(api.ctx.engine)
    ctx = ControllerContext(ObjectWriter(api.ctx.store), cache, settings)
    runtime = ControllerRuntime(
        api.ctx.store,
        api.ctx.database_url,
        cache,
        [GarbageCollector(ctx)],
        poll_interval=0.2,
        backoff_cap=0.5,
    )
    runtime.start()
    try:
        yield runtime
    finally:
        runtime.stop()


def deleted_positions(api: ApiServer, *names: str) -> dict[str, int]:
    with api.ctx.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT data -> 'object' -> 'metadata' ->> 'name', position FROM events "
            "WHERE type = 'ObjectDeleted' AND data -> 'object' -> 'metadata' ->> 'name' = ANY(%s)",
            (list(names),),
        ).all()
    return {str(r[0]): int(r[1]) for r in rows}


def test_foreground_deletion_removes_dependents_first(
    api: ApiServer, collector: ControllerRuntime
) -> None:
    with api.client() as c:
        owner = created(c.post(RS, json=replicaset("fg")))
        for name in ("fg-a", "fg-b"):
            created(c.post(PODS, json=pod(name, owner=owner)))
        response = c.request("DELETE", f"{RS}/fg", json={"propagationPolicy": "Foreground"})
        assert response.status_code == 202, response.text
        meta = response.json()["metadata"]
        assert meta["deletionTimestamp"] and "foregroundDeletion" in meta["finalizers"]
        wait_for(lambda: c.get(f"{RS}/fg").status_code == 404, what="the owner to go")
        positions = deleted_positions(api, "fg", "fg-a", "fg-b")
        assert set(positions) == {"fg", "fg-a", "fg-b"}
        assert positions["fg"] > max(positions["fg-a"], positions["fg-b"])


def test_orphan_deletion_keeps_dependents_without_the_reference(
    api: ApiServer, collector: ControllerRuntime
) -> None:
    with api.client() as c:
        owner = created(c.post(RS, json=replicaset("orph")))
        created(c.post(PODS, json=pod("orph-a", owner=owner)))
        response = c.delete(f"{RS}/orph", params={"propagationPolicy": "Orphan"})
        assert response.status_code == 202, response.text
        assert "orphan" in response.json()["metadata"]["finalizers"]
        wait_for(lambda: c.get(f"{RS}/orph").status_code == 404, what="the owner to go")
        dependent = c.get(f"{PODS}/orph-a").json()
        assert (
            "ownerReferences" not in dependent["metadata"]
            or not (dependent["metadata"]["ownerReferences"])
        )
        assert "deletionTimestamp" not in dependent["metadata"]


def test_background_deletion_leaves_dependents_to_the_collector(
    api: ApiServer, collector: ControllerRuntime
) -> None:
    with api.client() as c:
        owner = created(c.post(RS, json=replicaset("bg")))
        created(c.post(PODS, json=pod("bg-a", owner=owner)))
        assert c.delete(f"{RS}/bg").status_code == 200  # the owner goes at once
        assert c.get(f"{RS}/bg").status_code == 404
        wait_for(lambda: c.get(f"{PODS}/bg-a").status_code == 404, what="the dependent to go")


def test_finalizer_removal_completes_a_pending_deletion(api: ApiServer) -> None:
    with api.client() as c:
        body = replicaset("held")
        body["metadata"]["finalizers"] = ["example.com/hold"]
        created(c.post(RS, json=body))
        assert c.delete(f"{RS}/held").status_code == 202
        assert c.get(f"{RS}/held").json()["metadata"]["deletionTimestamp"]
        patch = {"metadata": {"finalizers": None}}
        headers = {"content-type": "application/merge-patch+json"}
        assert c.patch(f"{RS}/held", json=patch, headers=headers).status_code == 200
        assert c.get(f"{RS}/held").status_code == 404
