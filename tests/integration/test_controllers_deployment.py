"""Deployments end to end: rollouts, rollbacks, pause, progress deadline, bad specs."""

from __future__ import annotations

from typing import Any

from dockyard.store.events import EventStore
from tests.integration.controllers_harness import (
    Cluster,
    control_plane,
    deployment,
    running,
    wait_for,
)


def _condition(body: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    for condition in ((body or {}).get("status") or {}).get("conditions") or ():
        if condition["type"] == kind:
            return dict(condition)
    return {}


def _complete(cluster: Cluster, name: str, image: str, replicas: int) -> bool:
    body = cluster.get("Deployment", name) or {}
    status = body.get("status") or {}
    pods = running(cluster.pods())
    return (
        status.get("observedGeneration") == body["metadata"]["generation"]
        and status.get("updatedReplicas") == replicas
        and status.get("availableReplicas") == replicas
        and status.get("replicas") == replicas
        and len(pods) == replicas
        and all(p["spec"]["containers"][0]["image"] == image for p in pods)
    )


def _set_image(image: str) -> Any:
    def change(body: dict[str, Any]) -> None:
        body["spec"]["template"]["spec"]["containers"][0]["image"] = image

    return change


def _replay_bounds(store: EventStore, after: int) -> tuple[int, int]:
    """Over the log from ``after``: the highest sum of ReplicaSet spec.replicas and the lowest
    number of ready, non-terminating pods."""
    replicasets: dict[str, int] = {}
    ready: dict[str, bool] = {}
    highest, lowest = 0, 10**9
    for event in store.read_all(after=0, limit=100_000):
        body = (event.data or {}).get("object") or {}
        kind = body.get("kind")
        if kind == "ReplicaSet":
            replicasets[event.stream_id] = (
                0 if event.type == "ObjectDeleted" else body["spec"]["replicas"]
            )
        elif kind == "Pod":
            gone = event.type == "ObjectDeleted" or body["metadata"].get("deletionTimestamp")
            conditions = (body.get("status") or {}).get("conditions") or ()
            is_ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
            ready[event.stream_id] = bool(is_ready and not gone)
        else:
            continue
        if event.position > after:
            highest = max(highest, sum(replicasets.values()))
            lowest = min(lowest, sum(ready.values()))
    return highest, lowest


def test_rolling_update_respects_surge_and_unavailable(
    store: EventStore, database_url: str
) -> None:
    with control_plane(store, database_url) as (cluster, _, _):
        strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}}
        cluster.create(deployment("web", 4, strategy=strategy))
        wait_for(lambda: _complete(cluster, "web", "busybox:1", 4), what="first rollout")
        start = store.head_position()
        cluster.patch("Deployment", "web", _set_image("busybox:2"))
        wait_for(lambda: _complete(cluster, "web", "busybox:2", 4), what="rolling update")
        highest, lowest = _replay_bounds(store, start)
        assert highest <= 5, f"surge exceeded: {highest} replicas"
        assert lowest >= 3, f"too many unavailable: {lowest} ready"
        rss = cluster.list("ReplicaSet")
        assert len(rss) == 2
        revisions = sorted(
            r["metadata"]["annotations"]["deployment.kubernetes.io/revision"] for r in rss
        )
        assert revisions == ["1", "2"]
        assert all("pod-template-hash" in r["spec"]["selector"]["matchLabels"] for r in rss)
        scaling = cluster.kube_events("ScalingReplicaSet")
        assert (
            scaling and scaling[0]["metadata"]["actor"] == "system:controller:deployment-controller"
        )
        body = cluster.get("Deployment", "web")
        assert _condition(body, "Progressing")["reason"] == "NewReplicaSetAvailable"
        assert _condition(body, "Available")["status"] == "True"


def test_rollback_by_template_and_by_annotation(store: EventStore, database_url: str) -> None:
    with control_plane(store, database_url) as (cluster, _, _):
        cluster.create(deployment("web", 2))
        wait_for(lambda: _complete(cluster, "web", "busybox:1", 2), what="v1")
        cluster.patch("Deployment", "web", _set_image("busybox:2"))
        wait_for(lambda: _complete(cluster, "web", "busybox:2", 2), what="v2")
        # kubectl rollout undo: the template of revision 1 is written back.
        cluster.patch("Deployment", "web", _set_image("busybox:1"))
        wait_for(lambda: _complete(cluster, "web", "busybox:1", 2), what="undo to v1")
        rss = {
            r["spec"]["template"]["spec"]["containers"][0]["image"]: r
            for r in cluster.list("ReplicaSet")
        }
        assert len(rss) == 2, "the old ReplicaSet is reused, not a new one"
        assert (
            rss["busybox:1"]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
        )
        # The annotation form: back to revision 2 (busybox:2).
        cluster.patch(
            "Deployment",
            "web",
            lambda b: (
                b["metadata"]
                .setdefault("annotations", {})
                .update({"deprecated.deployment.rollback.to": "2"})
            ),
        )
        wait_for(lambda: _complete(cluster, "web", "busybox:2", 2), what="rollback to revision 2")
        assert cluster.kube_events("DeploymentRollback")
        # A revision that does not exist: a warning, the annotation is dropped, nothing stuck.
        cluster.patch(
            "Deployment",
            "web",
            lambda b: b["metadata"]["annotations"].update(
                {"deprecated.deployment.rollback.to": "99"}
            ),
        )
        wait_for(lambda: cluster.kube_events("DeploymentRollbackRevisionNotFound"), what="warning")
        wait_for(
            lambda: (
                "deprecated.deployment.rollback.to"
                not in (cluster.get("Deployment", "web") or {})["metadata"]["annotations"]
            ),
            what="annotation removed",
        )
        assert _complete(cluster, "web", "busybox:2", 2)


def test_paused_rollout_waits_until_resumed(store: EventStore, database_url: str) -> None:
    with control_plane(store, database_url) as (cluster, _, _):
        cluster.create(deployment("web", 2))
        wait_for(lambda: _complete(cluster, "web", "busybox:1", 2), what="v1")

        def pause_and_change(body: dict[str, Any]) -> None:
            body["spec"]["paused"] = True
            body["spec"]["template"]["spec"]["containers"][0]["image"] = "busybox:2"

        cluster.patch("Deployment", "web", pause_and_change)
        wait_for(
            lambda: (
                _condition(cluster.get("Deployment", "web"), "Progressing").get("reason")
                == "DeploymentPaused"
            ),
            what="paused condition",
        )
        assert len(cluster.list("ReplicaSet")) == 1, "no new ReplicaSet while paused"
        cluster.patch("Deployment", "web", lambda b: b["spec"].update(paused=False))
        wait_for(lambda: _complete(cluster, "web", "busybox:2", 2), what="rollout after resume")


def test_stuck_rollout_hits_progress_deadline(store: EventStore, database_url: str) -> None:
    with control_plane(store, database_url) as (cluster, _, _):
        cluster.create(deployment("web", 2, progressDeadlineSeconds=2))
        wait_for(lambda: _complete(cluster, "web", "busybox:1", 2), what="v1")

        def unschedulable(body: dict[str, Any]) -> None:
            body["spec"]["template"]["spec"]["nodeSelector"] = {"disk": "none-has-this"}

        cluster.patch("Deployment", "web", unschedulable)
        wait_for(
            lambda: (
                _condition(cluster.get("Deployment", "web"), "Progressing").get("reason")
                == "ProgressDeadlineExceeded"
            ),
            timeout=30,
            what="ProgressDeadlineExceeded",
        )
        body = cluster.get("Deployment", "web")
        assert _condition(body, "Progressing")["status"] == "False"
        assert len(running(cluster.pods())) >= 1, "old pods keep serving"
        pending = [p for p in cluster.pods() if "nodeName" not in p["spec"]]
        assert pending
        condition = _condition(pending[0], "PodScheduled")
        assert condition["status"] == "False" and condition["reason"] == "Unschedulable"
        assert "node(s) didn't match Pod's node affinity/selector" in condition["message"]
        assert cluster.kube_events("FailedScheduling")


def test_bad_specs_get_a_condition_not_a_stuck_controller(
    store: EventStore, database_url: str
) -> None:
    with control_plane(store, database_url) as (cluster, _, _):
        mismatched = deployment("mismatch", 2)
        mismatched["spec"]["selector"] = {"matchLabels": {"app": "other"}}
        cluster.create(mismatched)
        negative = deployment("negative", -1)
        cluster.create(negative)
        zero = deployment(
            "zero",
            2,
            strategy={
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0},
            },
        )
        cluster.create(zero)
        for name, text in (("mismatch", "does not match template"), ("negative", "spec.replicas")):
            wait_for(
                lambda name=name: _condition(cluster.get("Deployment", name), "ReplicaFailure"),
                what=f"{name} condition",
            )
            assert text in _condition(cluster.get("Deployment", name), "ReplicaFailure")["message"]
        # maxSurge = maxUnavailable = 0 rolls with one unavailable at a time, as Kubernetes does.
        wait_for(lambda: _complete(cluster, "zero", "busybox:1", 2), what="zero v1")
        cluster.patch("Deployment", "zero", _set_image("busybox:2"))
        wait_for(lambda: _complete(cluster, "zero", "busybox:2", 2), what="zero v2")
        assert not [
            r for r in cluster.list("ReplicaSet") if r["metadata"]["name"].startswith("mismatch")
        ]
